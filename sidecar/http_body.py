"""Reading an OTLP/HTTP request body: `Content-Length` or chunked, within a size and a time.

Why chunked matters: the Node.js SDK's OTLP/HTTP exporters stream their bodies chunked,
and so does OpenTelemetry Java with gzip; refusing them (400) made those clients drop
every export as a permanent error. The limit is enforced while reading, so a chunked
body cannot grow past `max_request_bytes` in memory.

Why a deadline for the whole body, not only a socket timeout: a client sending one byte
every few seconds never trips a per-read timeout and would keep its thread and its bytes
forever. Every read gets the time left of one overall deadline instead.

gzip bodies may hold several members (RFC 1952; `cat a.gz b.gz` is a valid stream): all
of them are read, bounded by the same limit, and bytes after the last member that are
not another member are refused rather than silently dropped.
"""

from __future__ import annotations

import io
import socket
import time

from spanguard.exporters import gzip_codec
from spanguard.sidecar.ingest import Reason, Rejected

MAX_CHUNK_LINE = 4096  # a chunk-size line with extensions; a longer one is not HTTP
_READ_STEP = 1 << 20


class BodyReader:
    """Reads from a buffered socket file with one deadline for everything read."""

    def __init__(self, rfile: io.BufferedIOBase, sock: socket.socket, deadline: float) -> None:
        self._rfile = rfile
        self._sock = sock
        self._deadline = deadline

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise Rejected(Reason.TIMEOUT, "request body not received in time")
        self._sock.settimeout(left)

    def read_exact(self, length: int) -> bytes:
        chunks: list[bytes] = []
        remaining = length
        try:
            while remaining:
                self._arm()
                # read1: at most one socket read, so each one is bounded by the time left
                chunk = self._rfile.read1(min(remaining, _READ_STEP))
                if not chunk:
                    raise Rejected(Reason.BAD_ENCODING, "body shorter than its declared length")
                chunks.append(chunk)
                remaining -= len(chunk)
        except TimeoutError:
            raise Rejected(Reason.TIMEOUT, "request body not received in time") from None
        return b"".join(chunks)

    def read_line(self) -> bytes:
        line = bytearray()
        try:
            while not line.endswith(b"\n"):
                self._arm()
                piece = self._rfile.readline(MAX_CHUNK_LINE + 1 - len(line))
                if not piece:
                    raise Rejected(Reason.BAD_ENCODING, "chunked body ends early")
                line += piece
                if len(line) > MAX_CHUNK_LINE:
                    raise Rejected(Reason.BAD_ENCODING, "chunk-size line too long")
        except TimeoutError:
            raise Rejected(Reason.TIMEOUT, "request body not received in time") from None
        return bytes(line)

    def read_chunked(self, limit: int) -> bytes:
        """A `Transfer-Encoding: chunked` body, refused (TOO_LARGE) as soon as it passes `limit`."""
        parts: list[bytes] = []
        total = 0
        while True:
            size_text = self.read_line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise Rejected(Reason.BAD_ENCODING, "bad chunk size") from None
            if size < 0:
                raise Rejected(Reason.BAD_ENCODING, "bad chunk size")
            if size == 0:
                break
            total += size
            if total > limit:
                raise Rejected(Reason.TOO_LARGE, "body exceeds max_request_bytes")
            parts.append(self.read_exact(size))
            if self.read_line().strip():
                raise Rejected(Reason.BAD_ENCODING, "chunk not followed by CRLF")
        while self.read_line().strip():  # trailer fields, ignored
            pass
        return b"".join(parts)


def inflate_gzip(body: bytes, limit: int) -> bytes:
    """Gunzip (every member, ISA-L when installed) at most `limit` bytes; more is
    TOO_LARGE, a broken or truncated stream or trailing garbage BAD_ENCODING."""
    try:
        return gzip_codec.decompress(body, limit)
    except gzip_codec.GzipTooLarge as exc:
        raise Rejected(Reason.TOO_LARGE, "decompressed body exceeds max_request_bytes") from exc
    except gzip_codec.GzipError as exc:
        raise Rejected(Reason.BAD_ENCODING, str(exc)) from exc
