"""The WSGI hot path: byoc's routes straight from WSGI to the core.

Flask's request machinery (contexts, routing, response objects) costs about 80 µs a
request on these machines — a third of the whole budget of a small model. The routes
SageMaker calls on every request (``byoc.serving.routes``) therefore go from WSGI
straight to :class:`~byoc.serving.Service`; every other path falls through to the Flask
app, and ``BYOC_HOT_PATH=false`` routes these through Flask as well (same behaviour, same
tests; see ``tests/test_app.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from werkzeug.datastructures import EnvironHeaders

from .serving import Service
from .serving.http import AnyResponse, StreamingResponse, status_line
from .serving.routes import Request, Routes

__all__ = ["HotPath", "status_line"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_request(environ: dict[str, Any]) -> Request:
    return Request(
        method=environ["REQUEST_METHOD"],
        path=environ.get("PATH_INFO") or "/",
        headers=EnvironHeaders(environ),
        read=environ["wsgi.input"].read,
        content_length=environ.get("CONTENT_LENGTH") or None,
        query=_query(environ.get("QUERY_STRING", "")),
    )


def _query(raw: str) -> dict[str, str] | None:
    if not raw:
        return None
    return {key: values[0] for key, values in parse_qs(raw).items()}


class HotPath:
    """WSGI middleware that answers byoc's routes itself."""

    def __init__(self, service: Service, fallback: WSGIApp) -> None:
        self.service = service
        self.routes = Routes(service)
        self.fallback = fallback

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        response = self.routes.dispatch(wsgi_request(environ))
        if response is None:
            return self.fallback(environ, start_response)
        return self._send(start_response, response)

    @staticmethod
    def _send(start_response: Callable[..., Any], response: AnyResponse) -> Iterable[bytes]:
        start_response(status_line(response.status), response.wire_headers())
        if isinstance(response, StreamingResponse):
            stream: Iterable[bytes] = response.body  # gunicorn writes each chunk, then close()s it
            return stream
        return [response.body]
