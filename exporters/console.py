"""Console exporter: a readable tree per finished trace, or one JSON object per span.

`pretty` is for a developer watching a terminal: spans of a trace are held until its
root ends (roots end last), then printed as a tree with kind, duration, status and a
few shortened attributes that say what happened. Traces whose root never arrives
(the root is in another process, or still running at exit) are printed as they are on
flush, on shutdown, or when too many are pending. `json` writes each span as one
compact JSON line (the SDK's span JSON) for piping into `jq`; `bytes` values, which the
SDK accepts but cannot write as JSON, are written base64-encoded as OTLP JSON does.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, TextIO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, StatusCode

# Attributes worth a line in the tree, in this order.
HIGHLIGHT_KEYS = (
    "input.value",
    "output.value",
    "llm.model_name",
    "llm.token_count.total",
    "tool.name",
    "retrieval.documents.0.document.content",
    "exception.message",
    "spanguard.redacted.count",
    "spanguard.truncated.count",
)
MAX_VALUE_CHARS = 80
MAX_PENDING_TRACES = 1000


def shorten(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "⏎").replace("\r", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(span: ReadableSpan) -> str:
    kind = (span.attributes or {}).get("openinference.span.kind")
    return str(kind) if kind else span.kind.name


def _duration_ms(span: ReadableSpan) -> str:
    if span.start_time is None or span.end_time is None:
        return "?"
    return f"{(span.end_time - span.start_time) / 1e6:.1f} ms"


def _status(span: ReadableSpan) -> str:
    if span.status.status_code is StatusCode.ERROR:
        return "ERROR" + (f": {shorten(span.status.description, 60)}" if span.status.description else "")
    return span.status.status_code.name


def _is_root(span: ReadableSpan) -> bool:
    return span.parent is None or span.parent.is_remote


def render_trace(spans: Sequence[ReadableSpan]) -> str:
    """The tree of one trace's spans; spans whose parent is missing hang off the top."""
    by_id = {span.context.span_id: span for span in spans if span.context}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent_id = span.parent.span_id if span.parent and span.parent.span_id in by_id else None
        children.setdefault(parent_id, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: s.start_time or 0)
    trace_id = spans[0].context.trace_id if spans and spans[0].context else 0
    lines = [f"trace {trace_id:032x}"]

    def walk(span: ReadableSpan, prefix: str, last: bool) -> None:
        branch = "└─ " if last else "├─ "
        lines.append(f"{prefix}{branch}{span.name} [{_kind(span)}] {_duration_ms(span)} {_status(span)}")
        inner = prefix + ("   " if last else "│  ")
        attributes = span.attributes or {}
        for key in HIGHLIGHT_KEYS:
            if key in attributes:
                lines.append(f"{inner}  {key}: {shorten(attributes[key])}")
        kids = children.get(span.context.span_id if span.context else None, [])
        for index, child in enumerate(kids):
            walk(child, inner, index == len(kids) - 1)

    tops = children.get(None, [])
    for index, top in enumerate(tops):
        walk(top, "", index == len(tops) - 1)
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    """An attribute value JSON can carry: bytes as base64 (as OTLP JSON writes `bytesValue`)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _clean(attributes: Any) -> dict[str, Any]:
    return {key: _jsonable(value) for key, value in (attributes or {}).items()}


def json_line(span: ReadableSpan) -> str:
    """The SDK's span JSON on one line. A span the SDK cannot serialize (a `bytes`
    attribute, which the SDK accepts) is written with JSON-safe values instead, and one
    that still fails is replaced by a line saying so: one span never costs the batch."""
    try:
        return span.to_json(indent=None) + "\n"
    except (TypeError, ValueError):
        pass
    try:
        safe = ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=Resource(_clean(span.resource.attributes), span.resource.schema_url),
            attributes=_clean(span.attributes),
            events=[Event(e.name, _clean(e.attributes), e.timestamp) for e in span.events],
            links=[Link(link.context, _clean(link.attributes)) for link in span.links],
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
        return safe.to_json(indent=None) + "\n"
    except (TypeError, ValueError) as exc:
        span_id = f"0x{span.context.span_id:016x}" if span.context else None
        note = {"span_id": span_id, "spanguard.error": f"not renderable ({type(exc).__name__})"}
        return json.dumps(note) + "\n"


class ConsoleSpanExporter(SpanExporter):
    def __init__(self, format: str = "pretty", out: TextIO | None = None) -> None:
        if format not in ("pretty", "json"):
            raise ValueError("console format must be 'pretty' or 'json'")
        self.format = format
        self._out = out
        self._lock = threading.Lock()
        self._pending: OrderedDict[int, list[ReadableSpan]] = OrderedDict()

    @property
    def out(self) -> TextIO:
        # Looked up at write time so pytest's capture and redirected stdout work.
        return self._out if self._out is not None else sys.stdout

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            if self.format == "json":
                text = "".join(json_line(span) for span in spans)
            else:
                text = self._collect_finished(spans)
            if text:
                self.out.write(text)
                self.out.flush()
        return SpanExportResult.SUCCESS

    def _collect_finished(self, spans: Sequence[ReadableSpan]) -> str:
        finished: list[str] = []
        for span in spans:
            if not span.context:
                continue
            trace_id = span.context.trace_id
            self._pending.setdefault(trace_id, []).append(span)
            if _is_root(span):
                finished.append(render_trace(self._pending.pop(trace_id)))
        while len(self._pending) > MAX_PENDING_TRACES:
            _, oldest = self._pending.popitem(last=False)
            finished.append(render_trace(oldest) + "  (partial)")
        return "".join(tree + "\n" for tree in finished)

    def _drain(self) -> None:
        with self._lock:
            text = "".join(render_trace(spans) + "  (partial)\n" for spans in self._pending.values())
            self._pending.clear()
            if text:
                self.out.write(text)
                self.out.flush()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._drain()
        return True

    def shutdown(self) -> None:
        self._drain()
