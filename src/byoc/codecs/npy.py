"""``application/x-npy``: one numpy array, never pickled objects."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..errors import BadRequest, ModelError
from ..media import MediaType

__all__ = ["CODEC", "NpyCodec"]


class NpyCodec:
    media_type = "application/x-npy"

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        if not body:
            raise BadRequest("empty NPY body")
        try:
            return np.load(io.BytesIO(body), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise BadRequest(f"invalid NPY body: {exc}") from None

    def encode(self, obj: Any) -> bytes:
        buffer = io.BytesIO()
        try:
            array = np.asarray(obj)
            if array.dtype.hasobject:
                raise ValueError("object arrays would need pickle")
            np.save(buffer, array, allow_pickle=False)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"prediction cannot be encoded as NPY: {exc}") from None
        return buffer.getvalue()


CODEC = NpyCodec()
