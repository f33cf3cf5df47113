"""The RecordIO codec: MXNet framing, split records, and one answer record per input."""

from __future__ import annotations

import struct

import pytest

from byoc.codecs.recordio import CODEC, MAGIC, pack, unpack
from byoc.errors import BadRequest, ModelError
from byoc.media import parse_media_type

from .conftest import ClientFactory

RECORDIO = parse_media_type("application/x-recordio")


def test_round_trip_with_padding() -> None:
    records = [b"", b"a", b"abcd", b"abcde" * 7]
    body = pack(records)
    assert len(body) % 4 == 0
    assert unpack(body) == records


def test_a_split_record_gets_its_magic_word_back() -> None:
    """As dmlc's reader: the writer split the record where its data held the magic word."""
    head = struct.pack("<II", MAGIC, (1 << 29) | 4) + b"abcd"
    tail = struct.pack("<II", MAGIC, (3 << 29) | 2) + b"de\0\0"
    magic = struct.pack("<I", MAGIC)
    assert unpack(head + tail + pack([b"z"])) == [b"abcd" + magic + b"de", b"z"]


def test_a_record_holding_the_magic_word_round_trips() -> None:
    magic = struct.pack("<I", MAGIC)
    record = b"AAAA" + magic + b"BBBB" + magic
    body = pack([record])
    assert body.count(magic) == 3  # three frames; no bare magic word in the data
    assert unpack(body) == [record]


def test_a_flood_of_records_is_refused() -> None:
    with pytest.raises(BadRequest, match="more than 100000 records"):
        CODEC.decode(pack([b""] * 100_001), RECORDIO)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x01\x02", "a truncated header at byte 0"),
        (struct.pack("<II", 0x12345678, 0), "no magic number"),
        (struct.pack("<II", MAGIC, 100) + b"x", "is cut short"),
        (struct.pack("<II", MAGIC, (1 << 29) | 1) + b"a\0\0\0", "has no last part"),
        (struct.pack("<II", MAGIC, (5 << 29) | 0), "an unexpected cflag 5"),
    ],
)
def test_bad_bodies_are_400s(body: bytes, message: str) -> None:
    assert RECORDIO is not None
    with pytest.raises(BadRequest, match=message):
        CODEC.decode(body, RECORDIO)


def test_encoding_needs_bytes_or_str_per_record() -> None:
    assert unpack(CODEC.encode(["x", b"y"])) == [b"x", b"y"]
    with pytest.raises(ModelError, match="list of bytes or str"):
        CODEC.encode([1.5])


def test_multi_record_recordio_keeps_one_answer_per_record(make_client: ClientFactory) -> None:
    client = make_client(
        """
def model_fn(model_dir):
    return None

def predict_fn(records, model):
    return [record.upper() for record in records]
"""
    )
    body = pack([b"first", b"second", b"third"])
    response = client.post(
        "/invocations",
        data=body,
        headers={"Content-Type": "application/x-recordio", "Accept": "application/x-recordio"},
    )
    assert response.status_code == 200, response.data
    assert unpack(response.data) == [b"FIRST", b"SECOND", b"THIRD"]
