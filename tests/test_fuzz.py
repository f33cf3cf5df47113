"""Fuzzing the real server (gunicorn, 2 workers) with generated hostile requests.

Bounded and seeded: hypothesis derandomised, a fixed number of examples per test, no
example database. Each example is one request written byte for byte on a raw socket
(so that malformed request lines, headers and framing really go out), answered by
``serve`` with the echo handler ``tests/handlers/fuzz_echo.py``. Every answer must be:
below 500 unless the handler chose the status (or the echoed prediction cannot be
written in the type asked for, a ``model_error`` by design); an error body that is JSON
with a message; JSON (and JSON Lines) that a strict parser reads. No worker may restart,
and ``/ping`` is 200 at the end.
"""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import json
import re
import socket
import struct
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from byoc.codecs.recordio import MAGIC, pack

from .server import ServerProcess

pytestmark = pytest.mark.process

HANDLER = Path(__file__).parent / "handlers" / "fuzz_echo.py"
HANDLER_RAISED = "the handler raised this on purpose"  # as in the handler
WORKERS = 2
LIMIT_MB = 1  # SAGEMAKER_MAX_PAYLOAD_IN_MB: bombs and oversized bodies stay cheap


def fuzz(examples: int) -> Any:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same requests on every run and machine
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the failure names the bytes
        suppress_health_check=list(HealthCheck),
    )


# -- the server ---------------------------------------------------------------------
@dataclass
class Server:
    process: ServerProcess
    workers: frozenset[int]
    statuses: Counter[int]
    sent: Counter[str]

    def children(self) -> frozenset[int]:
        pid = self.process.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return frozenset(int(child) for child in children)

    def assert_workers_unchanged(self) -> None:
        assert self.process.process.poll() is None, self.process.log
        assert self.children() == self.workers, self.process.log
        assert self.process.log.count("Booting worker") == WORKERS, self.process.log
        assert "internal error" not in self.process.log, self.process.log
        assert _exchange(self.process.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "model").mkdir()
    env = {
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(WORKERS),
        "BYOC_HANDLER": str(HANDLER),
        "BYOC_ACCESS_LOG": "false",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(LIMIT_MB),
    }
    with ServerProcess(root, env=env) as process:
        process.wait_healthy()
        deadline = time.monotonic() + 30
        while process.log.count("model loaded") < WORKERS and time.monotonic() < deadline:
            time.sleep(0.05)  # both workers, so that a restart cannot hide among first boots
        server = Server(process, frozenset(), Counter(), Counter())
        server.workers = server.children()
        assert len(server.workers) == WORKERS
        yield server
        print(f"\nfuzz: {sum(server.sent.values())} requests {dict(server.sent)}")
        print(f"fuzz: statuses {dict(sorted(server.statuses.items()))}")


def _exchange(port: int, raw: bytes, method: str = "GET") -> tuple[int, str, bytes]:
    """Write ``raw``, read one response: (status, content type, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        # answered (413, 400) and closed before all of it was read: the answer still counts
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        return response.status, response.getheader("Content-Type") or "", response.read()


# -- what a request is made of ---------------------------------------------------------
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


# -- what every answer must be ---------------------------------------------------------
def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def check(server: Server, request: Fuzzed) -> None:
    try:
        answer = _exchange(server.process.port, request.raw, request.method)
    except (OSError, http.client.HTTPException) as exc:
        raise AssertionError(f"no answer ({exc!r}) to {request.summary}") from None
    check_answer(server, request, *answer)


def check_answer(
    server: Server, request: Fuzzed, status: int, content_type: str, body: bytes
) -> None:
    server.statuses[status] += 1
    where = f"{status} {body[:300]!r} for {request.summary}"
    if status >= 400 and request.method != "HEAD":
        assert content_type == "application/json", where
        error = _strict_json(body.decode())
        assert isinstance(error.get("error"), str) and isinstance(error.get("message"), str), where
        if status >= 500:
            chosen = re.search(r"raise=5\d\d", request.attributes) and (
                error["message"] == HANDLER_RAISED
            )
            unencodable = error["error"] == "model_error" and error["message"].startswith(
                "prediction cannot be encoded as"
            )
            assert chosen or unencodable, where
    elif status >= 500:
        assert re.search(r"raise=5\d\d", request.attributes), where
    if status == 200 and content_type.startswith("application/json"):
        _strict_json(body.decode())  # JSON, or JSON Lines whose each line is JSON
    elif status == 200 and content_type.startswith("application/jsonlines"):
        for line in body.decode().splitlines():
            _strict_json(line)


def _run(server: Server, strategy: st.SearchStrategy[Fuzzed], examples: int, name: str) -> None:
    @fuzz(examples)
    @given(strategy)
    def one(request: Fuzzed) -> None:
        server.sent[name] += 1
        check(server, request)

    one()
    assert server.sent[name] >= examples * 0.9  # the generator did not run dry
    server.assert_workers_unchanged()


def test_fuzz_invocations(server: Server) -> None:
    _run(server, invocations(), 1500, "invocations")


def test_fuzz_malformed_http(server: Server) -> None:
    _run(server, garbage(), 500, "malformed http")


def test_fuzz_keep_alive_connections(server: Server) -> None:
    """Several requests down one connection, as SageMaker's front end sends them."""

    @fuzz(150)
    @given(st.lists(invocations().filter(lambda r: r.exact), min_size=2, max_size=5))
    def several(requests: list[Fuzzed]) -> None:
        with socket.create_connection(("127.0.0.1", server.process.port), timeout=20) as sock:
            for request in requests:
                server.sent["keep-alive"] += 1
                try:
                    sock.sendall(request.raw)
                    response = http.client.HTTPResponse(sock, method=request.method)
                    response.begin()
                    body = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    raise AssertionError(f"no answer ({exc!r}) to {request.summary}") from None
                content_type = response.getheader("Content-Type") or ""
                check_answer(server, request, response.status, content_type, body)
                if response.will_close:  # e.g. after a 413: the server closes
                    break

    several()
    server.assert_workers_unchanged()


@pytest.mark.parametrize("head", ["PUT /invocations", "POST /nope", "GET /ping", "POST /ping"])
def test_a_body_the_route_does_not_read_leaves_the_connection_usable(
    server: Server, head: str
) -> None:
    """gunicorn drains 64 KiB of an unread body, then drops the connection it kept alive
    (found by the fuzzing above: the next request on it got no answer)."""
    body = b"1" * 200_000
    first = f"{head} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    then = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
    then += b"Content-Length: 3\r\n\r\n1,2"
    with socket.create_connection(("127.0.0.1", server.process.port), timeout=20) as sock:
        sock.sendall(first)
        response = http.client.HTTPResponse(sock, method=head.split()[0])
        response.begin()
        response.read()
        assert not response.will_close
        sock.sendall(then)
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        assert (response.status, response.read()) == (200, b"[[1.0, 2.0]]")
