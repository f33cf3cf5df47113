"""The HTTP value types of serving, with no web framework in them.

A :class:`Response` is what every route answers; adapters (the WSGI hot path, Flask)
only copy it onto the wire. :func:`error_response` is the one shape of every error: JSON
``{"error": code, "message": text, "inference_id": id}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from ..errors import ByocError, PayloadTooLarge

__all__ = [
    "JSON",
    "RESERVED_HEADERS",
    "AnyResponse",
    "Response",
    "StreamingResponse",
    "error_response",
    "status_line",
]

JSON = "application/json"
# Response headers a handler may not set: the server owns framing.
RESERVED_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "content-type"}
)
_STATUS = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def status_line(code: int) -> str:
    return _STATUS.get(code) or f"{code} Unknown"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()

    def wire_headers(self) -> list[tuple[str, str]]:
        """Content-Type, Content-Length and the extra headers, as sent."""
        headers = [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))]
        headers.extend(self.headers)
        return headers


@dataclass(frozen=True, slots=True)
class StreamingResponse:
    """A body produced chunk by chunk: no Content-Length, so HTTP/1.1 frames it chunked."""

    status: int
    body: Any  # a WSGI iterable of bytes with close() (serving.streaming.Stream)
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()

    def wire_headers(self) -> list[tuple[str, str]]:
        return [("Content-Type", self.content_type), *self.headers]


AnyResponse = Response | StreamingResponse


def error_response(error: ByocError, inference_id: str | None = None) -> Response:
    payload: dict[str, Any] = {"error": error.code, "message": error.message}
    if inference_id:
        payload["inference_id"] = inference_id
    headers: tuple[tuple[str, str], ...] = ()
    if isinstance(error, PayloadTooLarge):
        headers = (("Connection", "close"),)  # do not drain a body we refused
    return Response(error.status, json.dumps(payload).encode(), JSON, headers)
