"""The transport reads the environment once: proxies, CA bundle; never ~/.netrc; and
TLS is verified, shown against an https server on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pulumi_dfns.client import DfnsClient
from pulumi_dfns.errors import DfnsSettingsError, DfnsTransportError
from pulumi_dfns.settings import ClientSettings
from pulumi_dfns.transport import Transport
from tests.support.emulator import EmulatorProcess
from tests.support.loopback_http import QuietHandler, serving, url_of


def test_proxy_and_no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert Transport("https://api.dfns.io").proxies.get("https") == "http://proxy.internal:3128"
    monkeypatch.setenv("NO_PROXY", "api.dfns.io")
    assert Transport("https://api.dfns.io").proxies == {}


def test_tls_is_always_verified(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert Transport("https://api.dfns.io").verify is True
    bundle, _ = self_signed(tmp_path)  # a CA bundle of one certificate, made now
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    assert Transport("https://api.dfns.io").verify == str(bundle)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path))  # a directory: read lazily
    assert Transport("https://api.dfns.io").verify == str(tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a certificate\n", b"\xff\xfe\x00\x01"])
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_openssl_cannot_read_is_named_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, content: bytes
) -> None:
    """Without the check, the first https request fails as a TLS error naming no
    setting (urllib3 loads the file there with the same call)."""
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_bytes(content)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv(variable, str(bundle))
    with pytest.raises(DfnsSettingsError) as raised:
        Transport("https://api.dfns.io")
    message = str(raised.value)
    assert message.startswith(f"{variable}: names {bundle}, which holds no CA certificate")
    assert "NO_CERTIFICATE_OR_CRL_FOUND" in message
    # Plain http to loopback never reads the bundle, as requests never does for http.
    assert Transport("http://127.0.0.1:9").verify == str(bundle)


def test_netrc_credentials_never_replace_the_bearer_token(
    emulator: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    assert emulator.client().list_webhooks() == []  # a Basic header would be a 401


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no trust store holds, made now (never committed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pulumi-dfns test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class Listing(QuietHandler):
    """Dfns's empty listing, counting the requests that got through TLS."""

    served: list[str]

    def do_GET(self) -> None:
        self.served.append(self.path)
        self.answer(200, json.dumps({"items": []}).encode(), "application/json")


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """An https endpoint on loopback with an untrusted certificate: (url, cert, served)."""
    cert_file, key_file = self_signed(tmp_path)
    served: list[str] = []
    handler = type("Handler", (Listing,), {"served": served})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)

    def tls(sock: socket.socket) -> socket.socket:
        return context.wrap_socket(sock, server_side=True)

    with serving(handler, tls) as server:
        yield url_of(server, "https"), cert_file, served


def test_an_untrusted_certificate_is_refused_before_anything_is_sent(
    https_server: tuple[str, Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert_file, served = https_server
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = ClientSettings(api_url=url, auth_token="header.payload.signature", max_attempts=1)
    with pytest.raises(DfnsTransportError) as caught:
        DfnsClient(settings).list_webhooks()
    assert "TLS failed" in str(caught.value)
    assert caught.value.maybe_applied is False
    assert served == []  # not one request (nor the bearer token) reached the endpoint
    # The same endpoint, once its certificate is trusted (a corporate CA bundle): the
    # refusal above was the certificate's, not a broken server's.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))
    assert DfnsClient(settings).list_webhooks() == []
    assert len(served) == 1 and served[0].startswith("/webhooks"), served


def test_a_refused_connection_names_the_api_url_and_was_never_sent() -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = ClientSettings(api_url=url, auth_token="header.payload.signature", max_attempts=1)
    with pytest.raises(DfnsTransportError) as caught:
        DfnsClient(settings).list_webhooks()
    assert f"cannot connect to {url}: is dfns:apiUrl right?" in str(caught.value)
    assert caught.value.maybe_applied is False
