"""The WSGI hot path: ``GET /ping`` and ``POST /invocations`` straight to the core.

Flask's request machinery (contexts, routing, response objects) costs about 80 µs a
request on these machines — a third of the whole budget of a small model. The two
endpoints SageMaker calls on every request therefore go from WSGI straight to
:class:`~byoc.core.Service`; every other path falls through to the Flask app, and
``BYOC_HOT_PATH=false`` routes these two through Flask as well (same behaviour, same
tests; see ``tests/test_app.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from werkzeug.datastructures import EnvironHeaders

from .core import Response, Service, error_response
from .errors import BadRequest

__all__ = ["HotPath", "status_line"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_STATUS = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def status_line(code: int) -> str:
    return _STATUS.get(code) or f"{code} Unknown"


class HotPath:
    """WSGI middleware that answers the two SageMaker endpoints itself."""

    def __init__(self, service: Service, fallback: WSGIApp) -> None:
        self.service = service
        self.fallback = fallback

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/invocations":
            if environ["REQUEST_METHOD"] == "POST":
                return self._send(start_response, self._invocations(environ))
        elif path == "/ping" and environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            return self._send(start_response, self.service.ping())
        return self.fallback(environ, start_response)

    def _invocations(self, environ: dict[str, Any]) -> Response:
        stream = environ["wsgi.input"]
        declared = environ.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                return error_response(BadRequest(f"invalid Content-Length {declared!r}"))
            refused = self.service.check_content_length(length)
            if refused is not None:
                return refused
            body = stream.read(length) if length > 0 else b""
        else:  # chunked: read one byte past the limit to know it was exceeded
            body = stream.read(self.service.settings.max_payload_bytes + 1)
        return self.service.invoke(
            body,
            environ.get("CONTENT_TYPE"),
            environ.get("HTTP_ACCEPT"),
            EnvironHeaders(environ),
        )

    @staticmethod
    def _send(start_response: Callable[..., Any], response: Response) -> list[bytes]:
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
        ]
        if response.headers:
            headers.extend(response.headers)
        start_response(status_line(response.status), headers)
        return [response.body]
