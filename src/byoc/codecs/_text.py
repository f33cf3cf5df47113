"""Shared helpers for text codecs."""

from __future__ import annotations

import codecs as _codecs

from ..errors import BadRequest, UnsupportedMediaType
from ..media import MediaType


def decode_text(body: bytes, media_type: MediaType) -> str:
    """Bytes to text in the request's charset (UTF-8 by default)."""
    charset = media_type.charset
    if charset in ("utf-8", "utf8"):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"body is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        _codecs.lookup(charset)
    except LookupError:
        raise UnsupportedMediaType(f"charset {charset!r} is not supported") from None
    try:
        return body.decode(charset)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not valid {charset}: {exc.reason} at byte {exc.start}") from None
