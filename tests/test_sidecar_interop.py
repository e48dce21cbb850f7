"""Bodies real clients send: chunked (Node.js, Java with gzip), several gzip members,
lowercase `bearer`, OTLP/JSON with unknown fields and snake_case keys (as the Collector
reads them); and the refusals the spec asks for (ids of the wrong length, trailing bytes)."""

from __future__ import annotations

import gzip
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support_sidecar import (
    SidecarProcess,
    make_request,
    read_file_spans,
    sidecar_config,
    spans_seqs,
    wait_for,
)

from spanguard.sidecar.ingest import MAX_RETRY_AFTER_S, retry_after_s

TOKEN = "interop-token"
PROTOBUF = "application/x-protobuf"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    tmp_path = tmp_path_factory.mktemp("interop")
    config = sidecar_config(
        tmp_path,
        max_request_bytes="1MB",
        auth={"bearer_token": TOKEN},
        redaction={"enabled": False},
        truncation={"enabled": False},
    )
    process = SidecarProcess(config, tmp_path)
    yield process
    process.kill()


def _post(
    sidecar: SidecarProcess,
    chunks: list[bytes],
    *,
    content_type: str = PROTOBUF,
    encoding: str | None = None,
    auth: str = f"Bearer {TOKEN}",
) -> http.client.HTTPResponse:
    """POST with a chunked body, sent as the given chunks (what Node's http module does)."""
    host, port = sidecar.http_address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Content-Type": content_type, "Authorization": auth}
    if encoding:
        headers["Content-Encoding"] = encoding
    connection.request("POST", "/v1/traces", body=iter(chunks), headers=headers, encode_chunked=True)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def _pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def _out(sidecar: SidecarProcess) -> Path:
    return Path(sidecar.config["exporters"]["file"]["path"])


def test_chunked_bodies_plain_and_gzip_like_java_are_accepted(sidecar: SidecarProcess) -> None:
    assert _post(sidecar, _pieces(make_request([1, 2]), 7)).status == 200
    # OpenTelemetry Java with gzip: a chunked stream of the compressed body
    assert _post(sidecar, _pieces(gzip.compress(make_request([3])), 5), encoding="gzip").status == 200
    assert wait_for(lambda: {1, 2, 3} <= spans_seqs(_out(sidecar)))


def test_a_chunked_body_over_the_limit_is_413_while_reading(sidecar: SidecarProcess) -> None:
    chunk = b"\x00" * 65536
    response = _post(sidecar, [chunk] * 20)  # 1.3 MB > 1 MB
    assert response.status == 413


def test_the_bearer_scheme_is_case_insensitive(sidecar: SidecarProcess) -> None:
    # One write per request (not chunked): a refusal answers before the body is read, and a
    # client still writing a second chunk then would see a broken pipe instead of the 401.
    url = f"http://{sidecar.http_address}/v1/traces"

    def status(seq: int, auth: str) -> int:
        headers = {"Content-Type": PROTOBUF, "Authorization": auth}
        return httpx.post(url, content=make_request([seq]), headers=headers, timeout=10).status_code

    assert status(10, f"bearer {TOKEN}") == 200
    assert status(11, f"BEARER {TOKEN}") == 200
    assert status(12, f"Basic {TOKEN}") == 401
    assert status(13, "bearer wrong") == 401


def test_every_gzip_member_is_read_and_trailing_garbage_is_400(sidecar: SidecarProcess) -> None:
    two = gzip.compress(make_request([20])) + gzip.compress(make_request([21]))
    assert _post(sidecar, [two], encoding="gzip").status == 200
    assert wait_for(lambda: {20, 21} <= spans_seqs(_out(sidecar)))
    garbage = gzip.compress(make_request([22])) + b"trailing junk"
    assert _post(sidecar, [garbage], encoding="gzip").status == 400
    assert 22 not in spans_seqs(_out(sidecar))


def _json_request(span: dict[str, Any], *, snake: bool = False) -> bytes:
    rs, ss = ("resource_spans", "scope_spans") if snake else ("resourceSpans", "scopeSpans")
    return json.dumps({rs: [{ss: [{"spans": [span]}], "futureField": {"x": 1}}], "another": 2}).encode()


def _span(seq: int, **ids: str) -> dict[str, Any]:
    return {
        "name": f"json-{seq}",
        "unknownSpanField": True,
        "attributes": [{"key": "seq", "value": {"intValue": str(seq)}}],
        **ids,
    }


def test_otlp_json_ignores_unknown_fields_and_reads_snake_case_ids_as_hex(sidecar: SidecarProcess) -> None:
    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    camel = _json_request(_span(30, traceId=trace_id, spanId=span_id))
    assert _post(sidecar, [camel], content_type="application/json").status == 200
    snake = _json_request(_span(31, trace_id=trace_id, span_id=span_id, parent_span_id=""), snake=True)
    assert _post(sidecar, [snake], content_type="application/json").status == 200
    assert wait_for(lambda: {30, 31} <= spans_seqs(_out(sidecar)))
    spans = read_file_spans(_out(sidecar))
    ids = {(s["traceId"], s["spanId"]) for s in spans if s["name"].startswith("json-")}
    assert ids == {(trace_id, span_id)}


def test_otlp_json_ids_of_the_wrong_length_are_400(sidecar: SidecarProcess) -> None:
    short_trace = _json_request(_span(40, traceId="0af765", spanId="b7ad6b7169203331"))
    assert _post(sidecar, [short_trace], content_type="application/json").status == 400
    long_span = _json_request(
        _span(41, trace_id="0af7651916cd43dd8448eb211c80319c", span_id="b7ad6b7169203331ff"), snake=True
    )
    assert _post(sidecar, [long_span], content_type="application/json").status == 400
    assert not {40, 41} & spans_seqs(_out(sidecar))


def test_retry_after_grows_with_the_backlog_and_is_bounded() -> None:
    delays = [retry_after_s(fill / 10) for fill in range(11)]
    assert delays[0] == 1
    assert delays == sorted(delays)
    assert delays[-1] == MAX_RETRY_AFTER_S
    assert retry_after_s(5.0) == MAX_RETRY_AFTER_S
