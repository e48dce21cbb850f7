"""`pip install spanguard` (no extras) into a fresh virtual environment: what it pulls,
and a processor working there.

The wheel is built from this checkout (`uv build`) and installed with the lock's pins
for the core dependencies (`uv export --no-dev`, no extras), from uv's cache when it
holds them (`tasks.py` syncs the same lock first) and else through the registry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOT_IN_CORE = (
    "litellm",
    "chromadb",
    "matplotlib",
    "fastapi",
    "uvicorn",
    "numpy",
    "onnxruntime",
    "mcp",
    "kubernetes",
    "openinference-instrumentation-litellm",
    "arize-phoenix-otel",
)
SCRIPT = r"""
import json, sys
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import spanguard

provider = TracerProvider(resource=Resource.create({"owner": "jane.doe@example.com"}))
mine, chained = InMemorySpanExporter(), InMemorySpanExporter()
provider.add_span_processor(SimpleSpanProcessor(mine))
handle = spanguard.guard(provider)
provider.add_span_processor(spanguard.build_span_processor({}, exporters=[chained]))
with provider.get_tracer("lean").start_as_current_span("s") as span:
    span.set_attribute("input.value", "card 4111 1111 1111 1111, mail jane.doe@example.com")
provider.shutdown()
spans = list(mine.get_finished_spans()) + list(chained.get_finished_spans())
print(json.dumps({
    "spans": len(spans),
    "values": [span.attributes["input.value"] for span in spans],
    "owners": [span.resource.attributes["owner"] for span in spans],
    "heavy": [m for m in ("litellm", "chromadb", "numpy", "fastapi", "spanguard.pipeline")
              if m in sys.modules],
    "stats": {"spans": handle.stats.spans, "redacted": handle.stats.redacted},
}))
"""


def _uv() -> str:
    local = ROOT / ".tools" / "uv" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        pytest.fail("uv is needed (python3 tasks.py test installs it into .tools/)")
    return found


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]


def _site_size(venv: Path) -> int:
    (site,) = venv.glob("lib/python*/site-packages")
    return sum(path.stat().st_size for path in site.rglob("*") if path.is_file() and not path.is_symlink())


def test_core_install_is_lean_and_guards(tmp_path: Path) -> None:
    uv = _uv()
    built = _run([uv, "build", "--quiet", "--out-dir", str(tmp_path / "dist"), str(ROOT)])
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("spanguard-*.whl")
    exported = _run(
        [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--no-header", "--quiet"],
        cwd=ROOT,
    )
    assert exported.returncode == 0, exported.stderr
    requirements = tmp_path / "core-requirements.txt"
    requirements.write_text(exported.stdout)
    venv = tmp_path / "venv"
    created = _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    assert created.returncode == 0, created.stderr
    install = [
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        str(venv / "bin" / "python"),
        "-r",
        str(requirements),
        str(wheel),
    ]
    installed = _run([*install, "--offline"])
    if installed.returncode != 0:  # uv's cache lacks a pin: fetch it through the registry
        installed = _run(install)
    assert installed.returncode == 0, installed.stderr

    listed = _run([uv, "pip", "list", "--python", str(venv / "bin" / "python"), "--format", "json"])
    names = {item["name"].lower() for item in json.loads(listed.stdout)}
    assert "spanguard" in names
    assert not names & set(NOT_IN_CORE), names & set(NOT_IN_CORE)
    size_mb = _site_size(venv) / 1e6
    print(f"\nlean install: {len(names)} packages (spanguard included), {size_mb:.1f} MB in site-packages")

    ran = _run([str(venv / "bin" / "python"), "-c", SCRIPT], cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert result["spans"] == 2 and result["heavy"] == []
    for value in result["values"]:
        assert "4111" not in value and "jane.doe@example.com" not in value and "[REDACTED:email]" in value
    assert result["owners"] == ["[REDACTED:email]", "[REDACTED:email]"]
    assert result["stats"]["spans"] == 1 and result["stats"]["redacted"] >= 1

    asked = _run([str(venv / "bin" / "spanguard"), "ask", "what is the leave policy?"], cwd=tmp_path)
    assert asked.returncode == 1
    assert "pip install 'spanguard[pipeline]'" in asked.stderr and "Traceback" not in asked.stderr
