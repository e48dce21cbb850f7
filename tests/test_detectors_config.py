"""Choosing detectors in config: groups next to single names, phone regions, and the
plug-in point for Python callables (fail-closed, loaded at start-up)."""

from __future__ import annotations

import pytest

from spanguard.config import loads_config
from spanguard.config.model import DETECTOR_GROUPS, DETECTOR_NAMES, RedactionConfig, expand_detectors
from spanguard.errors import ConfigError
from spanguard.processors.redaction import ERROR_MARKER, Redactor


def test_groups_expand_next_to_single_names() -> None:
    config = loads_config("redaction:\n  detectors: [secrets, contact, ip_address]\n").redaction
    assert config.enabled_detectors() == expand_detectors(
        [*DETECTOR_GROUPS["secrets"], "email", "phone", "ip_address"]
    )
    assert set(config.enabled_detectors()) == {*DETECTOR_GROUPS["secrets"], "email", "phone", "ip_address"}
    single = loads_config("redaction:\n  detectors: financial\n").redaction
    assert set(single.enabled_detectors()) == set(DETECTOR_GROUPS["financial"])


def test_every_group_names_real_detectors_and_groups_cover_all_but_entropy() -> None:
    members = {name for names in DETECTOR_GROUPS.values() for name in names}
    assert members <= set(DETECTOR_NAMES)
    assert set(DETECTOR_NAMES) - members == {"entropy"}


def test_group_selection_drives_the_redactor() -> None:
    redactor = Redactor(loads_config("redaction:\n  detectors: [network]\n").redaction)
    text = "peer 10.1.2.3 mail bob@example.com"
    assert redactor.redact_text(text) == "peer [REDACTED:ip_address] mail bob@example.com"


def test_unknown_group_is_a_config_error_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="did you mean 'secrets'"):
        loads_config("redaction:\n  detectors: [secret]\n")


def test_bad_phone_region_is_rejected() -> None:
    with pytest.raises(ConfigError):
        loads_config("redaction:\n  phone_regions: [usa]\n")
    with pytest.raises(ConfigError, match="unknown phone region"):
        Redactor(RedactionConfig(phone_regions=["QQ"]))


PLUGIN = "redaction:\n  custom_detectors:\n    - name: person\n      function: support_detector_plugin:{}\n"


def test_plugin_masks_what_the_callable_finds() -> None:
    redactor = Redactor(loads_config(PLUGIN.format("find_people")).redaction)
    text = "Alice Martin wrote to Bob Smith at bob@example.com"
    assert redactor.redact_text(text) == "[REDACTED:person] wrote to [REDACTED:person] at [REDACTED:email]"
    # non-ASCII before a finding: character spans are mapped to the right bytes
    assert redactor.redact_text("é — Zoë Dupont") == "é — [REDACTED:person]"
    changes = redactor.redact(["a", "b"], ["nothing here", "ping Jean-Luc Picard"])
    assert changes[0] is None and changes[1] is not None and changes[1].value == "ping [REDACTED:person]"


@pytest.mark.parametrize("function", ["broken", "out_of_range"])
def test_a_failing_plugin_fails_closed(function: str) -> None:
    redactor = Redactor(loads_config(PLUGIN.format(function)).redaction)
    assert redactor.redact_text("Alice Martin's secret diary") == ERROR_MARKER


@pytest.mark.parametrize("function", ["missing_function", "not_callable"])
def test_a_plugin_that_cannot_load_stops_start_up(function: str) -> None:
    with pytest.raises(ConfigError, match="custom detector 'person'"):
        Redactor(loads_config(PLUGIN.format(function)).redaction)
    with pytest.raises(ConfigError, match="custom detector 'person'"):
        Redactor(
            loads_config(PLUGIN.replace("support_detector_plugin", "no_such_module").format("x")).redaction
        )


def test_plugin_name_may_not_shadow_a_detector_or_group() -> None:
    for name in ("email", "secrets"):
        with pytest.raises(ConfigError, match="taken"):
            loads_config(PLUGIN.format("find_people").replace("name: person", f"name: {name}"))


def test_plugin_runs_on_the_sidecar_path_too() -> None:
    """The OTLP adapter's prefilter must visit spans for a plug-in it cannot see into."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from spanguard.processors.otlp_adapter import transform_export_request

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name, span.trace_id, span.span_id = "llm", b"\x01" * 16, b"\x02" * 8
    attribute = span.attributes.add()
    attribute.key, attribute.value.string_value = "input.value", "summarise the note from Alice Martin"
    data = request.SerializeToString()
    redactor = Redactor(loads_config(PLUGIN.format("find_people")).redaction)
    parsed = ExportTraceServiceRequest.FromString(data)
    transform_export_request(parsed, redactor, None, original=data)
    value = parsed.resource_spans[0].scope_spans[0].spans[0].attributes[0].value.string_value
    assert value == "summarise the note from [REDACTED:person]"
