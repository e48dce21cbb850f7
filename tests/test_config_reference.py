"""docs/config.md is the YAML reference: it must name every key the model accepts, and
the example config must load."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from spanguard.config.loader import _model_of, load_config
from spanguard.config.model import SpanguardConfig

ROOT = Path(__file__).resolve().parent.parent


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        path = f"{prefix}{name}"
        section = _model_of(annotation)
        if get_origin(annotation) is list and _model_of(get_args(annotation)[0]) is not None:
            item = _model_of(get_args(annotation)[0])
            assert item is not None
            keys.append(path)
            keys.extend(config_keys(item, f"{path}[]."))
        elif section is not None:
            keys.extend(config_keys(section, f"{path}."))
        else:
            keys.append(path)
    return keys


def test_reference_names_every_key() -> None:
    reference = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    keys = config_keys(SpanguardConfig)
    assert "redaction.custom_patterns[].pattern" in keys and "sidecar.tls.key_file" in keys
    missing = [key for key in keys if f"`{key}`" not in reference]
    assert missing == []


def test_example_config_loads_and_differs_from_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANGUARD_SIDECAR_TOKEN", raising=False)
    config = load_config(ROOT / "examples" / "spanguard.yaml")
    assert [p.name for p in config.redaction.custom_patterns] == ["ticket", "employee_id"]
    assert config.exporters.phoenix is not None and config.exporters.file is not None
    assert config.sidecar.auth.bearer_token is None  # `${SPANGUARD_SIDECAR_TOKEN:-}` unset = no auth
