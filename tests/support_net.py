"""Loopback helpers shared by every test that starts a server."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def free_port() -> int:
    """A currently free loopback TCP port (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def later_port() -> int:
    """A free loopback port for a server that starts later, while a client already
    retries against it: outside the ephemeral range, so no outgoing connection can be
    given it as its source port in the meantime (one of the client's own retries can
    even connect to itself through it), which made the later bind fail with "Address
    already in use"."""
    low = _ephemeral_low()
    lowest = 20000 if low > 20100 else 1024  # clear of the well-known ports where it can be
    for _ in range(200):
        port = random.randrange(lowest, max(low, lowest + 1))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()
