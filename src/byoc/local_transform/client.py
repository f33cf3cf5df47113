"""HTTP to the container as the batch platform talks: one kept-alive connection per thread.

``POST /invocations`` with the job's Content-Type and Accept, a per-invocation timeout, and
up to ``max_retries`` retries (after 0.1, 0.2, 0.4 s) when the answer is a 5xx or no answer
came (refused, reset, timed out); a 4xx is final. A body is sent chunked
(``Transfer-Encoding: chunked``, no Content-Length) when MaxPayloadInMB is 0; a ``Path`` is
streamed from disk. A connection the server closed while idle is reopened without counting.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..local import error_message

__all__ = ["Answer", "Invoker"]

CHUNK = 64 * 1024
_IDLE_CLOSED = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer at all
    body: bytes
    content_type: str | None
    attempts: int
    problem: str = ""  # why there was no answer

    @property
    def ok(self) -> bool:
        return self.status == 200

    def message(self) -> str:
        """What went wrong, in the container's words where it gave some."""
        tries = f"after {self.attempts} attempt{'s' if self.attempts > 1 else ''}"
        if self.status == 0:
            return f"no answer {tries}: {self.problem}"
        return f"the container answered {self.status} {tries}: {error_message(self.body)}"


class Invoker:
    def __init__(
        self,
        url: str,
        content_type: str | None,
        accept: str | None,
        timeout: float,
        max_retries: int,
        chunked: bool,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {k: v for k, v in (("Content-Type", content_type), ("Accept", accept)) if v}
        self.timeout = timeout
        self.max_retries = max_retries
        self.chunked = chunked
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def invoke(self, body: bytes | Path) -> Answer:
        attempt = 0
        while True:
            attempt += 1
            status, data, content_type, problem = self._once(body)
            retry = status == 0 or status >= 500
            if not retry or attempt > self.max_retries:
                return Answer(status, data, content_type, attempt, problem)
            time.sleep(0.1 * 2 ** (attempt - 1))

    def _once(self, body: bytes | Path) -> tuple[int, bytes, str | None, str]:
        for fresh in (False, True):
            connection, reused = self._connection(fresh)
            try:
                if self.chunked or isinstance(body, Path):
                    headers = {**self.headers, "Transfer-Encoding": "chunked"}
                    connection.request(
                        "POST", "/invocations", _pieces(body), headers, encode_chunked=True
                    )
                else:
                    connection.request("POST", "/invocations", body, self.headers)
                response = connection.getresponse()
                data = response.read()
                if response.will_close:
                    self._drop()
                return response.status, data, response.getheader("Content-Type"), ""
            except _IDLE_CLOSED as exc:
                self._drop()
                if not reused:
                    return 0, b"", None, f"{type(exc).__name__}: {exc}"
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                return 0, b"", None, f"{type(exc).__name__}: {exc}"
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self, fresh: bool) -> tuple[http.client.HTTPConnection, bool]:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and not fresh:
            return connection, True
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._local.connection = connection
        with self._lock:
            self._opened.append(connection)
        return connection, False

    def close(self) -> None:
        """Close every thread's connection (once no request is in flight)."""
        with self._lock:
            for connection in self._opened:
                connection.close()
            self._opened.clear()

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _pieces(body: bytes | Path) -> Iterator[bytes]:
    if isinstance(body, bytes):
        for start in range(0, len(body), CHUNK):
            yield body[start : start + CHUNK]
        return
    with body.open("rb") as handle:
        while piece := handle.read(CHUNK):
            yield piece
