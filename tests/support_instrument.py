"""Run a tiny app under `opentelemetry-instrument`, the zero-code way, for the tests of
spanguard as an entry-point exporter and as the OTel distro.

Not a fixture module: `from support_instrument import run_instrumented, assert_no_secrets`.
Each caller builds its own environment (which OTEL_* variables it keeps is what it tests).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from support_spans import SECRET_CARD, SECRET_EMAIL

INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"


def run_instrumented(tmp_path: Path, app: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Write `app` to tmp_path/app.py and run it under `opentelemetry-instrument` with
    exactly `env`; the app must exit 0 and print `app done`."""
    (tmp_path / "app.py").write_text(app)
    result = subprocess.run(
        [str(INSTRUMENT), sys.executable, "app.py"],
        cwd=tmp_path,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "app done" in result.stdout
    return result


def assert_no_secrets(*outputs: str) -> None:
    """None of the planted secrets (support_spans) appears in any of `outputs`."""
    for output in outputs:
        assert SECRET_EMAIL not in output
        assert SECRET_CARD not in output
