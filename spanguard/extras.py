"""Optional parts of the install, and the one message that says which extra is missing.

`pip install spanguard` carries what the processors, exporters, config, sidecar and CLI
need. The reference pipeline (LiteLLM, Chroma, FastAPI, uvicorn, matplotlib, the
OpenInference instrumentors) is `spanguard[pipeline]`; `phoenix.otel` is
`spanguard[phoenix]`. A command that needs an extra checks for it before it starts, so
the user reads which extra to install instead of a traceback.
"""

from __future__ import annotations

import importlib.util

# extra -> the top-level modules it provides (what a command checks with find_spec)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "pipeline": ("litellm", "chromadb", "fastapi", "uvicorn", "matplotlib", "openinference"),
    "phoenix": ("phoenix",),
}


def missing_modules(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here."""
    return [name for name in EXTRA_MODULES[extra] if importlib.util.find_spec(name) is None]


def extra_of(module_name: str | None) -> str | None:
    """The extra whose install provides `module_name` (a dotted name is fine), if any."""
    top = (module_name or "").split(".", 1)[0]
    return next((extra for extra, modules in EXTRA_MODULES.items() if top in modules), None)


def install_hint(what: str, extra: str, missing: list[str] | str) -> str:
    names = ", ".join(missing) if isinstance(missing, list) else missing
    return f"{what} needs the '{extra}' extra (missing: {names}): pip install 'spanguard[{extra}]'"
