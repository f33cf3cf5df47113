"""Has a whole HTTP/1.1 request arrived yet? Read off the bytes buffered so far.

The worker (:mod:`byoc.worker`) reads each request in its event loop and hands it to a
thread only once this says ``READY``, so a client that sends half a request and stops
holds no thread. Only framing is read here (where the head ends, Content-Length, chunked
Transfer-Encoding); anything odd is ``READY`` too, for gunicorn's own parser to refuse
with its status. ``feed`` is incremental: called again with the grown buffer, it resumes
where it stopped, so a body arriving in many pieces is scanned once.
"""

from __future__ import annotations

import enum

__all__ = ["MAX_HEAD", "RequestScan", "Verdict"]

MAX_HEAD = 64 * 1024  # bytes of request line and headers: more is a 431
_MAX_CHUNK_LINE = 1024


class Verdict(enum.Enum):
    MORE = "more"  # keep reading
    READY = "ready"  # a whole request, or as much as the server buffers, or malformed
    TOO_LARGE = "too_large"  # the body is over the payload limit: 413
    HEAD_TOO_LARGE = "head_too_large"  # no end of headers within MAX_HEAD: 431


class RequestScan:
    """The framing of the request at the front of a connection's buffer."""

    def __init__(self, limit: int, buffer_cap: int) -> None:
        self.limit = limit  # the payload limit (SAGEMAKER_MAX_PAYLOAD_IN_MB)
        self.buffer_cap = buffer_cap  # buffer at most this much body, then hand it over
        self.head_end = -1
        self.length = 0  # Content-Length, or the chunked body's size so far
        self.chunked = False
        self.expects_continue = False
        self._pos = 0  # where the next chunk's size line starts

    def feed(self, buffer: bytes | bytearray) -> Verdict:
        if self.head_end < 0:
            verdict = self._head(buffer)
            if verdict is not None:
                return verdict
        body = len(buffer) - self.head_end
        if self.chunked:
            return self._chunks(buffer)
        if body >= self.length or body >= self.buffer_cap:
            return Verdict.READY
        return Verdict.MORE

    def _head(self, buffer: bytes | bytearray) -> Verdict | None:
        end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
        if end < 0:
            return Verdict.HEAD_TOO_LARGE if len(buffer) > MAX_HEAD else Verdict.MORE
        self.head_end = self._pos = end + 4
        head = bytes(buffer[:end]).lower()
        length = _plain_length(head)
        if length is not None:  # the usual head: one Content-Length, no other framing
            self.length = length
            return Verdict.TOO_LARGE if length > self.limit else None
        lengths: list[str] = []
        codings: list[str] = []
        for line in head.decode("latin-1").split("\r\n")[1:]:  # lower-cased above
            name, _, value = line.partition(":")
            name = name.strip()
            if name == "content-length":
                lengths.append(value.strip())
            elif name == "transfer-encoding":
                codings.extend(c.strip() for c in value.split(",") if c.strip())
            elif name == "expect":
                self.expects_continue = value.strip() == "100-continue"
        if codings:
            if lengths or codings[-1] != "chunked":
                return Verdict.READY  # ambiguous framing: gunicorn refuses it
            self.chunked = True
            return None
        if len(set(lengths)) > 1 or (
            lengths and not (lengths[0].isascii() and lengths[0].isdigit())
        ):
            return Verdict.READY  # gunicorn answers 400
        self.length = int(lengths[0]) if lengths else 0
        if self.length > self.limit:
            return Verdict.TOO_LARGE
        return None

    def _chunks(self, buffer: bytes | bytearray) -> Verdict:
        while True:
            line_end = buffer.find(b"\r\n", self._pos, self._pos + _MAX_CHUNK_LINE)
            if line_end < 0:
                if len(buffer) - self._pos > _MAX_CHUNK_LINE:
                    return Verdict.READY  # not a chunk size line: gunicorn refuses it
                return self._partial(buffer)
            size_text = bytes(buffer[self._pos : line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                return Verdict.READY
            if size == 0:  # the last chunk, then trailers and an empty line
                if buffer[line_end + 2 : line_end + 4] == b"\r\n":
                    return Verdict.READY
                if buffer.find(b"\r\n\r\n", line_end, line_end + MAX_HEAD) >= 0:
                    return Verdict.READY
                return Verdict.MORE
            if self.length + size > self.limit:
                return Verdict.TOO_LARGE
            following = line_end + 2 + size + 2
            if len(buffer) < following:
                return self._partial(buffer)
            self.length += size
            self._pos = following

    def _partial(self, buffer: bytes | bytearray) -> Verdict:
        if len(buffer) - self.head_end >= self.buffer_cap:
            return Verdict.READY
        return Verdict.MORE


def _plain_length(head: bytes) -> int | None:
    """The Content-Length of a lower-cased head that names it once, as a header of its
    own, and has no other framing header (no transfer-encoding, no expect); else None,
    and the head is read line by line. Any other mention of those names (another header
    containing them, a second Content-Length) takes the line-by-line way too."""
    if b"transfer-encoding" in head or b"expect" in head:
        return None
    at = head.find(b"\r\ncontent-length:")
    if at < 0 or head.count(b"content-length") != 1:
        return None
    start = at + len(b"\r\ncontent-length:")
    stop = head.find(b"\r\n", start)
    value = head[start:] if stop < 0 else head[start:stop]
    value = value.strip(b" \t")
    return int(value) if value.isdigit() and value.isascii() else None
