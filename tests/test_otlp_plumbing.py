"""The one OTLP plumbing of exporters/: URL scrubber, senders' answers read as the OTLP
spec says, and the one retry loop (schedule, Retry-After/RetryInfo, limits).

Senders talk to real servers: a stdlib HTTP server and a gRPC server (the parse-only
receiver) that answer what each case needs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2
from support_receiver import ParseOnlyReceiver
from support_sidecar import make_request

from spanguard.exporters.endpoints import ResourceRules, otlp_target
from spanguard.exporters.retry import (
    OK,
    Outcome,
    RetryOn,
    RetryPolicy,
    SendResult,
    classify_grpc,
    classify_http,
    parse_retry_after,
    send_with_retry,
)
from spanguard.exporters.senders import OtlpGrpcSender, OtlpHttpSender, stamp_resource
from spanguard.exporters.urls import display_url

PROJECT = "openinference.project.name"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pw@host:4318/v1/traces?token=sk-proj-1#frag", "http://***@host:4318/v1/traces"),
        ("https://host/?api_key=k", "https://host/"),
        ("user:pw@collector:4317", "***@collector:4317"),
        ("collector:4317", "collector:4317"),
        ("http://[::1]:4318/", "http://[::1]:4318/"),
        ("http://[::1", "(unparsable URL)"),
    ],
)
def test_display_url_drops_userinfo_query_and_fragment(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_http_answers_are_classified_by_the_spec() -> None:
    assert classify_http(200) is OK
    for status in (429, 502, 503, 504):
        assert classify_http(status).outcome is Outcome.RETRY
    for status in (400, 401, 403, 404, 408, 413, 500):
        assert classify_http(status).outcome is Outcome.REJECTED
    assert classify_http(503, {"retry-after": "7"}).retry_after_s == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None


def test_grpc_codes_are_classified_by_the_spec() -> None:
    for code in ("CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE", "UNAVAILABLE", "DATA_LOSS"):
        assert classify_grpc(code).outcome is Outcome.RETRY
    for code in ("INVALID_ARGUMENT", "UNAUTHENTICATED", "PERMISSION_DENIED", "INTERNAL", "UNIMPLEMENTED"):
        assert classify_grpc(code).outcome is Outcome.REJECTED
    assert classify_grpc("RESOURCE_EXHAUSTED").outcome is Outcome.REJECTED
    assert classify_grpc("RESOURCE_EXHAUSTED", 2.5) == SendResult(
        Outcome.RETRY, "gRPC RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED", 2.5
    )


def test_retry_sets_of_each_caller() -> None:
    rejected_500 = classify_http(500)
    assert not RetryOn.SPEC.retryable(rejected_500)
    assert RetryOn.SPEC.retryable(classify_http(503))
    assert RetryOn.ANY_FAILURE.retryable(classify_http(400))
    assert not RetryOn.ANY_FAILURE.retryable(OK)


def _run(
    answers: list[SendResult], policy: RetryPolicy, clock_step: float = 0.0
) -> tuple[SendResult | None, list[float], int]:
    waits: list[float] = []
    sent = 0
    now = [0.0]

    def send() -> SendResult:
        nonlocal sent
        sent += 1
        return answers[min(sent, len(answers)) - 1]

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        now[0] += seconds + clock_step
        return True

    return send_with_retry(send, policy, wait=wait, clock=lambda: now[0]), waits, sent


def test_backoff_grows_to_the_cap_and_honours_retry_after() -> None:
    down = classify_http(503)
    policy = RetryPolicy(
        initial_interval_s=1, max_interval_s=4, multiplier=2, randomization_factor=0, max_elapsed_time_s=None
    )
    result, waits, sent = _run([down] * 5 + [OK], policy)
    assert (result, waits, sent) == (OK, [1, 2, 4, 4, 4], 6)
    result, waits, _ = _run([classify_http(429, {"retry-after": "9"}), OK], policy)
    assert (result, waits) == (OK, [9])


def test_permanent_errors_are_not_retried_and_limits_give_up() -> None:
    spec = RetryPolicy(initial_interval_s=1, randomization_factor=0)
    result, waits, sent = _run([classify_http(400)], spec)
    assert (result, waits, sent) == (classify_http(400), [], 1)
    # max_elapsed_time: the wait that would pass it is not started
    bounded = RetryPolicy(
        initial_interval_s=1, max_interval_s=1, randomization_factor=0, max_elapsed_time_s=3
    )
    result, waits, sent = _run([classify_http(503)], bounded)
    assert result is not None and result.outcome is Outcome.RETRY and (waits, sent) == ([1, 1, 1], 4)
    capped = RetryPolicy(initial_interval_s=1, randomization_factor=0, max_attempts=2)
    assert _run([classify_http(503)], capped)[1:] == ([1], 2)


def test_randomization_spreads_around_the_interval() -> None:
    policy = RetryPolicy(initial_interval_s=10, randomization_factor=0.5)
    assert policy.backoff(10, rng=lambda: 0.0) == 5
    assert policy.backoff(10, rng=lambda: 0.999999) == pytest.approx(15, abs=1e-4)


def test_a_wait_that_says_stop_keeps_the_data() -> None:
    assert send_with_retry(lambda: classify_http(503), RetryPolicy(), wait=lambda _: False) is None


def test_stamp_resource_defaults_keep_a_client_project() -> None:
    body = make_request([1])
    filled = stamp_resource(body, {}, {PROJECT: "fallback"})
    assert filled != body
    assert stamp_resource(filled, {}, {PROJECT: "other"}) is filled  # already named: untouched
    overridden = stamp_resource(filled, {PROJECT: "forced"})
    assert b"forced" in overridden and b"fallback" not in overridden


class _Answer(BaseHTTPRequestHandler):
    status = 200
    headers_out: ClassVar[dict[str, str]] = {}

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(self.status)
        for key, value in self.headers_out.items():
            self.send_header(key, value)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_backend() -> Iterator[tuple[str, type[_Answer]]]:
    handler = type("Handler", (_Answer,), {"status": 200, "headers_out": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_http_sender_reads_status_and_retry_after(http_backend: tuple[str, type[_Answer]]) -> None:
    url, handler = http_backend
    sender = OtlpHttpSender("t", otlp_target("http/protobuf", f"{url}/?token=sk-proj-x"), "gzip", 5)
    try:
        assert sender.send(make_request([1])) is OK
        handler.status, handler.headers_out = 503, {"Retry-After": "3"}
        assert sender.send(make_request([1])) == SendResult(Outcome.RETRY, "HTTP 503", 503, 3.0)
        handler.status, handler.headers_out = 400, {}
        assert sender.send(make_request([1])).outcome is Outcome.REJECTED
        assert "sk-proj-x" not in repr(sender)
    finally:
        sender.close()


def test_grpc_sender_reads_retry_info() -> None:
    def answer(body: bytes, context: grpc.ServicerContext) -> None:
        if b"with-info" in body:
            status = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message="full")
            info = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=2, nanos=500_000_000))
            status.details.add().Pack(info)
            context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "full")

    receiver = ParseOnlyReceiver(on_request=answer)
    target = otlp_target("grpc", receiver.address, resource=ResourceRules(defaults={PROJECT: "p"}))
    sender = OtlpGrpcSender("t", target, "none", 5)
    try:
        assert sender.send(make_request([1], text="with-info")) == SendResult(
            Outcome.RETRY, "gRPC RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED", 2.5
        )
        assert sender.send(make_request([1])).outcome is Outcome.REJECTED  # no RetryInfo: permanent
    finally:
        sender.close()
        receiver.stop()


def test_a_bad_listen_endpoint_error_does_not_echo_its_password() -> None:
    from spanguard.errors import ConfigError
    from spanguard.sidecar.listen import parse_endpoint

    with pytest.raises(ConfigError) as caught:
        parse_endpoint("user:listen-secret@127.0.0.1", "sidecar.grpc.endpoint")
    assert "listen-secret" not in str(caught.value)
    assert "***@127.0.0.1" in str(caught.value)
