"""HTTP and TCP probes over plain sockets, timed, to a container's address or its namespace.

A :class:`Target` is where the container listens: its bridge address, or ``127.0.0.1``
inside the network namespace of a ``--network none`` container (sockets are created on a
thread that has joined that namespace with ``setns``; a socket stays in the namespace it
was made in, so the rest runs on any thread). Requests are written by hand so that a probe
can stop half way (a slow client, a body sent in two halves) and so that a server refusing
a large body before reading it is still heard.
"""

from __future__ import annotations

import ctypes
import http.client
import os
import select
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

__all__ = ["Answer", "Target", "connect_seconds", "join_netns", "open_slow_clients", "request"]

CLONE_NEWNET = 0x40000000


def join_netns(pid: int) -> None:
    """Move the calling thread into the network namespace of ``pid`` (needs root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into the network namespace of pid {pid}")
    finally:
        os.close(fd)


@dataclass
class Target:
    """``host:port``; with ``netns_pid``, inside that process's network namespace."""

    host: str
    port: int
    netns_pid: int | None = None
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _joined: int | None = field(default=None, repr=False)

    def new_socket(self) -> socket.socket:
        if self.netns_pid is None:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1)
        return self._pool.submit(self._socket_in_namespace, self.netns_pid).result()

    def _socket_in_namespace(self, pid: int) -> socket.socket:
        """On the pool's one thread: join the namespace once, then make the socket. A
        container that has exited has no namespace left: that is an ``OSError`` here (the
        next call tries again), never a broken pool."""
        if self._joined != pid:
            join_netns(pid)
            self._joined = pid
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def connect(self, timeout: float) -> socket.socket:
        sock = self.new_socket()
        sock.settimeout(timeout)
        try:
            sock.connect((self.host, self.port))
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def __str__(self) -> str:
        where = f" (in the namespace of pid {self.netns_pid})" if self.netns_pid else ""
        return f"{self.host}:{self.port}{where}"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    seconds: float
    headers: dict[str, str]


def connect_seconds(target: Target, timeout: float = 3.0) -> float:
    """How long a TCP handshake takes (raises ``OSError`` when refused or timed out)."""
    started = time.monotonic()
    with target.connect(timeout):
        return time.monotonic() - started


def _head(method: str, path: str, target: Target, headers: dict[str, str], length: int) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {target.host}:{target.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if method in ("POST", "PUT") or length:
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def request(
    target: Target,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    pause: tuple[float, Callable[[], None]] | None = None,
) -> Answer:
    """One request on a new connection. Raises ``OSError`` (``TimeoutError`` included).

    ``pause=(seconds, action)`` sends the head and half the body, calls ``action``, waits
    ``seconds`` and sends the rest (a request that is in flight while something happens).
    The body goes out in pieces; if the server answers (a 413) before it has all of it,
    sending stops and that answer is read.
    """
    started = time.monotonic()
    sock = target.connect(timeout)
    try:
        sock.settimeout(timeout)
        sock.sendall(_head(method, path, target, headers or {}, len(body)))
        if pause is not None:
            half = len(body) // 2
            sock.sendall(body[:half])
            seconds, action = pause
            action()
            time.sleep(seconds)
            body = body[half:]
        _send_until_answered(sock, body)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        data = response.read()
        return Answer(
            response.status,
            data,
            time.monotonic() - started,
            {name.lower(): value for name, value in response.getheaders()},
        )
    finally:
        sock.close()


def _send_until_answered(sock: socket.socket, body: bytes, piece: int = 256 * 1024) -> None:
    for offset in range(0, len(body), piece):
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:  # the server answered early (a 413 from Content-Length)
            return
        try:
            sock.sendall(body[offset : offset + piece])
        except (BrokenPipeError, ConnectionResetError):
            return  # the answer, if any, is already in the receive buffer


def open_slow_clients(target: Target, count: int, timeout: float = 5.0) -> list[socket.socket]:
    """``count`` connections that send part of a request head and then nothing."""
    partial = (
        f"POST /invocations HTTP/1.1\r\nHost: {target.host}\r\nContent-Type: text/csv\r\n"
    ).encode()
    clients: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = target.connect(timeout)
            sock.sendall(partial)
            clients.append(sock)
    except OSError:
        for sock in clients:
            sock.close()
        raise
    return clients
