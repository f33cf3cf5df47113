"""A bounded concurrent request loop against a local server, and the /proc views the
fault tests judge it by (a process's children, its group, the connections it holds)."""

from __future__ import annotations

import http.client
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Load", "Result", "alive", "children", "client_connections", "group_members"]


@dataclass(frozen=True)
class Result:
    started: float
    ended: float
    outcome: str
    """``ok`` (200), ``refused`` (connect refused: nobody listens), ``failed`` (anything
    after the connection was made: a reset, an early close, a timeout, another status)."""
    pid: int | None = None
    """The worker that answered (the handler's answer)."""
    detail: str = ""


class Load:
    """``clients`` threads, each posting one request per new connection until stopped."""

    def __init__(self, port: int, clients: int, body: bytes = b"1,2\n", timeout: float = 30):
        self.port = port
        self.body = body
        self.timeout = timeout
        self.results: list[Result] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, name=f"load-{i}", daemon=True)
            for i in range(clients)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> list[Result]:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        return self.results

    def snapshot(self) -> list[Result]:
        with self._lock:
            return list(self.results)

    def _loop(self) -> None:
        while not self._stop.is_set():
            result = self.one()
            with self._lock:
                self.results.append(result)
            if result.outcome == "refused":
                time.sleep(0.01)

    def one(self) -> Result:
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            try:
                conn.connect()
            except ConnectionRefusedError:
                return Result(started, time.monotonic(), "refused")
            conn.request(
                "POST",
                "/invocations",
                body=self.body,
                headers={
                    "Content-Type": "text/csv",
                    "Accept": "application/json",
                    "Connection": "close",
                },
            )
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Result(started, time.monotonic(), "failed", detail=repr(exc))
        finally:
            conn.close()
        ended = time.monotonic()
        if response.status != 200:
            return Result(started, ended, "failed", detail=f"{response.status} {payload[:200]!r}")
        return Result(started, ended, "ok", pid=int(payload.strip(b"[] \n")))


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid``."""
    found = set()
    for candidate in _pids():
        fields = _stat(candidate)
        if fields is not None and fields[0] != "Z" and int(fields[1]) == pid:
            found.add(candidate)
    return found


def group_members(pgid: int) -> set[int]:
    """Live processes in process group ``pgid``."""
    found = set()
    for candidate in _pids():
        fields = _stat(candidate)
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            found.add(candidate)
    return found


def client_connections(pid: int, port: int) -> int:
    """TCP connections to local ``port`` (not the listener) that process ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] != "0A" and fields[9] in inodes:  # 0A: LISTEN
                count += 1
    return count
