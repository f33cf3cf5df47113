"""Shared helpers for text codecs: the request's charset, checked once."""

from __future__ import annotations

import codecs as _codecs

from ..errors import BadRequest, UnsupportedMediaType
from ..media import MediaType

__all__ = ["decode_text", "text_encoding"]

# Text encodings to Python that are no charset of a document: IDNA and Punycode encode
# host names label by label, "undefined" refuses everything, the escape codecs read
# Python string literals.
_NOT_CHARSETS = frozenset({"undefined", "idna", "punycode", "unicode-escape", "raw-unicode-escape"})
_BOM = "\ufeff"


def text_encoding(charset: str) -> str:
    """Python's name for ``charset``; 415 unless it is a text encoding (not base64, zlib...)."""
    shown = charset if len(charset) <= 40 else charset[:40] + "..."
    try:
        info = _codecs.lookup(charset)
    except (LookupError, ValueError):  # unknown, or an embedded NUL
        raise UnsupportedMediaType(f"charset {shown!r} is not supported") from None
    # base64, hex, zlib, bz2, rot13, uu, quopri: codecs.lookup knows them, str.decode not
    if not info._is_text_encoding or info.name in _NOT_CHARSETS:
        raise UnsupportedMediaType(f"charset {shown!r} is not a text encoding")
    return info.name


def decode_text(body: bytes, media_type: MediaType) -> str:
    """Bytes to text in the request's charset (UTF-8 by default, a leading BOM dropped)."""
    charset = media_type.charset
    encoding = "utf-8" if charset in ("utf-8", "utf8") else text_encoding(charset)
    try:
        text = body.decode(encoding)
    except UnicodeError as exc:
        where = f" at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else ""
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
        name = "UTF-8" if encoding == "utf-8" else encoding
        raise BadRequest(f"body is not valid {name}: {reason}{where}") from None
    return text[1:] if text.startswith(_BOM) else text
