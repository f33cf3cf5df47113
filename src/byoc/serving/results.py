"""What a handler returns (``output_fn``, ``transform_fn``), as body, type, status, headers.

Accepted: ``bytes``/``bytearray``/``memoryview``, ``str`` (UTF-8), ``None`` (empty), a
``dict``/``list`` (JSON), a ``(body, content_type)`` tuple, and any response-like object
— a werkzeug/Flask ``Response`` (which the SageMaker scikit-learn and XGBoost containers
pass through, and the old ``sagemaker_containers`` one is), or anything with a body
(``get_data()``, ``body`` or ``data``), a ``content_type`` or ``mimetype``, a
``status_code`` and ``headers`` — without importing any web framework.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..context import Context
from ..errors import ModelError
from .http import JSON, RESERVED_HEADERS, Response

__all__ = ["from_context", "normalise"]

Headers = tuple[tuple[str, str], ...]


def _json(obj: Any) -> bytes:
    from ..codecs.json import CODEC

    return CODEC.encode(obj)


def _body_of(result: Any) -> bytes | None:
    get_data = getattr(result, "get_data", None)
    if callable(get_data):
        data = get_data()
    else:
        data = next((getattr(result, n) for n in ("body", "data") if hasattr(result, n)), None)
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    return None


def _headers_of(result: Any) -> tuple[str | None, Headers]:
    raw = getattr(result, "headers", None) or ()
    items: Iterable[Any] = raw.items() if isinstance(raw, Mapping) else raw
    if hasattr(raw, "to_wsgi_list"):  # werkzeug Headers
        items = raw.to_wsgi_list()
    content_type = None
    extra = []
    for name, value in items:
        lowered = str(name).lower()
        if lowered == "content-type":
            content_type = str(value)
        elif lowered not in RESERVED_HEADERS:
            extra.append((str(name), str(value)))
    return content_type, tuple(extra)


def _response_like(result: Any, out_type: str) -> tuple[bytes, str, int, Headers] | None:
    body = _body_of(result)
    status = getattr(result, "status_code", None)
    if body is None or not isinstance(status, int):
        return None
    if not 100 <= status <= 599:
        raise ModelError(f"the handler returned a response with an invalid status {status}")
    header_type, headers = _headers_of(result)
    content_type = (
        getattr(result, "content_type", None)
        or header_type
        or getattr(result, "mimetype", None)
        or out_type
    )
    return body, str(content_type), status, headers


def normalise(result: Any, out_type: str) -> tuple[bytes, str, int, Headers]:
    if isinstance(result, tuple) and len(result) == 2:
        result, out_type = result[0], str(result[1])
    if isinstance(result, bytes):
        return result, out_type, 200, ()
    if isinstance(result, str):
        return result.encode("utf-8"), out_type, 200, ()
    if isinstance(result, (bytearray, memoryview)):
        return bytes(result), out_type, 200, ()
    if result is None:
        return b"", out_type, 200, ()
    if isinstance(result, (dict, list)):
        return _json(result), JSON, 200, ()
    response = _response_like(result, out_type)
    if response is not None:
        return response
    raise ModelError(
        f"the handler returned {type(result).__name__}; return bytes or str "
        "(or a (body, content_type) tuple, or a response object)"
    )


def from_context(context: Context, response: Response) -> Response:
    """The response with what the handler set through ``context`` (status, headers)."""
    processor = context.request_processor[0]
    status = processor.get_response_status_code()
    if not 100 <= status <= 599:
        raise ModelError(f"the handler set an invalid status {status}")
    if response.status != 200:  # a response object's own status wins over the default
        status = response.status
    content_type = response.content_type
    extra = list(response.headers)
    for name, value in processor.get_response_headers().items():
        lowered = name.lower()
        if lowered == "content-type":
            content_type = str(value)
        elif lowered not in RESERVED_HEADERS:
            extra.append((name, str(value)))
    return Response(status, response.body, content_type, tuple(extra))
