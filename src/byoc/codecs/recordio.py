"""``application/x-recordio``: MXNet RecordIO framing, one payload per record.

What batch transform sends with ``SplitType=RecordIO`` and ``MULTI_RECORD``: records
back to back, each a magic word ``0xced7230a``, a length word (29 bits of length, 3 bits
of continuation flag: a payload holding the magic word is split into parts) and the
payload padded to 4 bytes. It decodes to a ``list[bytes]`` (one item per record, parts
joined) for ``predict_fn``, and encodes a list of ``bytes``/``str`` back, one record
each, so that the answer keeps one record per input record.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import BadRequest, ModelError
from ..media import MediaType

__all__ = ["CODEC", "RecordIOCodec", "pack", "unpack"]

MAGIC = 0xCED7230A
_LENGTH_MASK = (1 << 29) - 1
_HEADER = struct.Struct("<II")


def unpack(body: bytes) -> list[bytes]:
    records: list[bytes] = []
    parts: list[bytes] = []
    offset = 0
    while offset < len(body):
        if len(body) - offset < _HEADER.size:
            raise BadRequest(f"RecordIO: {len(body) - offset} stray bytes at offset {offset}")
        magic, word = _HEADER.unpack_from(body, offset)
        if magic != MAGIC:
            raise BadRequest(f"RecordIO: no magic word at offset {offset} (got {magic:#010x})")
        flag, length = word >> 29, word & _LENGTH_MASK
        start = offset + _HEADER.size
        if start + length > len(body):
            raise BadRequest(f"RecordIO: record at offset {offset} runs past the body")
        parts.append(body[start : start + length])
        offset = start + length + (-length % 4)
        if flag in (0, 3):  # a whole record, or the last part of one
            if flag == 0 and len(parts) > 1:
                raise BadRequest(f"RecordIO: record at offset {offset} interrupts a split one")
            records.append(b"".join(parts))
            parts = []
        elif flag not in (1, 2):
            raise BadRequest(f"RecordIO: invalid continuation flag {flag}")
    if parts:
        raise BadRequest("RecordIO: the body ends inside a split record")
    return records


def pack(records: list[bytes]) -> bytes:
    out = bytearray()
    for record in records:
        if len(record) > _LENGTH_MASK:
            raise ModelError("a RecordIO record is limited to 512 MiB")
        out += _HEADER.pack(MAGIC, len(record)) + record + b"\0" * (-len(record) % 4)
    return bytes(out)


class RecordIOCodec:
    media_type = "application/x-recordio"

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        if not body:
            raise BadRequest("empty RecordIO body")
        return unpack(body)

    def encode(self, obj: Any) -> bytes:
        items = [obj] if isinstance(obj, (bytes, str)) else obj
        if not isinstance(items, (list, tuple)) or not all(
            isinstance(item, (bytes, str)) for item in items
        ):
            raise ModelError(
                f"prediction cannot be encoded as RecordIO: {type(obj).__name__}; return a "
                "list of bytes or str (one per record)"
            )
        return pack([item.encode() if isinstance(item, str) else item for item in items])


CODEC = RecordIOCodec()
