"""`spanguard redact` as a user runs it: a real subprocess over the real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EMAIL = "ada.lovelace@example.com"
API_KEY = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"


def spanguard(
    *args: str, stdin: bytes | str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    full_env = {k: v for k, v in os.environ.items() if k != "SPANGUARD_CONFIG"}
    # logfire (a dev dependency) hooks pydantic and costs ~0.6 s per start; users lack it
    full_env["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    full_env.update(env or {})
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    return subprocess.run(
        [sys.executable, "-m", "spanguard", "redact", *args],
        input=data,
        capture_output=True,
        timeout=60,
        cwd=cwd,
        env=full_env,
    )


def jsonl(*records: dict[str, object]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def test_plain_mode_writes_the_exported_value(tmp_path: Path) -> None:
    text = f"Write to {EMAIL} and use key {API_KEY} please.\nThanks"
    result = spanguard(stdin=text, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.decode() == "Write to [REDACTED:email] and use key [REDACTED:api_key] please.\nThanks"
    )
    assert EMAIL.encode() not in result.stdout + result.stderr


def test_plain_mode_applies_key_rules_and_truncation(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "redaction:\n"
        "  block_keys: ['user.*']\n"
        "  allow_keys: [http.url]\n"
        "  custom_patterns: [{name: ticket, pattern: 'TICKET-\\d+'}]\n"
        "truncation:\n"
        "  max_length: 40\n"
        "  drop_keys: [big.blob]\n"
    )
    blocked = spanguard("--config", str(config), "--key", "user.note", stdin="nothing sensitive")
    assert blocked.stdout.decode() == "[REDACTED:blocked]"
    allowed = spanguard("--config", str(config), "--key", "http.url", stdin=f"mailto:{EMAIL}")
    assert allowed.stdout.decode() == f"mailto:{EMAIL}"
    custom = spanguard("--config", str(config), stdin="see TICKET-4411")
    assert custom.stdout.decode() == "see [REDACTED:ticket]"
    long = spanguard("--config", str(config), stdin=f"{EMAIL} " + "x" * 100)
    out = long.stdout.decode()
    # redaction ran first: the e-mail is masked, then the value is cut to the limit; the
    # marker states the original length (125), not the length after masking (117)
    assert out.startswith("[REDACTED:email]") and out.endswith("[truncated 125 chars]")
    assert len(out) <= 40
    dropped = spanguard("--config", str(config), "--key", "big.blob", stdin="data")
    assert dropped.returncode == 0 and dropped.stdout == b""
    assert b"would be dropped" in dropped.stderr


def test_plain_mode_survives_invalid_utf8(tmp_path: Path) -> None:
    result = spanguard(stdin=b"\xff\xfe bytes then " + EMAIL.encode(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"\xff\xfe bytes then [REDACTED:email]"


def test_jsonl_keeps_order_and_nulls_dropped_values(tmp_path: Path) -> None:
    records = [
        {"key": "input.value", "value": f"contact {EMAIL}"},
        {"key": "embedding.embeddings.0.embedding.vector", "value": [0.25, 0.5]},
        {"key": "llm.token_count.total", "value": 1234},
        {"key": "flag", "value": True},
        {"key": "input.value", "value": json.dumps({"messages": [{"role": "user", "content": API_KEY}]})},
        {"key": "tags", "value": [EMAIL, "plain"]},
        {"key": "output.value", "value": "nothing to see"},
        {"key": "absent", "value": None},
    ]
    result = spanguard("--jsonl", stdin=jsonl(*records) + "\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [line["key"] for line in lines] == [record["key"] for record in records]
    values = [line["value"] for line in lines]
    assert values[0] == "contact [REDACTED:email]"
    assert values[1] is None  # embedding vectors are dropped by default
    assert values[2] == 1234 and values[3] is True
    assert json.loads(values[4]) == {"messages": [{"role": "user", "content": "[REDACTED:api_key]"}]}
    assert values[5] == ["[REDACTED:email]", "plain"]
    assert values[6] == "nothing to see"
    assert values[7] is None
    assert EMAIL.encode() not in result.stdout and API_KEY.encode() not in result.stdout


def test_jsonl_drop_rule_from_config(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("redaction:\n  drop_keys: ['http.request.header.*']\n")
    result = spanguard(
        "--jsonl",
        "--config",
        str(config),
        stdin=jsonl({"key": "http.request.header.cookie", "value": "a=b"}, {"key": "k", "value": "v"}),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        '{"key": "http.request.header.cookie", "value": null}',
        '{"key": "k", "value": "v"}',
    ]


def test_jsonl_bad_line_names_the_line_and_writes_nothing(tmp_path: Path) -> None:
    good = jsonl({"key": "a", "value": f"first {EMAIL}"})
    cases = {
        good + '{"key": "b", "value": "' + EMAIL + '"\n': "stdin line 2: not valid JSON",
        good
        + "\n"
        + json.dumps(["key", EMAIL])
        + "\n": 'stdin line 3: expected an object with exactly "key" and "value"',
        good
        + json.dumps({"key": 5, "value": EMAIL})
        + "\n": 'stdin line 2: "key" must be a non-empty string',
        good
        + json.dumps({"key": "k", "value": EMAIL, "extra": 1})
        + "\n": "stdin line 2: expected an object",
    }
    for stdin, expected in cases.items():
        result = spanguard("--jsonl", stdin=stdin.encode("utf-8", "surrogateescape"), cwd=tmp_path)
        assert result.returncode == 1, stdin
        assert result.stdout == b"", stdin  # nothing half-written
        err = result.stderr.decode()
        assert err.startswith(f"spanguard: error: {expected}"), err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert EMAIL not in err and "first" not in err


def test_jsonl_invalid_utf8_line(tmp_path: Path) -> None:
    result = spanguard(
        "--jsonl", stdin=b'{"key": "a", "value": "ok"}\n{"key": "b", "value": "\xff"}\n', cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.decode() == "spanguard: error: stdin line 2: not valid UTF-8\n"


def test_jsonl_lone_surrogate_escape_does_not_crash(tmp_path: Path) -> None:
    # JSON may spell a lone surrogate (`"\\udcff"`); it is not encodable UTF-8
    stdin = '{"key": "k", "value": "a\\udcff ' + EMAIL + '"}\n'
    result = spanguard("--jsonl", stdin=stdin, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"key": "k", "value": "a\udcff [REDACTED:email]"}


def test_bad_config_is_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("redaction:\n  detectors: [email, nope]\n")
    result = spanguard("--config", str(config), stdin=EMAIL)
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr.decode().startswith(f"spanguard: error: {config}:2: unknown detector")
    assert b"Traceback" not in result.stderr


def test_hash_mode_pseudonyms_correlate_without_revealing(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("redaction:\n  replacement: hash\n  hash: {key_env: SG_TEST_HASH_KEY, length: 16}\n")
    records = [
        {"key": "a", "value": f"from {EMAIL}"},
        {"key": "b", "value": f"to {EMAIL}"},
        {"key": "c", "value": "to grace@example.org"},
    ]
    env_key = {"SG_TEST_HASH_KEY": "correlation-key"}
    result = spanguard("--jsonl", "--config", str(config), stdin=jsonl(*records), env=env_key)
    assert result.returncode == 0, result.stderr
    values = [json.loads(line)["value"] for line in result.stdout.decode().splitlines()]
    token_a, token_b, token_c = (value.split(" ", 1)[1] for value in values)
    assert token_a == token_b != token_c
    assert token_a.startswith("[email:") and len(token_a) == len("[email:]") + 16
    assert b"lovelace" not in result.stdout and b"grace" not in result.stdout
