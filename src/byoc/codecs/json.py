"""``application/json``: any JSON value in; numbers and arrays become numpy arrays."""

from __future__ import annotations

import json as _json
from typing import Any

import numpy as np

from ..errors import BadRequest, ModelError
from ..media import MediaType
from ._text import decode_text

__all__ = ["CODEC", "JsonCodec", "to_jsonable"]


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


_ENCODER = _json.JSONEncoder(default=to_jsonable)


class JsonCodec:
    media_type = "application/json"

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        text = decode_text(body, media_type)
        if not text.strip():
            raise BadRequest("empty JSON body")
        try:
            value = _json.loads(text)
        except ValueError as exc:
            raise BadRequest(f"invalid JSON: {exc}") from None
        return as_array_if_numeric(value)

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, np.ndarray):
            obj = obj.tolist()
        try:
            return _ENCODER.encode(obj).encode()
        except (TypeError, ValueError) as exc:
            raise ModelError(f"prediction cannot be encoded as JSON: {exc}") from None


CODEC = JsonCodec()
