"""Multi-model endpoint rules: the label, and SageMaker's ``/models`` API code by code.

The image is started with ``SAGEMAKER_MULTI_MODEL=true``, an empty ``/opt/ml/model`` and
the given model copied to ``/opt/ml/models/<name>/model`` (read-only), as SageMaker's
front end unpacks it; then each call the front end makes, in its order.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from ..local import DockerError
from .container import Container, RunSpec
from .health import wait_healthy
from .image import MME_LABEL, ImageInfo
from .options import CheckOptions
from .probe import Answer, Target, request
from .rules import GROUPS, RULES, Outcome, Status

__all__ = ["check_multi_model"]

NAME = "byoccheckmodel1"
MISSING = "byoccheckmissing"
LOAD_TIMEOUT = 360.0  # what SageMaker waits for a load or an unload


def check_multi_model(
    options: CheckOptions, info: ImageInfo, wanted: set[str], scratch: Path
) -> list[Outcome]:
    chosen = [rule_id for rule_id in GROUPS["multi-model"] if rule_id in wanted]
    if not chosen:
        return []
    outcomes = {"mme-label": _label(info)}
    options.say("starting the image as a multi-model endpoint")
    models = scratch / "models"
    shutil.copytree(options.model, models / NAME / "model")
    (scratch / "mme-empty").mkdir()
    env = {**options.env, "SAGEMAKER_MULTI_MODEL": "true"}
    spec = RunSpec(scratch / "mme-empty", env=env, mounts=[(models, "/opt/ml/models")], label="mme")
    try:
        with Container.start(options.image, spec) as container:
            startup = wait_healthy(container, options.startup_timeout)
            if startup.healthy:
                outcomes.update(_api(container.target, options))
            else:
                outcomes["mme-health"] = Outcome(
                    RULES["mme-health"], Status.FAIL, "not healthy", startup.failure
                )
    except DockerError as exc:
        outcomes["mme-health"] = Outcome(RULES["mme-health"], Status.FAIL, "error", str(exc))
    return [
        outcomes.get(rule_id)
        or Outcome(RULES[rule_id], Status.NA, "-", "not checked: the endpoint never started")
        for rule_id in chosen
    ]


def _label(info: ImageInfo) -> Outcome:
    value = info.labels.get(MME_LABEL, "(not set)")
    ok = info.flag(MME_LABEL)
    detail = "SageMaker hosts multi-model endpoints only on images with this label"
    return Outcome(RULES["mme-label"], Status.PASS if ok else Status.FAIL, value, detail)


def _api(target: Target, options: CheckOptions) -> dict[str, Outcome]:
    url = f"/opt/ml/models/{NAME}/model"
    load = json.dumps({"model_name": NAME, "url": url}).encode()
    missing = json.dumps({"model_name": MISSING, "url": f"/opt/ml/models/{MISSING}/model"}).encode()
    json_type = {"Content-Type": "application/json"}
    invoke_headers = {**options.sample.headers(), "X-Amzn-SageMaker-Target-Model": "m1.tar.gz"}
    invoke = f"/models/{NAME}/invoke"

    def call(
        method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        return request(target, method, path, body, headers, LOAD_TIMEOUT)

    steps: list[
        tuple[str, Callable[[], list[tuple[str, Answer]]], Callable[[list[Answer]], bool]]
    ] = [
        (
            "mme-health",
            lambda: [("GET /ping", call("GET", "/ping")), ("GET /models", call("GET", "/models"))],
            lambda a: a[0].status == 200 and a[1].status == 200,
        ),
        (
            "mme-load",
            lambda: [("POST /models", call("POST", "/models", load, json_type))],
            lambda a: a[0].status == 200,
        ),
        (
            "mme-duplicate",
            lambda: [("POST /models again", call("POST", "/models", load, json_type))],
            lambda a: a[0].status == 409,
        ),
        (
            "mme-missing",
            lambda: [
                ("POST /models (no such directory)", call("POST", "/models", missing, json_type))
            ],
            lambda a: a[0].status == 404,
        ),
        (
            "mme-list",
            lambda: [("GET /models", call("GET", "/models"))],
            lambda a: a[0].status == 200 and _lists(a[0].body, NAME),
        ),
        (
            "mme-describe",
            lambda: [(f"GET /models/{NAME}", call("GET", f"/models/{NAME}"))],
            lambda a: a[0].status == 200 and NAME.encode() in a[0].body,
        ),
        (
            "mme-invoke",
            lambda: [(f"POST {invoke}", call("POST", invoke, options.sample.body, invoke_headers))],
            lambda a: 200 <= a[0].status < 300,
        ),
        (
            "mme-unload",
            lambda: [(f"DELETE /models/{NAME}", call("DELETE", f"/models/{NAME}"))],
            lambda a: a[0].status == 200,
        ),
        (
            "mme-gone",
            lambda: [
                (f"GET /models/{NAME}", call("GET", f"/models/{NAME}")),
                (f"POST {invoke}", call("POST", invoke, options.sample.body, invoke_headers)),
            ],
            lambda a: a[0].status == 404 and a[1].status == 404,
        ),
    ]
    outcomes = {}
    for rule_id, run, ok in steps:
        try:
            answers = run()
        except OSError as exc:
            outcomes[rule_id] = Outcome(RULES[rule_id], Status.FAIL, "no answer", str(exc))
            continue
        value = ", ".join(f"{answer.status}" for _, answer in answers)
        detail = "; ".join(
            f"{what} -> {answer.status} {answer.body[:80].decode(errors='replace').strip()}"
            for what, answer in answers
        )
        passed = ok([answer for _, answer in answers])
        outcomes[rule_id] = Outcome(
            RULES[rule_id], Status.PASS if passed else Status.FAIL, value, detail
        )
    return outcomes


def _lists(body: bytes, name: str) -> bool:
    try:
        listed = json.loads(body).get("models", [])
    except (ValueError, AttributeError):
        return False
    return any(isinstance(item, dict) and item.get("modelName") == name for item in listed)
