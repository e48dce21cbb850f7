"""Keep multi-megabyte buffers on the heap instead of fresh mmaps (glibc only).

Every request the sidecar handles is a few MB that is received, parsed, copied into the
queue, read back and sent on. glibc serves blocks above its mmap threshold (dynamic,
starting at 128 KB) with a fresh `mmap` and returns them with `munmap` on free, so each
such buffer is page-faulted in again, 4 KB at a time: measured here, a 6.4 MB copy costs
3.5 ms with its 1,560 page faults and 0.3 ms without, and a request goes through about
six such buffers, most of them while holding the GIL. Raising the mmap threshold to
glibc's maximum (32 MB, above `max_request_bytes`' default) and the trim threshold keeps
freed buffers in the heap for the next request. Memory stays bounded by what is in
flight at the peak (receivers cap concurrent requests); it is simply not handed back
and re-faulted between requests.

The arenas are capped too (`M_ARENA_MAX`). glibc gives each thread that allocates while
another holds the lock an arena of its own (up to 8 per core), and memory freed in one
arena serves only that arena's threads: a buffer received on one gRPC thread, freed, and
the next one received on another thread does not reuse it. With every handler, sender and
committer thread in its own arena, four 15.5 MB requests at once raised peak RSS by
about 380 MB; with four arenas by about 225 MB, at the same CPU per request in the
throughput benchmark (two arenas: about 205 MB, but 20-30 % more CPU per request, the
threads then contending for the malloc locks).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
import threading

log = logging.getLogger("spanguard.sidecar")

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
ARENA_MAX = 4
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's upper bound (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024

_lock = threading.Lock()
_done = False


def keep_large_buffers_on_heap() -> bool:
    """Tune glibc malloc once per process; True when applied (False elsewhere: musl, macOS)."""
    global _done
    with _lock:
        if _done:
            return True
        if not sys.platform.startswith("linux"):
            return False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        mallopt.restype = ctypes.c_int
        ok = (
            bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
            and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
            and bool(mallopt(_M_ARENA_MAX, ARENA_MAX))
        )
        if not ok:
            log.debug("mallopt refused the thresholds; large buffers stay on mmap")
        _done = ok
        return ok
