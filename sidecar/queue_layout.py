"""Where the durable queue keeps things on disk, and how big it is.

    <directory>/streams/<stream>/<seq>.seg        appended by exactly one writer process
    <directory>/streams/<stream>/<exporter>.cursor  how far that exporter has delivered

One stream per receiving process, so `workers: N` processes never share a file
(no cross-process locking on the hot path); one delivery process reads them all.
Sequence numbers only grow within a stream, which is what lets a cursor name a
position that survives deletion of older segments.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

SEGMENT_SUFFIX = ".seg"
CURSOR_SUFFIX = ".cursor"


def streams_root(directory: Path) -> Path:
    return directory / "streams"


def segment_path(stream_dir: Path, seq: int) -> Path:
    return stream_dir / f"{seq:016d}{SEGMENT_SUFFIX}"


def list_segments(stream_dir: Path) -> list[tuple[int, Path, int]]:
    """(seq, path, size) of every segment in a stream, oldest first."""
    found: list[tuple[int, Path, int]] = []
    try:
        entries = list(os.scandir(stream_dir))
    except FileNotFoundError:
        return []
    for entry in entries:
        name = entry.name
        if not name.endswith(SEGMENT_SUFFIX):
            continue
        try:
            seq = int(name[: -len(SEGMENT_SUFFIX)])
            size = entry.stat().st_size
        except (ValueError, FileNotFoundError):
            continue
        found.append((seq, Path(entry.path), size))
    found.sort()
    return found


def list_streams(directory: Path) -> list[Path]:
    root = streams_root(directory)
    try:
        return sorted(Path(entry.path) for entry in os.scandir(root) if entry.is_dir())
    except FileNotFoundError:
        return []


@dataclass(frozen=True, slots=True)
class Position:
    """A place in one stream: the next record to read is at `offset` of segment `seq`."""

    seq: int
    offset: int


def cursor_path(stream_dir: Path, exporter: str) -> Path:
    return stream_dir / f"{exporter}{CURSOR_SUFFIX}"


def read_cursor(stream_dir: Path, exporter: str) -> Position | None:
    try:
        text = cursor_path(stream_dir, exporter).read_text()
        seq_text, offset_text = text.split()
        return Position(int(seq_text), int(offset_text))
    except (FileNotFoundError, ValueError):
        return None


def write_cursor(stream_dir: Path, exporter: str, position: Position) -> None:
    """Atomic replace. Not fsynced: a lost update only means redelivery (at-least-once)."""
    target = cursor_path(stream_dir, exporter)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{position.seq} {position.offset}\n")
    os.replace(tmp, target)


def max_cursor_seq(stream_dir: Path) -> int:
    best = -1
    try:
        entries = list(os.scandir(stream_dir))
    except FileNotFoundError:
        return best
    for entry in entries:
        if entry.name.endswith(CURSOR_SUFFIX):
            position = read_cursor(stream_dir, entry.name[: -len(CURSOR_SUFFIX)])
            if position is not None:
                best = max(best, position.seq)
    return best


def fsync_directory(path: Path) -> None:
    """Make a new or removed file name durable, not just its contents."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DiskUsage:
    """Bytes of all segments of all streams, rescanned at most every `interval_s`.

    Writers in several processes share one `max_bytes` budget; each sees the others'
    growth within `interval_s`, so the overshoot is bounded by what the other
    workers accept in that interval.
    """

    def __init__(self, directory: Path, interval_s: float = 0.05) -> None:
        self._directory = directory
        self._interval_s = interval_s
        self._scanned_at = 0.0
        self._scanned_bytes = 0
        self._added_since_scan = 0

    def total(self) -> int:
        now = time.monotonic()
        if now - self._scanned_at >= self._interval_s:
            self._scanned_bytes = scan_bytes(self._directory)
            self._scanned_at = now
            self._added_since_scan = 0
        return self._scanned_bytes + self._added_since_scan

    def add(self, nbytes: int) -> None:
        self._added_since_scan += nbytes


def scan_bytes(directory: Path) -> int:
    return sum(size for stream in list_streams(directory) for _, _, size in list_segments(stream))


class FreeSpace:
    """Bytes the queue's filesystem can still take, re-read at most every `interval_s`.

    `max_bytes` is a budget, not a reservation: the disk may fill first (other files,
    another process). Refusing before a write fails is what keeps a full disk from
    turning into failed writes, torn records and 500s; a small margin stays free for the
    cursors and the next segment's directory entry.
    """

    MARGIN = 1 << 20

    def __init__(self, directory: Path, interval_s: float = 0.05) -> None:
        self._directory = directory
        self._interval_s = interval_s
        self._checked_at = -1e9
        self._available = 0

    def available(self) -> int:
        now = time.monotonic()
        if now - self._checked_at >= self._interval_s:
            try:
                stats = os.statvfs(self._directory)
                self._available = max(0, stats.f_bavail * stats.f_frsize - self.MARGIN)
            except OSError:
                self._available = 0
            self._checked_at = now
        return self._available
