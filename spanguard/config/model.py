"""The shape of spanguard's one YAML file.

Every section is a strict pydantic model (`extra="forbid"`), so a typo in a key is an
error that names the key instead of a setting silently ignored. Defaults are what a
careful user wants without thinking: the default detectors on, long values cut at
16 KiB, embedding vectors dropped, spans printed to the console.

Names follow the OpenTelemetry Collector where it has one (`summary: info|debug|silent`,
`endpoint`, `headers`, `compression`), because our users already read Collector configs.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

import re2
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)


def parse_byte_size(value: Any) -> int:
    """Accept `100MB`, `1GiB`, `512` or an int; sizes in YAML are written for people."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 100MB or 4096")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("size must not be negative")
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            number, unit = match.groups()
            return int(float(number) * _SIZE_UNITS[(unit or "").upper()])
    raise ValueError("expected a size such as 100MB, 1GiB or 4096")


ByteSize = Annotated[int, BeforeValidator(parse_byte_size)]
SummaryLevel = Literal["info", "debug", "silent"]

# Stable detector names: they appear in markers (`[REDACTED:email]`), counters and configs.
DETECTOR_NAMES: tuple[str, ...] = (
    "email",
    "phone",
    "credit_card",
    "iban",
    "us_ssn",
    "ip_address",
    "jwt",
    "api_key",
    "private_key",
    "bearer_token",
    "url_credentials",
    "url_secret",
    "password",
    "bank_routing",
    "crypto_wallet",
    "national_id",
    "date_of_birth",
    "mac_address",
    "entropy",
)
# Names for several detectors at once; a list may mix them with single names
# (`detectors: [secrets, contact, ip_address]`).
DETECTOR_GROUPS: dict[str, tuple[str, ...]] = {
    "secrets": ("jwt", "api_key", "private_key", "bearer_token", "url_credentials", "url_secret", "password"),
    "contact": ("email", "phone"),
    "financial": ("credit_card", "iban", "bank_routing", "crypto_wallet"),
    "national_ids": ("us_ssn", "national_id", "date_of_birth"),
    "network": ("ip_address", "mac_address"),
}
# On without thinking: everything but network addresses, which in traces are mostly
# infrastructure (peer addresses, localhost, interfaces) and would drown the real
# findings, and the entropy detector, which trades precision for recall.
DEFAULT_DETECTORS: tuple[str, ...] = tuple(
    name for name in DETECTOR_NAMES if name not in ("ip_address", "mac_address", "entropy")
)
_SELECTABLE = (*DETECTOR_NAMES, *DETECTOR_GROUPS)


def expand_detectors(names: Sequence[str]) -> tuple[str, ...]:
    """Single names and group names -> the detector names they turn on, in DETECTOR_NAMES order."""
    chosen: set[str] = set()
    for name in names:
        chosen.update(DETECTOR_GROUPS.get(name, (name,)))
    return tuple(name for name in DETECTOR_NAMES if name in chosen)


# RE2 logs every rejected pattern, verbatim, to stderr through absl; a pattern may hold a
# literal the user wants hidden, so compile quietly and report only the kind of error.
_QUIET_RE2 = re2.Options()
_QUIET_RE2.log_errors = False


def re2_syntax_error(pattern: str) -> str | None:
    """Why RE2 rejects `pattern` (e.g. "missing )"), or None when it compiles.

    RE2's own message quotes the offending fragment; we keep only the part before the
    colon so an error line never repeats pattern text.
    """
    try:
        re2.compile(pattern, options=_QUIET_RE2)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else b""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return text.split(":", 1)[0].strip() or "invalid pattern"
    return None


def glob_syntax_error(glob: str) -> str | None:
    """Why a key glob is unusable, or None. Globs use `*`, `?` and `[...]` on flattened keys."""
    if not glob.strip():
        return "empty key glob"
    if glob != glob.strip():
        return "key glob has leading or trailing spaces"
    depth_open = glob.count("[") - glob.count("]")
    if depth_open != 0:
        return "unbalanced [ ] in key glob"
    return None


# Validators report a bad list item or mapping entry with `ctx={"item": index_or_key}`;
# spanguard.config adds it to the key path, so the error points at the item's own line.
def _item_error(kind: str, message: str, index: int | str, **extra: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, {"item": index, **extra})


def _unknown_detector_hint(value: object) -> str:
    """A suggestion instead of an echo: a detector value may come from `${VAR}`, and no
    error may quote a config or environment value."""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, _SELECTABLE, n=1, cutoff=0.75)
        if close:
            return f" (did you mean '{close[0]}'?)"
    return ""


def _check_globs(globs: list[str]) -> list[str]:
    for index, glob in enumerate(globs):
        problem = glob_syntax_error(glob)
        if problem:
            raise _item_error("invalid_glob", problem, index)
    return globs


# summary attribute suffixes next to the per-detector counts (`spanguard.redacted.count`),
# and the names the engine itself counts under; a custom pattern may not take them
_SUMMARY_WORDS = frozenset({"count", "keys", "blocked", "dropped", "error", "hidden", "sql_literal"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomPattern(_Strict):
    """A user pattern in RE2 syntax; `name` shows up in the marker and the counters."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str, info: Any) -> str:
        # Name the pattern, never quote it: the error is printed, the pattern may not be.
        problem = re2_syntax_error(value)
        if problem:
            name = info.data.get("name", "(unnamed)")
            raise PydanticCustomError(
                "invalid_re2",
                "custom pattern '{name}' is not valid RE2 syntax: {problem}",
                {"name": name, "problem": problem},
            )
        return value


class CustomDetector(_Strict):
    """A Python callable registered by name (`function: package.module:callable`): the
    plug-in point for detectors RE2 cannot express, such as an NER model for names."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    function: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$")


# Regions whose national formats (no +country code) the phone detector reads; numbers
# written with +CC are found for every region whatever this says.
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "BR", "TR", "AU")


# OpenInference TraceConfig hide flags (processors/hide.py says what each one hides)
HidePreset = Literal[
    "inputs",
    "outputs",
    "input_messages",
    "output_messages",
    "input_text",
    "output_text",
    "input_images",
    "output_images",
    "embedding_vectors",
    "embeddings_text",
    "llm_invocation_parameters",
    "llm_tools",
    "llm_prompts",
    "choices",
]
# the same names as a tuple, for loops and membership tests (one list: the Literal)
HIDE_PRESETS: tuple[str, ...] = get_args(HidePreset)
# environment variable -> preset, as OpenInference names them
HIDE_ENV_VARS: dict[str, str] = {f"OPENINFERENCE_HIDE_{name.upper()}": name for name in HIDE_PRESETS}
HIDE_ENV_VARS["OPENINFERENCE_HIDE_PROMPTS"] = "llm_prompts"
HIDE_ENV_VARS["OPENINFERENCE_HIDE_EMBEDDINGS_VECTORS"] = "embedding_vectors"


class HashReplacement(_Strict):
    """Keyed pseudonyms: the same value gives the same token, unreadable without the key."""

    key_env: str = "SPANGUARD_HASH_KEY"
    length: int = Field(default=12, ge=8, le=64)
    # The key itself, read from `key_env` once when the config is validated (loaded), so
    # the engine, `spanguard check` and every worker agree on it. Private: never dumped,
    # never shown in a repr or an error.
    _key: bytes | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve_key(self) -> HashReplacement:
        value = os.environ.get(self.key_env)
        self._key = value.encode("utf-8") if value else None
        return self

    @property
    def key(self) -> bytes | None:
        """The HMAC key from `$key_env` as it was when the config loaded; None if unset."""
        return self._key


class RedactionConfig(_Strict):
    enabled: bool = True
    # "default" = the set a careful user wants on; "all" = every built-in; or a list.
    detectors: Literal["default", "all", "none"] | list[str] = "default"
    custom_patterns: list[CustomPattern] = Field(default_factory=list)
    custom_detectors: list[CustomDetector] = Field(default_factory=list)
    phone_regions: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = Field(
        default_factory=lambda: list(DEFAULT_PHONE_REGIONS)
    )
    allow_keys: list[str] = Field(default_factory=list)
    block_keys: list[str] = Field(default_factory=list)
    drop_keys: list[str] = Field(default_factory=list)
    allowed_values: list[str] = Field(default_factory=list)
    replacement: Literal["marker", "hash"] = "marker"
    hash: HashReplacement = Field(default_factory=HashReplacement)
    json_values: bool = True
    summary: SummaryLevel = "info"
    # SQL statements whose literals become `?` (attribute keys and JSON paths)
    sql_keys: list[str] = Field(default_factory=lambda: ["db.statement", "db.query.text"])
    # keys Phoenix groups by: a finding there becomes a keyed pseudonym of the whole value
    identity_keys: list[str] = Field(default_factory=lambda: ["user.id", "session.id"])
    # fail-closed allow-list, as the Collector's redaction processor: with
    # allow_all_keys false only keys matching allowed_keys (or allow_keys) survive
    allow_all_keys: bool = True
    allowed_keys: list[str] = Field(default_factory=list)
    # OpenInference TraceConfig presets; OPENINFERENCE_HIDE_<NAME>=true adds one too
    hide: list[HidePreset] = Field(default_factory=list)
    _hide_env: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _read_hide_env(self) -> RedactionConfig:
        # read once, when the config loads, as the hash key is
        self._hide_env = tuple(
            dict.fromkeys(
                preset
                for env, preset in HIDE_ENV_VARS.items()
                if os.environ.get(env, "").strip().lower() == "true"
            )
        )
        return self

    @property
    def hidden(self) -> tuple[str, ...]:
        """The hide presets in force: `hide` plus the OPENINFERENCE_HIDE_* variables set
        to `true` when the config loaded."""
        return tuple(dict.fromkeys((*self.hide, *self._hide_env)))

    @field_validator("detectors", mode="before")
    @classmethod
    def _known_detectors(cls, value: Any) -> Any:
        # Checked before the union so the error says which name is wrong instead of
        # listing why each branch of `Literal | list` failed.
        choices = ", ".join(_SELECTABLE)
        if isinstance(value, str):
            if value in ("default", "all", "none"):
                return value
            if value in _SELECTABLE:
                return [value]
            raise PydanticCustomError(
                "unknown_detector",
                "unknown detector{hint}; use default, all, none or a list of: {choices}",
                {"hint": _unknown_detector_hint(value), "choices": choices},
            )
        if isinstance(value, list | tuple):
            seen: set[str] = set()
            for index, name in enumerate(value):
                if not isinstance(name, str) or name not in _SELECTABLE:
                    raise _item_error(
                        "unknown_detector",
                        "unknown detector{hint}; known detectors: {choices}",
                        index,
                        hint=_unknown_detector_hint(name),
                        choices=choices,
                    )
                if name in seen:
                    raise _item_error(
                        "duplicate_detector", "detector '{name}' listed twice", index, name=name
                    )
                seen.add(name)
            return list(value)
        raise PydanticCustomError(
            "detectors_type", "expected default, all, none or a list of detector names", {}
        )

    @field_validator("allowed_values")
    @classmethod
    def _allowed_values_compile(cls, value: list[str]) -> list[str]:
        for index, pattern in enumerate(value):
            problem = re2_syntax_error(pattern)
            if problem:
                raise _item_error(
                    "invalid_re2",
                    "allowed value pattern is not valid RE2 syntax: {problem}",
                    index,
                    problem=problem,
                )
        return value

    @field_validator("allow_keys", "block_keys", "drop_keys", "allowed_keys", "identity_keys", "sql_keys")
    @classmethod
    def _key_globs(cls, value: list[str]) -> list[str]:
        return _check_globs(value)

    @field_validator("custom_detectors")
    @classmethod
    def _detector_names_unique(cls, value: list[CustomDetector]) -> list[CustomDetector]:
        seen: set[str] = set()
        for index, detector in enumerate(value):
            if detector.name in _SELECTABLE or detector.name in seen:
                raise _item_error(
                    "detector_name_taken", "custom detector name '{name}' is taken", index, name=detector.name
                )
            seen.add(detector.name)
        return value

    @field_validator("custom_patterns")
    @classmethod
    def _pattern_names_unique(cls, value: list[CustomPattern]) -> list[CustomPattern]:
        # The name is the marker (`[REDACTED:name]`) and the counter label: it must say
        # which rule fired, so it cannot repeat or pose as a built-in detector.
        seen: set[str] = set()
        for index, pattern in enumerate(value):
            if pattern.name in _SELECTABLE:
                raise _item_error(
                    "pattern_name_taken",
                    "custom pattern name '{name}' is a built-in detector name",
                    index,
                    name=pattern.name,
                )
            if pattern.name in _SUMMARY_WORDS:
                raise _item_error(
                    "pattern_name_reserved",
                    "custom pattern name '{name}' is reserved (spanguard.redacted.{name} is a summary key)",
                    index,
                    name=pattern.name,
                )
            if pattern.name in seen:
                raise _item_error(
                    "duplicate_pattern",
                    "custom pattern name '{name}' is used twice",
                    index,
                    name=pattern.name,
                )
            seen.add(pattern.name)
        return value

    def enabled_detectors(self) -> tuple[str, ...]:
        """The built-in detectors this config turns on, in DETECTOR_NAMES order."""
        if not self.enabled or self.detectors == "none":
            return ()
        if self.detectors == "default":
            return DEFAULT_DETECTORS
        if self.detectors == "all":
            return DETECTOR_NAMES
        return expand_detectors(self.detectors)


class TruncationConfig(_Strict):
    enabled: bool = True
    max_length: int = Field(default=16384, ge=16)
    # glob on the flattened key -> limit; the most specific (longest) glob wins
    max_length_by_key: dict[str, int] = Field(default_factory=dict)
    max_list_items: int = Field(default=256, ge=1)
    drop_keys: list[str] = Field(default_factory=lambda: ["embedding.embeddings.*.embedding.vector"])
    # a JSON object or array over the limit is cut inside its leaves and stays valid JSON
    json_values: bool = True
    summary: SummaryLevel = "info"

    @field_validator("max_length_by_key")
    @classmethod
    def _limits_positive(cls, value: dict[str, int]) -> dict[str, int]:
        for key, limit in value.items():
            problem = glob_syntax_error(key)
            if problem:
                raise PydanticCustomError("invalid_glob", problem, {"item": key})
            if limit < 16:
                raise PydanticCustomError("limit_too_small", "limit must be at least 16", {"item": key})
        return value

    @field_validator("drop_keys")
    @classmethod
    def _key_globs(cls, value: list[str]) -> list[str]:
        return _check_globs(value)


class BatchConfig(_Strict):
    """Per-exporter batching queue, as the SDK's BatchSpanProcessor knows it.

    `max_queue_size` is twice the SDK's 2048 so that a burst of 4,000 spans (an agent run
    fanning out) is absorbed even before the exporter sends anything: 2048 dropped 1,440
    of such a burst. Full of reference LLM spans (12.5 KB of text each, ~15.7 KiB in
    memory) the queue holds about 63 MiB; it is only that full during a burst.
    """

    max_queue_size: int = Field(default=4096, ge=1)
    schedule_delay_ms: int = Field(default=1000, ge=1)
    max_export_batch_size: int = Field(default=512, ge=1)
    export_timeout_ms: int = Field(default=30000, ge=1)


class ConsoleExporterConfig(_Strict):
    format: Literal["pretty", "json"] = "pretty"


class FileExporterConfig(_Strict):
    path: str = "traces/spans.jsonl"
    max_bytes: ByteSize = 100 * 1000**2
    backups: int = Field(default=5, ge=0)
    # the Collector's `otlpjsonfile` receiver reads lines of up to 1 MiB by default
    max_line_bytes: ByteSize = 1024**2


class RetryOnFailureConfig(_Strict):
    """When sidecar delivery gives a batch up, as the Collector's `retry_on_failure`.

    Only retryable answers are retried (the OTLP spec's: HTTP 429/502/503/504, gRPC
    UNAVAILABLE, RESOURCE_EXHAUSTED with RetryInfo, no answer at all); a permanent one
    gives the batch up at once. A retried batch is given up once `max_elapsed_time_s`
    has passed since its first attempt (0: never), so one poisoned or unlucky batch
    cannot hold back everything queued behind it. The waits between attempts are
    `sidecar.delivery.retry`."""

    enabled: bool = True
    max_elapsed_time_s: float = Field(default=300.0, ge=0)


OTLP_HTTP_DEFAULT_ENDPOINT = "http://localhost:4318"
OTLP_GRPC_DEFAULT_ENDPOINT = "localhost:4317"


class OtlpExporterConfig(_Strict):
    # default: the Collector's port for the protocol (4318 http/protobuf, 4317 grpc)
    endpoint: str = OTLP_HTTP_DEFAULT_ENDPOINT
    protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    headers: dict[str, str] = Field(default_factory=dict)
    compression: Literal["gzip", "none"] = "gzip"
    timeout_s: float = Field(default=10.0, gt=0)
    insecure: bool = True
    retry_on_failure: RetryOnFailureConfig = Field(default_factory=RetryOnFailureConfig)

    @model_validator(mode="before")
    @classmethod
    def _default_endpoint_follows_protocol(cls, data: Any) -> Any:
        # `otlp: {protocol: grpc}` must mean the Collector's gRPC port, as it does for
        # every OTLP exporter; a gRPC client pointed at 4318 would fail on every batch.
        if isinstance(data, dict) and data.get("protocol") == "grpc" and "endpoint" not in data:
            return {**data, "endpoint": OTLP_GRPC_DEFAULT_ENDPOINT}
        return data

    @field_validator("endpoint")
    @classmethod
    def _endpoint_not_blank(cls, value: str) -> str:
        # `${COLLECTOR:-}` left unset gives "": an error now, not a failed export per batch
        if not value.strip() or value != value.strip():
            raise PydanticCustomError("blank_endpoint", "endpoint is empty or has spaces around it", {})
        return value


class PhoenixExporterConfig(_Strict):
    # None = PHOENIX_COLLECTOR_ENDPOINT, else http://localhost:6006
    endpoint: str | None = None
    # None = PHOENIX_PROJECT_NAME, else "default"
    project: str | None = None
    protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    headers: dict[str, str] = Field(default_factory=dict)
    compression: Literal["gzip", "none"] = "gzip"
    timeout_s: float = Field(default=10.0, gt=0)
    retry_on_failure: RetryOnFailureConfig = Field(default_factory=RetryOnFailureConfig)


class ExportersConfig(_Strict):
    """Which sinks get the processed spans. With no `exporters:` key at all: console."""

    console: ConsoleExporterConfig | None = None
    file: FileExporterConfig | None = None
    phoenix: PhoenixExporterConfig | None = None
    otlp: OtlpExporterConfig | None = None
    batch: BatchConfig = Field(default_factory=BatchConfig)


class ListenConfig(_Strict):
    endpoint: str


class TlsConfig(_Strict):
    cert_file: str
    key_file: str


class AuthConfig(_Strict):
    bearer_token: str | None = None

    @field_validator("bearer_token")
    @classmethod
    def _empty_token_is_no_token(cls, value: str | None) -> str | None:
        # `${TOKEN:-}` substitutes "" when unset; that must mean "no auth", never
        # "accept an empty bearer token"
        return value or None


def default_queue_directory() -> str:
    """Per-user state, not the working directory: two configs started from one directory
    must not share (and forward) each other's spans by accident. Container images set an
    explicit path (`/var/lib/spanguard/queue`)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "spanguard", "queue")


class QueueConfig(_Strict):
    directory: str = Field(default_factory=default_queue_directory)
    max_bytes: ByteSize = 1000**3


class RetryConfig(_Strict):
    """Backoff of one failing batch, as the Collector's `retry_on_failure` intervals; when
    a batch is given up is each network exporter's `retry_on_failure`."""

    initial_interval_s: float = Field(default=0.1, gt=0)
    max_interval_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> RetryConfig:
        if self.max_interval_s < self.initial_interval_s:
            # Point at the key the user wrote: with only `initial_interval_s: 10` set, the
            # default max is what conflicts, but the fix is in the line they wrote.
            if "max_interval_s" in self.model_fields_set:
                raise PydanticCustomError(
                    "interval_order",
                    "max_interval_s must not be less than initial_interval_s",
                    {"item": "max_interval_s"},
                )
            raise PydanticCustomError(
                "interval_order",
                "initial_interval_s must not exceed max_interval_s ({default} s by default); set both",
                {"item": "initial_interval_s", "default": self.max_interval_s},
            )
        return self


class DeadLetterConfig(_Strict):
    """Where given-up batches go: `<directory>/<exporter>.jsonl`, OTLP JSON lines that
    `spanguard replay` sends again once the backend is fixed."""

    directory: str
    max_bytes: ByteSize = 100 * 1000**2
    backups: int = Field(default=5, ge=0)


class DeliveryConfig(_Strict):
    """Sends per exporter, as the Collector's `sending_queue.num_consumers`: one request in
    flight would make delivery wait on the backend's round trip for every batch."""

    num_consumers: int = Field(default=4, ge=1, le=64)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    dead_letter: DeadLetterConfig | None = None


class SidecarConfig(_Strict):
    grpc: ListenConfig | None = Field(default_factory=lambda: ListenConfig(endpoint="127.0.0.1:4317"))
    http: ListenConfig | None = Field(default_factory=lambda: ListenConfig(endpoint="127.0.0.1:4318"))
    auth: AuthConfig = Field(default_factory=AuthConfig)
    tls: TlsConfig | None = None
    queue: QueueConfig = Field(default_factory=QueueConfig)
    max_request_bytes: ByteSize = 16 * 1000**2
    # estimated memory of the requests decoded, redacted and queued at once, per process
    # (each costs 8x its bytes; one alone is always admitted); 0 = no budget
    max_in_flight_memory: ByteSize = 128 * 1024**2
    workers: int = Field(default=1, ge=1, le=64)
    shutdown_timeout_s: float = Field(default=10.0, gt=0)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)


class PipelineConfig(_Strict):
    """The reference RAG + agent workload (spanguard.pipeline)."""

    model: str = "spanguard-local/extractive"
    embedding: str = "hashing"
    data_dir: str = ".spanguard/data"
    corpus: list[str] = Field(default_factory=list)  # empty = the bundled handbook
    top_k: int = Field(default=4, ge=1, le=50)
    max_steps: int = Field(default=4, ge=1, le=20)
    api_base: str | None = None
    request_timeout_s: float = Field(default=60.0, gt=0)
    # chat service limits: a longer message or conversation gets a 413, not a model call
    max_message_chars: int = Field(default=8000, ge=1)
    max_messages: int = Field(default=100, ge=1)
    service_name: str = "spanguard-pipeline"
    # where a LiteLLM embedding model is served, when not the provider's default
    embedding_api_base: str | None = None
    # agent = tool-calling loop (plain RAG when the model calls no tool); rag = always
    # retrieve -> generate, one CHAIN span over RETRIEVER and LLM
    mode: Literal["agent", "rag"] = "agent"
    # "module:factory" import paths of your own retriever / embedder (see docs/pipeline.md)
    retriever: str | None = Field(default=None, pattern=r"^[\w.]+:[\w.]+$")
    embedder: str | None = Field(default=None, pattern=r"^[\w.]+:[\w.]+$")


class SpanguardConfig(_Strict):
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    truncation: TruncationConfig = Field(default_factory=TruncationConfig)
    exporters: ExportersConfig = Field(
        default_factory=lambda: ExportersConfig(console=ConsoleExporterConfig())
    )
    sidecar: SidecarConfig = Field(default_factory=SidecarConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
