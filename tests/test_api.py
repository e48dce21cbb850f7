"""`build_span_processor`: the chain, config sources, custom exporters, and the two switches."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support_spans import (
    LONG_DOCUMENT_CHARS,
    PLANTED_SECRETS,
    SECRET_CARD,
    SECRET_EMAIL,
    make_rag_trace,
    provider_with,
)

from spanguard.api import build_span_processor, fanout_of, spanguard_enabled
from spanguard.config import load_config
from spanguard.errors import ConfigError
from spanguard.exporters.fanout import FanOutSpanProcessor
from spanguard.processors.engine import Engine


def _exported_text(memory: InMemorySpanExporter) -> str:
    return repr(
        [
            (dict(s.attributes or {}), [dict(e.attributes or {}) for e in s.events])
            for s in memory.get_finished_spans()
        ]
    )


def test_chain_redacts_truncates_and_keeps_the_trace_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANGUARD_ENABLED", raising=False)
    memory = InMemorySpanExporter()
    config = load_config({"truncation": {"max_length": 2048}})
    provider = provider_with(build_span_processor(config, exporters=[memory]))
    trace = make_rag_trace(provider)
    provider.shutdown()
    spans = {s.name: s for s in memory.get_finished_spans()}
    assert set(spans) == {"rag.query", "retrieve", "llm.completion"}
    assert f"{spans['retrieve'].parent.span_id:016x}" == trace.root_span_id  # type: ignore[union-attr]
    text = _exported_text(memory)
    for secret in PLANTED_SECRETS:
        assert secret not in text
    document = str(spans["retrieve"].attributes["retrieval.documents.0.document.content"])  # type: ignore[index]
    assert len(document) < 2200 < LONG_DOCUMENT_CHARS


def test_export_off_switch_exports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """`SPANGUARD_ENABLED=false` is the seeds' auto-setup switch: tracing export off, never raw data."""
    monkeypatch.setenv("SPANGUARD_ENABLED", "false")
    memory = InMemorySpanExporter()
    processor = build_span_processor(load_config({}), exporters={"memory": memory})
    provider = provider_with(processor)
    make_rag_trace(provider)
    provider.shutdown()
    assert memory.get_finished_spans() == ()
    stats = processor.stats  # the engine's stats type: every span seen and dropped
    assert stats.spans == 3 and stats.dropped == 3 and stats.exporters == {}


def test_redaction_off_only_explicitly_and_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    memory = InMemorySpanExporter()
    with caplog.at_level("WARNING", logger="spanguard"):
        processor = build_span_processor({"redaction": {"enabled": False}}, exporters=[memory])
    assert "spans are exported WITHOUT redaction" in caplog.text
    provider = provider_with(processor)
    make_rag_trace(provider)
    provider.shutdown()
    assert all(secret in _exported_text(memory) for secret in PLANTED_SECRETS)


def test_redaction_switch_cannot_come_from_the_environment(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    monkeypatch.setenv("REDACT", "false")
    path = Path(str(tmp_path)) / "spanguard.yaml"
    path.write_text("redaction:\n  enabled: ${REDACT:-true}\n")
    with pytest.raises(ConfigError, match=r"redaction\.enabled.*environment variable"):
        load_config(path)


def test_config_may_be_a_mapping_or_a_path(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "spanguard.yaml"
    path.write_text("redaction:\n  detectors: [email]\n")
    for source in ({"redaction": {"detectors": ["email"]}}, path, str(path)):
        memory = InMemorySpanExporter()
        provider = provider_with(build_span_processor(source, exporters=[memory]))  # type: ignore[arg-type]
        make_rag_trace(provider)
        provider.shutdown()
        text = _exported_text(memory)
        assert SECRET_EMAIL not in text and SECRET_CARD in text  # only the email detector is on


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", True), ("true", True), ("1", True), ("false", False), ("0", False), ("OFF", False)],
)
def test_enabled_switch_values(value: str, expected: bool) -> None:
    assert spanguard_enabled({"SPANGUARD_ENABLED": value}) is expected


def test_bad_pattern_fails_before_files_are_opened(tmp_path: object) -> None:
    from pathlib import Path

    out = Path(str(tmp_path)) / "never" / "spans.jsonl"
    config = load_config(
        {
            "redaction": {"custom_patterns": [{"name": "ticket", "pattern": "TICKET-[0-9]+"}]},
            "exporters": {"file": {"path": str(out)}},
        }
    )
    # a valid config builds; then a broken one (bypassing the loader) fails closed with ConfigError
    build_span_processor(config).shutdown()
    broken = config.model_copy(
        update={"redaction": config.redaction.model_copy(update={"detectors": ["no_such_detector"]})}
    )
    out.parent.joinpath("spans.jsonl").unlink()
    with pytest.raises(ConfigError):
        build_span_processor(broken)
    assert not out.exists()


def test_sequence_exporters_get_unique_names() -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    processor = build_span_processor(load_config({}), exporters=[first, second])
    assert list(processor.stats.exporters) == ["InMemorySpanExporter", "InMemorySpanExporter-2"]
    processor.shutdown()


def test_public_entry_points_are_exported_from_the_package() -> None:
    """The docs (and issue 2) promise `spanguard.load_config` and `spanguard.build_span_processor`."""
    import spanguard
    from spanguard.config import load_config as loader

    assert spanguard.build_span_processor is build_span_processor
    assert spanguard.load_config is loader
    assert {"build_span_processor", "load_config"} <= set(spanguard.__all__)


def test_moved_config_model_still_imports_for_one_release() -> None:
    """`spanguard.config_model` moved to `spanguard.config.model`; old imports warn, not fail."""
    import importlib
    import sys

    import pytest

    sys.modules.pop("spanguard.config_model", None)
    with pytest.warns(DeprecationWarning, match=r"spanguard\.config\.model"):
        old = importlib.import_module("spanguard.config_model")
    from spanguard.config.model import RedactionConfig, SpanguardConfig

    assert old.SpanguardConfig is SpanguardConfig
    assert old.RedactionConfig is RedactionConfig


def test_stats_say_what_redaction_truncation_and_each_exporter_did(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANGUARD_ENABLED", raising=False)
    memory = InMemorySpanExporter()
    config = load_config({"truncation": {"max_length": 2048}})
    processor = build_span_processor(config, exporters={"memory": memory})
    assert isinstance(processor.engine, Engine)
    provider = provider_with(processor)
    make_rag_trace(provider)
    provider.shutdown()
    stats = processor.stats
    assert stats.spans == 3
    assert stats.redacted >= len(PLANTED_SECRETS)  # each planted secret masked at least once
    assert stats.truncated >= 1  # the long retrieved document
    assert stats.failed == 0
    assert stats.exporters["memory"].exported == 3


def test_names_moved_by_the_engine_refactor_still_import_for_one_release() -> None:
    """The chained pair, its counters, `fanout_of` and `RequestOutcome` left `__all__`;
    old imports warn and still work."""
    from support_spans import provider_with as new_provider

    import spanguard
    import spanguard.processors
    from spanguard.processors.engine import Counts
    from spanguard.processors.otlp_adapter import RequestCounts
    from spanguard.processors.span_processors import SpanguardSpanProcessor

    for name in (
        "RedactingSpanProcessor",
        "TruncatingSpanProcessor",
        "RequestOutcome",
        "transform_export_request",
        "fanout_of",
        "FanOutSpanProcessor",
    ):
        assert name not in spanguard.__all__
        with pytest.warns(DeprecationWarning, match=name):
            getattr(spanguard, name)
    assert {
        "Engine",
        "NoopEngine",
        "Counts",
        "SpanguardSpanProcessor",
        "SpanguardSpanExporter",
        "ConfigError",
        "SpanguardError",
        "load_config",
        "build_span_processor",
    } <= set(spanguard.__all__)
    with pytest.warns(DeprecationWarning):
        assert spanguard.RequestOutcome is RequestCounts
    with pytest.warns(DeprecationWarning):
        assert spanguard.processors.ProcessorStats is Counts
    with pytest.warns(DeprecationWarning):
        from spanguard.sidecar.transform import TransformCounts
    assert TransformCounts is RequestCounts
    # the old chained pair still works, as one engine stage each
    memory = InMemorySpanExporter()
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from spanguard.processors.redaction import Redactor
    from spanguard.processors.truncation import Truncator

    with pytest.warns(DeprecationWarning, match="TruncatingSpanProcessor"):
        truncating = spanguard.processors.span_processors.TruncatingSpanProcessor(
            SimpleSpanProcessor(memory), Truncator()
        )
    with pytest.warns(DeprecationWarning, match="RedactingSpanProcessor"):
        redacting = spanguard.processors.span_processors.RedactingSpanProcessor(truncating, Redactor())
    assert isinstance(redacting, SpanguardSpanProcessor)
    provider = new_provider(redacting)
    make_rag_trace(provider)
    provider.shutdown()
    assert all(secret not in _exported_text(memory) for secret in PLANTED_SECRETS)
    assert redacting.stats.spans == 3 and redacting.stats.redacted >= len(PLANTED_SECRETS)
    # fanout_of still finds the fan-out behind the one processor
    processor = build_span_processor(load_config({}), exporters={"memory": InMemorySpanExporter()})
    with pytest.warns(DeprecationWarning, match="fanout_of"):
        fanout = fanout_of(processor)
    assert isinstance(fanout, FanOutSpanProcessor) and fanout.exporter_names == ["memory"]
    processor.shutdown()


def test_import_spanguard_is_lazy_and_every_public_name_resolves(tmp_path: object) -> None:
    """`import spanguard` loads no engine, exporter or pipeline; each name in __all__ imports."""
    import subprocess
    import sys

    probe = (
        "import sys, spanguard\n"
        "heavy = ('spanguard.', 'pydantic', 'litellm')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(heavy))\n"
        "print(loaded)\n"
        "assert all(getattr(spanguard, name) is not None for name in spanguard.__all__)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
