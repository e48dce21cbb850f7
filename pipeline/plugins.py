"""Your own retriever or embedder, named in YAML by import path (`module:factory`).

`pipeline.retriever: mypkg.search:make_retriever` makes `serve`, `ask` and
`bench-pipeline` search with your code instead of the Chroma index. The factory is called
with the keyword arguments it names, from `config` (the `pipeline:` section) and
`embedder` (the configured embedder; only built when asked for), and may return a
`Retriever` (`retrieve(query, top_k)`) or a plain function `fn(query, top_k=...)`, whose
results may be `RetrievedDocument`s or the tutorials' objects (`chunk_id`/`text`/`score`).
`pipeline.embedder: mypkg.vectors:make_embedder` does the same for the embedder of the
Chroma index (`config` is passed if named); it must return an `Embedder` (`name`,
`embed(texts)`).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from spanguard.config.model import PipelineConfig
from spanguard.errors import ConfigError
from spanguard.pipeline.embedding import Embedder
from spanguard.pipeline.retrieval import RetrievedDocument, Retriever
from spanguard.pipeline.tutorial_spans import result_id, result_score, result_text


def load_factory(path: str, key: str) -> Callable[..., Any]:
    """The callable at `module:attribute` (dots allowed on both sides); ConfigError if not."""
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} ({type(exc).__name__}: {exc})", key=key) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{module_name!r} has no {attribute!r}", key=key)
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"{path!r} is not callable", key=key)
    return target


def _call(factory: Callable[..., Any], available: Mapping[str, Callable[[], Any]], key: str) -> Any:
    """Call `factory` with those of `available` (lazily built) that it names."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    kwargs = {name: build() for name, build in available.items() if takes_all or name in parameters}
    try:
        return factory(**kwargs)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"the factory failed ({type(exc).__name__}: {exc})", key=key) from exc


class FunctionRetriever:
    """A `Retriever` over a plain `fn(query, top_k=...)`; its results become
    `RetrievedDocument`s, so the agent and the spans read them as usual."""

    def __init__(self, fn: Callable[..., Sequence[Any]]) -> None:
        self._fn = fn

    def retrieve(self, query: str, top_k: int) -> list[RetrievedDocument]:
        documents: list[RetrievedDocument] = []
        for index, result in enumerate(self._fn(query, top_k=top_k)):
            if isinstance(result, RetrievedDocument):
                documents.append(result)
                continue
            metadata = getattr(result, "metadata", None)
            documents.append(
                RetrievedDocument(
                    id=result_id(result, index),
                    content=result_text(result),
                    score=result_score(result) or 0.0,
                    metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
                )
            )
        return documents


def custom_retriever(pipeline: PipelineConfig, embedder: Callable[[], Embedder]) -> Retriever:
    assert pipeline.retriever is not None
    key = "pipeline.retriever"
    available = {"config": lambda: pipeline, "embedder": embedder}
    made = _call(load_factory(pipeline.retriever, key), available, key)
    if isinstance(made, Retriever):
        return made
    if callable(made):
        return FunctionRetriever(made)
    raise ConfigError(
        f"{pipeline.retriever!r} returned {type(made).__name__}, not a retriever "
        "(an object with retrieve(query, top_k) or a function fn(query, top_k=...))",
        key=key,
    )


def custom_embedder(pipeline: PipelineConfig) -> Embedder:
    assert pipeline.embedder is not None
    key = "pipeline.embedder"
    made = _call(load_factory(pipeline.embedder, key), {"config": lambda: pipeline}, key)
    if not isinstance(made, Embedder):
        raise ConfigError(
            f"{pipeline.embedder!r} returned {type(made).__name__}, not an embedder "
            "(an object with name and embed(texts))",
            key=key,
        )
    return made
