"""OpenInference's hide flags (`TraceConfig`, `OPENINFERENCE_HIDE_*`) as key rules.

OpenInference instrumentations hide content when they record it, in the process and the
language they run in. spanguard applies the same flags to spans that arrive from
anywhere, by key: each preset is a set of globs whose values are removed (where
OpenInference drops the attribute) or replaced by `[REDACTED:hidden]` (where it writes
`__REDACTED__`). The same content also appears as JSON inside `input.value` /
`output.value` (the request and response bodies), so each preset also names those JSON
members (key rules reach inside JSON, see `json_values.py`); there the strings are
replaced and the JSON stays valid.

Names and meaning follow OpenInference's TraceConfig; the environment variable of a
preset is `OPENINFERENCE_HIDE_<NAME>` (`llm_prompts` also answers to
`OPENINFERENCE_HIDE_PROMPTS`, `embedding_vectors` to `..._EMBEDDINGS_VECTORS`); the
variables are read when the config loads (`RedactionConfig.hidden`).
"""

from __future__ import annotations

from collections.abc import Iterable

from spanguard.config.model import HIDE_ENV_VARS, HIDE_PRESETS

_IN = "llm.input_messages.*"
_OUT = "llm.output_messages.*"
_IN_TEXT = (
    "llm.input_messages.*.message.content",
    "llm.input_messages.*.message.contents.*.message_content.text",
    "input.value.messages.*.content",
)
_OUT_TEXT = (
    "llm.output_messages.*.message.content",
    "llm.output_messages.*.message.contents.*.message_content.text",
    "output.value.choices.*.message.content",
)
_EMBEDDING_TEXT = ("embedding.embeddings.*.embedding.text",)

# preset -> (globs removed, globs replaced by [REDACTED:hidden])
PRESETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "inputs": (
        ("input.mime_type", _IN, "llm.tools.*"),
        ("input.value", "llm.prompts", "llm.prompts.*", *_EMBEDDING_TEXT),
    ),
    "outputs": (("output.mime_type", _OUT), ("output.value", "llm.choices", "llm.choices.*")),
    "input_messages": ((_IN,), ("input.value.messages", *_EMBEDDING_TEXT)),
    "output_messages": ((_OUT,), ("output.value.choices.*.message",)),
    "input_text": ((), (*_IN_TEXT, *_EMBEDDING_TEXT)),
    "output_text": ((), _OUT_TEXT),
    "input_images": (
        ("llm.input_messages.*.message.contents.*.message_content.image*",),
        ("input.value.messages.*.content.*.image_url",),
    ),
    "output_images": (("llm.output_messages.*.message.contents.*.message_content.image*",), ()),
    "embedding_vectors": (("embedding.embeddings.*.embedding.vector",), ()),
    "embeddings_text": ((), _EMBEDDING_TEXT),
    "llm_invocation_parameters": (("llm.invocation_parameters",), ()),
    "llm_tools": (("llm.tools.*",), ("input.value.tools",)),
    "llm_prompts": ((), ("llm.prompts", "llm.prompts.*", "input.value.prompt")),
    "choices": ((), ("llm.choices", "llm.choices.*")),
}


def hide_globs(presets: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(globs to drop, globs to hide) for these presets."""
    drop: list[str] = []
    hide: list[str] = []
    for preset in presets:
        dropped, hidden = PRESETS[preset]
        drop.extend(dropped)
        hide.extend(hidden)
    return tuple(dict.fromkeys(drop)), tuple(dict.fromkeys(hide))


assert set(PRESETS) == set(HIDE_PRESETS) and set(HIDE_ENV_VARS.values()) <= set(PRESETS)
