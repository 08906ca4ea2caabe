"""
TLS against the emulator served over HTTPS with a private certificate authority: verified by
default (sync and async), trusted through the connection extra ``verify`` naming the CA bundle, and
a loud warning whenever verification is turned off.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import ssl
from typing import TYPE_CHECKING

import pytest

from airflow_provider_sov._shared.http import RetryPolicy
from airflow_provider_sov.exceptions import SovConnectionConfigError, SovTransportError
from airflow_provider_sov.hooks.sov import SovHook
from tests.harness import sov_status_body
from tests.reliability.report import REPORT

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_provider_sov.testing.server import EmulatorServer

POLICY = RetryPolicy(attempts=4, min_wait=0.001, max_wait=0.002)


def make_pki(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA (its PEM file) and a server context for 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Test CA"))
        .issuer_name(name("Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = folder / "server.pem"
    chain.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain)
    return ca_file, context


@pytest.fixture(scope="module")
def https_server(tmp_path_factory) -> Iterator[tuple[EmulatorServer, Path]]:
    from airflow_provider_sov.testing.server import EmulatorServer

    ca_file, context = make_pki(tmp_path_factory.mktemp("pki"))
    with EmulatorServer(ssl_context=context) as server:
        yield server, ca_file


def use(monkeypatch, server: EmulatorServer, extra: dict | None = None) -> SovHook:
    assert server.url.startswith("https://")
    conn = {"conn_type": "sovfixer", "host": server.url, "password": server.token, "extra": extra or {}}
    monkeypatch.setenv("AIRFLOW_CONN_SOV_TLS", json.dumps(conn))
    return SovHook("sov_tls", retry_policy=POLICY, timeout=(2.0, 2.0))


def test_an_untrusted_certificate_is_refused_at_once_and_says_what_to_do(https_server, monkeypatch):
    server, _ = https_server
    server.reset_counts()
    with pytest.raises(SovTransportError) as info:
        use(monkeypatch, server).list_output_formats()
    message = str(info.value)
    REPORT.row("TLS", case="verify by default (sync)", outcome=message.split(": ", 1)[1][:110])
    assert "could not be verified" in message and "extra 'verify'" in message
    assert "tries" not in message  # not retried: it would fail the same way every time
    assert sum(server.counts.values()) == 0  # no request reached the server


async def test_an_untrusted_certificate_is_refused_by_the_async_path_too(https_server, monkeypatch):
    server, _ = https_server
    hook = use(monkeypatch, server)
    try:
        with pytest.raises(SovTransportError, match="could not be verified") as info:
            await sov_status_body(hook, "update", "s-no-ping-hggcsk-r001")
    finally:
        await hook.aclose()
    REPORT.row("TLS", case="verify by default (async)", outcome=str(info.value).split(": ", 1)[1][:110])
    assert "tries" not in str(info.value)


async def test_a_ca_bundle_in_the_connection_extra_is_trusted(https_server, monkeypatch):
    server, ca_file = https_server
    hook = use(monkeypatch, server, {"verify": str(ca_file)})
    formats = hook.list_output_formats()
    sud = hook.initiate_update("s-no-ping-hggcsk")
    status = await sov_status_body(hook, "update", sud)
    await hook.aclose()
    REPORT.row("TLS", case="extra verify = CA bundle path", outcome="sync and async requests succeed")
    assert formats and status["request"]["status"] == "PENDING"


def test_turning_verification_off_works_and_warns(https_server, monkeypatch, caplog):
    server, _ = https_server
    from urllib3.exceptions import InsecureRequestWarning

    caplog.set_level(logging.WARNING)
    with pytest.warns(InsecureRequestWarning):  # urllib3's own, per request, besides ours
        assert use(monkeypatch, server, {"verify": False}).list_output_formats()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    REPORT.row("TLS", case="extra verify = false", outcome=warnings[0] if warnings else "no warning")
    assert any("TLS certificate verification is turned off" in w and "sov_tls" in w for w in warnings)


def test_a_ca_bundle_that_does_not_exist_is_refused_before_any_request(https_server, monkeypatch, tmp_path):
    server, _ = https_server
    server.reset_counts()
    with pytest.raises(SovConnectionConfigError, match="CA bundle that does not exist") as info:
        use(monkeypatch, server, {"verify": str(tmp_path / "missing.pem")}).list_output_formats()
    REPORT.row("TLS", case="extra verify = missing file", outcome=str(info.value)[:110])
    assert sum(server.counts.values()) == 0


def test_the_ca_bundle_extra_is_trusted_and_checked(https_server, monkeypatch, tmp_path):
    server, ca_file = https_server
    assert use(monkeypatch, server, {"verify": True, "ca_bundle": str(ca_file)}).list_output_formats()
    REPORT.row("TLS", case="extra verify = on, ca_bundle = CA path", outcome="sync requests succeed")
    with pytest.raises(SovConnectionConfigError, match="'ca_bundle' is set but 'verify' is off"):
        use(monkeypatch, server, {"verify": False, "ca_bundle": str(ca_file)}).list_output_formats()
    with pytest.raises(
        SovConnectionConfigError, match="extra 'ca_bundle' names a CA bundle that does not exist"
    ):
        use(monkeypatch, server, {"ca_bundle": str(tmp_path / "gone.pem")}).list_output_formats()


@pytest.fixture
def bare_host_on_http(sov_emulator, monkeypatch) -> SovHook:
    """A host written without a scheme (so HTTPS) for a server that speaks plain HTTP."""
    bare = sov_emulator.url.removeprefix("http://")
    conn = {"conn_type": "sovfixer", "host": bare, "password": sov_emulator.token}
    monkeypatch.setenv("AIRFLOW_CONN_SOV_BARE", json.dumps(conn))
    return SovHook("sov_bare", retry_policy=POLICY, timeout=(2.0, 2.0))


def test_https_to_a_plain_http_port_says_so_and_is_not_retried(bare_host_on_http, sov_emulator):
    sov_emulator.reset_counts()
    with pytest.raises(SovTransportError) as info:
        bare_host_on_http.list_output_formats()
    message = str(info.value)
    REPORT.row("TLS", case="bare host on a plain-HTTP port (sync)", outcome=message.split(": ", 1)[1][:110])
    host = sov_emulator.url.removeprefix("http://")
    assert f"TLS handshake failed with {host}: " in message and "is this an http:// URL?" in message
    assert "WRONG_VERSION_NUMBER" in message or "wrong version number" in message.lower()
    assert "tries" not in message and sum(sov_emulator.counts.values()) == 0
    ok, said = bare_host_on_http.test_connection()
    assert not ok and "TLS handshake failed" in said and "'args'" not in said


async def test_https_to_a_plain_http_port_says_so_on_the_async_path(bare_host_on_http, sov_emulator):
    try:
        with pytest.raises(SovTransportError) as info:
            await sov_status_body(bare_host_on_http, "update", "s-no-ping-hggcsk-r001")
    finally:
        await bare_host_on_http.aclose()
    message = str(info.value)
    REPORT.row("TLS", case="bare host on a plain-HTTP port (async)", outcome=message.split(": ", 1)[1][:110])
    assert "TLS handshake failed with" in message and "is this an http:// URL?" in message
    assert "connection refused" not in message and "tries" not in message
