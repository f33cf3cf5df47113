"""Batch transform: what ``GET /execution-parameters`` proposes to the platform.

SageMaker asks once before the first invocation when the job does not set these itself
(the job's own values win). byoc proposes one transform per handler slot of every worker
(requests beyond that would only queue), the payload limit it serves with, and
``MULTI_RECORD``: the codecs decode many CSV or JSON Lines records into one array and
encode one result per record, in order. SageMaker's rule ``MaxConcurrentTransforms x
MaxPayloadInMB <= 100`` is kept by lowering the payload.
"""

from __future__ import annotations

import json
import math

from ..settings import Settings
from .http import JSON, Response

__all__ = ["execution_parameters", "execution_parameters_response"]

_PLATFORM_LIMIT_MB = 100


def execution_parameters(settings: Settings) -> dict[str, object]:
    concurrency = settings.max_concurrent_transforms or (
        settings.workers * settings.handler_concurrency
    )
    concurrency = max(1, min(concurrency, _PLATFORM_LIMIT_MB))
    payload_mb = max(1, math.floor(settings.max_payload_bytes / (1024 * 1024)))
    payload_mb = min(payload_mb, _PLATFORM_LIMIT_MB // concurrency)
    return {
        "MaxConcurrentTransforms": concurrency,
        "BatchStrategy": settings.batch_strategy,
        "MaxPayloadInMB": payload_mb,
    }


def execution_parameters_response(settings: Settings) -> Response:
    return Response(200, json.dumps(execution_parameters(settings)).encode(), JSON)
