"""The one place where an exception becomes an HTTP status and an error code.

byoc's own errors carry theirs; a handler's exception with an integer ``status_code``
(the toolkit's ``GenericInferenceToolkitError``) keeps its status and gets the code byoc
uses for that status, so a handler's 503 and byoc's own 503 read the same; the toolkit's
``UnsupportedFormatError`` is a 406 or 415 by stage; a bad input is a 400; anything else
from user code is a 500 ``model_error`` naming the stage.
"""

from __future__ import annotations

import enum
import logging

from ..errors import (
    BadRequest,
    ByocError,
    Conflict,
    ModelError,
    NotAcceptable,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)

__all__ = ["Stage", "classify", "code_for"]

log = logging.getLogger("byoc.serving")


class Stage(enum.Enum):
    """Where user code runs in a request; the value is what messages call it."""

    INPUT = "input_fn"
    PREDICT_FN = "predict_fn"
    PREDICT = "predict"  # no predict_fn: model.predict or model(data)
    OUTPUT = "output_fn"
    TRANSFORM = "transform_fn"


_CODES = {
    error.status: error.code
    for error in (BadRequest, NotAcceptable, PayloadTooLarge, UnsupportedMediaType)
}
_CODES |= {404: "not_found", 409: Conflict.code, 503: ServiceUnavailable.code}
_INPUT_ERRORS = (ValueError, TypeError, KeyError, IndexError, UnicodeError)


def code_for(status: int) -> str:
    return _CODES.get(status, "client_error" if status < 500 else "model_error")


def _carried_status(exc: BaseException) -> int | None:
    """Status of errors that carry one (the toolkit's ``status_code``)."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status <= 599:
        return status
    return None


def classify(stage: Stage, exc: BaseException) -> ByocError:
    """The ``ByocError`` a client sees for ``exc`` raised by user code at ``stage``."""
    if isinstance(exc, ByocError):
        return exc
    message = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    status = _carried_status(exc)
    if status is not None:
        if status >= 500:
            log.error("%s failed (%d): %s", stage.value, status, message, exc_info=exc)
        return ByocError(message, status=status, code=code_for(status))
    if type(exc).__name__ == "UnsupportedFormatError":  # sagemaker_inference.errors
        if stage is Stage.OUTPUT:
            return NotAcceptable(message.strip().splitlines()[0])
        if stage in (Stage.INPUT, Stage.TRANSFORM):
            return UnsupportedMediaType(message.strip().splitlines()[0])
    if stage is Stage.INPUT and isinstance(exc, _INPUT_ERRORS):
        return BadRequest(f"input_fn rejected the request: {type(exc).__name__}: {message}")
    log.error("%s failed: %s: %s", stage.value, type(exc).__name__, message, exc_info=exc)
    return ModelError(f"{stage.value} failed: {type(exc).__name__}: {message}")
