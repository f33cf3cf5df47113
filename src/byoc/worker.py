"""byoc's gunicorn worker: gthread, but a request is read whole before a thread gets it.

gunicorn's gthread worker hands a connection to a thread as soon as its first bytes
arrive, and the thread then reads the rest with no deadline: sixteen clients that send
half a request head and stop hold every thread, and ``/ping`` (which SageMaker must get
an answer from within 2 s) waits behind them. Here the worker's event loop reads each
request into a buffer (non-blocking, :class:`~byoc.request_scan.RequestScan` says when it
is whole) and only then gives it to a thread, whose parser finds every byte already
there. A request that is not whole ``BYOC_REQUEST_READ_TIMEOUT`` seconds after its first
byte is answered 408; a declared body over the payload limit is answered 413 before it is
read, a head over 64 KiB 431. Threads' own socket reads and writes time out after the
same interval, so a client that stops reading a response frees its thread too.

Every error the server itself answers (these, and gunicorn's own 400s for a malformed
request line or header) is the JSON body every other error has, not gunicorn's HTML.

A thread that has answered on a kept-alive connection waits ``HOT_SECONDS`` for the
client's next request and, when it arrives whole, serves it itself: no trip back through
the event loop (poller registration, a pipe write, a future) between two requests of a
busy client. Only whole requests are taken this way, never while other connections wait
for a thread, and at most ``HOT_REQUESTS`` in a row; anything else goes back to the
event loop with the bytes already read, exactly as if the thread had not looked.
"""

from __future__ import annotations

import contextlib
import errno
import re
import select
import socket
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from .errors import ByocError, HeadersTooLarge, PayloadTooLarge, RequestTimeout
from .request_scan import MAX_HEAD, RequestScan, Verdict
from .server_errors import parser_error, wire
from .serving.runtime import too_large_message
from .settings import Settings

__all__ = ["ByocWorker"]

BUFFER_CAP = 8 * 1024 * 1024  # a body larger than this (streamed transform input) goes on
RECV_SIZE = 256 * 1024
DRAIN_SECONDS = 2.0  # after a refusal, read (and drop) what the client still sends
_EVENT_READ = 1  # selectors.EVENT_READ
_CHECK_EVERY = 0.25  # seconds between deadline sweeps
_EXPECT = re.compile(rb"(?im)^expect:[^\r\n]*\r\n")
HOT_SECONDS = 0.002  # a thread waits this long on its kept-alive connection
HOT_REQUESTS = 64  # requests in a row one thread serves on one connection


class TimedSocket(socket.socket):
    """A client socket whose blocking mode has a timeout: a thread never waits forever."""

    byoc_timeout: float = 30.0

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(self.byoc_timeout)
        else:
            super().setblocking(False)


class _Reading:
    """A connection whose request is being read by the event loop."""

    __slots__ = ("buffer", "continued", "deadline", "draining", "registered", "scan")

    def __init__(self, scan: RequestScan, deadline: float, buffer: bytes) -> None:
        self.scan = scan
        self.deadline = deadline
        self.buffer = bytearray(buffer)
        self.registered = False
        self.draining = False
        self.continued = False  # we sent "100 Continue"


class ByocWorker(ThreadWorker):  # type: ignore[misc]
    def init_process(self) -> None:
        settings = getattr(self.app, "settings", None)
        self.settings: Settings = settings if isinstance(settings, Settings) else Settings()
        self.reading: dict[TConn, _Reading] = {}
        self._next_sweep = 0.0
        super().init_process()

    # -- connections in ------------------------------------------------------------
    def accept(self, listener: Any) -> None:
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        timed = TimedSocket(client.family, client.type, client.proto, fileno=client.detach())
        timed.byoc_timeout = self.settings.request_read_timeout
        self.nr_conns += 1
        self.enqueue_req(TConn(self.cfg, timed, address, listener.getsockname()))

    def set_accept_enabled(self, enabled: bool) -> None:
        """When the worker stops, it takes in what already waits in the listen backlog and
        then closes its copy of the listening socket at once, not after the graceful period:
        a client that connects meanwhile is refused (and can retry elsewhere) instead of
        queueing on a socket nobody accepts from and being reset when the worker exits."""
        if enabled or self.alive:
            super().set_accept_enabled(enabled)
            return
        for listener in self.sockets:
            for _ in range(1024):  # bounded: the backlog gunicorn asks for is 2048 at most
                before = self.nr_conns
                with contextlib.suppress(OSError):
                    listener.setblocking(False)
                    self.accept(listener)
                if self.nr_conns == before:
                    break
        super().set_accept_enabled(False)
        for listener in self.sockets:
            listener.close()

    def enqueue_req(self, conn: TConn) -> None:
        """Every way a connection reaches the thread pool (new, kept alive, pipelined)
        passes here: read its request whole first."""
        if getattr(conn, "byoc_ready", False):
            conn.byoc_ready = False
            super().enqueue_req(conn)
            return
        leftover = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        limit = self.settings.max_payload_bytes
        timeout = self.settings.request_read_timeout if leftover else self.cfg.keepalive
        state = _Reading(RequestScan(limit, BUFFER_CAP), time.monotonic() + timeout, leftover)
        self.reading[conn] = state
        conn.sock.setblocking(False)
        if leftover and self._verdict(conn, state) is not Verdict.MORE:
            return
        self._on_readable(conn, conn.sock)  # a kept-alive connection has its data already

    def _on_readable(self, conn: TConn, _sock: Any) -> None:
        state = self.reading.get(conn)
        if state is None:
            return
        while True:
            try:
                data = conn.sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                data = b""
            if not data:  # the client went away
                self._close(conn)
                return
            if state.draining:
                continue
            if not state.buffer:  # the clock for a whole request starts at its first byte
                state.deadline = time.monotonic() + self.settings.request_read_timeout
            state.buffer += data
            if self._verdict(conn, state) is not Verdict.MORE:
                return
            if len(data) < RECV_SIZE:
                break
        self._watch(conn, state)

    def _verdict(self, conn: TConn, state: _Reading) -> Verdict:
        verdict = state.scan.feed(state.buffer)
        if verdict is Verdict.MORE:
            if state.scan.expects_continue and state.scan.head_end >= 0:
                self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
                state.scan.expects_continue = False
                state.continued = True
            return verdict
        if verdict is Verdict.READY:
            self._dispatch(conn, state)
        elif verdict is Verdict.TOO_LARGE:
            limit = self.settings.max_payload_bytes
            self._refuse(conn, PayloadTooLarge(too_large_message(state.scan.length, limit)))
        else:
            self._refuse(conn, HeadersTooLarge(f"the request head is over {MAX_HEAD} bytes"))
        return verdict

    def _dispatch(self, conn: TConn, state: _Reading) -> None:
        self._forget(conn, state)
        conn.sock.setblocking(True)
        conn.init()  # the HTTP/1.1 parser (no TLS here), fed from the buffer
        data = bytes(state.buffer)
        if state.continued:  # so that gunicorn does not send a second "100 Continue"
            end = state.scan.head_end
            data = _EXPECT.sub(b"", data[:end]) + data[end:]
        conn.parser.unreader.unread(data)
        conn.data_ready = True
        conn.byoc_ready = True
        self.enqueue_req(conn)

    # -- a busy kept-alive connection stays with its thread ------------------------
    def handle(self, conn: TConn) -> Any:
        result = super().handle(conn)
        for _ in range(HOT_REQUESTS):
            if result is not True or not self._next_request_here(conn):
                break
            result = super().handle(conn)
        return result

    def _next_request_here(self, conn: TConn) -> bool:
        """On the thread, after a kept-alive answer: True when the next request is whole
        in the parser's buffer; False leaves what was read there for the event loop."""
        if not self.alive or self.tpool._work_queue.qsize() or conn.parser is None:
            return False
        unreader = conn.parser.unreader
        if unreader.buf.getvalue():  # read ahead while draining a body: the loop scans it
            return False
        poller = select.poll()
        poller.register(conn.sock.fileno(), select.POLLIN)
        if not poller.poll(HOT_SECONDS * 1000):
            return False
        try:
            data = conn.sock.recv(RECV_SIZE)
        except OSError:
            return False
        if not data:  # closed: the loop sees the end of the stream too and closes
            return False
        unreader.unread(data)
        scan = RequestScan(self.settings.max_payload_bytes, BUFFER_CAP)
        return scan.feed(data) is Verdict.READY and not scan.expects_continue

    # -- refusals and deadlines ----------------------------------------------------
    def _refuse(self, conn: TConn, error: ByocError) -> None:
        """Answer from the event loop and close, reading what the client still sends for a
        moment so that closing does not reset the connection before it reads the answer."""
        self.log.warning("refused a request from %s: %s %s", conn.client, error.status, error)
        self._send(conn, wire(error))
        state = self.reading.get(conn)
        if state is None:
            return
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        state.draining = True
        state.buffer = bytearray()
        state.deadline = time.monotonic() + DRAIN_SECONDS
        self._watch(conn, state)

    def _send(self, conn: TConn, data: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.sock.send(data)  # small, into an empty socket buffer: all of it

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        if now < self._next_sweep and self.alive:
            return
        self._next_sweep = now + _CHECK_EVERY
        for conn, state in list(self.reading.items()):
            idle = not state.buffer and not state.draining
            if state.deadline <= now or (idle and not self.alive):
                if state.draining or idle:
                    self._close(conn)
                else:
                    seconds = self.settings.request_read_timeout
                    self._refuse(
                        conn,
                        RequestTimeout(
                            f"the request did not arrive within {seconds:g} s of its first "
                            "byte (BYOC_REQUEST_READ_TIMEOUT)"
                        ),
                    )

    def _watch(self, conn: TConn, state: _Reading) -> None:
        """Read more of this connection when it is readable (registered once)."""
        if not state.registered:
            self.poller.register(conn.sock, _EVENT_READ, partial(self._on_readable, conn))
            state.registered = True

    def _forget(self, conn: TConn, state: _Reading) -> None:
        if state.registered:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)
        self.reading.pop(conn, None)

    def _close(self, conn: TConn) -> None:
        state = self.reading.get(conn)
        if state is not None:
            self._forget(conn, state)
        self.nr_conns -= 1
        conn.close()

    # -- gunicorn's own errors, as JSON --------------------------------------------
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        error = parser_error(exc)
        if error.status >= 500:
            self.log.exception("Error handling request")
        else:
            self.log.warning("Invalid request from %s: %s", (addr or ("",))[0], exc)
        try:
            client.setblocking(False)
            client.send(wire(error))
        except OSError:
            self.log.debug("Failed to send error message.")
