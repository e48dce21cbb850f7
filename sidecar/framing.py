"""Record framing for queue segment files: `length | crc32 | payload`.

Why a CRC and not just a length: after SIGKILL or a power cut the last record of a
segment may be half written (a full header, a short or garbage payload). The length
alone cannot tell such a torn record from a good one; the checksum can, so a reader
stops at the tear instead of handing garbage to an exporter.
"""

from __future__ import annotations

import enum
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

HEADER = struct.Struct("<II")  # payload length, crc32(payload)
# A record larger than this is a corrupt header, not a request (max_request_bytes is far below).
MAX_RECORD_BYTES = 1 << 30


def frame_header(parts: Sequence[bytes]) -> bytes:
    """The 8-byte header that precedes the payload (`parts` joined) on disk."""
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    return HEADER.pack(sum(len(part) for part in parts), crc)


def framed_size(payload_len: int) -> int:
    return HEADER.size + payload_len


class ReadStatus(enum.Enum):
    OK = "ok"
    INCOMPLETE = "incomplete"  # end of data: nothing, or a record still being written / torn
    CORRUPT = "corrupt"  # a full record whose checksum or length is wrong


@dataclass(frozen=True, slots=True)
class ReadResult:
    status: ReadStatus
    payload: bytes = b""
    next_offset: int = 0


def read_record(fd: int, offset: int, file_size: int) -> ReadResult:
    """Read one record at `offset` of an open segment whose current size is `file_size`."""
    if file_size - offset < HEADER.size:
        return ReadResult(ReadStatus.INCOMPLETE, next_offset=offset)
    header = os.pread(fd, HEADER.size, offset)
    if len(header) < HEADER.size:
        return ReadResult(ReadStatus.INCOMPLETE, next_offset=offset)
    length, crc = HEADER.unpack(header)
    if length > MAX_RECORD_BYTES:
        return ReadResult(ReadStatus.CORRUPT, next_offset=offset)
    end = offset + HEADER.size + length
    if end > file_size:
        return ReadResult(ReadStatus.INCOMPLETE, next_offset=offset)
    payload = os.pread(fd, length, offset + HEADER.size)
    if len(payload) < length:
        return ReadResult(ReadStatus.INCOMPLETE, next_offset=offset)
    if zlib.crc32(payload) != crc:
        return ReadResult(ReadStatus.CORRUPT, next_offset=offset)
    return ReadResult(ReadStatus.OK, payload, end)
