"""spanguard's one YAML file: its shape (`model`) and how it is found and read (`loader`).

Importing `spanguard.config` gives the loader's entry points; the section models live
in `spanguard.config.model`.
"""

from __future__ import annotations

from spanguard.config.loader import CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE, load_config, loads_config
from spanguard.config.model import SpanguardConfig

__all__ = ["CONFIG_ENV_VAR", "DEFAULT_CONFIG_FILE", "SpanguardConfig", "load_config", "loads_config"]
