"""``application/json``: any JSON value in; numbers and arrays become numpy arrays.

Bodies nested deeper than :data:`MAX_DEPTH` are refused before parsing (the parser
recurses); NaN and ±Infinity in a prediction are written as ``null``, so the answer is
JSON that any strict parser reads.
"""

from __future__ import annotations

import json as _json
import math
import re
from typing import Any

import numpy as np

from ..errors import BadRequest, ModelError
from ..media import MediaType
from ._text import decode_text

__all__ = ["CODEC", "MAX_DEPTH", "JsonCodec", "check_depth", "dumps", "loads", "to_jsonable"]

MAX_DEPTH = 100  # arrays and objects inside one another, in a request body
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def to_jsonable(obj: Any) -> Any:
    """``json.dumps`` default hook: numpy arrays, scalars and bytes."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (bytes, bytearray)):
        return obj.decode("utf-8", "replace")
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    tolist = getattr(obj, "tolist", None)  # pandas, tensors with .numpy()-less tolist
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def as_array_if_numeric(value: Any) -> Any:
    """A list of numbers (or of equal-length lists of numbers) becomes an ndarray."""
    if isinstance(value, list) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        try:
            array = np.asarray(value)
        except ValueError:  # ragged
            return value
        if array.dtype.kind in "biuf":
            return array
    return value


def check_depth(text: str, where: str = "") -> None:
    """400 if arrays and objects nest deeper than :data:`MAX_DEPTH` (without recursing)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    if '"' in text:  # brackets inside strings do not nest
        text = _STRING.sub("", text)
    brackets = np.frombuffer(_NOT_BRACKET.sub("", text).encode("ascii"), np.uint8)
    # "[" and "{" have bit 1 set, "]" and "}" do not: +1 and -1
    depth = ((brackets & 2).astype(np.int32) - 1).cumsum()
    if depth.size and int(depth.max()) > MAX_DEPTH:
        raise BadRequest(f"{where}JSON nested deeper than {MAX_DEPTH} levels")


def loads(text: str, where: str = "") -> Any:
    """Parse one JSON value; 400 naming ``where`` when it is invalid or too deep."""
    check_depth(text, where)
    try:
        return _json.loads(text)
    except ValueError as exc:
        raise BadRequest(f"{where}invalid JSON: {exc}") from None
    except RecursionError:  # the check above keeps well within the interpreter's limit
        raise BadRequest(f"{where}JSON nested too deeply") from None


def _finite(obj: Any) -> Any:
    """``obj`` with NaN and ±Infinity as ``None`` (JSON's ``null``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (list, tuple)):
        return [_finite(item) for item in obj]
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (np.ndarray, np.generic)):
        return _finite(to_jsonable(obj))
    return obj


_STRICT = _json.JSONEncoder(default=to_jsonable, allow_nan=False)
_NULLING = _json.JSONEncoder(default=lambda obj: _finite(to_jsonable(obj)), allow_nan=False)


def dumps(obj: Any, kind: str = "JSON") -> str:
    """Strict JSON text (NaN and ±Infinity as ``null``); ``ModelError`` if it cannot be."""
    try:
        try:
            return _STRICT.encode(obj)
        except ValueError:  # a non-finite float somewhere: the slow path replaces them
            return _NULLING.encode(_finite(obj))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"prediction cannot be encoded as {kind}: {exc}") from None
    except RecursionError:
        raise ModelError(f"prediction cannot be encoded as {kind}: nested too deeply") from None


class JsonCodec:
    media_type = "application/json"

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        text = decode_text(body, media_type)
        if not text.strip():
            raise BadRequest("empty JSON body")
        return as_array_if_numeric(loads(text))

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, np.ndarray):
            obj = obj.tolist()
        return dumps(obj).encode()


CODEC = JsonCodec()
