"""The queue under faults: a failed segment open, a damaged record, an unwritable cursor,
a new exporter on an old queue, and a fully delivered queue that must not linger."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from spanguard.sidecar import queue_reader, queue_writer
from spanguard.sidecar.framing import HEADER
from spanguard.sidecar.queue_layout import list_segments, list_streams, read_cursor
from spanguard.sidecar.queue_reader import ExporterReader, delete_consumed_segments
from spanguard.sidecar.queue_writer import QueueWriter


def _drain(reader: ExporterReader) -> list[bytes]:
    got: list[bytes] = []
    while (batch := reader.read(1 << 20)) is not None:
        got.extend(batch.records)
        reader.commit(batch)
    return got


def test_a_failed_segment_open_leaves_no_closed_descriptor_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000, segment_bytes=100)
    writer.append(b"a" * 200)  # fills the segment: the next append rolls to a new one
    real = queue_writer.segment_path
    monkeypatch.setattr(queue_writer, "segment_path", lambda d, seq: tmp_path / "missing" / "x.seg")
    with pytest.raises(OSError):
        writer.append(b"lost")  # refused, never acknowledged
    monkeypatch.setattr(queue_writer, "segment_path", real)
    # someone else's file gets the lowest free descriptor: the closed one the writer kept
    other = tmp_path / "someone-else"
    fd = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        writer.append(b"b" * 10)
        assert os.fstat(fd)  # still open: the writer did not close it
        assert other.read_bytes() == b""
    finally:
        os.close(fd)
    writer.close()
    assert _drain(ExporterReader(tmp_path, "file")) == [b"a" * 200, b"b" * 10]


def test_a_flipped_byte_in_a_sealed_segment_loses_only_that_record_and_counts_it(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    for record in (b"first" * 10, b"second" * 10, b"third" * 10):
        writer.append(record)
    writer.close()
    _, path, _ = list_segments(list_streams(tmp_path)[0])[-1]
    data = bytearray(path.read_bytes())
    data[HEADER.size + 50 + HEADER.size + 3] ^= 0x01  # inside the second record's payload
    path.write_bytes(bytes(data))
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)  # seals that segment
    writer.append(b"next")
    reader = ExporterReader(tmp_path, "file")
    assert _drain(reader) == [b"first" * 10, b"third" * 10, b"next"]
    assert reader.skipped_corrupt == 1
    assert reader.skipped_torn == 0
    writer.close()


def test_an_unwritable_cursor_does_not_stop_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    writer.append(b"one")
    reader = ExporterReader(tmp_path, "file")

    def disk_full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(queue_reader, "write_cursor", disk_full)
    assert _drain(reader) == [b"one"]  # committed in memory
    writer.append(b"two")
    assert _drain(reader) == [b"two"]
    monkeypatch.undo()
    writer.append(b"three")
    assert _drain(reader) == [b"three"]
    stream = list_streams(tmp_path)[0]
    assert read_cursor(stream, "file") == reader.positions()[stream]  # written again
    writer.close()


def test_a_new_exporter_starts_at_the_end_of_an_existing_queue(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    writer.append(b"meant for the exporters of an earlier config")
    old = ExporterReader(tmp_path, "file")
    new = ExporterReader(tmp_path, "otlp", new_starts_at_end=True)
    writer.append(b"after")
    assert _drain(new) == [b"after"]
    assert _drain(old) == [b"meant for the exporters of an earlier config", b"after"]
    writer.close()
    # its place was written at once: a restart does not go back to the old records
    assert _drain(ExporterReader(tmp_path, "otlp", new_starts_at_end=True)) == []


def test_fully_delivered_segments_are_removed_the_last_one_too(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    writer.append(b"x" * 1000)
    reader = ExporterReader(tmp_path, "file")
    assert _drain(reader) == [b"x" * 1000]
    stream = list_streams(tmp_path)[0]
    assert delete_consumed_segments(tmp_path, [reader]) == 0  # the writer may still append to it
    writer.close()
    assert delete_consumed_segments(tmp_path, [reader], writers_closed=True) == 1
    assert list_segments(stream) == []
    # the next writer numbers on from the cursor, and the reader follows
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    writer.append(b"y")
    assert _drain(ExporterReader(tmp_path, "file")) == [b"y"]
    writer.close()


def test_a_delivered_segment_goes_once_a_newer_one_exists(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    writer.append(b"x" * 1000)
    writer.close()
    reader = ExporterReader(tmp_path, "file")
    assert _drain(reader) == [b"x" * 1000]
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)  # a restart opens a newer segment
    assert delete_consumed_segments(tmp_path, [reader]) == 1
    writer.close()
