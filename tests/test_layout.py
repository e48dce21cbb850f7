"""The installed layout: only `spanguard` is importable at the top of site-packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("generic", ["processors", "exporters", "pipeline", "sidecar"])
def test_generic_folder_names_are_not_importable(generic: str, tmp_path: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", f"import {generic}"], cwd=tmp_path, capture_output=True, text=True
    )
    assert probe.returncode != 0
    assert f"No module named '{generic}'" in probe.stderr


@pytest.mark.parametrize("generic", ["processors", "exporters", "pipeline", "sidecar"])
def test_folders_are_installed_under_spanguard(generic: str, tmp_path: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", f"import spanguard.{generic} as m; print(m.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).parent.name == generic
