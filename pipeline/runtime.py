"""Assemble the pipeline from config: tracing, index, retriever, agent.

The CLI commands and the chat service all start here, so the `pipeline:` section and
its environment overrides mean the same thing everywhere. Overrides exist for the
settings people switch per shell or per container (`SPANGUARD_MODEL=gpt-4o-mini`)
without editing the YAML; they are validated exactly like the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer
from pydantic import ValidationError

from spanguard.config.model import PipelineConfig, SpanguardConfig
from spanguard.errors import ConfigError
from spanguard.pipeline.agent import AgentSettings, HandbookAgent
from spanguard.pipeline.corpus import read_documents
from spanguard.pipeline.embedding import Embedder, build_embedder
from spanguard.pipeline.plugins import custom_embedder, custom_retriever
from spanguard.pipeline.retrieval import ChromaRetriever, Retriever
from spanguard.pipeline.tracing import (
    TRACER_NAME,
    ExportersArg,
    build_tracer_provider,
    get_tracer,
    instrument_litellm,
)

# environment variable -> pipeline key
ENV_OVERRIDES: dict[str, str] = {
    "SPANGUARD_MODEL": "model",
    "SPANGUARD_EMBEDDING": "embedding",
    "SPANGUARD_DATA_DIR": "data_dir",
    "SPANGUARD_API_BASE": "api_base",
    "SPANGUARD_EMBEDDING_API_BASE": "embedding_api_base",
    "SPANGUARD_TOP_K": "top_k",
    "SPANGUARD_MAX_STEPS": "max_steps",
}


def apply_env_overrides(pipeline: PipelineConfig, environ: Mapping[str, str] | None = None) -> PipelineConfig:
    """`pipeline` with any SPANGUARD_* overrides applied; a bad value is a ConfigError."""
    env = os.environ if environ is None else environ
    updates: dict[str, Any] = {
        key: env[var] for var, key in ENV_OVERRIDES.items() if env.get(var, "").strip()
    }
    if not updates:
        return pipeline
    try:
        return PipelineConfig.model_validate({**pipeline.model_dump(), **updates})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first.get("loc") else "?"
        var = next(v for v, k in ENV_OVERRIDES.items() if k == key) if key in ENV_OVERRIDES.values() else key
        raise ConfigError(f"environment variable {var}: {first['msg']}", key=f"pipeline.{key}") from None


def build_configured_embedder(pipeline: PipelineConfig) -> Embedder:
    """`pipeline.embedder` (your factory) if set, else the named `pipeline.embedding`."""
    if pipeline.embedder:
        return custom_embedder(pipeline)
    return build_embedder(
        pipeline.embedding, api_base=pipeline.embedding_api_base, timeout_s=pipeline.request_timeout_s
    )


def build_retriever(pipeline: PipelineConfig) -> Retriever:
    """`pipeline.retriever` (your factory) if set; else Chroma under `data_dir`, indexed
    with the configured corpus when still empty."""
    if pipeline.retriever:
        return custom_retriever(pipeline, lambda: build_configured_embedder(pipeline))
    retriever = ChromaRetriever(pipeline.data_dir, build_configured_embedder(pipeline))
    retriever.ensure_index(read_documents(pipeline.corpus) if pipeline.corpus else None)
    return retriever


@dataclass
class PipelineRuntime:
    config: SpanguardConfig
    pipeline: PipelineConfig
    provider: TracerProvider
    tracer: Tracer
    retriever: Retriever
    agent: HandbookAgent

    def flush(self) -> None:
        self.provider.force_flush()

    def shutdown(self) -> None:
        self.provider.shutdown()


def build_runtime(
    config: SpanguardConfig | None = None,
    *,
    exporters: ExportersArg = None,
    retriever: Retriever | None = None,
    provider: TracerProvider | None = None,
    environ: Mapping[str, str] | None = None,
) -> PipelineRuntime:
    """Everything a turn needs. `exporters=` replaces the configured sinks (tests);
    `provider=` reuses a provider that already carries spanguard's processor."""
    config = config or SpanguardConfig()
    pipeline = apply_env_overrides(config.pipeline, environ)
    config = config.model_copy(update={"pipeline": pipeline})
    provider = provider or build_tracer_provider(config, exporters=exporters)
    instrument_litellm(provider)
    tracer = get_tracer(TRACER_NAME, provider)
    retriever = retriever or build_retriever(pipeline)
    agent = HandbookAgent(
        retriever,
        tracer,
        AgentSettings(
            model=pipeline.model,
            top_k=pipeline.top_k,
            max_steps=pipeline.max_steps,
            api_base=pipeline.api_base,
            timeout_s=pipeline.request_timeout_s,
            mode=pipeline.mode,
        ),
    )
    return PipelineRuntime(
        config=config, pipeline=pipeline, provider=provider, tracer=tracer, retriever=retriever, agent=agent
    )


def span_destinations(config: SpanguardConfig) -> str:
    """Where this process's spans go, in one line for a start-up log (the same words as
    `build_span_processor`'s start line: URLs without credentials or query strings)."""
    from spanguard.exporters.destinations import describe, effective_exporters
    from spanguard.switches import export_enabled

    if not export_enabled():
        return "spans go nowhere (SPANGUARD_ENABLED=false: export is off)"
    chosen, source = effective_exporters(config)
    where = describe(chosen) or "nowhere (no exporter configured)"
    rules = "redacted" if config.redaction.enabled else "not redacted (redaction.enabled: false)"
    return f"spans go to {where} ({source}), {rules} first"
