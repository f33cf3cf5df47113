"""The soak's request mix: good requests on kept-alive connections, bad ones of every kind
the server must refuse, and clients that go away mid-request; each checked for its status."""

from __future__ import annotations

import http.client
import io
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["KINDS", "Traffic"]

HANDLER = """
import numpy as np

def model_fn(model_dir):
    return np.arange(1.0, 5.0)

def predict_fn(data, weights):
    return np.asarray(data, dtype=float) @ weights
"""


def _npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ones((3, 4)), allow_pickle=False)
    return buffer.getvalue()


@dataclass(frozen=True)
class Kind:
    name: str
    weight: int
    expected: int | None
    """The status it must get; None for a client that leaves before the answer."""
    content_type: str = "text/csv"
    body: bytes = b"1,2,3,4\n"
    accept: str = "application/json"


KINDS = (
    Kind("csv", 30, 200, body=b"1,2,3,4\n5,6,7,8\n"),
    Kind("json", 15, 200, "application/json", b"[[1, 2, 3, 4]]"),
    Kind("npy", 10, 200, "application/x-npy", _npy()),
    Kind("ping", 5, 200),
    Kind("unknown-type", 5, 415, "application/x-nope"),
    Kind("bad-csv", 5, 400, body=b"1,2,x,4\n"),
    Kind("bad-json", 5, 400, "application/json", b'{"unterminated": ['),
    Kind("handler-error", 5, 500, body=b"1,2\n"),  # (1, 2) @ (4,): the model raises
    Kind("not-acceptable", 5, 406, accept="image/png"),
    Kind("oversize", 5, 413),  # Content-Length over the limit, body never sent
    Kind("gone-in-head", 3, None),  # half a request head, then close
    Kind("gone-in-body", 3, None),  # the head and part of the body, then close
    Kind("gone-before-answer", 4, None),  # the whole request, closed before reading
)


class Traffic:
    """``clients`` threads sending the mix until :meth:`stop`; counts per (kind, status)."""

    def __init__(self, port: int, clients: int, limit_bytes: int, seed: int = 0) -> None:
        self.port = port
        self.limit_bytes = limit_bytes
        self.counts: Counter[tuple[str, str]] = Counter()
        self.unexpected: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._budget: int | None = None
        self._threads = [
            threading.Thread(target=self._client, args=(seed + i,), daemon=True)
            for i in range(clients)
        ]

    @property
    def sent(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def start(self, requests: int | None = None) -> None:
        self._budget = requests
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def wait(self, seconds: float) -> None:
        """Until ``seconds`` pass or the request budget is spent."""
        self._stop.wait(seconds)

    def _record(self, kind: Kind, outcome: str) -> None:
        with self._lock:
            self.counts[kind.name, outcome] += 1
            wrong = kind.expected is not None and outcome != str(kind.expected)
            if wrong and len(self.unexpected) < 20:
                self.unexpected.append(f"{kind.name}: expected {kind.expected}, got {outcome}")
            if self._budget is not None and sum(self.counts.values()) >= self._budget:
                self._stop.set()

    def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        kept: list[http.client.HTTPConnection] = []
        actions: dict[str, Callable[[Kind], str]] = {
            "gone-in-head": self._gone_in_head,
            "gone-in-body": self._gone_in_body,
            "gone-before-answer": self._gone_before_answer,
            "oversize": self._oversize,
        }
        weights = [k.weight for k in KINDS]
        while not self._stop.is_set():
            kind = rng.choices(KINDS, weights)[0]
            action = actions.get(kind.name)
            try:
                outcome = action(kind) if action else self._request(kind, kept)
            except (OSError, http.client.HTTPException) as exc:
                outcome = type(exc).__name__
                for conn in kept:
                    conn.close()
                kept.clear()
            self._record(kind, outcome)
        for conn in kept:
            conn.close()

    def _request(self, kind: Kind, kept: list[http.client.HTTPConnection]) -> str:
        """A request on this client's kept-alive connection (made anew when it is gone)."""
        if not kept:
            kept.append(http.client.HTTPConnection("127.0.0.1", self.port, timeout=30))
        conn = kept[0]
        if kind.name == "ping":
            conn.request("GET", "/ping")
        else:
            headers = {"Content-Type": kind.content_type, "Accept": kind.accept}
            conn.request("POST", "/invocations", body=kind.body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            kept.clear()
        return str(response.status)

    def _raw(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def _head(self, length: int) -> bytes:
        return (
            f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
            f"Accept: application/json\r\nContent-Length: {length}\r\n\r\n"
        ).encode()

    def _oversize(self, kind: Kind) -> str:
        with self._raw() as sock:
            sock.sendall(self._head(self.limit_bytes + 1))
            status_line = sock.makefile("rb").readline()
        parts = status_line.split()
        return parts[1].decode() if len(parts) > 1 else "no answer"

    def _gone_in_head(self, kind: Kind) -> str:
        with self._raw() as sock:
            sock.sendall(self._head(8)[:30])
        return "left"

    def _gone_in_body(self, kind: Kind) -> str:
        with self._raw() as sock:
            sock.sendall(self._head(1000) + b"1,2,3,4\n")
        return "left"

    def _gone_before_answer(self, kind: Kind) -> str:
        with self._raw() as sock:
            sock.sendall(self._head(len(kind.body)) + kind.body)
        return "left"
