"""The route table both adapters dispatch through, and the one place a body is read.

A :class:`Request` is what an adapter hands over: method, path, query, headers and a way
to read the body. ``Routes.dispatch`` answers the routes it knows (405 with ``Allow`` for
a known path and another method) and returns ``None`` for any other path, which the
adapter answers itself (the Flask app's own routes, or a JSON 404).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..context import RequestHeaders
from ..errors import BadRequest, ByocError, InternalError
from .batch import execution_parameters_response
from .http import AnyResponse, Response, error_response
from .models_api import dispatch_models
from .runtime import too_large_message

__all__ = ["Request", "Routes", "finish", "read_body"]

log = logging.getLogger("byoc.serving")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: RequestHeaders
    read: Callable[[int], bytes]  # read(n): up to n bytes of the body
    content_length: str | None  # the header as sent (None: chunked or absent)
    query: Mapping[str, str] | None = None


def read_body(request: Request, limit: int) -> bytes:
    """The body, refused before reading when Content-Length is over ``limit``.

    A chunked (unsized) body is read to one byte past the limit, so that the runtime can
    refuse it with the same message.
    """
    from ..errors import PayloadTooLarge

    declared = request.content_length
    if declared:
        try:
            length = int(declared)
        except ValueError:
            raise BadRequest(f"invalid Content-Length {declared!r}") from None
        if length < 0:
            raise BadRequest(f"invalid Content-Length {declared!r}")
        if length > limit:
            raise PayloadTooLarge(too_large_message(length, limit))
        return request.read(length) if length > 0 else b""
    return request.read(limit + 1)


def finish(request: Request, response: AnyResponse, limit: int) -> AnyResponse:
    """``response`` to a request whose body the route did not need, once the body is read.

    gunicorn drains at most 64 KiB of an unread body and then drops the keep-alive
    connection it has just announced; past ``limit`` bytes the answer says
    ``Connection: close`` instead.
    """
    left = limit + 1
    while left > 0:
        chunk = request.read(min(left, 1 << 16))
        if not chunk:
            return response
        left -= len(chunk)
    return replace(response, headers=(*response.headers, ("Connection", "close")))


Handler = Callable[[Request], AnyResponse]


class Routes:
    def __init__(self, service: Any) -> None:
        self.service = service
        self.table: dict[str, dict[str, Handler]] = {
            "/ping": {"GET": self._ping, "HEAD": self._ping},
            "/invocations": {"POST": self._invocations},
            "/execution-parameters": {"GET": self._execution_parameters},
        }

    def dispatch(self, request: Request) -> AnyResponse | None:
        methods = self.table.get(request.path)
        if methods is None:
            registry = getattr(self.service, "models", None)
            if registry is not None and request.path.startswith("/models"):
                try:
                    return dispatch_models(self.service, registry, request, read_body)
                except Exception as exc:  # a bug of ours: a JSON 500, never a dropped socket
                    log.exception("unexpected error on %s %s", request.method, request.path)
                    return error_response(InternalError(f"{type(exc).__name__}: {exc}"))
            return None
        handler = methods.get(request.method)
        if handler is None:
            error = ByocError(
                f"{request.method} is not allowed on {request.path}",
                status=405,
                code="method_not_allowed",
            )
            response = error_response(error)
            allow = ", ".join(methods)
            refused = Response(
                response.status, response.body, response.content_type, (("Allow", allow),)
            )
            return finish(request, refused, self.service.settings.max_payload_bytes)
        answer: AnyResponse
        try:
            answer = handler(request)
        except ByocError as exc:
            answer = error_response(exc)
        if handler == self._invocations:  # it read the body
            return answer
        return finish(request, answer, self.service.settings.max_payload_bytes)

    def _ping(self, request: Request) -> Response:
        response: Response = self.service.ping()
        return response

    def _execution_parameters(self, request: Request) -> Response:
        return execution_parameters_response(self.service.settings)

    def _invocations(self, request: Request) -> AnyResponse:
        body = read_body(request, self.service.settings.max_payload_bytes)
        response: AnyResponse = self.service.invoke(
            body,
            request.headers.get("Content-Type"),
            request.headers.get("Accept"),
            request.headers,
        )
        return response
