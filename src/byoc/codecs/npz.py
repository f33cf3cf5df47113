"""``application/x-npz``: several named arrays (a dict), never pickled objects.

A body written by ``scipy.sparse.save_npz`` decodes to a scipy sparse matrix, as the
sagemaker-inference toolkit does; any other archive decodes to ``{name: array}``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import BadRequest, ModelError
from ..media import MediaType

__all__ = ["CODEC", "NpzCodec"]

_SPARSE_KEYS = {"format", "shape", "data"}


class NpzCodec:
    media_type = "application/x-npz"

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        if not body:
            raise BadRequest("empty NPZ body")
        try:
            with np.load(io.BytesIO(body), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise BadRequest(f"invalid NPZ body: {exc}") from None
        if arrays.keys() >= _SPARSE_KEYS:
            try:
                import scipy.sparse
            except ImportError:  # pragma: no cover - scipy comes with sagemaker-inference
                return arrays
            try:
                return scipy.sparse.load_npz(io.BytesIO(body))
            except (ValueError, OSError) as exc:
                raise BadRequest(f"invalid sparse NPZ body: {exc}") from None
        return arrays

    def encode(self, obj: Any) -> bytes:
        buffer = io.BytesIO()
        try:
            if hasattr(obj, "tocsr") and hasattr(obj, "nnz"):
                import scipy.sparse

                scipy.sparse.save_npz(buffer, obj)
                return buffer.getvalue()
            arrays = dict(obj) if isinstance(obj, Mapping) else {"arr_0": obj}
            prepared = {str(name): np.asarray(value) for name, value in arrays.items()}
            if any(array.dtype.hasobject for array in prepared.values()):
                raise ValueError("object arrays would need pickle")
            np.savez(buffer, **prepared)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ModelError(f"prediction cannot be encoded as NPZ: {exc}") from None
        return buffer.getvalue()


CODEC = NpzCodec()
