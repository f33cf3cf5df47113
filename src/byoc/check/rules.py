"""The rules ``byoc check`` knows, their groups, and one rule's outcome.

Each rule has a stable id (for ``--rules``, JUnit test case names and the JSON report), the
group that turns it on (``serve`` and ``image`` always; the others by ``--multi-model``,
``--batch``, ``--train``, ``--marketplace``) and the sentence the table prints.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["GROUPS", "RULES", "Outcome", "Rule", "Status", "milliseconds", "outcome"]


class Status(str, enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    NA = "N/A"


@dataclass(frozen=True)
class Rule:
    id: str
    group: str
    title: str


@dataclass(frozen=True)
class Outcome:
    rule: Rule
    status: Status
    value: str
    detail: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule.id,
            "group": self.rule.group,
            "title": self.rule.title,
            "status": self.status.value,
            "value": self.value,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


_CATALOGUE = [
    ("image", "platform", "the image is linux/amd64"),
    ("image", "version-labels", "version and revision labels"),
    ("serve", "tcp-accept", "TCP connections accepted within 250 ms"),
    ("serve", "ping-latency", "once healthy, every /ping answers within 2 s"),
    ("serve", "healthy", "/ping 200 within the start-up timeout"),
    ("serve", "ping-before-load", "/ping is not 200 before a prediction would work"),
    ("serve", "prediction", "the sample prediction succeeds"),
    ("serve", "unsupported-content-type", "unsupported Content-Type -> 415, still serving"),
    ("serve", "unsupported-accept", "unsupported Accept -> 406, still serving"),
    ("serve", "garbage-body", "undecodable body -> 4xx, still serving"),
    ("serve", "oversize-body", "body over the payload limit -> 413, still serving"),
    ("serve", "slow-clients", "64 slow clients do not stall /ping"),
    ("serve", "sigterm", "SIGTERM: in-flight request finished, exit within the grace"),
    ("serve", "bind-to-port", "SAGEMAKER_BIND_TO_PORT honoured (label)"),
    ("serve", "network-none", "healthy and predicting with --network none"),
    ("serve", "read-only", "healthy and predicting with a read-only root file system"),
    ("serve", "non-root", "healthy and predicting as --user 1000:1000"),
    ("multi-model", "mme-label", "label multi-models=true"),
    ("multi-model", "mme-health", "/ping and GET /models 200 with no model loaded"),
    ("multi-model", "mme-load", "POST /models loads a model (200)"),
    ("multi-model", "mme-duplicate", "POST /models again -> 409"),
    ("multi-model", "mme-missing", "POST /models with a missing directory -> 404"),
    ("multi-model", "mme-list", "GET /models lists the model"),
    ("multi-model", "mme-describe", "GET /models/NAME describes it"),
    ("multi-model", "mme-invoke", "POST /models/NAME/invoke predicts"),
    ("multi-model", "mme-unload", "DELETE /models/NAME -> 200"),
    ("multi-model", "mme-gone", "GET and invoke after DELETE -> 404"),
    ("batch", "execution-parameters", "GET /execution-parameters: three keys, sane values"),
    ("batch", "multi-record-order", "MULTI_RECORD: N records in, N answers in order"),
    ("train", "train-success", "train: exit 0 and model files in /opt/ml/model"),
    ("train", "train-failure", "train on bad hyperparameters: non-zero exit, failure file"),
    ("train", "train-sigterm", "train: SIGTERM honoured before SIGKILL"),
    ("marketplace", "no-outbound", "no outbound connection or DNS lookup attempted"),
    ("marketplace", "validation-transform", "the validation batch transform succeeds"),
]
RULES: dict[str, Rule] = {
    rule_id: Rule(rule_id, group, title) for group, rule_id, title in _CATALOGUE
}
GROUPS: dict[str, list[str]] = {}
for _rule in RULES.values():
    GROUPS.setdefault(_rule.group, []).append(_rule.id)


def outcome(rule_id: str, status: Status, value: str, detail: str = "") -> Outcome:
    return Outcome(RULES[rule_id], status, value, detail)


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"
