#!/usr/bin/env python3
"""The README's two commands, runnable on a fresh machine that has only Python.

    python3 tasks.py demo    # the local stack with a scripted conversation
    python3 tasks.py test    # lint, type-check and the whole test suite

Both bootstrap what they need: uv (pinned, in .tools/), spanguard's locked environment
(`uv sync --frozen`), and for the tests the Phoenix server's own locked environment and
the system Chromium. Only the standard library is used here, because nothing else is
installed yet when this runs.
"""

from __future__ import annotations

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
    subprocess.check_call([uv, "sync", "--frozen"], cwd=ROOT)


def sync_phoenix(uv: str) -> None:
    subprocess.check_call([uv, "sync", "--frozen", "--project", str(PHOENIX_PROJECT)], cwd=ROOT)


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
        if entry.suffix in {".py", ".typed"}:
            (package / entry.name).symlink_to(entry)
    for folder in SOURCE_FOLDERS[1:]:
        (package / folder).symlink_to(ROOT / folder)
    return tree


def lint(venv_bin: Path) -> int:
    code = _run([str(venv_bin / "ruff"), "check", *SOURCE_FOLDERS, "tests", "benchmarks", "tasks.py"])
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
    sync(uv)
    sync_phoenix(uv)
    # Replace this process rather than wait on a child: a SIGTERM sent to `tasks.py demo`
    # must reach the stack supervisor itself, or the services would be orphaned.
    cmd = [str(ROOT / ".venv" / "bin" / "spanguard"), "stack", "up", "--demo", *extra]
    _say("$ " + " ".join(cmd))
    os.chdir(ROOT)
    os.execv(cmd[0], cmd)


def main(argv: list[str]) -> int:
    tasks = {"test": test, "demo": demo}
    if not argv or argv[0] not in tasks:
        print(__doc__)
        return 2
    return tasks[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
