"""Embedders: anything that turns a batch of texts into vectors.

`Embedder` is a protocol, so any object with `name` and `embed(texts)` plugs in. The
default, `HashingEmbedder`, is a feature-hashing bag of words and bigrams: deterministic,
instant and offline. It exists because Chroma's own default embedding downloads a model
at run time, which fails offline and must never happen silently. `LiteLLMEmbedder` uses
any LiteLLM embedding model by name (`text-embedding-3-small`, `ollama/nomic-embed-text`),
and its calls are traced by the LiteLLM instrumentor like completions.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from spanguard.errors import SpanguardError
from spanguard.pipeline.text_terms import content_terms

HASHING_EMBEDDER_NAME = "hashing"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of one fixed dimension."""

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class HashingEmbedder:
    """Signed feature hashing of stemmed terms and term bigrams, L2-normalised.

    Not semantic, but lexical overlap is what an extractive offline stand-in needs, and
    its output never changes between runs or machines (blake2b, not Python's salted hash).
    """

    def __init__(self, dimensions: int = 512) -> None:
        if dimensions < 16:
            raise ValueError("dimensions must be at least 16")
        self.dimensions = dimensions

    @property
    def name(self) -> str:
        if self.dimensions == 512:
            return HASHING_EMBEDDER_NAME
        return f"{HASHING_EMBEDDER_NAME}-{self.dimensions}"

    def _embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        terms = content_terms(text)
        features = terms + [f"{a} {b}" for a, b in itertools.pairwise(terms)]
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dimensions
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[bucket] += sign * (0.5 if " " in feature else 1.0)
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:
            # an all-zero vector breaks cosine distance; a tiny constant keeps it defined
            return [1.0 / math.sqrt(self.dimensions)] * self.dimensions
        return [v / norm for v in vector]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._embed_one(text) for text in texts]


class LiteLLMEmbedder:
    """Any LiteLLM embedding model; provider keys come from LiteLLM's usual env vars."""

    def __init__(self, model: str, *, api_base: str | None = None, timeout_s: float = 60.0) -> None:
        self.model = model
        self.api_base = api_base
        self.timeout_s = timeout_s

    @property
    def name(self) -> str:
        return self.model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        from spanguard.pipeline.llm_client import import_litellm

        litellm = import_litellm()
        kwargs: dict[str, Any] = {"model": self.model, "input": list(texts), "timeout": self.timeout_s}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        try:
            response = litellm.embedding(**kwargs)
        except Exception as exc:
            raise SpanguardError(
                f"embedding model {self.model!r} failed ({type(exc).__name__}); check the model name, "
                "api_base and the provider key in the environment"
            ) from exc
        return [list(item["embedding"]) for item in response.data]


def build_embedder(name: str, *, api_base: str | None = None, timeout_s: float = 60.0) -> Embedder:
    """`hashing` (offline default) or any LiteLLM embedding model name."""
    if name == HASHING_EMBEDDER_NAME:
        return HashingEmbedder()
    if name.startswith(HASHING_EMBEDDER_NAME + "-") and name.split("-", 1)[1].isdigit():
        return HashingEmbedder(int(name.split("-", 1)[1]))
    return LiteLLMEmbedder(name, api_base=api_base, timeout_s=timeout_s)
