"""spanguard.pipeline: the reference RAG + LiteLLM agent workload, traced through spanguard.

Importing any module of this package keeps LiteLLM offline: it would otherwise fetch
its model cost map from the internet when first imported (and retry for seconds when
there is no network), so the switch is set here, before any submodule imports litellm.
An explicit value set by the user wins.
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
