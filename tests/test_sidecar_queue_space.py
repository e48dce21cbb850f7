"""Queue segments reserve their disk blocks when opened (cheaper appends and syncs) and
give back what they did not use when closed; readers never see the reservation."""

from __future__ import annotations

import os
from pathlib import Path

from spanguard.sidecar.framing import framed_size
from spanguard.sidecar.preallocate import reserve
from spanguard.sidecar.queue_reader import ExporterReader
from spanguard.sidecar.queue_writer import QueueWriter

SEGMENT = 8 << 20


def _reserve_works_here(directory: Path) -> bool:
    probe = directory / "probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        return reserve(fd, 1 << 20) and os.fstat(fd).st_size == 0
    finally:
        os.close(fd)
        probe.unlink()


def test_a_segment_reserves_space_without_growing_and_gives_back_the_rest(tmp_path: Path) -> None:
    queue = tmp_path / "queue"
    writer = QueueWriter(queue, "w0", max_bytes=1 << 30, segment_bytes=SEGMENT)
    writer.append(b"x" * 100_000)
    (segment,) = (queue / "streams" / "w0").glob("*.seg")
    while_open = segment.stat()
    assert while_open.st_size == framed_size(100_000)  # readers see the data, not the reservation
    if _reserve_works_here(tmp_path):
        assert while_open.st_blocks * 512 >= SEGMENT
    batch = ExporterReader(queue, "file").read(1 << 20)
    assert batch is not None and batch.records == [b"x" * 100_000]
    writer.close()
    closed = segment.stat()
    assert closed.st_size == framed_size(100_000)
    assert closed.st_blocks * 512 < 1 << 20


def test_a_full_segment_rolls_over_and_records_stay_whole(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=1 << 30, segment_bytes=64 * 1024)
    records = [bytes([n]) * 50_000 for n in range(5)]
    for record in records:
        writer.append(record)
    writer.close()
    segments = sorted((tmp_path / "streams" / "w0").glob("*.seg"))
    assert len(segments) >= 2
    assert sum(s.stat().st_size for s in segments) == sum(framed_size(len(r)) for r in records)
    reader = ExporterReader(tmp_path, "file")
    got: list[bytes] = []
    while (batch := reader.read(1 << 20)) is not None:
        got.extend(batch.records)
        reader.commit(batch)
    assert got == records
