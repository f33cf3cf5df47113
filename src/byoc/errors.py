"""Exceptions that carry an HTTP status.

Handlers may raise any of these (or any exception with an integer ``status_code``
attribute, such as the sagemaker-inference toolkit's ``BaseInferenceToolkitError``)
to choose the status the client sees. The client always gets a JSON body
``{"error": code, "message": text}``; tracebacks go to the log only.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "ByocError",
    "Conflict",
    "HeadersTooLarge",
    "InsufficientMemory",
    "InternalError",
    "ModelError",
    "NotAcceptable",
    "NotLoaded",
    "PayloadTooLarge",
    "RequestTimeout",
    "ServiceUnavailable",
    "SettingsError",
    "UnsupportedMediaType",
]


class ByocError(Exception):
    """Base class: an error with an HTTP status and a short machine-readable code."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class BadRequest(ByocError):
    """The request body could not be decoded (400)."""

    status = 400
    code = "bad_request"


class NotAcceptable(ByocError):
    """No media type in Accept can be produced (406)."""

    status = 406
    code = "not_acceptable"


class PayloadTooLarge(ByocError):
    """The body is over the configured limit (413)."""

    status = 413
    code = "payload_too_large"


class RequestTimeout(ByocError):
    """The request did not arrive within BYOC_REQUEST_READ_TIMEOUT (408)."""

    status = 408
    code = "request_timeout"


class HeadersTooLarge(ByocError):
    """The request head is larger than the server reads (431)."""

    status = 431
    code = "request_header_fields_too_large"


class UnsupportedMediaType(ByocError):
    """The request's Content-Type cannot be decoded (415)."""

    status = 415
    code = "unsupported_media_type"


class ModelError(ByocError):
    """The handler or the model failed while answering (500)."""

    status = 500
    code = "model_error"


class InternalError(ByocError):
    """byoc itself failed (500)."""

    status = 500
    code = "internal_error"


class ServiceUnavailable(ByocError):
    """The model is not loaded (yet), or the worker is saturated (503)."""

    status = 503
    code = "model_not_ready"

    @classmethod
    def busy(cls) -> ServiceUnavailable:
        """A request waited longer than the timeout for the model."""
        return cls("worker busy: timed out waiting for the model", code="busy")


class NotLoaded(ByocError):
    """Multi-model: no model of that name is loaded (404)."""

    status = 404
    code = "model_not_found"


class Conflict(ByocError):
    """Multi-model: a model of that name is already loaded (409)."""

    status = 409
    code = "conflict"


class InsufficientMemory(ByocError):
    """Multi-model: no room for another model; SageMaker unloads one and retries (507)."""

    status = 507
    code = "insufficient_memory"


class SettingsError(ValueError):
    """A setting read from the environment is invalid; raised at start-up."""
