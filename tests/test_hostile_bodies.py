"""Bodies built to break the built-in codecs: each is a 4xx with a JSON message, never a
500, a traceback or an allocation the body does not pay for (issue 11)."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile
import zlib
from typing import Any

import numpy as np
import pytest

from byoc.codecs import default_registry
from byoc.codecs.json import MAX_DEPTH
from byoc.codecs.npz import MAX_MEMBERS
from byoc.errors import BadRequest, PayloadTooLarge
from byoc.media import parse_media_type

from .conftest import ClientFactory

ECHO = """
def model_fn(model_dir):
    return lambda data: data
"""
MIB = 1024 * 1024


def npy(array: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def npz(compression: int = zipfile.ZIP_DEFLATED, **members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npy_header(shape: str, descr: str = "'<f8'", version: bytes = b"\x01\x00") -> bytes:
    header = f"{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY" + version + struct.pack("<H", len(header)) + header


def decode(media_type: str, body: bytes, limit: int = 6 * MIB) -> Any:
    parsed = parse_media_type(media_type)
    assert parsed is not None
    codec = default_registry(limit).get(parsed.essence)
    assert codec is not None
    return codec.decode(body, parsed)


def post(client: Any, body: bytes, content_type: str, accept: str = "application/json") -> Any:
    response = client.post(
        "/invocations", data=body, headers={"Content-Type": content_type, "Accept": accept}
    )
    if response.status_code >= 400:
        assert response.content_type == "application/json"
    return response


def error(response: Any, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    payload = response.get_json()
    assert payload["error"] == code
    for word in words:
        assert word in payload["message"]


# -- 1. charsets ---------------------------------------------------------------------
NOT_TEXT = ["base64", "zlib", "hex", "rot13", "undefined", "punycode", "idna", "uu", "bz2"]


@pytest.mark.parametrize("charset", [*NOT_TEXT, "quopri", "no-such-charset", "utf\\0"])
def test_a_charset_that_is_no_text_encoding_is_415(
    make_client: ClientFactory, charset: str
) -> None:
    client = make_client(ECHO)
    response = post(client, b"1,2", f"text/csv; charset={charset}")
    error(response, 415, "unsupported_media_type", "charset")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/csv; charset=utf-16", b"1\x00,"),  # an odd number of bytes
        ("application/json; charset=utf-8", b'{"a": "\xff"}'),
        ("text/csv; charset=ascii", b"1,\xe9"),
        ("application/jsonlines", b"1\n\xc3\x28\n"),
    ],
)
def test_bytes_wrong_for_a_valid_charset_are_400(
    make_client: ClientFactory, content_type: str, body: bytes
) -> None:
    error(post(make_client(ECHO), body, content_type), 400, "bad_request", "not valid")


def test_a_utf8_byte_order_mark_is_dropped(make_client: ClientFactory) -> None:
    client = make_client(ECHO)
    assert post(client, b"\xef\xbb\xbf1,2", "text/csv").get_json() == [[1.0, 2.0]]
    assert post(client, b"\xef\xbb\xbf[3]", "application/json").get_json() == [3]


# -- 2. nesting depth ----------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["application/json", "application/jsonlines"])
def test_json_nested_1000_deep_is_400(make_client: ClientFactory, content_type: str) -> None:
    client = make_client(ECHO)
    for deep in (b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000, b"[" * 100_000):
        error(post(client, deep, content_type), 400, "bad_request", f"deeper than {MAX_DEPTH}")
    ok = b"[" * MAX_DEPTH + b"1" + b"]" * MAX_DEPTH
    assert post(client, ok, content_type).status_code == 200


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps(["[" * 5000, {"k": '{"[' * 300}, '\\"[[['])
    assert decode("application/json", text.encode())[0] == "[" * 5000


def test_deeply_nested_output_is_a_model_error_not_a_crash(make_client: ClientFactory) -> None:
    client = make_client(
        ECHO + "\ndef predict_fn(data, model):\n"
        "    out = []\n    for _ in range(100_000):\n        out = [out]\n    return out\n"
    )
    for accept in ("application/json", "application/jsonlines"):
        error(post(client, b"1", "text/csv", accept), 500, "model_error", "nested too deeply")


# -- 3. NPY and NPZ swapped ------------------------------------------------------------
def test_npy_sent_as_npz_and_npz_sent_as_npy_are_400(make_client: ClientFactory) -> None:
    client = make_client(ECHO)
    array = npy(np.arange(6.0))
    error(post(client, array, "application/x-npz"), 400, "bad_request", "application/x-npy")
    archive = npz(**{"a.npy": array})
    error(post(client, archive, "application/x-npy"), 400, "bad_request", "application/x-npz")


# -- 4. NPY headers that lie -------------------------------------------------------------
def test_an_npy_header_declaring_terabytes_over_24_bytes_is_400_without_allocating() -> None:
    body = npy_header("(100000000000, 3)") + b"\0" * 24
    tracemalloc.start()
    try:
        with pytest.raises(BadRequest, match=r"needs 2400000000000 bytes of data, there are 24"):
            decode("application/x-npy", body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MIB


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty NPY body"),
        (b"not npy at all", "magic"),
        (npy(np.arange(4.0))[:-1], "needs 32 bytes of data, there are 31"),
        (npy(np.arange(4.0))[:30], "header is cut short"),
        (npy_header("(2,)", version=b"\x09\x00") + b"\0" * 16, "version 9.0"),
        (npy_header("(-1,)") + b"\0" * 8, "invalid shape"),
        (npy_header("(2,)", descr="'<f9'") + b"\0" * 16, "invalid dtype"),
        (npy_header("(2,)", descr="'|O'") + b"\0" * 16, "pickle"),
        (npy_header("(1,)", descr="[('a', '|O')]") + b"\0" * 8, "pickle"),
        (npy_header("(1016, 58016, 566)", descr="'<U0'"), "no bytes per item"),
        (npy_header("(10,)", descr="[]"), "no bytes per item"),
        (b"\x93NUMPY\x01\x00\x05\x00[1] \n", "descr, fortran_order and shape"),
        (b"\x93NUMPY\x01\x00\x05\x00{{{\n ", "not a Python literal"),
        (b"\x93NUMPY\x02\x00\xff\xff\xff\x7f", "at most 10000"),
        (npy_header("(" + "1," * 70 + ")", descr="'|u1'") + b"\0", "dimension"),
    ],
)
def test_malformed_npy_is_400_with_a_message(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match="NPY") as raised:
        decode("application/x-npy", body)
    assert message in raised.value.message


def test_npy_reads_what_numpy_writes() -> None:
    for array in (
        np.arange(12, dtype=">i4").reshape(3, 4),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.zeros((0, 5)),
        np.array(3.5),
        np.array([(1, 2.0)], dtype=[("a", "<i2"), ("b", "<f4")]),
        np.array(["ab", "c"]),
    ):
        decoded = decode("application/x-npy", npy(array))
        assert decoded.dtype == array.dtype and np.array_equal(decoded, array)
        assert decoded.flags.writeable  # as numpy.load's arrays: handlers may write in place
    structured = np.zeros(3, dtype=[("é", "<i4")])  # a non-latin-1 field name: version 3.0
    assert decode("application/x-npy", npy(structured)).dtype == structured.dtype


# -- 5. decompression bombs -------------------------------------------------------------
def _forge_size(archive: bytes, file_size: int, crc: int) -> bytes:
    """The one-member archive declaring ``file_size`` bytes (of CRC ``crc``) uncompressed."""
    data = bytearray(archive)
    for signature, at in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        start = data.find(signature) + at
        data[start : start + 4] = struct.pack("<I", crc)
        data[start + 8 : start + 12] = struct.pack("<I", file_size)
    return bytes(data)


def test_an_npz_bomb_is_413_and_never_inflated(make_client: ClientFactory) -> None:
    zeros = npy(np.zeros(32 * MIB, np.uint8))
    bomb = npz(**{"x.npy": zeros})
    assert len(bomb) < 64 * 1024
    error(post(make_client(ECHO), bomb, "application/x-npz"), 413, "payload_too_large", "6 MiB")
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge):
            decode("application/x-npz", bomb)
        # the declared size lies: the read stops where the declaration says
        with pytest.raises(BadRequest, match="needs 33554432 bytes of data"):
            decode("application/x-npz", _forge_size(bomb, 4096, zlib.crc32(zeros[:4096])))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MIB


def test_npz_members_count_together_against_the_limit() -> None:
    four_mib = npy(np.zeros(4 * MIB, np.uint8))
    assert len(decode("application/x-npz", npz(**{"a.npy": four_mib}))["a"]) == 4 * MIB
    with pytest.raises(PayloadTooLarge, match="SAGEMAKER_MAX_PAYLOAD_IN_MB"):
        decode("application/x-npz", npz(**{"a.npy": four_mib, "b.npy": four_mib}))
    both = decode("application/x-npz", npz(**{"a.npy": four_mib, "b": four_mib}), 9 * MIB)
    assert set(both) == {"a", "b"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty NPZ body"),
        (b"PK\x03\x04 not really", "invalid NPZ body"),
        (npz(**{"a.npy": b"plain text"}), "magic"),
        (npz(zipfile.ZIP_BZIP2, **{"a.npy": npy([1])}), "compression method 12"),
        (npz(zipfile.ZIP_LZMA, **{"a.npy": npy([1])}), "compression method 14"),
        (npz(**{"a.npy": npy(np.arange(9.0))})[:-30], "invalid NPZ body"),
        (npz(**{f"{i}.npy": b"" for i in range(MAX_MEMBERS + 1)}), "members"),
    ],
)
def test_malformed_npz_is_400_with_a_message(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match="NPZ") as raised:
        decode("application/x-npz", body)
    assert message in raised.value.message


def test_a_corrupt_deflate_stream_is_400() -> None:
    archive = bytearray(npz(**{"a.npy": npy(np.arange(1000.0))}))
    start = archive.find(b"a.npy") + 5
    archive[start + 10 : start + 40] = b"\xff" * 30
    with pytest.raises(BadRequest, match=r"NPZ member 'a\.npy'"):
        decode("application/x-npz", bytes(archive))


def test_sparse_npz_still_decodes_to_a_matrix() -> None:
    sparse = pytest.importorskip("scipy.sparse")
    for kind in ("csr", "csc", "coo", "bsr", "dia"):
        matrix = sparse.random(6, 4, density=0.5, format=kind, random_state=1)
        buffer = io.BytesIO()
        sparse.save_npz(buffer, matrix)
        decoded = decode("application/x-npz", buffer.getvalue())
        assert decoded.format == kind and (decoded != matrix).nnz == 0
    parts = {"shape.npy": npy([2, 2]), "data.npy": npy([1.0]), "row.npy": npy([0])}
    for extra in (
        {"format.npy": npy("evil")},
        {"format.npy": npy(7)},
        {"format.npy": npy("coo"), "col.npy": npy([9])},  # outside the shape
    ):
        with pytest.raises(BadRequest, match="sparse"):
            decode("application/x-npz", npz(**parts, **extra))
    odd_flag = {"format.npy": npy("coo"), "col.npy": npy([0]), "_is_array.npy": npy([])}
    assert decode("application/x-npz", npz(**parts, **odd_flag)).format == "coo"


# -- 6. CSV field size ------------------------------------------------------------------
def test_a_quoted_csv_field_over_the_field_limit_is_400(make_client: ClientFactory) -> None:
    body = b'1,"' + b"2" * 131_073 + b'"\n'
    error(post(make_client(ECHO), body, "text/csv"), 400, "bad_request", "field limit")


# -- 7. NaN and Infinity out ------------------------------------------------------------
def _strict(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_nan_and_infinity_are_answered_as_null(make_client: ClientFactory) -> None:
    client = make_client(
        ECHO + "\nimport numpy as np\n"
        "def predict_fn(data, model):\n"
        "    nan, inf = float('nan'), float('inf')\n"
        "    return {'array': np.array([1.5, nan, inf, -inf]), 'plain': [nan, {'x': -inf}],\n"
        "            'scalar': np.float32('nan'), 'ok': 2.5}\n"
    )
    expected = {
        "array": [1.5, None, None, None],
        "plain": [None, {"x": None}],
        "scalar": None,
        "ok": 2.5,
    }
    assert _strict(post(client, b"1", "text/csv").get_data(as_text=True)) == expected
    lines = post(client, b"1", "text/csv", "application/jsonlines").get_data(as_text=True)
    assert [_strict(line) for line in lines.splitlines()] == [expected]


def test_a_nan_array_is_null_in_json_and_json_lines(make_client: ClientFactory) -> None:
    client = make_client(ECHO)
    for accept in ("application/json", "application/jsonlines"):
        text = post(client, b"1,nan\ninf,-inf\n", "text/csv", accept).get_data(as_text=True)
        rows = [_strict(line) for line in text.splitlines()]
        expected = [[1.0, None], [None, None]]
        assert rows == ([expected] if accept == "application/json" else expected)


# -- the rest of the sweep --------------------------------------------------------------
@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b"", "empty JSON body"),
        ("application/json", b"   \n", "empty JSON body"),
        ("application/json", b"[1, 2", "invalid JSON"),
        ("application/json", b"1" * 5000, "invalid JSON"),  # over Python's int digit limit
        ("application/jsonlines", b"\n\n", "empty JSON Lines body"),
        ("application/jsonlines", b'{"a": 1}\n{"a":', "line 2: invalid JSON"),
        ("text/csv", b"", "empty CSV body"),
        ("application/x-recordio", b"", "empty RecordIO body"),
        ("application/x-recordio", b"\x0a\x23\xd7\xce\xff\xff\xff\x1f", "cut short"),
        ("application/x-recordio", b"garbage!", "no magic number"),
    ],
)
def test_other_malformed_bodies_are_400(
    make_client: ClientFactory, content_type: str, body: bytes, message: str
) -> None:
    error(post(make_client(ECHO), body, content_type), 400, "bad_request", message)


def test_json_lines_split_on_newlines_only() -> None:
    body = json.dumps({"text": "a\u2028b\x85c"}, ensure_ascii=False).encode() + b"\r\n[1]\n"
    assert decode("application/jsonlines", body) == [{"text": "a\u2028b\x85c"}, [1]]
