"""Shared fixtures live in tests/support_<area>.py; list them here so every test sees them."""

import os

# logfire (a dev dependency, for the benchmark) installs a pydantic plugin that costs
# ~0.5 s in every subprocess the tests start; spanguard does not use it.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

pytest_plugins: list[str] = [
    "support_phoenix",
    "support_sidecar",
    "support_stack",
    "support_pipeline",
    "support_browser",
    "support_otelcol",
]
