"""Queue record framing: checksums catch garbled and torn records in both the current
format (XXH3) and the one older queues were written in (zlib CRC-32)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from spanguard.sidecar.framing import HEADER, ReadStatus, frame_header, read_record

PAYLOAD = b"\x0a\x10" + b"span bytes " * 500


def _read(path: Path, offset: int = 0) -> tuple[ReadStatus, bytes, int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        result = read_record(fd, offset, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    return result.status, result.payload, result.next_offset


def _old_format(payload: bytes) -> bytes:
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def test_a_record_reads_back_from_its_parts(tmp_path: Path) -> None:
    parts = [PAYLOAD[:7], memoryview(PAYLOAD)[7:100], PAYLOAD[100:]]
    path = tmp_path / "seg"
    path.write_bytes(frame_header(parts) + PAYLOAD + frame_header([b"next"]) + b"next")
    status, payload, end = _read(path)
    assert (status, payload, end) == (ReadStatus.OK, PAYLOAD, HEADER.size + len(PAYLOAD))
    assert _read(path, end)[:2] == (ReadStatus.OK, b"next")


def test_records_written_by_an_older_version_still_read(tmp_path: Path) -> None:
    path = tmp_path / "seg"
    path.write_bytes(_old_format(PAYLOAD) + frame_header([b"new"]) + b"new")
    status, payload, end = _read(path)
    assert (status, payload) == (ReadStatus.OK, PAYLOAD)
    assert _read(path, end)[:2] == (ReadStatus.OK, b"new")


@pytest.mark.parametrize(
    "record", [frame_header([PAYLOAD]) + PAYLOAD, _old_format(PAYLOAD)], ids=["xxh3", "crc32"]
)
def test_a_flipped_byte_or_a_short_record_is_never_handed_out(tmp_path: Path, record: bytes) -> None:
    path = tmp_path / "seg"
    garbled = bytearray(record)
    garbled[HEADER.size + 300] ^= 0x01
    path.write_bytes(bytes(garbled))
    assert _read(path)[0] is ReadStatus.CORRUPT
    path.write_bytes(record[:-1])  # torn: the header promises more than is there
    assert _read(path)[0] is ReadStatus.INCOMPLETE
