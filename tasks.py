#!/usr/bin/env python3
"""The README's two commands, runnable on a fresh machine that has only Python.

    python3 tasks.py demo    # the local stack with a scripted conversation
    python3 tasks.py test    # lint, type-check and the whole test suite

Both bootstrap what they need: uv (pinned, in .tools/), spanguard's locked environment
(`uv sync --frozen --all-extras`), and for the tests the Phoenix server's own locked environment, the
system Chromium, and three builds the interop tests run: spanguard's own OpenTelemetry
Collector (deploy/otelcol/collector, Go) and the Go and Java OTLP clients
(tests/interop/). Each build lands in .tools/ under a hash of its sources and lock
(go.sum, pom.xml) and of the toolchain, so a second run reuses it and builds nothing.

    python3 tasks.py builds  # just those three builds (cached), printing their paths

Only the standard library is used here, because nothing else is installed yet when this
runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
UV_VERSION = "0.13.8"
TOOLS = ROOT / ".tools"
PHOENIX_PROJECT = ROOT / "deploy" / "phoenix"
NODE_CLIENTS = ROOT / "tests" / "interop" / "node"
SOURCE_FOLDERS = ("spanguard", "processors", "exporters", "pipeline", "sidecar")
# Builds the tests run: name -> (source folder, the suffixes that make up its sources).
GO_BUILDS = {
    "otelcol-spanguard": (ROOT / "deploy" / "otelcol" / "collector", (".go", "go.mod", "go.sum")),
    "spanguard-interop-go": (ROOT / "tests" / "interop" / "go", (".go", "go.mod", "go.sum")),
}
JAVA_BUILD = ("spanguard-interop-java", ROOT / "tests" / "interop" / "java", (".java", "pom.xml"))
# pytest's exit code when it collected nothing: that is a failure here, not a pass.
PYTEST_NO_TESTS = 5


def _say(message: str) -> None:
    print(f"[tasks] {message}", flush=True)


def _run(cmd: list[str], env: dict[str, str] | None = None) -> int:
    _say("$ " + " ".join(cmd))
    return subprocess.call(cmd, cwd=ROOT, env=env)


def ensure_uv() -> str:
    """uv from PATH if it is the pinned version, else a private copy in .tools/."""
    found = shutil.which("uv")
    if found:
        out = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
        if UV_VERSION in out:
            return found
    uv_venv = TOOLS / "uv"
    uv_bin = uv_venv / "bin" / "uv"
    if not uv_bin.exists():
        _say(f"installing uv {UV_VERSION} into {uv_venv}")
        venv.EnvBuilder(with_pip=True, clear=True).create(uv_venv)
        subprocess.check_call(
            [str(uv_venv / "bin" / "python"), "-m", "pip", "install", "-q", f"uv=={UV_VERSION}"]
        )
    return str(uv_bin)


def sync(uv: str) -> None:
    subprocess.check_call([uv, "sync", "--frozen", "--all-extras"], cwd=ROOT)


def sync_phoenix(uv: str, *quiet: str) -> None:
    subprocess.check_call([uv, "sync", "--frozen", *quiet, "--project", str(PHOENIX_PROJECT)], cwd=ROOT)


def sync_demo(uv: str) -> None:
    """What the demo runs, quietly: the pipeline extra, no dev tools (`--inexact` keeps a
    developer's)."""
    _say("preparing the demo's environments (uv sync --frozen --extra pipeline --no-dev; errors still show)")
    subprocess.check_call(
        [uv, "sync", "--frozen", "--extra", "pipeline", "--no-dev", "--inexact", "--quiet"], cwd=ROOT
    )
    sync_phoenix(uv, "--quiet")


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium; install it where we may."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        _say("installing chromium and chromium-driver from Debian")
        subprocess.check_call(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.check_call(
            ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
            stdout=subprocess.DEVNULL,
            env=env,
        )
        return
    _say("chromium/chromedriver are missing and cannot be installed here (need root + apt)")


def _source_hash(folder: Path, suffixes: tuple[str, ...], toolchain: str) -> str:
    """A hash of every source file under `folder` (its lock included) and the toolchain:
    the cache key of a build, so an edit or a new compiler rebuilds and nothing else does."""
    digest = hashlib.sha256(toolchain.encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name.endswith(suffixes) and "target" not in path.parts:
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _toolchain(cmd: list[str]) -> str:
    found = shutil.which(cmd[0])
    if not found:
        raise SystemExit(f"[tasks] {cmd[0]} is not installed: the interop tests need it")
    done = subprocess.run([found, *cmd[1:]], capture_output=True, text=True, check=True)
    return (done.stdout + done.stderr).strip()


def _cached(name: str, key: str, suffix: str = "") -> tuple[Path, bool]:
    """(.tools/NAME-KEY, whether it is there); older builds of NAME are removed."""
    TOOLS.mkdir(exist_ok=True)
    target = TOOLS / f"{name}-{key}{suffix}"
    for old in TOOLS.glob(f"{name}-*"):
        if old != target and old.is_file():
            old.unlink()
    return target, target.exists()


def _timed_build(name: str, cmd: list[str], cwd: Path, built: Path, target: Path) -> None:
    import time

    _say(f"building {name} (cached afterwards as {target.name}): $ {' '.join(cmd)}")
    started = time.monotonic()
    subprocess.check_call(cmd, cwd=cwd)
    os.replace(built, target)
    _say(f"built {name} in {time.monotonic() - started:.0f} s")


def ensure_go_build(name: str) -> Path:
    """The Go program `name` of GO_BUILDS, built once per source hash into .tools/."""
    folder, suffixes = GO_BUILDS[name]
    target, cached = _cached(name, _source_hash(folder, suffixes, _toolchain(["go", "version"])))
    if not cached:
        partial = target.with_name(target.name + ".partial")
        _timed_build(name, ["go", "build", "-trimpath", "-o", str(partial), "."], folder, partial, target)
    return target


def ensure_java_build() -> Path:
    """The Java interop client's shaded jar, built once per source hash into .tools/."""
    name, folder, suffixes = JAVA_BUILD
    toolchain = _toolchain(["java", "-version"]) + _toolchain(["mvn", "-v"])
    target, cached = _cached(name, _source_hash(folder, suffixes, toolchain), ".jar")
    if not cached:
        built = folder / "target" / f"{name}.jar"
        _timed_build(name, ["mvn", "-B", "-q", "-Dstyle.color=never", "package"], folder, built, target)
    return target


def ensure_builds() -> dict[str, Path]:
    return {**{name: ensure_go_build(name) for name in GO_BUILDS}, JAVA_BUILD[0]: ensure_java_build()}


def builds(extra: list[str]) -> int:
    for name, path in ensure_builds().items():
        print(f"{name}\t{path}")
    return 0


def ensure_node_clients() -> None:
    """The Node.js OpenTelemetry exporters the interop tests drive, from the committed lock
    (`npm ci`); skipped when node_modules was installed from this very lock."""
    import hashlib

    lock = NODE_CLIENTS / "package-lock.json"
    stamp = NODE_CLIENTS / "node_modules" / ".spanguard-lock-sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    npm = shutil.which("npm")
    if npm is None:
        _say("npm is missing: the Node.js interop tests will fail (install Node.js 18+)")
        return
    _say(f"installing the Node.js OTLP exporters in {NODE_CLIENTS} (npm ci)")
    subprocess.check_call([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_CLIENTS)
    stamp.write_text(digest + "\n")


def _typecheck_tree() -> Path:
    """mypy cannot follow setuptools' editable finder, so give it a `spanguard` tree of
    symlinks shaped like the installed package (folders mapped as pyproject says)."""
    tree = ROOT / "build" / "typecheck"
    shutil.rmtree(tree, ignore_errors=True)
    package = tree / "spanguard"
    package.mkdir(parents=True)
    for entry in (ROOT / "spanguard").iterdir():
        if entry.suffix in {".py", ".typed"} or (entry / "__init__.py").exists():
            (package / entry.name).symlink_to(entry)
    for folder in SOURCE_FOLDERS[1:]:
        (package / folder).symlink_to(ROOT / folder)
    return tree


def lint(venv_bin: Path) -> int:
    checked = [*SOURCE_FOLDERS, "tests", "benchmarks", "tasks.py"]
    code = _run([str(venv_bin / "ruff"), "check", *checked])
    code |= _run([str(venv_bin / "ruff"), "format", "--check", *checked])
    tree = _typecheck_tree()
    mypy = [str(venv_bin / "mypy"), "--config-file", str(ROOT / "pyproject.toml"), "-p", "spanguard"]
    _say("$ " + " ".join(mypy))
    code |= subprocess.call(mypy, cwd=tree)
    return code


def test(extra: list[str]) -> int:
    uv = ensure_uv()
    sync(uv)
    sync_phoenix(uv)
    ensure_chromium()
    ensure_builds()
    ensure_node_clients()
    venv_bin = ROOT / ".venv" / "bin"
    if lint(venv_bin):
        _say("lint or type check failed")
        return 1
    # Tests that build the wheel or call the Phoenix environment need uv on PATH.
    env = {**os.environ, "PATH": f"{Path(uv).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    code = _run([str(venv_bin / "python"), "-m", "pytest", *extra], env=env)
    if code == PYTEST_NO_TESTS:
        _say("pytest collected no tests: treating as a failure")
        return 1
    return code


def demo(extra: list[str]) -> int:
    uv = ensure_uv()
    sync_demo(uv)
    # Replace this process rather than wait on a child: a SIGTERM sent to `tasks.py demo`
    # must reach the stack supervisor itself, or the services would be orphaned.
    cmd = [str(ROOT / ".venv" / "bin" / "spanguard"), "stack", "up", "--demo", *extra]
    _say("$ " + " ".join(cmd))
    os.chdir(ROOT)
    os.execv(cmd[0], cmd)


def main(argv: list[str]) -> int:
    tasks = {"test": test, "demo": demo, "builds": builds}
    if not argv or argv[0] not in tasks:
        print(__doc__)
        return 2
    return tasks[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
