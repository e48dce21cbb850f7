"""Moved to `spanguard.config.model`; this alias keeps old imports working for one release."""

from __future__ import annotations

import warnings

from spanguard.config.model import *  # noqa: F403
from spanguard.config.model import DEFAULT_DETECTORS, DETECTOR_NAMES  # noqa: F401

warnings.warn("spanguard.config_model moved to spanguard.config.model", DeprecationWarning, stacklevel=2)
