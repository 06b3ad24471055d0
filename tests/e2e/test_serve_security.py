"""Nobody unexpected gets in: loopback by default, tokens, TLS."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import ssl
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from tests.e2e.serve_process import start_serve

INGEST_TOKEN = "ingest-s3cret"
UI_TOKEN = "ui-s3cret"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def send_one_span(exporter: SpanExporter, service: str) -> str:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("tests").start_as_current_span("checked") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def test_listening_beyond_loopback_without_tokens_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "traceway.cli", "serve", "--memory", "--host", "0.0.0.0",
         "--port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0",
         "--no-jaeger", "--no-zipkin"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 without authentication" in result.stderr
    assert "TRACEWAY_INGEST_TOKEN and TRACEWAY_UI_TOKEN" in result.stderr

    allowed = start_serve(tmp_path, None, "--host", "0.0.0.0", "--insecure")
    try:
        assert allowed.get("/api/services").status_code == 200
    finally:
        allowed.stop()


def test_tokens_guard_ingest_and_the_ui(tmp_path: Path) -> None:
    serve = start_serve(
        tmp_path, None, env={"TRACEWAY_INGEST_TOKEN": INGEST_TOKEN, "TRACEWAY_UI_TOKEN": UI_TOKEN}
    )
    try:
        url = f"{serve.otlp_http}/v1/traces"
        protobuf = {"Content-Type": "application/x-protobuf"}
        refused = httpx.post(url, content=b"", headers=protobuf)
        assert refused.status_code == 401
        assert refused.json()["code"] == 16  # OTLP's shape: a google.rpc.Status
        assert refused.headers["www-authenticate"] == 'Bearer realm="traceway ingest"'
        wrong = {**protobuf, "Authorization": "Bearer nope"}
        assert httpx.post(url, content=b"", headers=wrong).status_code == 401
        zipkin = f"http://127.0.0.1:{serve.zipkin_port}/api/v2/spans"
        assert httpx.post(zipkin, json=[]).status_code == 401
        assert serve.jaeger_agent_compact_port is None, "UDP cannot carry the token"

        with grpc.insecure_channel(serve.otlp_grpc) as channel, pytest.raises(grpc.RpcError) as no:
            channel.unary_unary(EXPORT)(b"", timeout=10)
        assert no.value.code() == grpc.StatusCode.UNAUTHENTICATED

        headers = {"authorization": f"Bearer {INGEST_TOKEN}"}
        by_grpc = send_one_span(
            GrpcSpanExporter(endpoint=f"http://{serve.otlp_grpc}", insecure=True, headers=headers),
            "grpc-sender",
        )
        by_http = send_one_span(HttpSpanExporter(endpoint=url, headers=headers), "http-sender")

        api = f"{serve.api}/api/traces/{by_grpc}"
        refused = httpx.get(api)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Basic realm="traceway UI and API"'
        # Jaeger's shape, which Grafana's Jaeger data source shows the message of.
        assert refused.json()["data"] is None
        assert refused.json()["errors"][0]["code"] == 401
        assert "missing or wrong credentials" in refused.json()["errors"][0]["msg"]
        page = httpx.get(f"{serve.api}/search")  # the UI's pages answer in plain text
        assert page.status_code == 401
        assert page.headers["content-type"].startswith("text/plain")
        assert httpx.get(api, headers={"Authorization": "Bearer nope"}).status_code == 401
        bearer = {"Authorization": f"Bearer {UI_TOKEN}"}
        assert httpx.get(api, headers=bearer).status_code == 200
        basic = base64.b64encode(f"anyone:{UI_TOKEN}".encode()).decode()
        page = httpx.get(
            f"{serve.api}/api/traces/{by_http}", headers={"Authorization": f"Basic {basic}"}
        )
        assert page.status_code == 200
        assert httpx.get(f"{serve.api}/healthz").status_code == 200
    finally:
        serve.stop()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_on_grpc_and_http_listeners(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these variables override the exporter's own certificate_file.
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)
    cert, key = self_signed_certificate(tmp_path)
    trusting = ssl.create_default_context(cafile=str(cert))
    serve = start_serve(tmp_path, None, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        by_grpc = send_one_span(
            GrpcSpanExporter(endpoint=f"https://{serve.otlp_grpc}", credentials=credentials),
            "tls-grpc",
        )
        by_http = send_one_span(
            HttpSpanExporter(
                endpoint=f"https://127.0.0.1:{serve.otlp_http_port}/v1/traces",
                certificate_file=str(cert),
            ),
            "tls-http",
        )
        api = f"https://127.0.0.1:{serve.port}"
        for trace_id in (by_grpc, by_http):
            response = httpx.get(f"{api}/api/traces/{trace_id}", verify=trusting)
            assert response.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{serve.port}/api/services", timeout=5)
        output = serve.stop()
        assert f"https://127.0.0.1:{serve.otlp_grpc_port}" in output
    finally:
        if serve.process.poll() is None:
            serve.stop()


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert, _ = self_signed_certificate(tmp_path)
    with pytest.raises(RuntimeError, match="TLS needs both --tls-cert and --tls-key"):
        start_serve(tmp_path, None, "--tls-cert", str(cert))
