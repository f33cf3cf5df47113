"""Records of an input file and the requests they travel in (SplitType, BatchStrategy).

SplitType ``None`` makes the whole file one record; ``Line`` one record per non-blank line
(numbered as in the file); ``RecordIO`` one per MXNet RecordIO record, framing kept (a magic
word 0xced7230a, a length word of 29-bit length and 3-bit cflag, data padded to 4 bytes; a
record split over several frames, cflag 1, 2..., 3, stays one record). ``MultiRecord`` packs
as many whole records as fit in MaxPayloadInMB into one request; ``SingleRecord`` sends
them one by one. A record bigger than the limit fails its file. A limit of 0 is no limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..codecs.recordio import MAGIC, RecordIOError, frame, spans

__all__ = [
    "RECORDIO_MAGIC",
    "SPLIT_TYPES",
    "Batch",
    "Record",
    "RecordError",
    "encode_recordio",
    "pack",
    "split",
]

RECORDIO_MAGIC = MAGIC
SPLIT_TYPES = ("None", "Line", "RecordIO")


class RecordError(ValueError):
    """A file that cannot be split, or a record that cannot travel; says where."""


@dataclass(frozen=True)
class Record:
    data: bytes  # what is sent: one line (without its end of line) or one framed record
    number: int  # the line number for Line, the record's ordinal for RecordIO, 1 for None
    offset: int = 0  # byte offset in the file

    def where(self, split_type: str) -> str:
        if split_type == "Line":
            return f"line {self.number}"
        if split_type == "RecordIO":
            return f"record {self.number} (byte {self.offset})"
        return "the whole file"


@dataclass(frozen=True)
class Batch:
    """The records of one request and its body."""

    records: tuple[Record, ...]
    body: bytes

    def where(self, split_type: str) -> str:
        first, last = self.records[0], self.records[-1]
        if len(self.records) == 1:
            return first.where(split_type)
        unit = "lines" if split_type == "Line" else "records"
        return f"{unit} {first.number}-{last.number}"


def split(data: bytes, split_type: str) -> list[Record]:
    if split_type == "None":
        return [Record(data, 1)]
    if split_type == "Line":
        return _lines(data)
    if split_type == "RecordIO":
        return _recordio(data)
    raise RecordError(f"SplitType {split_type!r} is not one of {', '.join(SPLIT_TYPES)}")


def _lines(data: bytes) -> list[Record]:
    records = []
    offset = 0
    for number, line in enumerate(data.split(b"\n"), 1):
        text = line[:-1] if line.endswith(b"\r") else line
        if text.strip():
            records.append(Record(text, number, offset))
        offset += len(line) + 1
    return records


def _recordio(data: bytes) -> list[Record]:
    try:
        found = spans(data)
    except RecordIOError as exc:
        raise RecordError(str(exc)) from None
    return [
        Record(data[start:end], number, start) for number, (start, end, _) in enumerate(found, 1)
    ]


def encode_recordio(payload: bytes) -> bytes:
    """One record in a single frame (cflag 0), padded to 4 bytes."""
    try:
        return frame(payload)
    except RecordIOError as exc:
        raise RecordError(str(exc)) from None


def pack(
    records: Iterable[Record], split_type: str, limit: int, multi_record: bool
) -> Iterator[Batch]:
    """Requests for ``records``: ``limit`` bytes at most (0: none), whole records only.

    Line records travel one per line, each ending with a newline; RecordIO and None
    records as they are. Raises :class:`RecordError` at the first record too big alone.
    """
    separator = b"\n" if split_type == "Line" else b""
    pending: list[Record] = []
    size = 0
    for record in records:
        length = len(record.data) + len(separator)
        if limit and length > limit:
            raise RecordError(
                f"{record.where(split_type)} is {length} bytes, more than MaxPayloadInMB "
                f"({limit / 1048576:g} MB = {limit} bytes)"
            )
        if pending and (not multi_record or (limit and size + length > limit)):
            yield _batch(pending, separator)
            pending, size = [], 0
        pending.append(record)
        size += length
    if pending:
        yield _batch(pending, separator)


def _batch(records: list[Record], separator: bytes) -> Batch:
    body = b"".join(record.data + separator for record in records)
    return Batch(tuple(records), body)
