"""Record framing for queue segment files: `length | checksum | payload`.

Why a checksum and not just a length: after SIGKILL or a power cut the last record of a
segment may be half written (a full header, a short or garbage payload). The length
alone cannot tell such a torn record from a good one; the checksum can, so a reader
stops at the tear instead of handing garbage to an exporter.

Which checksum: XXH3 (the low 32 bits), 0.11 ms for a 6.4 MB request against 1.5 ms
for zlib's CRC-32, paid once on write and once on read; it detects torn and garbled
records at least as well. The length's top bit says "XXH3"; records written before it
existed have the bit clear and keep being checked with zlib's CRC-32, so a queue left
on disk by an older version is still delivered.
"""

from __future__ import annotations

import enum
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import xxhash

HEADER = struct.Struct("<II")  # payload length (| XXH3_FLAG), checksum of the payload
# A record larger than this is a corrupt header, not a request (max_request_bytes is far below).
MAX_RECORD_BYTES = 1 << 30
XXH3_FLAG = 1 << 31  # set: the checksum is XXH3's low 32 bits; clear: zlib's CRC-32 (older queues)
_LOW_32 = 0xFFFFFFFF


def frame_header(parts: Sequence[bytes]) -> bytes:
    """The 8-byte header that precedes the payload (`parts` joined) on disk."""
    digest = xxhash.xxh3_64()
    for part in parts:
        digest.update(part)
    return HEADER.pack(sum(len(part) for part in parts) | XXH3_FLAG, digest.intdigest() & _LOW_32)


def _checksum_ok(payload: bytes, checksum: int, xxh3: bool) -> bool:
    if xxh3:
        return xxhash.xxh3_64_intdigest(payload) & _LOW_32 == checksum
    return zlib.crc32(payload) == checksum


def framed_size(payload_len: int) -> int:
    return HEADER.size + payload_len


class ReadStatus(enum.Enum):
    OK = "ok"
    INCOMPLETE = "incomplete"  # end of data: nothing, or a record still being written / torn
    # a full record whose checksum is wrong (next_offset: just past it, its length being
    # plausible), or whose length is impossible (next_offset: where it starts)
    CORRUPT = "corrupt"


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
    length, checksum = HEADER.unpack(header)
    xxh3 = bool(length & XXH3_FLAG)
    length &= ~XXH3_FLAG
    if length > MAX_RECORD_BYTES:
        return ReadResult(ReadStatus.CORRUPT, next_offset=offset)
    end = offset + HEADER.size + length
    if end > file_size:
        return ReadResult(ReadStatus.INCOMPLETE, next_offset=offset)
    payload = os.pread(fd, length, offset + HEADER.size)
    if len(payload) < length:
        return ReadResult(ReadStatus.INCOMPLETE, next_offset=offset)
    if not _checksum_ok(payload, checksum, xxh3):
        return ReadResult(ReadStatus.CORRUPT, next_offset=end)
    return ReadResult(ReadStatus.OK, payload, end)
