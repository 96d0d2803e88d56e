"""The second hostile review (issue 17): each defect through the process where it was
seen (the audit and the receiver as processes, the emulator over HTTP, the provider over
gRPC). Every fix has a test here (or in the bad-input corpus and the fault matrix) that
failed on the code before it; "guard" marks the ones that keep a boundary."""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from pulumi_dfns import paging
from pulumi_dfns.client import DfnsClient
from pulumi_dfns.emulator.auth import WEBHOOK_PERMISSIONS
from pulumi_dfns.errors import DfnsError, DfnsMalformedResponseError, DfnsSigningError
from pulumi_dfns.redact import shown_url
from pulumi_dfns.settings import ClientSettings
from pulumi_dfns.signing import (
    Credential,
    SignableKey,
    generate_private_key,
    load_private_key,
    private_key_pem,
)
from tests.support.cli_project import reference_project
from tests.support.emulator import EmulatorProcess
from tests.support.engine import EngineError, ProviderServer
from tests.support.loopback_http import QuietHandler, start_serving, url_of
from tests.test_audit import EVENTS, audit, export
from tests.test_deliveries import ROOT, free_port
from tests.test_verify_secrets import OLD, post, running_receiver, start_receiver

GOOD = {"url": "https://receiver.example/x", "events": ["wallet.created"]}

# -- 7: a rotation pair is two webhooks of the same stack ---------------------------------


def test_the_same_webhook_in_two_stacks_is_a_duplicate_not_a_rotation_pair(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    client = emulator.client()
    dev = client.create_webhook("https://hooks.example/dfns", EVENTS)
    prod = client.create_webhook("https://hooks.example/dfns", EVENTS)
    states = [
        export(tmp_path / "dev.json", "dev", {"payments": dev["id"]}),
        export(tmp_path / "prod.json", "prod", {"payments": prod["id"]}),
    ]
    result = audit(emulator, "--state", str(states[0]), "--state", str(states[1]), "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["rotationPairs"] == []
    rows = {row["id"]: row for row in report["webhooks"]}
    assert rows[prod["id"]]["duplicateOf"] == dev["id"]
    assert rows[prod["id"]]["rotationPairOf"] is None
    assert f"{prod['id']} duplicates {dev['id']} (same url and events)" in report["findings"]
    table = audit(emulator, "--state", str(states[0]), "--state", str(states[1]))
    assert "rotation pair" not in table.stdout.replace("0 rotation pair(s)", "")


# -- 8: a query that is not plain name=value pairs is hidden whole ------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example/dfns?s3cr3tT0ken", "https://hooks.example/dfns?***"),
        ("https://hooks.example/dfns?k%3Ds3cr3tT0ken", "https://hooks.example/dfns?***"),
        ("https://hooks.example/dfns?s3cr3tT0ken&a=1", "https://hooks.example/dfns?***"),
        ("https://hooks.example/dfns?%74oken=s3cr3tT0ken", "https://hooks.example/dfns?***"),
        (
            "https://hooks.example/dfns?a=1&token=s3cr3tT0ken",
            "https://hooks.example/dfns?a=***&token=***",
        ),
    ],
)
def test_shown_url_hides_a_query_it_cannot_split_into_names_and_values(
    url: str, shown: str
) -> None:
    assert shown_url(url) == shown


def test_the_audit_table_never_shows_a_bare_query_token(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    client = emulator.client()
    made = [
        client.create_webhook(url, EVENTS, description=str(n))
        for n, url in enumerate(
            ("https://hooks.example/a?s3cr3tT0ken", "https://hooks.example/b?k%3Ds3cr3tT0ken")
        )
    ]
    state = export(tmp_path / "dev.json", "dev", {f"w{n}": w["id"] for n, w in enumerate(made)})
    for extra in ([], ["--json"]):
        result = audit(emulator, "--state", str(state), *extra)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "hooks.example/a?***" in result.stdout
        assert "s3cr3tT0ken" not in result.stdout + result.stderr


# -- guard: a state file nested past Python's stack -----------------------------------------


def test_a_deeply_nested_state_or_config_file_is_refused_by_name(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    for option in ("--state", "--config"):
        result = audit(emulator, option, str(deep))
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{option} {deep}: nested too deeply" in result.stderr, result.stderr
        assert "unexpected" not in result.stderr


# -- 9: an adopt refused for lack of Webhooks:Update names Webhooks:Update ----------------


def test_an_adopt_without_the_update_permission_names_it(emulator: EmulatorProcess) -> None:
    made = emulator.client().create_webhook("https://hooks.example/old", EVENTS)
    permissions = [p for p in WEBHOOK_PERMISSIONS if p != "Webhooks:Update"]
    config = {**emulator.config(), "dfns:authToken": emulator.issue_token(permissions=permissions)}
    server = ProviderServer()
    try:
        server.configure(config)
        news = server.check(
            {"url": "https://hooks.example/new", "events": EVENTS, "adopt_webhook_id": made["id"]}
        )
        with pytest.raises(EngineError) as caught:
            server.create(news.inputs)
    finally:
        server.close()
    details = caught.value.details
    assert "HTTP 403" in details and "needs the Webhooks:Update permission" in details, details
    assert "Webhooks:Create" not in details
    assert emulator.client().get_webhook(made["id"])["url"] == "https://hooks.example/old"


# -- 10: the receiver bounds the whole request, not each read -----------------------------


def _answer_or_close(conn: socket.socket, wait: float) -> bytes:
    """What the peer sends back before it closes, or before `wait` passes (a failure)."""
    conn.settimeout(wait)
    data = b""
    while True:
        chunk = conn.recv(4096)  # socket.timeout if the receiver holds the connection
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize("drip", [False, True])
def test_the_receiver_answers_408_to_a_body_that_does_not_arrive_in_time(drip: bool) -> None:
    port = free_port()
    env = {"DFNS_WEBHOOK_SECRETS": OLD}
    with running_receiver(port, "--request-timeout", "0.5", env=env) as first_line:
        assert "receiver ready" in first_line
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"POST /dfns HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            if drip:
                # A byte every 0.1 s: each read is short, the whole is not.
                for _ in range(10):
                    with contextlib.suppress(OSError):
                        conn.sendall(b"x")
                    time.sleep(0.1)
            else:
                conn.sendall(b"0123456789")
            answer = _answer_or_close(conn, 3)
        assert answer.split(b" ")[1:2] == [b"408"], answer
        assert time.monotonic() - started < 2.5
        assert post(port, OLD) == 200  # and it keeps serving


def test_the_receiver_closes_a_connection_whose_headers_do_not_arrive_in_time() -> None:
    port = free_port()
    with running_receiver(
        port, "--request-timeout", "0.5", env={"DFNS_WEBHOOK_SECRETS": OLD}
    ) as first_line:
        assert "receiver ready" in first_line
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"POST /dfns HTTP/1.1\r\nHost: x\r\nContent-")
            assert _answer_or_close(conn, 3) == b""
        assert time.monotonic() - started < 2.5
        assert post(port, OLD) == 200


# -- 11: the receiver refuses at start what would break every delivery --------------------


@pytest.mark.parametrize("tolerance", ["inf", "-inf", "nan", "1e999", "0x"])
def test_the_receiver_refuses_a_tolerance_that_is_not_a_finite_number(tolerance: str) -> None:
    proc = start_receiver(free_port(), "--tolerance", tolerance, env={"DFNS_WEBHOOK_SECRETS": OLD})
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2, out
    assert "--tolerance" in out and "receiver ready" not in out


def test_a_secrets_file_that_is_not_utf8_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "secrets"
    bad.write_bytes(b"whsec-\xff\xfe\xfa-secret\n")
    proc = start_receiver(free_port(), "--secrets-file", str(bad), env={})
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2, out
    assert out.strip() == f"receiver: --secrets-file {bad}: not utf-8 text; write it as UTF-8"
    assert "Traceback" not in out and "whsec" not in out


def test_a_utf16_secrets_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "secrets"
    path.write_bytes(f"{OLD}\r\n".encode("utf-16"))  # PowerShell's `>`
    port = free_port()
    with running_receiver(port, "--secrets-file", str(path), env={}) as first_line:
        assert "(1 secret(s))" in first_line
        assert post(port, OLD) == 200


# -- 14: the client refuses a lone surrogate before signing or sending anything ----------


def test_the_client_sends_nothing_for_text_that_is_not_unicode(emulator: EmulatorProcess) -> None:
    emulator.clear_log()
    with pytest.raises(DfnsError) as caught:
        emulator.client().create_webhook(
            "https://hooks.example/x", EVENTS, description="pay\ud800ments"
        )
    assert "lone UTF-16 surrogate" in str(caught.value) and "nothing was sent" in str(caught.value)
    assert emulator.requests_log() == []


# -- 1: a key file is read as bytes: UTF-16 PEM (PowerShell's `>`) and DER work -----------


def _key_of(emulator: EmulatorProcess) -> SignableKey:
    return load_private_key(Path(emulator.credentials()["privateKeyFile"]).read_bytes())


@pytest.mark.parametrize("form", ["utf-16-bom", "utf-16-le", "utf-8-bom", "der-pkcs8"])
def test_a_key_file_in_another_encoding_or_der_signs(
    emulator: EmulatorProcess, tmp_path: Path, form: str
) -> None:
    key = _key_of(emulator)
    pem = private_key_pem(key)
    data = {
        "utf-16-bom": pem.encode("utf-16"),
        "utf-16-le": pem.encode("utf-16-le"),
        "utf-8-bom": codecs.BOM_UTF8 + pem.encode(),
    }.get(form) or key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "key"
    path.write_bytes(data)
    server = ProviderServer()
    try:
        server.configure({**emulator.config(), "dfns:privateKeyFile": str(path)})
        checked = server.check(GOOD)
        assert checked.failures == []
        webhook_id, _ = server.create(checked.inputs)
    finally:
        server.close()
    assert [w["id"] for w in emulator.webhooks()] == [webhook_id]


# -- 2: a credentialId without an id's shape is refused at check and never echoed ---------


def test_a_token_pasted_as_credential_id_is_never_echoed(emulator: EmulatorProcess) -> None:
    pasted = emulator.credentials()["authToken"]  # a JWT: dots are not base64url
    server = ProviderServer()
    try:
        server.configure({**emulator.config(), "dfns:credentialId": pasted})
        checked = server.check(GOOD)
        assert [p for p, _ in checked.failures] == ["dfns:credentialId"]
        with pytest.raises(EngineError) as caught:
            server.create(checked.inputs)
        output = server.output()
    finally:
        server.close()
    for part in pasted.split("."):
        assert part not in str(checked.failures) + caught.value.details + output
    assert "dfns:credentialId" in caught.value.details


def test_a_credential_without_the_id_shape_is_not_shown_by_the_signer() -> None:
    """guard: the signer shows only an id-shaped credentialId, whoever built it."""
    credential = Credential("secret.with.dots", generate_private_key("ed25519"))
    with pytest.raises(DfnsSigningError) as caught:
        credential.assertion_for({"challenge": "c", "allowCredentials": {"key": [{"id": "Y2k"}]}})
    assert "secret.with.dots" not in str(caught.value) and "Y2k" in str(caught.value)


def test_a_secret_with_an_id_s_shape_is_shown_only_by_its_first_characters() -> None:
    """A webhook secret (`whs-...`, create-webhook.md) or a hex key has a base64url id's
    shape: the signer's message names only its first four characters and its length."""
    for pasted in ("whs-Fij3kMCRZLCAzOqnpLzVQUEKe9Rw5V8s", "9f86d081884c7d659a2feaa0c55ad015"):
        credential = Credential(pasted, generate_private_key("ed25519"))
        with pytest.raises(DfnsSigningError) as caught:
            credential.assertion_for(
                {"challenge": "c", "allowCredentials": {"key": [{"id": "Y2k"}]}}
            )
        assert pasted not in str(caught.value) and pasted[4:12] not in str(caught.value)
        assert f"{pasted[:4]}... ({len(pasted)} characters)" in str(caught.value)


# -- 3: the key source is one setting: stack config (either form) before DFNS_* -----------


def test_a_private_key_in_the_environment_does_not_beat_the_stack_s_key_file(
    emulator: EmulatorProcess,
) -> None:
    other = private_key_pem(generate_private_key("ed25519"))
    server = ProviderServer(env={"DFNS_PRIVATE_KEY": other})
    try:
        server.configure(emulator.config())  # dfns:privateKeyFile, as the template stores
        checked = server.check(GOOD)
        webhook_id, _ = server.create(checked.inputs)
    finally:
        server.close()
    assert [w["id"] for w in emulator.webhooks()] == [webhook_id]


def test_the_quickstart_ignores_dfns_variables_of_the_shell(tmp_path: Path) -> None:
    shell = {
        "DFNS_PRIVATE_KEY": private_key_pem(generate_private_key("ed25519")),
        "DFNS_PRIVATE_KEY_PASSPHRASE": "for-another-key",
        "DFNS_READ_TIMEOUT": "soon",
    }
    # A copy of the project, never the checkout: with a CLI in the checkout's .tools/ the
    # quickstart would run `pulumi stack select --create dev` there, and the salt it writes
    # into stacks/Pulumi.dev.yaml (put back afterwards) is read by any test copying the
    # file meanwhile (a CI run's `stack init`: "incorrect passphrase").
    project = reference_project(tmp_path / "project")
    result = subprocess.run(
        [
            sys.executable, "-m", "pulumi_dfns.quickstart", "--data-dir", str(tmp_path / "emu"),
            "--project", str(project),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env={**os.environ, **shell, "PATH": str(Path(sys.executable).parent)},
    )  # fmt: skip
    # No CLI on PATH or in the copy's .tools/: the provider driven directly, which reads
    # the settings; a key, passphrase or timeout from the shell would fail it.
    assert result.returncode == 0, result.stderr
    assert "pulumi CLI is not installed" in result.stderr
    assert (
        "quickstart: ignoring DFNS_PRIVATE_KEY, DFNS_PRIVATE_KEY_PASSPHRASE, DFNS_READ_TIMEOUT "
        "from your shell" in result.stderr
    )
    assert "for-another-key" not in result.stderr + result.stdout


# -- 4: the audit names a CA bundle variable that names no file ---------------------------


def test_the_audit_names_a_ca_bundle_that_does_not_exist(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-ca.pem")
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env = {
            "DFNS_API_URL": "https://127.0.0.1:9",
            "DFNS_AUTH_TOKEN": "token",
            "REQUESTS_CA_BUNDLE": "",  # empty counts as unset, as requests reads it
            variable: missing,
        }
        result = audit(emulator, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert (
            f"audit: cannot run: {variable}: names {missing}, which does not exist" in result.stderr
        )


# -- 5: a plain-http loopback API url is never sent through a proxy -----------------------


class RecordingProxy(ThreadingHTTPServer):
    """A proxy on loopback that records what reaches it and forwards nothing."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(QuietHandler):
            def _refuse(self) -> None:
                proxy.seen.append(f"{self.command} {self.path} {self.headers.get('Authorization')}")
                self.answer(502)

            do_GET = do_POST = do_PUT = do_DELETE = do_CONNECT = _refuse

        super().__init__(("127.0.0.1", 0), Handler)
        start_serving(self)

    @property
    def url(self) -> str:
        return url_of(self)


def test_a_loopback_http_api_url_is_not_sent_through_http_proxy(
    emulator: EmulatorProcess,
) -> None:
    proxy = RecordingProxy()
    proxies = {n: proxy.url for n in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")}
    server = ProviderServer(env={**proxies, "NO_PROXY": "", "no_proxy": ""})
    try:
        server.configure(emulator.config())
        webhook_id, _ = server.create(server.check(GOOD).inputs)
    finally:
        server.close()
        proxy.shutdown()
        proxy.server_close()
    assert proxy.seen == []
    assert [w["id"] for w in emulator.webhooks()] == [webhook_id]


# -- guard: a nextPageToken that cycles (or never ends) stops the listing ------------------


class EndlessPages(ThreadingHTTPServer):
    """A Dfns stand-in on loopback whose webhook list never ends: its nextPageToken
    cycles A, B, A, ... (`cycle`) or is new on every page. The emulator's tokens are
    correct, so this is the one server a test must write itself."""

    def __init__(self, cycle: bool) -> None:
        self.pages = 0
        server = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.pages += 1
                token = "AB"[server.pages % 2] if cycle else f"T{server.pages}"
                body = json.dumps({"items": [], "nextPageToken": token}).encode()
                self.answer(200, body, "application/json")

        super().__init__(("127.0.0.1", 0), Handler)
        start_serving(self)

    @property
    def url(self) -> str:
        return url_of(self)


def test_a_cycling_page_token_ends_the_audit_with_a_clear_error(
    emulator: EmulatorProcess,
) -> None:
    fake = EndlessPages(cycle=True)
    try:
        result = audit(emulator, env={"DFNS_API_URL": fake.url, "DFNS_AUTH_TOKEN": "token"})
    finally:
        fake.shutdown()
        fake.server_close()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "nextPageToken repeats the token of an earlier page" in result.stderr
    assert fake.pages == 3


def test_a_listing_that_never_ends_stops_at_the_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "MAX_PAGES", 20)
    fake = EndlessPages(cycle=False)
    settings = ClientSettings(api_url=fake.url, auth_token="token")
    try:
        with pytest.raises(DfnsMalformedResponseError) as caught:
            DfnsClient(settings).list_webhooks()
    finally:
        fake.shutdown()
        fake.server_close()
    assert "runs past 20 pages" in str(caught.value)
    assert fake.pages == 20


def test_a_secrets_file_replaced_by_one_that_is_not_text_is_ignored_not_a_crash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "secrets"
    path.write_text(OLD)
    port = free_port()
    proc = start_receiver(port, "--secrets-file", str(path), env={})
    try:
        assert proc.stdout is not None and "receiver ready" in proc.stdout.readline()
        assert post(port, OLD) == 200
        staged = tmp_path / "secrets.new"
        staged.write_bytes(b"\x80\x81" + OLD.encode())  # not UTF-8, and no BOM
        staged.replace(path)
        assert post(port, OLD) == 401  # its secrets are not used, and it still answers
        staged.write_text(OLD)
        staged.replace(path)
        assert post(port, OLD) == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"ignoring the secrets file: --secrets-file {path}: not utf-8 text" in out
    assert "Traceback" not in out
