"""`spanguard check [FILE]`: validate a config and say, briefly, what it will do.

Users run this before deploying a config, so the summary lists the effective rules
(after defaults and `${VAR}` substitution) rather than echoing the file. It prints names,
counts and endpoints only: header values, tokens and URL passwords are never shown.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator

from spanguard.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE, load_config
from spanguard.config.model import (
    ExportersConfig,
    RedactionConfig,
    SidecarConfig,
    SpanguardConfig,
    TruncationConfig,
)
from spanguard.errors import ConfigError, SpanguardError
from spanguard.exporters.urls import display_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = f"default: ${CONFIG_ENV_VAR}, then ./{DEFAULT_CONFIG_FILE}, then built-in defaults"
    parser.add_argument("file", nargs="?", metavar="FILE", help=f"config file ({where})")
    # `--config` as every other subcommand spells it, so one habit works everywhere
    parser.add_argument("--config", dest="config_option", metavar="FILE", help="same as FILE")


def run(args: argparse.Namespace) -> int:
    if args.file and args.config_option and args.file != args.config_option:
        raise SpanguardError("give the config file once: FILE or --config FILE")
    source = args.file or args.config_option
    config = load_config(source)
    _build_engine(config, _describe_source(source))
    print(f"{_describe_source(source)}: OK")
    for line in summarize(config):
        print(line)
    for warning in _warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _build_engine(config: SpanguardConfig, source_name: str) -> None:
    """Construct the redaction and truncation engine exactly as a deployment would, so
    "OK" means the rules compile, not only that the YAML has the right shape."""
    from spanguard.processors.redaction import Redactor
    from spanguard.processors.truncation import Truncator

    engine_log = logging.getLogger("spanguard.processors")
    previous = engine_log.level
    engine_log.setLevel(logging.ERROR)  # its hash-key warning is repeated by _warnings
    try:
        Redactor(config.redaction)
        Truncator(config.truncation)
    except ConfigError as exc:
        raise ConfigError(str(exc), path=source_name) from None
    finally:
        engine_log.setLevel(previous)


def _describe_source(source: str | None) -> str:
    if source is not None:
        return source
    if os.environ.get(CONFIG_ENV_VAR):
        return os.environ[CONFIG_ENV_VAR]
    if os.path.isfile(DEFAULT_CONFIG_FILE):
        return DEFAULT_CONFIG_FILE
    return "built-in defaults"


def summarize(config: SpanguardConfig) -> list[str]:
    """The effective rules as short lines, one section after another."""
    return [
        *_redaction_lines(config.redaction),
        *_truncation_lines(config.truncation),
        *_exporter_lines(config.exporters),
        *_environment_exporter_lines(config),
        *_sidecar_lines(config.sidecar),
    ]


def _environment_exporter_lines(config: SpanguardConfig) -> Iterator[str]:
    """With no `exporters:` key, `build_span_processor` follows the OTLP/Phoenix variables."""
    from spanguard.exporters.destinations import describe, effective_exporters

    chosen, source = effective_exporters(config)
    if source != "config" and chosen.console is None:
        yield f"  in process (build_span_processor): {describe(chosen)} (from {source})"


def _redaction_lines(redaction: RedactionConfig) -> Iterator[str]:
    if not redaction.enabled:
        yield "redaction: off"
        return
    mode: str = redaction.replacement
    if mode == "hash":
        mode = f"hash (HMAC-SHA256, {redaction.hash.length} hex chars, key from ${redaction.hash.key_env})"
    json_values = _on(redaction.json_values)
    yield f"redaction: on; replacement {mode}; summary {redaction.summary}; JSON values {json_values}"
    detectors = redaction.enabled_detectors()
    yield f"  detectors ({len(detectors)}): {', '.join(detectors) or 'none'}"
    names = [pattern.name for pattern in redaction.custom_patterns]
    yield f"  custom patterns ({len(names)}): {', '.join(names) or 'none'}"
    yield (
        f"  key rules: allow {len(redaction.allow_keys)}, block {len(redaction.block_keys)}, "
        f"drop {len(redaction.drop_keys)}; allowed values {len(redaction.allowed_values)}"
    )


def _truncation_lines(truncation: TruncationConfig) -> Iterator[str]:
    if not truncation.enabled:
        yield "truncation: off"
        return
    yield (
        f"truncation: on; max_length {truncation.max_length} chars; "
        f"max_list_items {truncation.max_list_items}; summary {truncation.summary}"
    )
    for glob, limit in sorted(truncation.max_length_by_key.items()):
        yield f"  {glob}: max_length {limit}"
    if truncation.drop_keys:
        yield f"  drop: {', '.join(truncation.drop_keys)}"


def _exporter_lines(exporters: ExportersConfig) -> Iterator[str]:
    sinks: list[str] = []
    if exporters.console is not None:
        sinks.append(f"console ({exporters.console.format})")
    if exporters.file is not None:
        file = exporters.file
        sinks.append(f"file {file.path} (rotate at {file.max_bytes} bytes, keep {file.backups})")
    if exporters.phoenix is not None:
        phoenix = exporters.phoenix
        endpoint = (
            display_url(phoenix.endpoint) if phoenix.endpoint else "$PHOENIX_COLLECTOR_ENDPOINT or default"
        )
        project = phoenix.project or "$PHOENIX_PROJECT_NAME or default"
        sinks.append(f"phoenix {endpoint} ({phoenix.protocol}, project {project}{_headers(phoenix.headers)})")
    if exporters.otlp is not None:
        otlp = exporters.otlp
        sinks.append(f"otlp {display_url(otlp.endpoint)} ({otlp.protocol}{_headers(otlp.headers)})")
    if not sinks:
        yield "exporters: none (processed spans go nowhere)"
        return
    yield f"exporters ({len(sinks)}):"
    for sink in sinks:
        yield f"  {sink}"


def _sidecar_lines(sidecar: SidecarConfig) -> Iterator[str]:
    grpc = display_url(sidecar.grpc.endpoint) if sidecar.grpc else "off"
    http = display_url(sidecar.http.endpoint) if sidecar.http else "off"
    auth = "bearer token" if sidecar.auth.bearer_token else "none"
    tls = "on" if sidecar.tls else "off"
    yield f"sidecar: grpc {grpc}; http {http}; auth {auth}; tls {tls}; queue {sidecar.queue.directory}"


def _warnings(config: SpanguardConfig) -> Iterator[str]:
    redaction = config.redaction
    if redaction.enabled and redaction.replacement == "hash" and redaction.hash.key is None:
        yield f"replacement is hash but ${redaction.hash.key_env} is not set here"


def _headers(headers: dict[str, str]) -> str:
    # names only: header values are usually credentials
    return f", headers: {', '.join(sorted(headers))}" if headers else ""


def _on(flag: bool) -> str:
    return "on" if flag else "off"
