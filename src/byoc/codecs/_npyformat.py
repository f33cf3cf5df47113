"""Reading the NPY format from a hostile body: the header is checked before any allocation.

``numpy.load`` allocates what the header declares (a 24-byte body declaring shape
``(100000000000, 3)`` asks for 2.18 TiB) and reads a zip member whatever it
decompresses to. :func:`read_array` reads the header itself, refuses object arrays
(they would need pickle), and allocates only what ``limit`` allows and the stream then
actually holds.
"""

from __future__ import annotations

import ast
import math
import struct
from typing import IO, Any

import numpy as np

from ..errors import BadRequest, PayloadTooLarge

__all__ = ["MAGIC", "MAX_HEADER", "read_array"]

MAGIC = b"\x93NUMPY"
MAX_HEADER = 10_000  # bytes of header dict: numpy.load's own default max_header_size
_CHUNK = 1 << 20


def _read(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    return data if isinstance(data, bytes) else b""


def _header(stream: IO[bytes], what: str) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    prefix = _read(stream, 8)
    if len(prefix) < 8 or not prefix.startswith(MAGIC):
        raise BadRequest(f"{what}: not NPY data (no \\x93NUMPY magic string)")
    version = (prefix[6], prefix[7])
    if version == (1, 0):
        size_format, encoding = "<H", "latin1"
    elif version in ((2, 0), (3, 0)):
        size_format, encoding = "<I", "latin1" if version == (2, 0) else "utf8"
    else:
        raise BadRequest(f"{what}: NPY format version {version[0]}.{version[1]} is not supported")
    length_bytes = _read(stream, struct.calcsize(size_format))
    if len(length_bytes) < struct.calcsize(size_format):
        raise BadRequest(f"{what}: the NPY header is cut short")
    (length,) = struct.unpack(size_format, length_bytes)
    if length > MAX_HEADER:
        raise BadRequest(f"{what}: an NPY header of {length} bytes (at most {MAX_HEADER})")
    raw = _read(stream, length)
    if len(raw) < length:
        raise BadRequest(f"{what}: the NPY header is cut short")
    try:
        fields = ast.literal_eval(raw.decode(encoding))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        raise BadRequest(f"{what}: the NPY header is not a Python literal") from None
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise BadRequest(f"{what}: the NPY header needs exactly descr, fortran_order and shape")
    shape, fortran = fields["shape"], fields["fortran_order"]
    if (
        not isinstance(shape, tuple)
        or not all(type(n) is int and n >= 0 for n in shape)
        or not isinstance(fortran, bool)
    ):
        raise BadRequest(f"{what}: invalid shape {str(shape)[:60]} or fortran_order in NPY header")
    try:
        dtype = np.lib.format.descr_to_dtype(fields["descr"])
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, RecursionError):
        raise BadRequest(
            f"{what}: invalid dtype {str(fields['descr'])[:60]} in NPY header"
        ) from None
    if dtype.hasobject:
        raise BadRequest(f"{what}: object arrays are refused (they would need pickle)")
    if dtype.itemsize == 0:  # numpy makes <U0 a <U1: the shape alone would size the array
        raise BadRequest(f"{what}: dtype {dtype} has no bytes per item")
    return shape, fortran, dtype


def read_array(
    stream: IO[bytes], total: int, limit: int, what: str = "invalid NPY body"
) -> tuple[np.ndarray, int]:
    """One array from ``stream`` (``total`` bytes long) and its size in bytes: 400 for
    anything malformed (magic, header, object dtype, less data than the shape needs), 413
    over ``limit`` bytes of data. Nothing is allocated before both checks pass."""
    shape, fortran, dtype = _header(stream, what)
    count = math.prod(shape)
    size = count * dtype.itemsize
    available = total - stream.tell()
    if size > available:
        raise BadRequest(
            f"{what}: shape {shape} of {dtype} needs {size} bytes of data, there are {available}"
        )
    if size > limit:
        raise PayloadTooLarge(
            f"{what}: shape {shape} of {dtype} is {size} bytes, over the limit of {limit} "
            "bytes (SAGEMAKER_MAX_PAYLOAD_IN_MB)"
        )
    data = bytearray()
    while len(data) < size:
        chunk = _read(stream, min(_CHUNK, size - len(data)))
        if not chunk:  # a stream shorter than it said
            raise BadRequest(f"{what}: the data is cut short at {len(data)} of {size} bytes")
        data += chunk
    try:
        flat = np.frombuffer(data, dtype=dtype, count=count)
        array = flat.reshape(shape[::-1]).transpose() if fortran else flat.reshape(shape)
    except ValueError as exc:  # e.g. more dimensions than numpy has
        raise BadRequest(f"{what}: {exc}") from None
    return array, size
