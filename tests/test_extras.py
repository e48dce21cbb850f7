"""A command whose extra is missing says which extra to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from spanguard.cli import main
from spanguard.extras import extra_of, install_hint, missing_modules


def test_extra_of_maps_modules_to_extras() -> None:
    assert extra_of("litellm.utils") == "pipeline"
    assert extra_of("phoenix.otel") == "phoenix"
    assert extra_of("yaml") is None


def test_pipeline_command_without_the_extra_names_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)  # find_spec answers None: not installed
    assert missing_modules("pipeline") == ["litellm"]
    assert main(["ask", "what is the leave policy?"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "spanguard: error: " + install_hint("`spanguard ask`", "pipeline", ["litellm"])
    assert "pip install 'spanguard[pipeline]'" in err


def test_core_commands_do_not_need_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)
    config = tmp_path / "spanguard.yaml"
    config.write_text("redaction:\n  detectors: [email]\n")
    assert main(["check", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "email" in out and "extra" not in err
