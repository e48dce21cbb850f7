"""In-process checks of the sidecar's pieces: ingest, envelope, wire split, resource stamping."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from support_sidecar import make_request

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.exporters.senders import stamp_resource
from spanguard.exporters.splitting import split_request, split_request_wire
from spanguard.sidecar import envelope
from spanguard.sidecar.framing import framed_size
from spanguard.sidecar.ingest import Ingestor, Reason, Rejected, decode_protobuf
from spanguard.sidecar.listen import BearerAuth, ExportSlots, parse_endpoint
from spanguard.sidecar.metrics import SidecarMetrics
from spanguard.sidecar.queue_reader import ExporterReader
from spanguard.sidecar.queue_writer import QueueWriter
from spanguard.sidecar.transform import RequestTransformer


def _ingestor(tmp_path: Path, max_bytes: int = 10_000_000) -> tuple[Ingestor, QueueWriter]:
    writer = QueueWriter(tmp_path, "w0", max_bytes)
    transformer = RequestTransformer(RedactionConfig(), TruncationConfig())
    return Ingestor(transformer, writer, SidecarMetrics()), writer


def _queued(tmp_path: Path) -> list[bytes]:
    reader = ExporterReader(tmp_path, "t")
    batch = reader.read(1 << 30)
    return [] if batch is None else batch.records


def test_unchanged_request_is_queued_as_the_bytes_that_came(tmp_path: Path) -> None:
    ingestor, writer = _ingestor(tmp_path)
    body = make_request([1, 2, 3], text="nothing sensitive here")
    assert ingestor.accept(decode_protobuf(body), body, "grpc") == 3
    writer.close()
    [record] = _queued(tmp_path)
    spans, queued = envelope.unpack(record)
    assert spans == 3
    assert bytes(queued) == body


def test_changed_request_is_queued_redacted(tmp_path: Path) -> None:
    ingestor, writer = _ingestor(tmp_path)
    body = make_request([1], text="write to jane.doe@example.com")
    ingestor.accept(decode_protobuf(body), body, "http")
    writer.close()
    [record] = _queued(tmp_path)
    _, queued = envelope.unpack(record)
    assert b"jane.doe@example.com" not in bytes(queued)
    assert b"write to" in bytes(queued)


def test_full_queue_is_a_queue_full_rejection(tmp_path: Path) -> None:
    body = make_request(list(range(20)))
    record = framed_size(len(envelope.header(20)) + len(body))
    # room for one such request, not two: the second finds the queue full (retry later),
    # unlike a request larger than the whole queue (TOO_LARGE, tests/test_gzip_codec.py)
    ingestor, writer = _ingestor(tmp_path, max_bytes=record + record // 2)
    assert ingestor.accept(decode_protobuf(body), body, "grpc") == 20
    with pytest.raises(Rejected) as info:
        ingestor.accept(decode_protobuf(body), body, "grpc")
    assert info.value.reason is Reason.QUEUE_FULL
    writer.close()


def test_envelope_join_is_one_valid_request() -> None:
    records = [envelope.pack(2, make_request([1, 2])), envelope.pack(1, make_request([3]))]
    spans, body = envelope.join(records)
    assert spans == 3
    request = ExportTraceServiceRequest.FromString(body)
    assert [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans] == [
        "span-1",
        "span-2",
        "span-3",
    ]


def _names(body: bytes) -> list[str]:
    request = ExportTraceServiceRequest.FromString(body)
    return [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def test_wire_split_keeps_every_span_in_order_with_resource_and_scope() -> None:
    body = make_request(list(range(200)), extra_attrs=3)
    parts = split_request_wire([body[:0], body], limit=len(body) // 5)
    assert len(parts) >= 5
    assert all(len(part) <= len(body) // 5 for part, _ in parts)
    names = [name for part, _ in parts for name in _names(part)]
    assert names == [f"span-{i}" for i in range(200)]
    assert sum(count for _, count in parts) == 200
    for part, _ in parts:
        request = ExportTraceServiceRequest.FromString(part)
        assert request.resource_spans[0].resource.attributes[0].value.string_value == "raw-client"
        assert request.resource_spans[0].scope_spans[0].scope.name == "raw"


def test_split_request_leaves_small_requests_alone() -> None:
    body = make_request([1, 2])
    assert split_request([body], 1 << 20, 2) == [(body, 2)]
    # several small queued requests go out as one
    joined = split_request([body, body], 1 << 20, 4)
    assert len(joined) == 1 and _names(joined[0][0]) == ["span-1", "span-2"] * 2


def test_wire_split_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        split_request_wire([b"\x0a\xff\xff\xff\xff\x0f" + b"x" * 100], limit=10)


def test_stamp_resource_sets_the_phoenix_project() -> None:
    stamped = stamp_resource(make_request([1]), {"openinference.project.name": "proj"})
    request = ExportTraceServiceRequest.FromString(stamped)
    attrs = {kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes}
    assert attrs == {"service.name": "raw-client", "openinference.project.name": "proj"}
    again = stamp_resource(stamped, {"openinference.project.name": "p2"})
    restamped = ExportTraceServiceRequest.FromString(again)
    values = [
        kv.value.string_value
        for kv in restamped.resource_spans[0].resource.attributes
        if kv.key == "openinference.project.name"
    ]
    assert values == ["p2"]


def test_bearer_auth_and_endpoints() -> None:
    auth = BearerAuth("tok")
    assert auth.allows("Bearer tok")
    assert not auth.allows("Bearer tok2")
    assert not auth.allows(None)
    assert BearerAuth(None).allows(None)
    assert parse_endpoint("127.0.0.1:4317", "k") == ("127.0.0.1", 4317)
    assert parse_endpoint("[::1]:4318", "k") == ("::1", 4318)
    from spanguard.errors import ConfigError

    with pytest.raises(ConfigError):
        parse_endpoint("no-port", "sidecar.grpc.endpoint")


def test_export_slots_refuse_the_export_past_the_limit_at_once() -> None:
    slots = ExportSlots(2)
    with slots.hold(), slots.hold():
        with pytest.raises(Rejected) as info, slots.hold():
            pass
        assert info.value.reason is Reason.OVERLOADED
    # a slot comes back when its export ends, also when that export was itself refused
    with pytest.raises(Rejected), slots.hold():
        raise Rejected(Reason.QUEUE_FULL, "queue is full, retry later")
    with slots.hold(), slots.hold():
        pass


def test_wire_split_over_several_queued_requests() -> None:
    bodies = [make_request(list(range(n * 50, n * 50 + 50)), extra_attrs=2) for n in range(4)]
    parts = split_request_wire(bodies, limit=sum(len(b) for b in bodies) // 3)
    assert [name for part, _ in parts for name in _names(part)] == [f"span-{i}" for i in range(200)]


def test_serving_processes_freeze_start_up_objects_and_collect_less_often() -> None:
    """Run in a fresh interpreter: the settings are process-wide."""
    import subprocess
    import sys

    code = (
        "import gc\n"
        "from spanguard.sidecar.gc_tuning import THRESHOLDS, tune_for_serving\n"
        "tune_for_serving()\n"
        "assert gc.get_threshold() == THRESHOLDS, gc.get_threshold()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
        "assert gc.isenabled()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
