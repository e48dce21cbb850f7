"""The one place LiteLLM is imported, so the offline settings always come first.

LiteLLM fetches its model cost map from the internet at import time unless
`LITELLM_LOCAL_MODEL_COST_MAP` is set, so the variable is set before the first import in
every code path (CLI, service, tests). Importing also registers spanguard's offline model
with LiteLLM's custom-provider hook, so `spanguard-local/...` works everywhere.
"""

from __future__ import annotations

import os
from types import ModuleType


def import_litellm() -> ModuleType:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    from spanguard.pipeline.offline_model import register_offline_model

    register_offline_model(litellm)
    return litellm
