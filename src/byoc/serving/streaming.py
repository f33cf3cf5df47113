"""Response streaming: a handler that returns an iterator answers chunk by chunk.

The first chunk is pulled before the status line is sent, so an error raised before it
is still a proper JSON error response. Each later chunk is written (and, through
gunicorn's chunked encoding, flushed) as it is produced, which is what SageMaker's
InvokeEndpointWithResponseStream relays. A failure after the first chunk is logged and
breaks the connection (the client sees ModelStreamError, not a truncated success). The
handler slot is held until the iterator is exhausted or closed: a client that goes away
closes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ..errors import ModelError
from .statuses import Stage, classify

__all__ = ["Stream", "StreamBroken", "StreamResult", "is_stream", "start_stream"]

log = logging.getLogger("byoc.serving")


class StreamBroken(RuntimeError):
    """Raised into the server after the first chunk: it drops the connection."""


def is_stream(obj: Any) -> bool:
    return isinstance(obj, Iterator) and not isinstance(obj, (bytes, str))


@dataclass
class StreamResult:
    """A handler's iterator, how to turn its items into bytes, and who made it."""

    items: Iterator[Any]
    encode: Callable[[Any], bytes]
    stage: Stage
    content_type: str


def to_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    raise ModelError(f"a streamed chunk is {type(item).__name__}; yield bytes or str")


@dataclass
class Stream:
    """A WSGI iterable over the chunks; ``close`` runs the ``on_close`` hooks once."""

    first: bytes
    rest: StreamResult
    on_close: list[Callable[[int, bool], None]] = field(default_factory=list)
    sent: int = 0
    failed: bool = False
    _closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __iter__(self) -> Iterator[bytes]:
        if self.first:
            self.sent += len(self.first)
            yield self.first
        while True:
            try:
                item = next(self.rest.items)
            except StopIteration:
                return
            except (Exception, SystemExit) as exc:
                self._fail(exc)
            try:
                chunk = self.rest.encode(item)
            except (Exception, SystemExit) as exc:
                self._fail(exc)
            if chunk:
                self.sent += len(chunk)
                yield chunk

    def _fail(self, exc: BaseException) -> NoReturn:
        self.failed = True
        error = classify(self.rest.stage, exc)
        log.error("stream broken after %d bytes: %s", self.sent, error.message)
        raise StreamBroken(error.message) from exc

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        close = getattr(self.rest.items, "close", None)
        try:
            if callable(close):
                close()
        except Exception:
            log.exception("closing the handler's iterator failed")
        finally:
            for hook in self.on_close:
                hook(self.sent, self.failed)


def start_stream(result: StreamResult, release: Callable[[], None]) -> Stream:
    """Pull the first chunk (errors become the request's error response) and wrap the rest.

    ``release`` (the handler slot) is called when the stream closes, or now if the first
    chunk fails.
    """
    try:
        try:
            first = result.encode(next(result.items))
        except StopIteration:
            first = b""
    except (Exception, SystemExit) as exc:
        close = getattr(result.items, "close", None)
        if callable(close):
            close()
        release()
        raise classify(result.stage, exc) from exc
    return Stream(first, result, [lambda _sent, _failed: release()])
