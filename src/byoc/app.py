"""The Flask application factory: a thin adapter over :class:`~byoc.serving.Service`.

Every request goes through the same route table as the hot path
(``byoc.serving.routes``); Flask adds only its error handling and a JSON 404.
"""

from __future__ import annotations

import logging

from flask import Flask, request
from flask import Response as FlaskResponse
from werkzeug.exceptions import HTTPException, NotFound

from .errors import ByocError, InternalError
from .serving import Service, error_response
from .serving.http import AnyResponse, Response
from .serving.routes import Request, Routes, finish
from .settings import Settings
from .wsgi import HotPath

__all__ = ["create_app"]

log = logging.getLogger("byoc.serving")
_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def _to_flask(response: AnyResponse) -> FlaskResponse:
    return FlaskResponse(
        response.body,  # a stream's iterable is passed through, and closed by werkzeug
        status=response.status,
        content_type=response.content_type,
        headers=list(response.headers),
    )


def _http_error(exc: HTTPException) -> Response:
    code = (exc.name or "error").lower().replace(" ", "_")
    error = ByocError(exc.description or exc.name, status=exc.code or 500, code=code)
    return error_response(error)


def create_app(settings: Settings | None = None, service: Service | None = None) -> Flask:
    """Build the WSGI app. Loading the model is the caller's job (``service.load()``)."""
    settings = settings or (service.settings if service else Settings.from_env())
    service = service or Service(settings)
    routes = Routes(service)
    app = Flask("byoc")
    app.extensions["byoc"] = service

    @app.route("/", defaults={"path": ""}, methods=_METHODS)
    @app.route("/<path:path>", methods=_METHODS)
    def dispatch(path: str) -> FlaskResponse:
        req = Request(
            method=request.method,
            path=request.path,
            headers=request.headers,
            read=request.environ["wsgi.input"].read,  # as the hot path reads it
            content_length=request.headers.get("Content-Length"),
            query=request.args.to_dict(),
        )
        answer = routes.dispatch(req)
        if answer is None:  # a JSON 404, once the body is read
            answer = finish(req, _http_error(NotFound()), service.settings.max_payload_bytes)
        return _to_flask(answer)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> FlaskResponse:
        return _to_flask(_http_error(exc))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> FlaskResponse:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _to_flask(error_response(InternalError(f"{type(exc).__name__}: {exc}")))

    if settings.hot_path:
        app.wsgi_app = HotPath(service, app.wsgi_app)  # type: ignore[method-assign]
    return app
