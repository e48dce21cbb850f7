"""The delivery side of the durable queue: one cursor per exporter per stream.

Each exporter reads at its own pace, so a dead Phoenix leaves the file exporter
untouched; the cursor moves (and is persisted) only after the exporter's backend has
accepted a batch, which makes delivery at-least-once across crashes. A record that
fails its CRC or is cut short is a torn tail; it is skipped only once a newer segment
exists, because until then it may simply be a record the writer is still writing.
"""

from __future__ import annotations

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
    """One exporter's position in one stream."""

    def __init__(self, stream_dir: Path, exporter: str) -> None:
        self.stream_dir = stream_dir
        self.exporter = exporter
        self.position = read_cursor(stream_dir, exporter) or Position(-1, 0)
        self.skipped_torn = 0

    def read(self, max_bytes: int, max_records: int = 10_000) -> Batch | None:
        """Records after the cursor (at least one if any, up to about `max_bytes`)."""
        records: list[bytes] = []
        total = 0
        segments = list_segments(self.stream_dir)
        if not segments:
            return None
        pos = self.position
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
            if pos != self.position:
                self.commit(pos)  # only skipped empty or torn segments
            return None
        return Batch(self.stream_dir, records, pos)

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

    def commit(self, position: Position) -> None:
        self.position = position
        write_cursor(self.stream_dir, self.exporter, position)

    def pending_bytes(self) -> int:
        pending = 0
        for seq, _, size in list_segments(self.stream_dir):
            if seq > self.position.seq:
                pending += size
            elif seq == self.position.seq:
                pending += max(0, size - self.position.offset)
        return pending


class ExporterReader:
    """All streams as one exporter sees them, read round-robin so no worker starves."""

    def __init__(self, directory: Path, exporter: str) -> None:
        self.directory = Path(directory)
        self.exporter = exporter
        self._cursors: dict[Path, StreamCursor] = {}
        self._lock = threading.Lock()  # the janitor reads positions while delivery refreshes
        self._next = 0
        self.refresh()

    def refresh(self) -> None:
        for stream_dir in list_streams(self.directory):
            if stream_dir not in self._cursors:
                cursor = StreamCursor(stream_dir, self.exporter)
                with self._lock:
                    self._cursors[stream_dir] = cursor

    def _snapshot(self) -> list[tuple[Path, StreamCursor]]:
        with self._lock:
            return list(self._cursors.items())

    def read(self, max_bytes: int) -> Batch | None:
        cursors = [cursor for _, cursor in self._snapshot()]
        for i in range(len(cursors)):
            cursor = cursors[(self._next + i) % len(cursors)]
            batch = cursor.read(max_bytes)
            if batch is not None:
                self._next = (self._next + i + 1) % len(cursors)
                return batch
        return None

    def commit(self, batch: Batch) -> None:
        self._cursors[batch.stream_dir].commit(batch.end)

    def pending_bytes(self) -> int:
        return sum(cursor.pending_bytes() for _, cursor in self._snapshot())

    def positions(self) -> dict[Path, Position]:
        return {stream: cursor.position for stream, cursor in self._snapshot()}

    @property
    def skipped_torn(self) -> int:
        return sum(cursor.skipped_torn for _, cursor in self._snapshot())


def delete_consumed_segments(directory: Path, readers: list[ExporterReader]) -> int:
    """Remove segments every exporter has read past; returns how many were removed."""
    removed = 0
    for stream_dir in list_streams(directory):
        positions = [reader.positions().get(stream_dir) for reader in readers]
        if not positions or any(p is None for p in positions):
            continue
        low = min(p.seq for p in positions if p is not None)
        for seq, path, _ in list_segments(stream_dir):
            if seq < low:
                try:
                    path.unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed
