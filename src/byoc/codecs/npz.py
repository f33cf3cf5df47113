"""``application/x-npz``: several named arrays (a dict), never pickled objects.

A body written by ``scipy.sparse.save_npz`` decodes to a scipy sparse matrix, as the
sagemaker-inference toolkit does; any other archive decodes to ``{name: array}``.

An archive is a zip, and a zip can decompress to a thousand times its size: the arrays
of one body hold at most ``max_bytes`` (the payload limit) together. Each member's
declared size and NPY header are checked against what is left of it before the member is
read, and the read stops at it whatever the member really inflates to (a 413).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import BadRequest, ModelError, PayloadTooLarge
from ..media import MediaType
from ._npyformat import MAGIC, MAX_HEADER, read_array

__all__ = ["CODEC", "DEFAULT_MAX_BYTES", "MAX_MEMBERS", "NpzCodec"]

DEFAULT_MAX_BYTES = 6 * 1024 * 1024  # SageMaker's payload limit
MAX_MEMBERS = 10_000  # zipfile reads the whole directory first: ~0.5 KiB and 5 µs each
_CENTRAL_ENTRY = b"PK\x01\x02"
# bzip2 and LZMA members inflate a whole compressed chunk at once, without a bound
_COMPRESSION = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_SPARSE_KEYS = {"format", "shape", "data"}
_SPARSE_PARTS = {
    "csr": ("data", "indices", "indptr"),
    "csc": ("data", "indices", "indptr"),
    "bsr": ("data", "indices", "indptr"),
    "dia": ("data", "offsets"),
    "coo": ("data", "row", "col"),
}


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"NPZ body decompresses to more than {limit} bytes, the limit "
        f"({limit / 1048576:g} MiB, set by SAGEMAKER_MAX_PAYLOAD_IN_MB)"
    )


def read_arrays(body: bytes, limit: int) -> dict[str, np.ndarray]:
    """``{name: array}`` of an NPZ body whose arrays hold at most ``limit`` bytes."""
    if body.count(_CENTRAL_ENTRY) > MAX_MEMBERS:
        raise BadRequest(f"NPZ body has more than {MAX_MEMBERS} members")
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        hint = " (an NPY body? send it as application/x-npy)" if body.startswith(MAGIC) else ""
        raise BadRequest(f"invalid NPZ body: {exc}{hint}") from None
    arrays: dict[str, np.ndarray] = {}
    left = limit
    with archive:
        for info in archive.infolist():
            what = f"invalid NPZ member {info.filename[:60]!r}"
            if info.compress_type not in _COMPRESSION:
                raise BadRequest(f"{what}: compression method {info.compress_type} is refused")
            if info.flag_bits & 0x1:
                raise BadRequest(f"{what}: encrypted")
            if info.file_size > left + 12 + MAX_HEADER:  # data, magic, length and header
                raise _too_large(limit)
            try:
                with archive.open(info) as member:
                    array, size = read_array(member, info.file_size, left, what)
            except PayloadTooLarge:
                raise _too_large(limit) from None
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError,
                    RuntimeError) as exc:  # fmt: skip
                raise BadRequest(f"{what}: {exc}") from None
            left -= size
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            arrays[name] = array
    return arrays


def _sparse(arrays: dict[str, np.ndarray]) -> Any:
    """The matrix ``scipy.sparse.save_npz`` wrote, built from arrays already read."""
    try:
        import scipy.sparse
    except ImportError:  # pragma: no cover - scipy comes with sagemaker-inference
        return arrays
    kind = arrays["format"].item() if arrays["format"].size == 1 else None
    kind = kind.decode("ascii", "replace") if isinstance(kind, bytes) else kind
    parts = _SPARSE_PARTS.get(kind) if isinstance(kind, str) else None
    if parts is None or not arrays.keys() >= set(parts):
        raise BadRequest(f"invalid sparse NPZ body: format {str(kind)[:20]!r} or its arrays")
    data = tuple(arrays[name] for name in parts)
    args = (data[0], data[1:]) if kind == "coo" else data
    flag = arrays.get("_is_array")
    array_api = flag is not None and flag.size == 1 and bool(flag.item())
    cls = getattr(scipy.sparse, f"{kind}_{'array' if array_api else 'matrix'}")
    try:
        return cls(args, shape=tuple(int(n) for n in arrays["shape"]))
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        raise BadRequest(f"invalid sparse NPZ body: {exc}") from None


class NpzCodec:
    media_type = "application/x-npz"

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        if not body:
            raise BadRequest("empty NPZ body")
        arrays = read_arrays(body, self.max_bytes)
        return _sparse(arrays) if arrays.keys() >= _SPARSE_KEYS else arrays

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
