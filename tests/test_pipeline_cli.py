"""`spanguard ingest` and `spanguard ask`, run in-process through the real dispatcher."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "spanguard.yaml"
    path.write_text(f"exporters: {{}}\npipeline:\n  data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    return path


def test_ingest_then_ask_answers_from_the_users_files(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spanguard.cli import main

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pets.md").write_text(
        "# Pets\n\n## Office dogs\n\nDogs are welcome in the Lisbon office on "
        "Fridays if they are house-trained.\n",
        encoding="utf-8",
    )
    (docs / "ignored.pdf").write_bytes(b"%PDF")

    assert main(["ingest", str(docs), "--config", str(config_file)]) == 0
    assert "indexed 1 chunks from 1 files" in capsys.readouterr().out

    assert (
        main(
            [
                "ask",
                "Can I bring my dog to the office?",
                "--config",
                str(config_file),
                "--session",
                "session_cli",
            ]
        )
        == 0
    )
    answer = capsys.readouterr().out
    assert "Dogs are welcome in the Lisbon office on Fridays" in answer
    assert "pets.md § Pets > Office dogs" in answer

    assert main(["ingest", "--handbook", "--config", str(config_file)]) == 0
    assert main(["ask", "How long must passwords be?", "--config", str(config_file)]) == 0
    assert "14 characters" in capsys.readouterr().out


def test_cli_errors_are_one_line(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanguard.cli import main

    assert main(["ingest", str(tmp_path / "missing"), "--config", str(config_file)]) == 1
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["ingest", "--config", str(config_file)]) == 1
    assert "--handbook" in capsys.readouterr().err
    assert main(["ask", "   ", "--config", str(config_file)]) == 1
    assert capsys.readouterr().err.strip() == "spanguard: error: the question is empty"
    monkeypatch.setenv("SPANGUARD_TOP_K", "many")
    assert main(["ask", "hi", "--config", str(config_file)]) == 1
    assert "SPANGUARD_TOP_K" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["70000", "0", "http"])
def test_serve_refuses_a_port_out_of_range(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    from spanguard.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", port])
    assert exited.value.code == 2
    assert "--port: must be a port number from 1 to 65535" in capsys.readouterr().err


def test_serve_says_where_spans_go(tmp_path: Path) -> None:
    """The first line `serve` prints names the exporters (no credentials) and redaction."""
    import subprocess
    import sys

    from support_net import free_port

    config = tmp_path / "spanguard.yaml"
    config.write_text(
        "exporters:\n  otlp:\n    endpoint: http://user:secret@127.0.0.1:4318\n"
        f"  phoenix:\n    project: handbook-demo\npipeline:\n  data_dir: {tmp_path / 'data'}\n",
        encoding="utf-8",
    )
    argv = [sys.executable, "-m", "spanguard", "serve", "--config", str(config), "--port", str(free_port())]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # EOF if it dies; pytest-timeout bounds a hang
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert first.startswith(
        "spanguard serve: spans go to phoenix http://localhost:6006/v1/traces "
        "(project handbook-demo), otlp http://***@127.0.0.1:4318/v1/traces (config), "
    ), first
    assert "secret" not in first
    assert "redacted first; mode agent, model spanguard-local/extractive" in first
