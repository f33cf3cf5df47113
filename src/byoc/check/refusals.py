"""The refusals: an unsupported Content-Type (415), an unsupported Accept (406), an
undecodable body (4xx) and a body over the payload limit (413), each followed by a check
that the container still serves (/ping 200, still running).
"""

from __future__ import annotations

from .container import Container
from .health import alive
from .options import CheckOptions, Sample
from .probe import request
from .rules import Outcome, Status, outcome

__all__ = ["GARBAGE", "UNSUPPORTED", "oversize", "refusal"]

UNSUPPORTED = "application/x-byoc-check-unsupported"
GARBAGE = b"\xff\xfe\x00\x01 not,a;record {[<\x00\n\x7f\x80garbage\xc3\x28"


def refusal(container: Container, sample: Sample, expected: str) -> Outcome:
    if expected == "415":
        rule_id, sent = "unsupported-content-type", f"Content-Type: {UNSUPPORTED}"
        headers, body = {"Content-Type": UNSUPPORTED}, sample.body
    elif expected == "406":
        rule_id, sent = "unsupported-accept", f"Accept: {UNSUPPORTED}"
        headers, body = {"Content-Type": sample.content_type, "Accept": UNSUPPORTED}, sample.body
    else:
        rule_id, sent = "garbage-body", f"{len(GARBAGE)} bytes of garbage as {sample.content_type}"
        headers, body = {"Content-Type": sample.content_type}, GARBAGE
    try:
        status = request(container.target, "POST", "/invocations", body, headers, 60).status
    except OSError as exc:
        status, sent = 0, f"{sent}: no answer ({exc.strerror or exc})"
    return _after_refusal(container, rule_id, status, expected, sent)


def _after_refusal(
    container: Container, rule_id: str, status: int, expected: str, sent: str
) -> Outcome:
    right = 400 <= status < 500 if expected == "4xx" else str(status) == expected
    afterwards = alive(container)
    value = f"{status or 'no answer'} (want {expected})"
    if not right:
        return outcome(rule_id, Status.FAIL, value, f"{sent}; {afterwards or 'still serving'}")
    if afterwards:
        return outcome(rule_id, Status.FAIL, value, f"{sent}; then {afterwards}")
    return outcome(rule_id, Status.PASS, value, f"{sent}; /ping 200 afterwards")


def oversize(container: Container, options: CheckOptions) -> Outcome:
    limit = options.payload_limit_mb
    if limit == 0:
        return outcome(
            "oversize-body", Status.NA, "-", "SAGEMAKER_MAX_PAYLOAD_IN_MB=0: no limit to exceed"
        )
    size = limit * 1024 * 1024 + 1
    line = options.sample.records()[0] + b"\n" if options.sample.records() else b"0\n"
    body = (line * (size // len(line) + 1))[:size]
    sent = f"{size:,} bytes (limit {limit} MiB) of valid {options.sample.content_type}"
    headers = {"Content-Type": options.sample.content_type}
    try:
        status = request(container.target, "POST", "/invocations", body, headers, 60).status
    except OSError as exc:
        status, sent = 0, f"{sent}: no answer ({exc.strerror or exc})"
    return _after_refusal(container, "oversize-body", status, "413", sent)
