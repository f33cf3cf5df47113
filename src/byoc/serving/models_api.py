"""The multi-model ``/models`` API on the route table (SageMaker's MME contract).

``POST /models`` ``{"model_name", "url"}`` loads (409 loaded, 507 no room, 404 no such
directory, 400 a bad body); ``GET /models`` lists (``next_page_token``, ``limit``);
``GET /models/NAME`` describes (404); ``DELETE /models/NAME`` unloads from every worker
before it answers (404); ``POST /models/NAME/invoke`` predicts, with all of
``/invocations``' negotiation and errors. ``X-Amzn-SageMaker-Target-Model`` is logged,
never routed by: the name is an opaque key.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..errors import BadRequest, ByocError
from .http import JSON, AnyResponse, Response, error_response
from .multimodel import MultiModelRegistry

__all__ = ["dispatch_models"]

log = logging.getLogger("byoc.serving")
_MAX_BODY = 64 * 1024  # a load request is a small JSON object


def _json(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload).encode(), JSON)


def _not_allowed(method: str, path: str, allow: str) -> Response:
    error = ByocError(f"{method} is not allowed on {path}", status=405, code="method_not_allowed")
    response = error_response(error)
    return Response(405, response.body, response.content_type, (("Allow", allow),))


def _load_request(body: bytes) -> tuple[str, str]:
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise BadRequest(f"the load request is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest('send {"model_name": NAME, "url": "/opt/ml/models/NAME/model"}')
    name, url = data.get("model_name"), data.get("url")
    if not isinstance(name, str) or not name or len(name) > 1024:
        raise BadRequest("model_name must be a non-empty string (at most 1024 characters)")
    if not isinstance(url, str) or not url:
        raise BadRequest("url (the model's directory) is required")
    return name, url


def dispatch_models(
    service: Any, registry: MultiModelRegistry, request: Any, read_body: Any
) -> AnyResponse | None:
    parts = request.path.strip("/").split("/")  # PATH_INFO is already percent-decoded
    if not parts or parts[0] != "models" or len(parts) > 3:
        return None
    try:
        if len(parts) == 1:
            if request.method == "GET":
                query = request.query or {}
                raw_limit = query.get("limit")
                if raw_limit is not None and not (
                    raw_limit.isascii() and raw_limit.isdigit() and int(raw_limit) >= 1
                ):
                    raise BadRequest(f"invalid limit {raw_limit!r}")
                page, token = registry.list(
                    query.get("next_page_token"), int(raw_limit) if raw_limit else None
                )
                payload: dict[str, Any] = {"models": [registry.describe(e) for e in page]}
                if token:
                    payload["nextPageToken"] = token
                return _json(200, payload)
            if request.method == "POST":
                name, url = _load_request(read_body(request, _MAX_BODY))
                entry = registry.load(name, url)
                log.info("model %s loaded from %s", name, url)
                return _json(200, {"status": f"model {entry.name} loaded"})
            return _not_allowed(request.method, request.path, "GET, POST")
        name = parts[1]
        if len(parts) == 2:
            if request.method == "GET":
                return _json(200, registry.describe(registry.get(name)))
            if request.method == "DELETE":
                registry.unload(name)
                log.info("model %s unloaded", name)
                return _json(200, {"status": f"model {name} unloaded"})
            return _not_allowed(request.method, request.path, "GET, DELETE")
        if parts[2] != "invoke":
            return None
        if request.method != "POST":
            return _not_allowed(request.method, request.path, "POST")
        body = read_body(request, service.settings.max_payload_bytes)
        response: AnyResponse = service.invoke(
            body,
            request.headers.get("Content-Type"),
            request.headers.get("Accept"),
            request.headers,
            model=name,
        )
        return response
    except ByocError as exc:
        return error_response(exc)
