from __future__ import annotations

import io

import numpy as np
import pytest

from byoc.codecs import CodecRegistry, default_registry
from byoc.errors import BadRequest, ModelError, UnsupportedMediaType
from byoc.media import MediaType, parse_media_type


def mt(header: str) -> MediaType:
    media_type = parse_media_type(header)
    assert media_type is not None
    return media_type


REGISTRY = default_registry()


def codec(essence: str):  # type: ignore[no-untyped-def]
    found = REGISTRY.get(essence)
    assert found is not None
    return found


def test_registry_has_the_builtin_types_and_no_pickle() -> None:
    assert set(REGISTRY.media_types) == {
        "application/json",
        "text/csv",
        "application/jsonlines",
        "application/x-npy",
        "application/x-npz",
        "application/x-recordio",
    }
    assert not any("pickle" in t for t in REGISTRY.media_types)


def test_registry_accepts_user_codecs() -> None:
    class Upper:
        media_type = "Text/Plain"

        def decode(self, body: bytes, media_type: MediaType) -> str:
            return body.decode().upper()

        def encode(self, obj: object) -> bytes:
            return str(obj).encode()

    registry = CodecRegistry()
    registry.register(Upper())
    assert "text/plain" in registry
    with pytest.raises(ValueError, match="type/subtype"):
        bad = Upper()
        bad.media_type = "plain"
        registry.register(bad)


def test_csv_decodes_rows_to_2d_floats() -> None:
    csv = codec("text/csv")
    assert csv.decode(b"1,2,3\r\n4,5,6\n\n", mt("text/csv")).tolist() == [[1, 2, 3], [4, 5, 6]]
    assert csv.decode(b"1.5,2", mt("text/csv")).shape == (1, 2)
    assert np.isnan(csv.decode(b"1,,3", mt("text/csv"))[0, 1])
    assert csv.decode(b'"1","2"\n', mt("text/csv")).tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize(
    "rows",
    [
        ["5.1,3.5,1.4,0.2"] * 100,
        [" 1, 2", "3 ,4", "+1,.5", "1e5,-2.5E-3", "nan,inf"],
        ["1,2", "", "   ", "3,4", "5,6", "7,8"],  # blank lines: numpy refuses, Python skips
        ["1,,3", "4,5,6", "7,8,9", "1,2,3"],  # empty field -> NaN
        ["1_0,2", "3,4", "5,6", "7,8"],  # Python's float() reads 1_0
    ],
)
def test_csv_many_rows_read_the_same_as_the_python_path(rows: list[str]) -> None:
    body = "\r\n".join(rows).encode()
    fast = codec("text/csv").decode(body, mt("text/csv"))
    expected = [
        [float(f) if f.strip() else float("nan") for f in row.split(",")]
        for row in rows
        if row.strip()
    ]
    np.testing.assert_array_equal(fast, np.array(expected))
    assert fast.dtype == np.float64 and fast.ndim == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"1,2\n3,4\n5,6\n7\n", "row 4 has 1 columns, expected 2"),
        (b"1,2\n3,4\n5,6\n7,x\n", "row 4, column 2: 'x' is not a number"),
        (b"", "empty CSV body"),
        (b"\n\n \r\n\n\n", "empty CSV body"),  # many blank lines: not numpy's empty array
        (b"1,2\n3\n", "row 2 has 1 columns, expected 2"),
        (b"1,abc\n", "row 1, column 2: 'abc' is not a number"),
        (b"\xff", "not valid UTF-8"),
    ],
)
def test_csv_rejects_bad_bodies(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        codec("text/csv").decode(body, mt("text/csv"))


def test_csv_encodes_one_line_per_record() -> None:
    csv = codec("text/csv")
    assert csv.encode(np.array([1.5, 2.0])) == b"1.5\n2.0\n"
    assert csv.encode(np.array([[1, 2], [3, 4]])) == b"1,2\n3,4\n"
    assert csv.encode(7) == b"7\n"
    assert csv.encode([["a,b", 1]]) == b'"a,b",1\n'
    with pytest.raises(ModelError):
        csv.encode([{"a": 1}])


def test_csv_charset() -> None:
    csv = codec("text/csv")
    assert csv.decode("1,2".encode("utf-16"), mt("text/csv; charset=utf-16")).tolist() == [[1, 2]]
    with pytest.raises(UnsupportedMediaType, match="charset"):
        csv.decode(b"1", mt("text/csv; charset=nope"))


def test_json_decodes_numbers_to_arrays_and_keeps_other_values() -> None:
    json_codec = codec("application/json")
    decoded = json_codec.decode(b"[[1, 2], [3, 4]]", mt("application/json"))
    assert isinstance(decoded, np.ndarray) and decoded.shape == (2, 2)
    assert json_codec.decode(b'{"instances": [1]}', mt("application/json")) == {"instances": [1]}
    assert json_codec.decode(b"[[1], [2, 3]]", mt("application/json")) == [[1], [2, 3]]
    assert json_codec.decode(b'["a", "b"]', mt("application/json")) == ["a", "b"]
    with pytest.raises(BadRequest, match="invalid JSON"):
        json_codec.decode(b"[1,", mt("application/json"))
    with pytest.raises(BadRequest, match="empty"):
        json_codec.decode(b"  ", mt("application/json"))


def test_json_encodes_numpy_values() -> None:
    json_codec = codec("application/json")
    assert json_codec.encode(np.array([1, 2])) == b"[1, 2]"
    assert json_codec.encode({"p": np.float32(0.5), "c": np.array([1])}) == b'{"p": 0.5, "c": [1]}'
    with pytest.raises(ModelError, match="JSON"):
        json_codec.encode(object())


def test_jsonlines_round_trip() -> None:
    lines = codec("application/jsonlines")
    assert lines.decode(b"[1,2]\n\n[3,4]\n", mt("application/jsonlines")).tolist() == [
        [1, 2],
        [3, 4],
    ]
    assert lines.decode(b'{"a":1}\n{"a":2}', mt("application/jsonlines")) == [{"a": 1}, {"a": 2}]
    assert lines.encode(np.array([1, 2])) == b"1\n2\n"
    assert lines.encode({"a": 1}) == b'{"a": 1}\n'
    assert lines.encode(np.array([])) == lines.encode([]) == b""  # no record, no (empty) line
    with pytest.raises(BadRequest, match="line 2"):
        lines.decode(b"1\n{", mt("application/jsonlines"))


def test_npy_round_trip_and_no_pickle() -> None:
    npy = codec("application/x-npy")
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(npy.decode(npy.encode(array), mt("application/x-npy")), array)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BadRequest, match="invalid NPY"):
        npy.decode(buffer.getvalue(), mt("application/x-npy"))
    with pytest.raises(ModelError, match="pickle"):
        npy.encode(np.array([object()], dtype=object))
    with pytest.raises(BadRequest):
        npy.decode(b"not npy", mt("application/x-npy"))


def test_npz_round_trip_and_sparse() -> None:
    import scipy.sparse

    npz = codec("application/x-npz")
    decoded = npz.decode(npz.encode({"x": np.ones(3), "y": np.zeros(2)}), mt("application/x-npz"))
    assert set(decoded) == {"x", "y"} and decoded["x"].tolist() == [1, 1, 1]
    matrix = scipy.sparse.csr_matrix(np.eye(3))
    sparse = npz.decode(npz.encode(matrix), mt("application/x-npz"))
    assert scipy.sparse.issparse(sparse) and sparse.toarray().tolist() == np.eye(3).tolist()
    with pytest.raises(BadRequest, match="invalid NPZ"):
        npz.decode(b"PK\x03\x04junk", mt("application/x-npz"))


def test_csv_many_rows_go_through_numpys_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = np.loadtxt

    def spy(lines: list[str], **kwargs: object) -> np.ndarray:
        seen.append(len(lines))
        return real(lines, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(np, "loadtxt", spy)
    csv = codec("text/csv")
    csv.decode(b"1,2\n3,4\n5,6", mt("text/csv"))  # 3 rows: Python is faster
    csv.decode(b"1,2\n" * 50, mt("text/csv"))
    assert seen == [50]
