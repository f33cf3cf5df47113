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
import http.client
import json
import re
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .fuzz_requests import LIMIT_MB, Fuzzed, garbage, invocations
from .server import ServerProcess

pytestmark = pytest.mark.process

HANDLER = Path(__file__).parent / "handlers" / "fuzz_echo.py"
HANDLER_RAISED = "the handler raised this on purpose"  # as in the handler
WORKERS = 2


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
    essence = content_type.split(";")[0].strip()
    if status == 200 and essence == "application/json":
        _strict_json(body.decode())
    elif status == 200 and essence == "application/jsonlines":
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
