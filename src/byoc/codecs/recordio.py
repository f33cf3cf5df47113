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

__all__ = ["CODEC", "MAGIC", "RecordIOCodec", "RecordIOError", "frame", "pack", "spans", "unpack"]

MAGIC = 0xCED7230A
_LENGTH_MASK = (1 << 29) - 1
_HEADER = struct.Struct("<II")
_MAGIC_BYTES = struct.pack("<I", MAGIC)
MAX_RECORDS = 100_000  # per request: a body of empty records would cost ~15x its size


class RecordIOError(ValueError):
    """Malformed RecordIO framing; the message names the byte."""


def spans(body: bytes, limit: int | None = None) -> list[tuple[int, int, bytes]]:
    """``(start, end, payload)`` of each record: ``body[start:end]`` is the record with its
    framing and padding (all its frames, for a split one), ``payload`` its joined data."""
    found: list[tuple[int, int, bytes]] = []
    parts: list[bytes] = []
    offset = start = 0
    while offset < len(body):
        if len(body) - offset < _HEADER.size:
            raise RecordIOError(f"RecordIO: a truncated header at byte {offset}")
        magic, word = _HEADER.unpack_from(body, offset)
        if magic != MAGIC:
            raise RecordIOError(f"RecordIO: no magic number 0xced7230a at byte {offset}")
        flag, length = word >> 29, word & _LENGTH_MASK
        data = offset + _HEADER.size
        if data + length > len(body):
            raise RecordIOError(f"RecordIO: the record at byte {offset} is cut short")
        if flag > 3 or (flag in (0, 1)) == bool(parts):
            raise RecordIOError(f"RecordIO: an unexpected cflag {flag} at byte {offset}")
        if flag in (0, 1):
            start = offset
        parts.append(body[data : data + length])
        offset = min(data + length + (-length % 4), len(body))
        if flag in (0, 3):  # a whole record, or the last frame of a split one
            # dmlc's writer splits a record where its data holds the magic word and drops
            # it; its reader puts it back between the parts
            found.append((start, offset, _MAGIC_BYTES.join(parts)))
            parts = []
            if limit is not None and len(found) > limit:
                raise RecordIOError(
                    f"RecordIO: more than {limit} records in one request; send fewer"
                )
    if parts:
        raise RecordIOError(f"RecordIO: the multi-part record at byte {start} has no last part")
    return found


def unpack(body: bytes, limit: int | None = MAX_RECORDS) -> list[bytes]:
    return [payload for _, _, payload in spans(body, limit)]


def frame(record: bytes) -> bytes:
    """One record, split as dmlc's writer does where its data holds the magic word at a
    4-byte boundary (cflag 1, 2…, 3; the magic word itself left out), padded to 4 bytes."""
    if len(record) > _LENGTH_MASK:
        raise RecordIOError(f"a RecordIO record holds at most {_LENGTH_MASK} bytes")
    parts = [record]
    cuts = [i for i in range(0, len(record) - 3, 4) if record[i : i + 4] == _MAGIC_BYTES]
    if cuts:
        parts, last = [], 0
        for cut in cuts:
            parts.append(record[last:cut])
            last = cut + 4
        parts.append(record[last:])
    out = bytearray()
    last = len(parts) - 1
    for index, part in enumerate(parts):
        flag = 0 if last == 0 else 1 if index == 0 else 3 if index == last else 2
        out += _HEADER.pack(MAGIC, (flag << 29) | len(part)) + part + b"\0" * (-len(part) % 4)
    return bytes(out)


def pack(records: list[bytes]) -> bytes:
    return b"".join(frame(record) for record in records)


class RecordIOCodec:
    media_type = "application/x-recordio"

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        if not body:
            raise BadRequest("empty RecordIO body")
        try:
            return unpack(body)
        except RecordIOError as exc:
            raise BadRequest(str(exc)) from None

    def encode(self, obj: Any) -> bytes:
        items = [obj] if isinstance(obj, (bytes, str)) else obj
        if not isinstance(items, (list, tuple)) or not all(
            isinstance(item, (bytes, str)) for item in items
        ):
            raise ModelError(
                f"prediction cannot be encoded as RecordIO: {type(obj).__name__}; return a "
                "list of bytes or str (one per record)"
            )
        try:
            return pack([item.encode() if isinstance(item, str) else item for item in items])
        except RecordIOError as exc:
            raise ModelError(str(exc)) from None


CODEC = RecordIOCodec()
