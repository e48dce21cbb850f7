"""Nothing downloads at run time: `spanguard ingest` + `spanguard ask` on the defaults, in a
fresh process whose sockets refuse every non-loopback destination.

A fresh process matters: LiteLLM fetches its model cost map when first imported unless
`LITELLM_LOCAL_MODEL_COST_MAP` is set, and Chroma's implicit default embedding downloads
an ONNX model on first use. Both would show up here as a refused connection (and a
non-empty list of attempts) rather than as a slow test or a silent cache under $HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import ipaddress, json, socket, sys

attempts = []

def _guard(address):
    host = address[0] if isinstance(address, tuple) else None
    if host is None:
        return  # unix sockets
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass  # a host name: resolving it is already the attempt
    attempts.append(str(host))
    raise OSError("network disabled by test_pipeline_no_network")

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo

def connect(self, address):
    _guard(address)
    return _connect(self, address)

def connect_ex(self, address):
    _guard(address)
    return _connect_ex(self, address)

def getaddrinfo(host, *args, **kwargs):
    _guard((host if isinstance(host, str) else str(host), 0))
    return _getaddrinfo(host, *args, **kwargs)

socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = getaddrinfo

from spanguard.cli import main

config = sys.argv[1]
codes = [main(["ingest", "--handbook", "--config", config]),
         main(["ask", "How long must passwords be?", "--config", config])]
import litellm
print("RESULT " + json.dumps({"codes": codes, "attempts": attempts,
                              "cost_map_entries": len(litellm.model_cost)}))
"""


@pytest.mark.slow
def test_ingest_and_ask_never_touch_the_network(tmp_path: Path) -> None:
    config = tmp_path / "spanguard.yaml"
    config.write_text(f"exporters: {{}}\npipeline:\n  data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"LITELLM_LOCAL_MODEL_COST_MAP", "SPANGUARD_CONFIG"}
        and not key.startswith("SPANGUARD_")
    }
    env.update({"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")})
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    result_lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert result_lines, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(result_lines[-1].removeprefix("RESULT "))
    assert result["attempts"] == []
    assert result["codes"] == [0, 0], done.stderr[-2000:]
    assert "at least 14 characters" in done.stdout
    assert result["cost_map_entries"] > 100  # LiteLLM's bundled local copy was loaded
    assert not (home / ".cache" / "chroma").exists()  # no ONNX model fetched or cached
