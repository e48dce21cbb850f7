"""Logging for the sidecar process: one line per event on stderr, never attribute values.

Only the sidecar's own messages are emitted, and they are written to carry names,
counts and status codes; nothing here formats request content.
"""

from __future__ import annotations

import logging
import sys


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"))
    root = logging.getLogger("spanguard")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
