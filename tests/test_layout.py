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


def test_wheel_holds_only_the_spanguard_package(tmp_path: Path) -> None:
    """What users install: the built wheel's top-level names are `spanguard` and its metadata."""
    import shutil
    import zipfile

    uv = shutil.which("uv")
    assert uv, "uv must be on PATH (tasks.py test puts it there)"
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path), str(root)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("spanguard-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {n for n in top_level if not n.endswith(".dist-info")} == {"spanguard"}
    for generic in ("processors", "exporters", "pipeline", "sidecar"):
        assert f"spanguard/{generic}/__init__.py" in names
