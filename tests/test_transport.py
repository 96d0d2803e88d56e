"""The transport reads the environment once: proxies, CA bundle; never ~/.netrc."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulumi_dfns.transport import Transport
from tests.support.emulator import EmulatorProcess


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
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    assert Transport("https://api.dfns.io").verify == str(bundle)


def test_netrc_credentials_never_replace_the_bearer_token(
    emulator: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    assert emulator.client().list_webhooks() == []  # a Basic header would be a 401
