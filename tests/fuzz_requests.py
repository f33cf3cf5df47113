"""What the fuzz test (``test_fuzz.py``) sends: hypothesis strategies for whole HTTP
requests, as raw bytes, hostile in every part (method, path, headers, Content-Type and
charset, Accept, custom attributes, framing, and bodies of every built-in media type,
valid, mutated or forged: deep JSON, lying NPY headers, NPZ bombs, RecordIO garbage)."""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from byoc.codecs.recordio import MAGIC, pack

__all__ = ["LIMIT_MB", "Fuzzed", "garbage", "invocations"]

LIMIT_MB = 1  # the server's SAGEMAKER_MAX_PAYLOAD_IN_MB: bombs and oversized bodies stay cheap

TYPES = [
    "text/csv",
    "application/json",
    "application/jsonlines",
    "application/x-npy",
    "application/x-npz",
    "application/x-recordio",
]
OTHER_TYPES = ["application/octet-stream", "text/plain", "TEXT/CSV", "image/png", "x", "a/b/c"]
CHARSETS = [
    "utf-8",
    "UTF-16",
    "latin-1",
    "ascii",
    "utf-7",
    "cp037",
    "base64",
    "zlib",
    "hex",
    "rot13",
    "undefined",
    "punycode",
    "idna",
    "uu",
    "bz2",
    "quopri",
    "nope",
    "",
]
ACCEPTS = [
    *TYPES,
    "*/*",
    "text/*",
    "application/*",
    "text/html",
    "image/png;q=0.5",
    "application/json;q=0",
    "*/*;q=0",
    "*",
    "garbage",
    "text/csv, application/json;q=0.9",
    "application/x-npy;q=nan",
    "application/jsonlines;q=2",
]
OTHER_PATHS = ["/invocations", "/ping", "/execution-parameters", "/models", "/models/m/invoke",
               "/invocations?x=1&x=2", "/", "/nope", "/invocations/", "//invocations"]  # fmt: skip
ATTRIBUTES = ["raise=500", "raise=503", "raise=418", "a=b", "trace=1;x", "\x7f"]
TOKEN = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"), max_size=12
)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)

floats = st.floats(allow_nan=True, allow_infinity=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | floats | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)
arrays = hnp.arrays(
    dtype=st.sampled_from(["<f8", "<f4", "<i4", "|u1", "|b1", "<U3", ">i2", "<c16", "|S2"]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npz(members: dict[str, np.ndarray], compressed: bool) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **members)  # type: ignore[operator]
    return buffer.getvalue()


def _bomb(mib: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", _npy(np.zeros(mib * 1024 * 1024, np.uint8)))
    return buffer.getvalue()


def _csv(rows: list[list[Any]], quoting: int) -> bytes:
    out = io.StringIO()
    csv.writer(out, quoting=quoting).writerows(rows)
    return out.getvalue().encode()


def _forged_npy(shape: tuple[int, ...], descr: str, data: bytes) -> bytes:
    header = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape}, }}\n".encode()
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


BOMBS = [_bomb(2), _bomb(8)]
BODIES: dict[str, st.SearchStrategy[bytes]] = {
    "text/csv": st.one_of(
        st.builds(
            _csv,
            st.lists(
                st.lists(floats | st.integers() | st.text(max_size=4), min_size=1, max_size=5),
                min_size=1,
                max_size=6,
            ),
            st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
        ),
        st.integers(131_000, 140_000).map(lambda n: b'1,"' + b"2" * n + b'"\n'),
        st.text(st.sampled_from('0123456789.,e-+ "\r\nnaif'), max_size=60).map(str.encode),
    ),
    "application/json": st.one_of(
        json_values.map(lambda value: json.dumps(value).encode()),
        st.integers(90, 3000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(90, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        st.text(st.sampled_from('[]{}",:0123456789.e-tfnul \\'), max_size=60).map(str.encode),
    ),
    "application/jsonlines": st.lists(
        json_values.map(json.dumps) | st.integers(90, 2000).map(lambda n: "[" * n + "]" * n),
        max_size=4,
    ).map(lambda lines: "\n".join(lines).encode()),
    "application/x-npy": st.one_of(
        arrays.map(_npy),
        st.builds(
            _forged_npy,
            st.lists(st.integers(-2, 10**12), max_size=3).map(tuple),
            st.sampled_from(["<f8", "|O", "<U0", "V0", "<f9", "|u1", "[('a', '|O')]"]),
            st.binary(max_size=64),
        ),
    ),
    "application/x-npz": st.one_of(
        st.builds(
            _npz,
            st.dictionaries(st.sampled_from(["a", "b", "x.y", ""]), arrays, max_size=3),
            st.booleans(),
        ),
        st.sampled_from(BOMBS),
        arrays.map(_npy),  # an NPY body under the NPZ type
    ),
    "application/x-recordio": st.one_of(
        st.lists(st.binary(max_size=24), max_size=5).map(pack),
        st.lists(
            st.sampled_from([struct.pack("<I", MAGIC), b"\x00", b"\xff\xff\xff\x1f"]), max_size=8
        ).map(b"".join),
    ),
    "random": st.binary(max_size=300),
}


@st.composite
def bodies(draw: st.DrawFn, essence: str) -> bytes:
    family = essence if essence in BODIES and draw(st.integers(0, 99)) < 80 else None
    body = draw(
        BODIES[family]
        if family
        else st.sampled_from(list(BODIES.values())).flatmap(lambda strategy: strategy)
    )
    mutation = "none"
    if draw(st.integers(0, 99)) >= 60:
        mutation = draw(st.sampled_from(["truncate", "flip", "append", "prepend"]))
    if body and mutation == "truncate":
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif body and mutation == "flip":
        at = draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    elif mutation in ("append", "prepend"):
        junk = draw(st.binary(min_size=1, max_size=16))
        body = body + junk if mutation == "append" else junk + body
    return body


@st.composite
def content_types(draw: st.DrawFn) -> tuple[str | None, str]:
    essence = draw(st.sampled_from(TYPES if draw(st.integers(0, 99)) < 85 else OTHER_TYPES))
    if draw(st.integers(0, 19)) == 0:
        return None, essence  # no Content-Type at all
    if draw(st.integers(0, 99)) < 60:
        return essence, essence.lower()
    params = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["charset", "charset", "Charset", "q", "header", ""]),
                st.sampled_from(CHARSETS) | TOKEN,
            ),
            max_size=2,
        )
    )
    rendered = essence + "".join(f"; {key}={value}" for key, value in params)
    return rendered, essence.lower()


@dataclass(frozen=True)
class Fuzzed:
    raw: bytes
    method: str
    attributes: str
    summary: str
    exact: bool = False  # framed exactly (the next request on the connection starts after it)

    def __repr__(self) -> str:  # what a failure prints: the start of the bytes sent
        return f"Fuzzed({self.raw[:400]!r}{'...' if len(self.raw) > 400 else ''})"


def _framed(draw: st.DrawFn, body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    framing = "length"
    if draw(st.integers(0, 99)) >= 75:
        framing = draw(st.sampled_from(["chunked", "short", "huge", "bad", "none"]))
    headers, payload = _frame(draw, framing, body)
    return framing, headers, payload


def _frame(draw: st.DrawFn, framing: str, body: bytes) -> tuple[list[tuple[str, str]], bytes]:
    if framing == "chunked":
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
        return [("Transfer-Encoding", "chunked")], chunked + b"0\r\n\r\n"
    if framing == "short":
        return [("Content-Length", str(len(body) // 2))], body
    if framing == "huge":
        return [("Content-Length", str(LIMIT_MB * 1024 * 1024 * 10))], body[:100]
    if framing == "bad":
        return [("Content-Length", draw(st.sampled_from(["abc", "-1", "1, 2", "0x10", ""])))], b""
    if framing == "none":
        return [], b""
    return [("Content-Length", str(len(body)))], body


@st.composite
def invocations(draw: st.DrawFn) -> Fuzzed:
    method, path = "POST", "/invocations"
    if draw(st.integers(0, 99)) >= 85:  # the rest: other methods and paths
        method = draw(st.sampled_from(["POST", "GET", "PUT", "HEAD", "DELETE", "OPTIONS"]))
        path = draw(st.sampled_from(OTHER_PATHS))
    content_type, essence = draw(content_types())
    body = draw(bodies(essence))
    headers = [("Host", "fuzz")]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    accept = draw(st.none() | st.sampled_from(ACCEPTS))
    if accept is not None:
        headers.append(("Accept", accept))
    attributes = draw(st.sampled_from(["", "", *ATTRIBUTES]) | HEADER_TEXT)
    if attributes:
        headers.append(("X-Amzn-SageMaker-Custom-Attributes", attributes))
    if draw(st.booleans()):
        headers.append(("X-Amzn-SageMaker-Inference-Id", draw(HEADER_TEXT)))
    framing, framed, payload = _framed(draw, body)
    headers += framed
    close = draw(st.booleans())
    if close:
        headers.append(("Connection", "close"))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    raw = head.encode("latin-1") + b"\r\n" + payload
    summary = f"{method} {path} {content_type!r} accept={accept!r} body={body[:80]!r}"
    exact = framing in ("length", "chunked") and not close and method != "HEAD"
    return Fuzzed(raw, method, attributes, summary, exact)


@st.composite
def garbage(draw: st.DrawFn) -> Fuzzed:
    """Request lines and headers gunicorn's parser must refuse (or survive)."""
    line = draw(
        st.sampled_from(
            [
                "POST /invocations HTTP/1.1",
                "POST /invocations HTTP/1.0",
                "POST /invocations",
                "post /invocations HTTP/1.1",
                "POST /invocations HTTP/9.9",
                "POST  /invocations",
                "PO ST /invocations HTTP/1.1",
                "GET /" + "a" * 9000 + " HTTP/1.1",
                "GET",
                "\x00\x01 / HTTP/1.1",
                "POST http://x/invocations HTTP/1.1",
                "POST * HTTP/1.1",
            ]
        )
        | st.text(
            st.characters(min_codepoint=1, max_codepoint=0xFF, exclude_characters="\r\n"),
            max_size=40,
        )
    )
    headers = draw(
        st.lists(
            st.sampled_from(
                [
                    "Host: x",
                    "Content-Type: application/json",
                    "Content-Length: 2",
                    "Content-Length: 2\r\nContent-Length: 3",
                    "Transfer-Encoding: chunked, gzip",
                    "Transfer-Encoding: identity",
                    "Bad Header: 1",
                    "NoColon",
                    ": empty-name",
                    "X-Long: " + "v" * 70_000,
                    "Content-Type: \x00",
                    " folded: continuation",
                    "Expect: 100-continue",
                    "X-Amzn-SageMaker-Custom-Attributes: raise=503",
                ]
            )
            | st.tuples(TOKEN, HEADER_TEXT).map(": ".join),
            max_size=5,
        )
    )
    body = draw(st.binary(min_size=3, max_size=40))  # Content-Length: 2 or 3 is all there
    raw = (line + "\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode("latin-1")
    return Fuzzed(raw + body, line.split(" ")[0], "", f"{line[:60]!r} {headers!r}"[:300])
