"""An append-only JSON Lines file with size rotation that never leaves a half line.

Readers (the Collector's `otlpjsonfile` receiver, `spanguard replay`, `jq`) break on a
torn line, so every `append_lines` call is one `os.write` of whole lines on an
`O_APPEND` descriptor: no user-space buffer can hold half a record when the process
dies. If a crash (or a full disk) still left a torn last line, it is cut off when the
file is opened again, before anything new is appended after it.

Files hold trace data, so they are created 0600 and their parent folders 0700; a path
that cannot be written is reported when the file is opened (start-up), not on the first
span. Shared by the SDK file exporter and the sidecar, hence the lock.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from spanguard.errors import SpanguardError

_log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
# How far back from the end we look for the last newline when repairing a torn line.
_REPAIR_CHUNK = 1 << 16


class JsonlFileError(SpanguardError):
    """The trace file cannot be created or written; the message names the path."""


def rotated_path(path: Path, index: int) -> Path:
    """`spans.jsonl` -> `spans.jsonl.1`, the naming `logrotate` users expect."""
    return path if index == 0 else path.with_name(f"{path.name}.{index}")


class RotatingJsonlFile:
    """Whole-line appends to `path`, rotated to `path.1` … `path.<backups>` at `max_bytes`.

    `max_bytes <= 0` disables rotation. A single call larger than `max_bytes` still goes
    into one file (a line is never split across files).
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, backups: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = max(0, backups)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self.repaired_bytes = 0  # bytes of a torn last line cut off at open
        self._rotation_failed = False
        self._open()

    # -- opening and repair ------------------------------------------------------------
    def _open(self) -> None:
        try:
            self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise JsonlFileError(f"cannot open trace file {self.path}: {exc.strerror or exc}") from exc
        if self.path.is_dir():  # pragma: no cover - os.open already fails with EISDIR
            os.close(fd)
            raise JsonlFileError(f"trace file {self.path} is a directory")
        self._fd = fd
        self._size = os.fstat(fd).st_size
        if self._size:
            self._repair_torn_tail()

    def _repair_torn_tail(self) -> None:
        """Cut a last line without its newline (left by a crash); readers skip nothing."""
        assert self._fd is not None
        with open(self.path, "rb") as reader:
            reader.seek(max(0, self._size - 1))
            if reader.read(1) == b"\n":
                return
            end = self._size
            keep = 0
            while end > 0:
                start = max(0, end - _REPAIR_CHUNK)
                reader.seek(start)
                chunk = reader.read(end - start)
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    keep = start + newline + 1
                    break
                end = start
        os.ftruncate(self._fd, keep)
        self.repaired_bytes = self._size - keep
        self._size = keep
        _log.warning(
            "spanguard: %s ended in a torn line (%d bytes, from an interrupted write); it was cut off",
            self.path,
            self.repaired_bytes,
        )

    # -- writing -------------------------------------------------------------------------
    def append_lines(self, lines: Sequence[str]) -> int:
        """Append whole lines (without their newlines) in one write; returns bytes written."""
        if not lines:
            return 0
        data = ("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass")
        with self._lock:
            if self._fd is None:
                raise JsonlFileError(f"trace file {self.path} is closed")
            if self.max_bytes > 0 and self._size > 0 and self._size + len(data) > self.max_bytes:
                self._rotate()
            self._write_all(data)
            self._size += len(data)
        return len(data)

    def _write_all(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                # One write in practice; the loop only covers a short write (signal, quota).
                written += os.write(self._fd, view[written:])
        except OSError as exc:
            if written:
                # A short write followed by an error: cut back so no half line stays.
                os.ftruncate(self._fd, self._size)
            reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise JsonlFileError(f"cannot write trace file {self.path}: {reason}") from exc

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        try:
            if self.backups == 0:
                self.path.unlink(missing_ok=True)
            else:
                rotated_path(self.path, self.backups).unlink(missing_ok=True)
                for index in range(self.backups - 1, -1, -1):
                    source = rotated_path(self.path, index)
                    if source.exists():
                        os.replace(source, rotated_path(self.path, index + 1))
        except OSError as exc:
            # A backup we cannot move (permissions, a directory in its place) must not
            # stop the writing: keep appending to the current file and say why once.
            if not self._rotation_failed:
                _log.warning(
                    "spanguard: cannot rotate %s (%s); appending to it past max_bytes",
                    self.path,
                    exc.strerror or type(exc).__name__,
                )
            self._rotation_failed = True
        else:
            self._rotation_failed = False
        self._open()

    def flush(self) -> None:
        """Data is already in the kernel after each write; fsync only on request."""
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    @property
    def size(self) -> int:
        return self._size
