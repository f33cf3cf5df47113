"""The Flask application factory: a thin adapter over :class:`~byoc.core.Service`."""

from __future__ import annotations

import logging

from flask import Flask, request
from flask import Response as FlaskResponse
from werkzeug.exceptions import HTTPException

from .core import Response, Service, error_response
from .errors import ByocError, InternalError
from .settings import Settings
from .wsgi import HotPath

__all__ = ["create_app"]

log = logging.getLogger("byoc.serving")


def _to_flask(response: Response) -> FlaskResponse:
    return FlaskResponse(
        response.body,
        status=response.status,
        content_type=response.content_type,
        headers=list(response.headers),
    )


def create_app(settings: Settings | None = None, service: Service | None = None) -> Flask:
    """Build the WSGI app. Loading the model is the caller's job (``service.load()``)."""
    settings = settings or (service.settings if service else Settings.from_env())
    service = service or Service(settings)
    app = Flask("byoc")
    app.extensions["byoc"] = service

    @app.get("/ping")
    def ping() -> FlaskResponse:
        return _to_flask(service.ping())

    @app.post("/invocations")
    def invocations() -> FlaskResponse:
        length = request.content_length
        if length is not None:
            refused = service.check_content_length(length)
            if refused is not None:
                return _to_flask(refused)
        # One byte past the limit is enough for the core to refuse an unsized (chunked) body.
        body = request.stream.read(settings.max_payload_bytes + 1)
        return _to_flask(
            service.invoke(
                body,
                request.headers.get("Content-Type"),
                request.headers.get("Accept"),
                request.headers,
            )
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> FlaskResponse:
        code = (exc.name or "error").lower().replace(" ", "_")
        error = ByocError(exc.description or exc.name, status=exc.code or 500, code=code)
        return _to_flask(error_response(error))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> FlaskResponse:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _to_flask(error_response(InternalError(f"{type(exc).__name__}: {exc}")))

    if settings.hot_path:
        app.wsgi_app = HotPath(service, app.wsgi_app)  # type: ignore[method-assign]
    return app
