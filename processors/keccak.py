"""Keccak-256, as Ethereum uses it: the checksum of a mixed-case (EIP-55) address.

Ethereum hashes with the original Keccak submission, whose padding (`0x01 ... 0x80`)
differs from the standardised SHA3-256 (`0x06 ... 0x80`), so `hashlib.sha3_256` gives
other digests, and the standard library has no Keccak. The packages that do
(`eth-hash`, `pycryptodome`, `pysha3`) are C extensions or need one as a backend; this
pure-Python sponge (Keccak-f[1600], rate 136 bytes) costs about 0.4 ms per
address and only ever runs on mixed-case `crypto_wallet` candidates, never on the scan.
"""

from __future__ import annotations

_MASK = (1 << 64) - 1
_RATE = 136  # bytes: 1600 - 2 * 256 bits of capacity

# iota's round constants for the 24 rounds
_ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip
# rho's rotation of lane (x, y), indexed x + 5 * y
_ROTATIONS = (
    0, 1, 62, 28, 27,
    36, 44, 6, 55, 20,
    3, 10, 43, 25, 39,
    41, 45, 15, 21, 8,
    18, 2, 61, 56, 14,
)  # fmt: skip


# rho and pi as one step: lane `source` rotated by `shift` lands at `target`, where
# (x, y) moves to (y, 2x + 3y)
_RHO_PI = tuple(
    (x + 5 * y, y + 5 * ((2 * x + 3 * y) % 5), _ROTATIONS[x + 5 * y]) for x in range(5) for y in range(5)
)


def _permute(lanes: list[int]) -> None:
    """Keccak-f[1600] in place on 25 lanes of 64 bits, lane (x, y) at x + 5 * y."""
    moved = [0] * 25
    for constant in _ROUND_CONSTANTS:
        # theta: each column's parity into its neighbours
        parity = [lanes[x] ^ lanes[x + 5] ^ lanes[x + 10] ^ lanes[x + 15] ^ lanes[x + 20] for x in range(5)]
        for x in range(5):
            right = parity[(x + 1) % 5]
            d = parity[(x - 1) % 5] ^ (((right << 1) | (right >> 63)) & _MASK)
            for y in range(x, 25, 5):
                lanes[y] ^= d
        # rho and pi: rotate each lane and move it
        for source, target, shift in _RHO_PI:
            lane = lanes[source]
            moved[target] = ((lane << shift) | (lane >> (64 - shift))) & _MASK if shift else lane
        # chi: the only non-linear step, along each row
        for y in range(0, 25, 5):
            a, b, c, d, e = moved[y : y + 5]
            lanes[y] = a ^ (~b & c)
            lanes[y + 1] = b ^ (~c & d)
            lanes[y + 2] = c ^ (~d & e)
            lanes[y + 3] = d ^ (~e & a)
            lanes[y + 4] = e ^ (~a & b)
        # iota
        lanes[0] ^= constant


def sponge256(data: bytes, domain: int) -> bytes:
    """The 32-byte digest of the Keccak[512] sponge with this padding's first byte:
    0x01 is Keccak-256 (Ethereum), 0x06 is SHA3-256 (FIPS 202), which `hashlib` has, so
    the tests compare the permutation with it."""
    padded = bytearray(data)
    padded.append(domain)
    padded.extend(b"\x00" * (-len(padded) % _RATE))
    padded[-1] |= 0x80
    lanes = [0] * 25
    for block in range(0, len(padded), _RATE):
        for index in range(_RATE // 8):
            offset = block + 8 * index
            lanes[index] ^= int.from_bytes(padded[offset : offset + 8], "little")
        _permute(lanes)
    return b"".join(lane.to_bytes(8, "little") for lane in lanes[:4])


def keccak256(data: bytes) -> bytes:
    """The 32-byte Keccak-256 digest of `data` (Ethereum's `keccak256`, not SHA3-256)."""
    return sponge256(data, 0x01)
