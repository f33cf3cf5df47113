"""``application/x-npy``: one numpy array, never pickled objects.

The header is read and checked before anything is allocated (see ``_npyformat``): the
data it declares must be in the body.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..errors import BadRequest, ModelError
from ..media import MediaType
from ._npyformat import read_array

__all__ = ["CODEC", "NpyCodec"]


class NpyCodec:
    media_type = "application/x-npy"

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        if not body:
            raise BadRequest("empty NPY body")
        if body.startswith(b"PK\x03\x04"):
            raise BadRequest("NPY body is a zip archive: send NPZ as application/x-npz")
        array, _ = read_array(io.BytesIO(body), len(body), len(body))
        return array

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
