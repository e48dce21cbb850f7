"""The delivery side of the durable queue: one cursor per exporter per stream.

Each exporter reads at its own pace, so a dead Phoenix leaves the file exporter
untouched; the cursor moves (and is persisted) only after the exporter's backend has
accepted a batch, which makes delivery at-least-once across crashes.

Several batches of one exporter may be in flight at once and finish in any order, so
reading and committing are two positions: reads go on from where the last read ended,
while the persisted cursor moves only to the end of the longest run of finished
batches. A crash then re-sends at most what was in flight (duplicates, never a loss).

A record that fails its checksum or is cut short is a torn tail; it is skipped only
once a newer segment exists, because until then it may simply be a record the writer
is still writing.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from spanguard.sidecar.framing import ReadStatus, read_record
from spanguard.sidecar.queue_layout import (
    Position,
    list_segments,
    list_streams,
    read_cursor,
    write_cursor,
)

log = logging.getLogger("spanguard.sidecar")


@dataclass(frozen=True, slots=True)
class Batch:
    """Records read from one stream, and where that stream's cursor goes once they are delivered."""

    stream_dir: Path
    records: list[bytes]
    end: Position

    @property
    def nbytes(self) -> int:
        return sum(len(r) for r in self.records)


class StreamCursor:
    """One exporter's position in one stream: `position` is persisted and delivered up to;
    reads continue after the batches still in flight."""

    def __init__(self, stream_dir: Path, exporter: str, *, start_at_end: bool = False) -> None:
        self.stream_dir = stream_dir
        self.exporter = exporter
        position = read_cursor(stream_dir, exporter)
        if position is None and start_at_end:
            # A new exporter on an existing queue: what is there was meant for the
            # exporters configured then (maybe with other rules), so it starts after it,
            # as a new Collector queue does; the cursor is written at once to stay there.
            segments = list_segments(stream_dir)
            position = Position(segments[-1][0], segments[-1][2]) if segments else None
            if position is not None:
                write_cursor(stream_dir, exporter, position)
        self.position = position or Position(-1, 0)
        self._cursor_write_failed = False
        self._read_to = self.position
        # End of every batch read past `position`, in read order -> delivered yet. Ends
        # only grow within a stream, so they name their batches.
        self._unfinished: dict[Position, bool] = {}
        self.skipped_torn = 0
        self.skipped_corrupt = 0  # acknowledged records lost to damage on disk

    @property
    def in_flight(self) -> int:
        return sum(1 for done in self._unfinished.values() if not done)

    def read(self, max_bytes: int, max_records: int = 10_000) -> Batch | None:
        """Records after the last read (at least one if any, up to about `max_bytes`)."""
        records: list[bytes] = []
        total = 0
        segments = list_segments(self.stream_dir)
        if not segments:
            return None
        pos = self._read_to
        first_seq = segments[0][0]
        if pos.seq < first_seq:
            pos = Position(first_seq, 0)  # cursor is new or its segments were consumed and deleted
        by_seq = {seq: (path, size) for seq, path, size in segments}
        while total < max_bytes and len(records) < max_records:
            if pos.seq not in by_seq:
                newer = [seq for seq in by_seq if seq > pos.seq]
                if not newer:
                    break
                pos = Position(min(newer), 0)
                continue
            path, _ = by_seq[pos.seq]
            got, pos, exhausted = self._read_segment(path, pos, max_bytes - total, records)
            total += got
            if not exhausted:
                break
            newer_seqs = [seq for seq in by_seq if seq > pos.seq]
            if not newer_seqs:
                # The segment may still grow; look again at the directory next time.
                break
            pos = Position(min(newer_seqs), 0)
        if not records:
            if pos != self._read_to:
                self._skipped_to(pos)
            return None
        self._read_to = pos
        self._unfinished[pos] = False
        return Batch(self.stream_dir, records, pos)

    def _skipped_to(self, pos: Position) -> None:
        """Only empty or torn segments lie before `pos`: nothing to deliver there. With
        batches in flight the cursor must not jump past them, so the skip waits in line
        as a batch already finished."""
        self._read_to = pos
        if self._unfinished:
            self._unfinished[pos] = True
        else:
            self._persist(pos)

    def finish(self, end: Position) -> None:
        """The batch ending at `end` was delivered; persist the end of the finished prefix."""
        if end not in self._unfinished:
            raise ValueError("no batch in flight ends at this position")
        self._unfinished[end] = True
        finished_to: Position | None = None
        for pending, done in list(self._unfinished.items()):
            if not done:
                break
            del self._unfinished[pending]
            finished_to = pending
        if finished_to is not None:
            self._persist(finished_to)

    def _read_segment(
        self, path: Path, pos: Position, budget: int, out: list[bytes]
    ) -> tuple[int, Position, bool]:
        """Read records from one segment; returns (bytes read, new position, reached its end)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return 0, pos, True
        got = 0
        try:
            offset = pos.offset
            while got < budget:
                size = os.fstat(fd).st_size
                result = read_record(fd, offset, size)
                if result.status is ReadStatus.OK:
                    out.append(result.payload)
                    got += len(result.payload)
                    offset = result.next_offset
                    continue
                if result.status is ReadStatus.CORRUPT and offset < result.next_offset < size:
                    # A damaged record with more records after it (a flipped bit, a bad
                    # sector): it was written whole and acknowledged; its length is intact,
                    # so skip just it and go on. A bad last record is handled as a tear.
                    self.skipped_corrupt += 1
                    offset = result.next_offset
                    continue
                # End of data or a tear. A tear is final only if the writer has moved on.
                if not self._has_newer_segment(pos.seq):
                    return got, Position(pos.seq, offset), False
                again = read_record(fd, offset, os.fstat(fd).st_size)
                if again.status is ReadStatus.OK:
                    continue
                if offset < os.fstat(fd).st_size:
                    self.skipped_torn += 1
                return got, Position(pos.seq, offset), True
            return got, Position(pos.seq, offset), False
        finally:
            os.close(fd)

    def _has_newer_segment(self, seq: int) -> bool:
        return any(other > seq for other, _, _ in list_segments(self.stream_dir))

    def _persist(self, position: Position) -> None:
        """Move the cursor; if the file cannot be written (disk full, out of descriptors)
        keep going from memory and write it with a later move: a cursor left behind only
        means redelivery after a crash, while stopping delivery would keep the disk full."""
        self.position = position
        try:
            write_cursor(self.stream_dir, self.exporter, position)
        except OSError as exc:
            if not self._cursor_write_failed:
                log.warning(
                    "cannot write the %r cursor (%s); delivery goes on, it is written later",
                    self.exporter,
                    exc.strerror,
                )
            self._cursor_write_failed = True
        else:
            if self._cursor_write_failed:
                log.warning("the %r cursor is written again", self.exporter)
            self._cursor_write_failed = False

    def pending_bytes(self) -> int:
        pending = 0
        for seq, _, size in list_segments(self.stream_dir):
            if seq > self.position.seq:
                pending += size
            elif seq == self.position.seq:
                pending += max(0, size - self.position.offset)
        return pending


def joined_marker(directory: Path, exporter: str) -> Path:
    """Exists once `exporter` has been started on the queue in `directory`."""
    return Path(directory) / "exporters" / f"{exporter}.joined"


class ExporterReader:
    """All streams as one exporter sees them, read round-robin so no worker starves.

    Thread-safe: an exporter's sending threads finish batches while another reads.
    """

    def __init__(self, directory: Path, exporter: str, *, new_starts_at_end: bool = False) -> None:
        """`new_starts_at_end`: without a cursor in a stream that exists now, start at its
        end (streams that appear later are new, read from their start)."""
        self.directory = Path(directory)
        self.exporter = exporter
        # An exporter is new to this queue until it has been started on it once; from then
        # on, a stream without its cursor is one that appeared later, read from its start.
        marker = joined_marker(self.directory, exporter)
        self._starting = new_starts_at_end and not marker.exists()
        self._cursors: dict[Path, StreamCursor] = {}
        self._lock = threading.Lock()  # the janitor reads positions while delivery refreshes
        self._io_lock = threading.Lock()  # reads and finishes move the same cursors
        self._next = 0
        self.refresh()
        if new_starts_at_end and not marker.exists():
            try:
                marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                marker.touch(mode=0o600)
            except OSError as exc:
                log.warning("cannot mark exporter %r as started on this queue (%s)", exporter, exc.strerror)

    def refresh(self) -> None:
        with self._io_lock:
            for stream_dir in list_streams(self.directory):
                if stream_dir not in self._cursors:
                    cursor = StreamCursor(stream_dir, self.exporter, start_at_end=self._starting)
                    with self._lock:
                        self._cursors[stream_dir] = cursor
            self._starting = False

    def _snapshot(self) -> list[tuple[Path, StreamCursor]]:
        with self._lock:
            return list(self._cursors.items())

    def read(self, max_bytes: int) -> Batch | None:
        with self._io_lock:
            cursors = [cursor for _, cursor in self._snapshot()]
            for i in range(len(cursors)):
                cursor = cursors[(self._next + i) % len(cursors)]
                batch = cursor.read(max_bytes)
                if batch is not None:
                    self._next = (self._next + i + 1) % len(cursors)
                    return batch
            return None

    def commit(self, batch: Batch) -> None:
        """`batch` was delivered; its stream's cursor moves once every batch read before it was too."""
        with self._io_lock:
            self._cursors[batch.stream_dir].finish(batch.end)

    @property
    def in_flight(self) -> int:
        """Batches read and not yet committed."""
        with self._io_lock:
            return sum(cursor.in_flight for _, cursor in self._snapshot())

    def pending_bytes(self) -> int:
        return sum(cursor.pending_bytes() for _, cursor in self._snapshot())

    def positions(self) -> dict[Path, Position]:
        return {stream: cursor.position for stream, cursor in self._snapshot()}

    @property
    def skipped_torn(self) -> int:
        return sum(cursor.skipped_torn for _, cursor in self._snapshot())

    @property
    def skipped_corrupt(self) -> int:
        return sum(cursor.skipped_corrupt for _, cursor in self._snapshot())


def delete_consumed_segments(
    directory: Path, readers: list[ExporterReader], *, writers_closed: bool = False
) -> int:
    """Remove segments every exporter has committed past; returns how many were removed.

    Committed, not read: a batch still in flight may need its segment again after a crash.
    `writers_closed`: no writer appends any more (shutdown), so the newest segment of a
    stream goes too once everything in it is delivered.
    """
    removed = 0
    for stream_dir in list_streams(directory):
        positions = [reader.positions().get(stream_dir) for reader in readers]
        if not positions or any(p is None for p in positions):
            continue
        segments = list_segments(stream_dir)
        newest = segments[-1][0] + 1 if writers_closed and segments else (segments[-1][0] if segments else -1)
        for seq, path, size in segments:
            # passed by every exporter, or read to its end by all and sealed (a newer
            # segment exists, so the writer never appends to it again)
            if all(
                p is not None and (p.seq > seq or (p.seq == seq and p.offset >= size and seq < newest))
                for p in positions
            ):
                try:
                    path.unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed
