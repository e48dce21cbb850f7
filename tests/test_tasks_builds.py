"""tasks.py's build cache: a build is keyed by its sources, its lock and the toolchain,
so an unchanged second run reuses it and any of those changing rebuilds it."""

from __future__ import annotations

from pathlib import Path

from support_otelcol import otelcol_binary, tasks_module

SUFFIXES = (".go", "go.mod", "go.sum")


def _module(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "main.go").write_text("package main\n")
    (root / "sub" / "x.go").write_text("package sub\n")
    (root / "go.mod").write_text("module example\n")
    (root / "go.sum").write_text("example v1.0.0 h1:abc=\n")
    return root


def test_the_key_follows_sources_lock_and_toolchain_only(tmp_path: Path) -> None:
    source_hash = tasks_module()._source_hash
    folder = _module(tmp_path / "m")
    key = source_hash(folder, SUFFIXES, "go1.26.8")
    assert source_hash(folder, SUFFIXES, "go1.26.8") == key
    (folder / "README.md").write_text("docs do not rebuild")
    (folder / "target").mkdir()
    (folder / "target" / "built.go").write_text("build output does not either")
    assert source_hash(folder, SUFFIXES, "go1.26.8") == key
    assert source_hash(folder, SUFFIXES, "go1.27.3") != key
    (folder / "go.sum").write_text("example v1.0.1 h1:def=\n")
    assert source_hash(folder, SUFFIXES, "go1.26.8") != key
    (folder / "go.sum").write_text("example v1.0.0 h1:abc=\n")
    (folder / "sub" / "x.go").write_text("package sub // changed\n")
    assert source_hash(folder, SUFFIXES, "go1.26.8") != key


def test_a_second_run_reuses_the_binary(tmp_path: Path) -> None:
    built = otelcol_binary()
    before = built.stat().st_mtime_ns
    again = Path(tasks_module().ensure_go_build("otelcol-spanguard"))
    assert again == built and again.stat().st_mtime_ns == before
    assert sorted(p.name for p in built.parent.glob("otelcol-spanguard-*")) == [built.name]
