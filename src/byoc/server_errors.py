"""The answers byoc's worker gives itself, as the JSON every other error has.

gunicorn answers a request its parser refuses with an HTML page; :func:`parser_error`
gives the same status as JSON, and :func:`wire` turns any :class:`ByocError` into a whole
HTTP/1.1 response that closes the connection (for 408/413/431 from the event loop).
"""

from __future__ import annotations

from gunicorn.http import errors as http_errors

from .errors import BadRequest, ByocError, InternalError
from .serving.http import error_response, status_line

__all__ = ["parser_error", "wire"]


_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    501: "not_implemented",
}


def _status(exc: BaseException) -> tuple[int, str]:
    """The status gunicorn gives each of its parser's errors (workers/base.py)."""

    def kind(*names: str) -> tuple[type, ...]:
        return tuple(getattr(http_errors, n) for n in names if hasattr(http_errors, n))

    text = str(exc)
    if isinstance(exc, kind("InvalidResponseHeader", "InvalidResponseHeaderName")):
        return 500, text
    if isinstance(exc, kind("LimitRequestLine")):
        return 414, text
    if isinstance(exc, kind("LimitRequestHeaders")):
        return 431, f"error parsing headers: {text}"
    if isinstance(exc, kind("ExpectationFailed")):
        return 417, text
    if isinstance(exc, kind("ForbiddenProxyRequest")):
        return 403, "request forbidden"
    if isinstance(exc, kind("UnsupportedTransferCoding")):
        return 501, text
    if isinstance(exc, kind("InvalidRequestLine")):
        return 400, f"invalid request line {text!r}"
    if isinstance(exc, kind("InvalidRequestMethod")):
        return 400, f"invalid method {text!r}"
    if isinstance(exc, kind("InvalidHTTPVersion")):
        return 400, f"invalid HTTP version {text!r}"
    client_errors = kind(
        "InvalidHeader", "InvalidHeaderName", "InvalidProxyLine", "InvalidSchemeHeaders",
        "ObsoleteFolding", "InvalidChunkSize", "ChunkMissingTerminator",
        "InvalidChunkExtension", "InvalidH2CPreface", "NoMoreData",
    )  # fmt: skip
    if isinstance(exc, client_errors):
        return 400, text
    return 500, text


def wire(error: ByocError) -> bytes:
    """A whole HTTP/1.1 response for an error the server answers itself; it closes."""
    response = error_response(error)
    head = [f"HTTP/1.1 {status_line(response.status)}"]
    head += [f"{name}: {value}" for name, value in response.wire_headers() if name != "Connection"]
    head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body


def parser_error(exc: BaseException) -> ByocError:
    """The error to answer for what gunicorn raised (500s say nothing more)."""
    status, message = _status(exc)
    if status >= 500:
        return InternalError("internal server error")
    return BadRequest(message, status=status, code=_CODES.get(status, "bad_request"))
