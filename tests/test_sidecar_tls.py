"""TLS on both receivers, with a throwaway self-signed certificate for 127.0.0.1."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from support_sidecar import make_request, sidecar_config, spans_seqs, wait_for


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.mark.slow
def test_tls_on_grpc_and_http(tmp_path: Path, start_sidecar: Any) -> None:
    cert, key = _self_signed(tmp_path)
    config = sidecar_config(
        tmp_path,
        tls={"cert_file": str(cert), "key_file": str(key)},
        redaction={"enabled": False},
        truncation={"enabled": False},
    )
    sidecar = start_sidecar(config)
    response = httpx.post(
        f"https://{sidecar.http_address}/v1/traces",
        content=make_request([1, 2]),
        headers={"Content-Type": "application/x-protobuf"},
        verify=str(cert),
    )
    assert response.status_code == 200
    assert httpx.get(f"https://{sidecar.http_address}/healthz", verify=str(cert)).status_code == 200
    with pytest.raises(httpx.HTTPError):  # plain HTTP to a TLS port gets nowhere
        httpx.post(
            f"http://{sidecar.http_address}/v1/traces",
            content=make_request([3]),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=5,
        )
    credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    with grpc.secure_channel(sidecar.grpc_address, credentials) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        export(make_request([4, 5]), timeout=10)
    assert wait_for(lambda: {1, 2, 4, 5} <= spans_seqs(tmp_path / "out.jsonl"))
    assert sidecar.terminate() == 0
