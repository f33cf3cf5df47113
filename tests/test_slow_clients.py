"""Slow, stalled and malformed clients against the real server (byoc's gunicorn worker)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from byoc.request_scan import RequestScan, Verdict

from .conftest import write_handler
from .server import ServerProcess

HANDLER = """
def model_fn(model_dir):
    return None

def predict_fn(data, model):
    return data.sum(axis=1)
"""

HALF_HEAD = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Le"


def _read_reply(sock: socket.socket, seconds: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(seconds)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
    }
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _exchange(port: int, raw: bytes, seconds: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as sock:
        sock.sendall(raw)
        return _read_reply(sock, seconds)


@contextmanager
def stalled(port: int, count: int, payload: bytes = HALF_HEAD) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            sock.sendall(payload)
            sockets.append(sock)
        yield sockets


@pytest.mark.process
def test_64_stalled_clients_do_not_stall_ping_or_predictions(ml_root: Path) -> None:
    write_handler(ml_root, HANDLER)
    with ServerProcess(ml_root, env={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}) as server:
        server.wait_healthy()
        half_body = (
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 100\r\n\r\n1,2"
        )
        with stalled(server.port, 32), stalled(server.port, 32, half_body):
            time.sleep(0.5)  # every one of them has reached a worker
            for _ in range(5):
                started = time.monotonic()
                assert requests.get(server.url + "/ping", timeout=2).status_code == 200
                answer = requests.post(
                    server.url + "/invocations",
                    data="1,2\n",
                    headers={"Content-Type": "text/csv"},
                    timeout=2,
                )
                assert answer.status_code == 200 and answer.json() == [3.0]
                assert time.monotonic() - started < 2


@pytest.mark.process
def test_a_request_that_never_completes_is_a_json_408(ml_root: Path) -> None:
    write_handler(ml_root, HANDLER)
    with ServerProcess(ml_root, env={"BYOC_REQUEST_READ_TIMEOUT": "1"}) as server:
        server.wait_healthy()
        with stalled(server.port, 1) as (sock,):
            started = time.monotonic()
            status, headers, body = _read_reply(sock)
            assert status == 408 and headers["content-type"] == "application/json"
            assert json.loads(body)["error"] == "request_timeout"
            assert 0.9 < time.monotonic() - started < 3
        # an idle connection (no byte sent) is closed quietly after the keep-alive time
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
            assert idle.recv(1) == b""


@pytest.mark.process
def test_the_servers_own_errors_are_json(ml_root: Path) -> None:
    write_handler(ml_root, HANDLER)
    with ServerProcess(ml_root) as server:
        server.wait_healthy()
        cases = {
            b"NOT A REQUEST\r\n\r\n": 400,
            b"GET /ping HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n": 400,
            b"GET /ping HTTP/9.9\r\nHost: x\r\n\r\n": 400,
            b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n": 414,
            b"GET /ping HTTP/1.1\r\n" + b"X-Big: " + b"b" * 70000 + b"\r\n\r\n": 431,
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n": 413,
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n": 400,
        }
        for raw, expected in cases.items():
            status, headers, body = _exchange(server.port, raw)
            assert status == expected, (raw[:60], status, body)
            assert headers["content-type"] == "application/json", (raw[:60], headers)
            assert json.loads(body)["message"]
        assert requests.get(server.url + "/ping", timeout=2).status_code == 200


@pytest.mark.process
def test_chunked_pipelined_and_expect_continue_requests_are_served(ml_root: Path) -> None:
    write_handler(ml_root, HANDLER)
    with ServerProcess(ml_root) as server:
        server.wait_healthy()
        chunked = (
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n1,\r\n6;ext=1\r\n2\n3,4\n\r\n0\r\n\r\n"
        )
        status, _, body = _exchange(server.port, chunked)
        assert (status, json.loads(body)) == (200, [3.0, 7.0])
        one = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                one + b"Content-Length: 4\r\n\r\n1,2\n" + one + b"Content-Length: 4\r\n\r\n5,"
            )
            first = _read_reply(sock)
            sock.sendall(b"5\n")  # the second request, pipelined, arrives in two pieces
            second = _read_reply(sock)
        assert first[0] == second[0] == 200 and json.loads(second[2]) == [10.0]
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(one + b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            sock.settimeout(5)
            assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(b"4,4\n")
            status, _, body = _read_reply(sock)
            assert (status, json.loads(body)) == (200, [8.0])


@pytest.mark.process
def test_a_kept_alive_connection_never_holds_the_only_thread(ml_root: Path) -> None:
    """After an answer the thread waits a moment for the next request on that connection
    and serves it when it is whole; half a request goes back to the event loop, so one
    thread still answers another client at once."""
    write_handler(ml_root, HANDLER)
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "BYOC_THREADS": "1"}
    one = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
    with ServerProcess(ml_root, env=env) as server:
        server.wait_healthy()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            for n in range(40):  # whole requests straight after each answer
                sock.sendall(one + b"Content-Length: 4\r\n\r\n%d,1\n" % (n % 10))
                status, _, body = _read_reply(sock)
                assert (status, json.loads(body)) == (200, [float(n % 10 + 1)])
            sock.sendall(one + b"Content-Length: 4\r\n\r\n2,")  # then half of one, and stop
            for _ in range(3):
                started = time.monotonic()
                assert requests.get(server.url + "/ping", timeout=2).status_code == 200
                assert time.monotonic() - started < 1
            sock.sendall(b"2\n")
            status, _, body = _read_reply(sock)
            assert (status, json.loads(body)) == (200, [4.0])


def test_the_scan_finds_where_a_request_ends() -> None:
    head = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
    scan = RequestScan(limit=100, buffer_cap=50)
    assert scan.feed(head[:10]) is Verdict.MORE
    assert scan.feed(head + b"12") is Verdict.MORE
    assert scan.feed(head + b"12345") is Verdict.READY
    assert RequestScan(4, 50).feed(head) is Verdict.TOO_LARGE
    assert RequestScan(100, 50).feed(b"GET / HTTP/1.1\r\n" + b"x" * 70000) is Verdict.HEAD_TOO_LARGE
    chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    scan = RequestScan(100, 50)
    assert scan.feed(chunked + b"3\r\nab") is Verdict.MORE
    assert scan.feed(chunked + b"3\r\nabc\r\n0\r\n") is Verdict.MORE
    assert scan.feed(chunked + b"3\r\nabc\r\n0\r\n\r\n") is Verdict.READY
    assert RequestScan(2, 50).feed(chunked + b"3\r\nabc\r\n") is Verdict.TOO_LARGE
    big = RequestScan(1000, 8)  # over the buffer cap, under the limit: handed on as it is
    assert big.feed(head.replace(b"5", b"500") + b"x" * 8) is Verdict.READY
    for odd in (b"Content-Length: x", b"Content-Length: 1\r\nContent-Length: 2"):
        assert (
            RequestScan(100, 50).feed(b"POST / HTTP/1.1\r\n" + odd + b"\r\n\r\n") is Verdict.READY
        )


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Length: 7",
        b"content-length:7",
        b"CONTENT-LENGTH: \t7 ",
        b"Host: x\r\nX-Content-Length: 9\r\nContent-Length: 7",
        b"Content-Length: 7\r\nContent-Length: 7",
        b"Content-Length: 7\r\nExpect: 100-continue",
        b"Content-Length: 7\r\nTransfer-Encoding: chunked",
        b"Content-Length: +7",
        b"Content-Length: \xd9\xa7",  # an Arabic-Indic seven: not a length
        b"Content-Length : 7",
        b"Host: content-length:",
        b"Host: x",
    ],
)
def test_the_quick_look_at_a_head_agrees_with_reading_it_line_by_line(
    headers: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = b"POST /invocations HTTP/1.1\r\n" + headers + b"\r\n\r\n1234567"
    seen = []
    for _ in range(2):  # with the quick look, then without it
        scan = RequestScan(limit=100, buffer_cap=50)
        seen.append((scan.feed(raw[:-3]), scan.feed(raw), scan.length, scan.expects_continue))
        monkeypatch.setattr("byoc.request_scan._plain_length", lambda head: None)
    assert seen[0] == seen[1]
