"""The durable queue: framing, cursors per exporter, torn tails, backpressure, deletion, and
commits that follow only the finished prefix of batches in flight."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from spanguard.sidecar.queue_layout import Position, list_segments, list_streams, read_cursor, scan_bytes
from spanguard.sidecar.queue_reader import Batch, ExporterReader, delete_consumed_segments
from spanguard.sidecar.queue_writer import QueueFull, QueueInUse, QueueWriter


def _drain(reader: ExporterReader, max_bytes: int = 1 << 20) -> list[bytes]:
    out: list[bytes] = []
    while True:
        reader.refresh()
        batch = reader.read(max_bytes)
        if batch is None:
            return out
        out.extend(batch.records)
        reader.commit(batch)


def test_records_come_back_in_order_for_each_exporter_independently(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000, segment_bytes=1000)
    payloads = [f"request-{i}".encode() * (i + 1) for i in range(50)]
    for payload in payloads:
        writer.append(payload)
    file_reader = ExporterReader(tmp_path, "file")
    otlp_reader = ExporterReader(tmp_path, "otlp")
    assert _drain(file_reader) == payloads
    # otlp has read nothing yet, so nothing may be deleted
    assert delete_consumed_segments(tmp_path, [file_reader, otlp_reader]) == 0
    assert _drain(otlp_reader) == payloads
    assert delete_consumed_segments(tmp_path, [file_reader, otlp_reader]) > 0
    writer.close()


def test_cursor_survives_restart_and_is_at_least_once(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    for i in range(10):
        writer.append(b"r%d" % i)
    reader = ExporterReader(tmp_path, "file")
    batch = reader.read(max_bytes=1)  # one record
    assert batch is not None and batch.records == [b"r0"]
    reader.commit(batch)
    batch = reader.read(max_bytes=1)
    assert batch is not None and batch.records == [b"r1"]  # read but not committed
    writer.close()
    # restart: a new writer opens a new segment; the reader resumes after r0
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    writer.append(b"after-restart")
    reader = ExporterReader(tmp_path, "file")
    assert _drain(reader) == [b"r%d" % i for i in range(1, 10)] + [b"after-restart"]
    writer.close()


def test_torn_tail_is_skipped_once_writer_has_moved_on(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    writer.append(b"good-1")
    writer.append(b"good-2")
    writer.close()
    stream = list_streams(tmp_path)[0]
    _, path, _ = list_segments(stream)[-1]
    with open(path, "ab") as handle:  # a record cut short, as SIGKILL mid-write leaves it
        handle.write(b"\x40\x00\x00\x00\x12\x34\x56\x78partial")
    reader = ExporterReader(tmp_path, "file")
    # the writer could still be finishing it: nothing past good-2 yet, no skip
    assert _drain(reader) == [b"good-1", b"good-2"]
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    writer.append(b"good-3")
    assert _drain(reader) == [b"good-3"]
    assert reader.skipped_torn == 1
    writer.close()


def test_corrupted_record_is_not_delivered(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    writer.append(b"A" * 100)
    writer.close()
    stream = list_streams(tmp_path)[0]
    _, path, _ = list_segments(stream)[-1]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # flip a payload bit: the CRC no longer matches
    path.write_bytes(bytes(data))
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)
    writer.append(b"next")
    assert _drain(ExporterReader(tmp_path, "file")) == [b"next"]
    writer.close()


def test_full_queue_refuses_instead_of_dropping(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=1000)
    writer.append(b"x" * 500)
    with pytest.raises(QueueFull):
        writer.append(b"y" * 600)
    assert scan_bytes(tmp_path) <= 1000
    reader = ExporterReader(tmp_path, "file")
    assert _drain(reader) == [b"x" * 500]
    writer.close()
    # once consumed segments are deleted, there is room again
    writer = QueueWriter(tmp_path, "w0", max_bytes=1000)
    assert _drain(reader) == []  # moves the cursor past the finished segment
    # the segment the refusal sealed and the one the writer closed, both delivered
    assert delete_consumed_segments(tmp_path, [reader]) >= 1
    assert scan_bytes(tmp_path) < 500  # the delivered 500 bytes are gone
    writer.append(b"y" * 600)
    writer.close()


def test_concurrent_appends_share_fsyncs(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=100_000_000)
    barrier = threading.Barrier(8)

    def send(n: int) -> None:
        barrier.wait()
        for i in range(25):
            writer.append(b"%d-%d" % (n, i) * 100)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = _drain(ExporterReader(tmp_path, "file"))
    assert sorted(records) == sorted(b"%d-%d" % (n, i) * 100 for n in range(8) for i in range(25))
    assert writer.commits < 200  # group commit: fewer syncs than appends
    writer.close()


def test_two_writers_on_one_stream_are_refused(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=1000)
    with pytest.raises(QueueInUse):
        QueueWriter(tmp_path, "w0", max_bytes=1000)
    writer.close()


def test_segments_are_private_files(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=1000)
    writer.append(b"secret-ish")
    writer.close()
    _, path, _ = list_segments(list_streams(tmp_path)[0])[-1]
    assert os.stat(path).st_mode & 0o077 == 0


# ---- several batches in flight: reads run ahead, commits follow the finished prefix


def _one_record_batches(reader: ExporterReader, count: int) -> list[Batch]:
    batches = [reader.read(max_bytes=1) for _ in range(count)]  # a budget of 1 byte: one record each
    assert all(batch is not None for batch in batches)
    return [batch for batch in batches if batch is not None]


def _write(tmp_path: Path, stream: str, payloads: list[bytes]) -> None:
    writer = QueueWriter(tmp_path, stream, max_bytes=10_000_000)
    for payload in payloads:
        writer.append(payload)
    writer.close()


def test_out_of_order_finishes_commit_only_the_finished_prefix(tmp_path: Path) -> None:
    _write(tmp_path, "w0", [b"r%d" % i for i in range(4)])
    reader = ExporterReader(tmp_path, "otlp")
    batches = _one_record_batches(reader, 4)
    assert [batch.records for batch in batches] == [[b"r0"], [b"r1"], [b"r2"], [b"r3"]]
    stream = list_streams(tmp_path)[0]
    unread = reader.positions()[stream]
    reader.commit(batches[2])
    reader.commit(batches[1])
    assert reader.positions()[stream] == unread  # r0 is still in flight
    assert reader.in_flight == 2
    reader.commit(batches[0])
    assert reader.positions()[stream] == batches[2].end
    assert read_cursor(stream, "otlp") == batches[2].end  # persisted, not only in memory
    reader.commit(batches[3])
    assert read_cursor(stream, "otlp") == batches[3].end
    assert reader.in_flight == 0


def test_restart_after_a_crash_rereads_exactly_the_uncommitted_batches(tmp_path: Path) -> None:
    payloads = [b"r%d" % i for i in range(6)]
    _write(tmp_path, "w0", payloads)
    reader = ExporterReader(tmp_path, "otlp")
    batches = _one_record_batches(reader, 5)
    for index in (0, 2, 4):  # r2 and r4 were delivered, but r1 never finished
        reader.commit(batches[index])
    # crash: a new reader on the same directory resumes after the finished prefix (r0);
    # r2 and r4 go out again (duplicates), nothing is lost
    assert _drain(ExporterReader(tmp_path, "otlp")) == payloads[1:]


def test_skipping_a_torn_tail_does_not_move_the_cursor_past_batches_in_flight(tmp_path: Path) -> None:
    _write(tmp_path, "w0", [b"r0", b"r1"])
    stream = list_streams(tmp_path)[0]
    _, path, _ = list_segments(stream)[-1]
    with open(path, "ab") as handle:  # a torn last record...
        handle.write(b"\x40\x00\x00\x00\x12\x34\x56\x78partial")
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000)  # ...made final by a newer, empty segment
    reader = ExporterReader(tmp_path, "file")
    first, second = _one_record_batches(reader, 2)
    unread = reader.positions()[stream]
    assert reader.read(max_bytes=1) is None  # only skipped the tear and reached the empty segment
    assert reader.skipped_torn == 1
    assert reader.positions()[stream] == unread
    reader.commit(second)
    assert reader.positions()[stream] == unread
    assert _drain(ExporterReader(tmp_path, "file")) == [b"r0", b"r1"]  # a crash now re-sends both
    reader.commit(first)
    newest_seq = list_segments(stream)[-1][0]
    assert reader.positions()[stream] == Position(newest_seq, 0)  # past the tear, with the skip
    writer.close()


def test_each_stream_commits_its_own_finished_prefix(tmp_path: Path) -> None:
    _write(tmp_path, "w0", [b"a0", b"a1"])
    _write(tmp_path, "w1", [b"b0", b"b1"])
    reader = ExporterReader(tmp_path, "otlp")
    a0, b0, a1, b1 = _one_record_batches(reader, 4)  # round-robin over the streams
    assert [a0.records, b0.records, a1.records, b1.records] == [[b"a0"], [b"b0"], [b"a1"], [b"b1"]]
    w0, w1 = list_streams(tmp_path)
    unread = reader.positions()
    reader.commit(b1)
    reader.commit(a0)
    assert reader.positions() == {w0: a0.end, w1: unread[w1]}  # b0 holds w1 back, not w0
    reader.commit(b0)
    assert reader.positions() == {w0: a0.end, w1: b1.end}
    assert _drain(ExporterReader(tmp_path, "otlp")) == [b"a1"]


def test_segments_of_batches_in_flight_are_not_deleted(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=10_000_000, segment_bytes=100)
    for i in range(6):
        writer.append(b"%d" % i * 80)  # segments of a record or two
    writer.close()
    segments = len(list_segments(list_streams(tmp_path)[0]))
    assert segments >= 3
    reader = ExporterReader(tmp_path, "file")
    batches = _one_record_batches(reader, 6)
    for batch in batches[1:]:
        reader.commit(batch)
    # the oldest segment's batch is still in flight: a crash would need it again
    assert delete_consumed_segments(tmp_path, [reader]) == 0
    reader.commit(batches[0])
    assert delete_consumed_segments(tmp_path, [reader]) == segments - 1  # all but the one the cursor is in
