"""`redaction.hide` presets (OpenInference TraceConfig names) and their OPENINFERENCE_HIDE_*
twins, through every front door, on every place the same content appears."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support_front_doors import FRONT_DOORS, without_summary

from spanguard.config.model import HIDE_ENV_VARS, HIDE_PRESETS

HIDDEN = "[REDACTED:hidden]"
GONE = object()

REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hello there"}],
    "tools": [{"name": "search"}],
    "prompt": "complete this",
}
RESPONSE = {"choices": [{"message": {"role": "assistant", "content": "hi back"}}], "id": "c1"}
IMAGE = "llm.input_messages.1.message.contents.1.message_content.image.image.url"
OUT_IMAGE = "llm.output_messages.0.message.contents.0.message_content.image.image.url"

SPAN: dict[str, Any] = {
    "input.value": json.dumps(REQUEST),
    "input.mime_type": "application/json",
    "output.value": json.dumps(RESPONSE),
    "output.mime_type": "application/json",
    "llm.input_messages.0.message.role": "user",
    "llm.input_messages.0.message.content": "hello there",
    "llm.input_messages.1.message.contents.0.message_content.text": "look at this",
    IMAGE: "data:image/png;base64,iVBORw0KGgo",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "hi back",
    OUT_IMAGE: "http://images.example/cat.png",
    "embedding.embeddings.0.embedding.text": "embed me",
    "embedding.embeddings.0.embedding.vector": [0.25, 0.5],
    "llm.invocation_parameters": '{"temperature": 0.2}',
    "llm.tools.0.tool.json_schema": '{"name": "search"}',
    "llm.prompts": ["complete this"],
    "llm.choices": ["a completion"],
    "llm.model_name": "gpt-4o-mini",
}
IN_MESSAGES = [k for k in SPAN if k.startswith("llm.input_messages.")]
OUT_MESSAGES = [k for k in SPAN if k.startswith("llm.output_messages.")]


def _request(**changes: Any) -> dict[str, Any]:
    return {**REQUEST, **changes}


def _response_message(message: dict[str, Any]) -> dict[str, Any]:
    return {**RESPONSE, "choices": [{"message": message}]}


# preset -> expected changes (GONE: removed; a JSON attribute: its parsed value)
EXPECTED: dict[str, dict[str, Any]] = {
    "inputs": {
        "input.value": HIDDEN,
        "input.mime_type": GONE,
        **dict.fromkeys(IN_MESSAGES, GONE),
        "llm.tools.0.tool.json_schema": GONE,
        "llm.prompts": [HIDDEN],
        "embedding.embeddings.0.embedding.text": HIDDEN,
    },
    "outputs": {
        "output.value": HIDDEN,
        "output.mime_type": GONE,
        **dict.fromkeys(OUT_MESSAGES, GONE),
        "llm.choices": [HIDDEN],
    },
    "input_messages": {
        **dict.fromkeys(IN_MESSAGES, GONE),
        "input.value": _request(messages=[{"role": HIDDEN, "content": HIDDEN}]),
        "embedding.embeddings.0.embedding.text": HIDDEN,
    },
    "output_messages": {
        **dict.fromkeys(OUT_MESSAGES, GONE),
        "output.value": _response_message({"role": HIDDEN, "content": HIDDEN}),
    },
    "input_text": {
        "llm.input_messages.0.message.content": HIDDEN,
        "llm.input_messages.1.message.contents.0.message_content.text": HIDDEN,
        "input.value": _request(messages=[{"role": "user", "content": HIDDEN}]),
        "embedding.embeddings.0.embedding.text": HIDDEN,
    },
    "output_text": {
        "llm.output_messages.0.message.content": HIDDEN,
        "output.value": _response_message({"role": "assistant", "content": HIDDEN}),
    },
    "input_images": {IMAGE: GONE},
    "output_images": {OUT_IMAGE: GONE},
    "embedding_vectors": {"embedding.embeddings.0.embedding.vector": GONE},
    "embeddings_text": {"embedding.embeddings.0.embedding.text": HIDDEN},
    "llm_invocation_parameters": {"llm.invocation_parameters": GONE},
    "llm_tools": {"llm.tools.0.tool.json_schema": GONE, "input.value": _request(tools=[{"name": HIDDEN}])},
    "llm_prompts": {"llm.prompts": [HIDDEN], "input.value": _request(prompt=HIDDEN)},
    "choices": {"llm.choices": [HIDDEN]},
}


def _check(out: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, original in SPAN.items():
        want = expected.get(key, original)
        if want is GONE:
            assert key not in out, key
        elif key in ("input.value", "output.value") and isinstance(want, dict):
            assert json.loads(out[key]) == want, key  # valid JSON, siblings untouched
        else:
            assert out[key] == want, key


def _run(door: str, hide: list[str]) -> dict[str, Any]:
    # no detector, nothing dropped by truncation: only the presets act
    config = {"redaction": {"detectors": "none", "hide": hide}, "truncation": {"drop_keys": []}}
    return without_summary(FRONT_DOORS[door](config, dict(SPAN)))


def test_every_preset_has_expectations() -> None:
    assert set(EXPECTED) == set(HIDE_PRESETS)


@pytest.mark.parametrize("door", sorted(FRONT_DOORS))
@pytest.mark.parametrize("preset", HIDE_PRESETS)
def test_hide_preset(preset: str, door: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for env in HIDE_ENV_VARS:
        monkeypatch.delenv(env, raising=False)
    _check(_run(door, [preset]), EXPECTED[preset])


@pytest.mark.parametrize("door", sorted(FRONT_DOORS))
@pytest.mark.parametrize("preset", HIDE_PRESETS)
def test_openinference_env_twin(preset: str, door: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for env in HIDE_ENV_VARS:
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv(f"OPENINFERENCE_HIDE_{preset.upper()}", "True")
    _check(_run(door, []), EXPECTED[preset])


def test_env_values_other_than_true_leave_presets_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENINFERENCE_HIDE_INPUTS", "1")  # OpenInference accepts only true/false
    monkeypatch.setenv("OPENINFERENCE_HIDE_PROMPTS", "true")  # the TraceConfig field's own name
    out = _run("otlp", [])
    _check(out, EXPECTED["llm_prompts"])


def test_hide_wins_over_allow_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in HIDE_ENV_VARS:
        monkeypatch.delenv(env, raising=False)
    config = {"redaction": {"hide": ["outputs"], "allow_keys": ["output.*"]}}
    out = without_summary(FRONT_DOORS["sdk"](config, {"output.value": "secret answer"}))
    assert out == {"output.value": HIDDEN}
