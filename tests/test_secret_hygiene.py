"""A full lifecycle, faults and failures included, then a scan of everything the user can
see (provider output, errors, outputs outside secret-marked values, check results, the
serialized provider) for the token, the private key, its passphrase and webhook secrets."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import rpc

from pulumi_dfns.signing import load_private_key, private_key_pem
from tests.support.emulator import EmulatorProcess
from tests.support.engine import EngineError, ProviderServer, plaintext

PASSPHRASE = "hygiene-passphrase-7f3a9c"


def visible(value: Any) -> Any:
    """A value as the user sees it: secret-marked parts are shown as [secret]."""
    if rpc.is_rpc_secret(value):
        return "[secret]"
    if isinstance(value, dict):
        return {k: visible(v) for k, v in value.items()}
    if isinstance(value, list):
        return [visible(v) for v in value]
    return value


@pytest.mark.processes
def test_no_secret_is_visible_anywhere(tmp_path: Path) -> None:
    emulator = EmulatorProcess(tmp_path / "emu").start()
    creds = emulator.credentials()
    key_pem = Path(creds["privateKeyFile"]).read_text()
    encrypted_pem = private_key_pem(load_private_key(key_pem), PASSPHRASE)
    config = {
        "dfns:apiUrl": creds["apiUrl"],
        "dfns:authToken": creds["authToken"],
        "dfns:credentialId": creds["credentialId"],
        "dfns:privateKey": encrypted_pem,
        "dfns:privateKeyPassphrase": PASSPHRASE,
        "dfns:readTimeout": "1",
    }
    seen: list[str] = []  # everything shown to the user
    secrets: list[str] = []  # webhook secrets handed out
    server = ProviderServer()

    def show(value: Any) -> None:
        seen.append(repr(visible(value)))

    def expect_failure(call: Any) -> None:
        with pytest.raises(EngineError) as caught:
            call()
        seen.append(caught.value.details)

    try:
        server.configure(config)
        inputs = server.check(
            {"url": "https://receiver.example/h", "events": ["*"], "description": "hygiene"}
        ).inputs
        show(inputs)
        webhook_id, outs = server.create(inputs)
        show(outs)
        secrets.append(rpc.unwrap_rpc_secret(outs["secret"]))
        show(server.diff(webhook_id, plaintext(outs), {**inputs, "status": "Disabled"}).__dict__)
        outs = server.update(webhook_id, outs, {**inputs, "status": "Disabled"})
        show(outs)
        _, read_outs, read_inputs = server.read(webhook_id, outs)
        show(read_outs)
        show(read_inputs)
        # A lost create answer Dfns did not act on, recovered (a new webhook made).
        emulator.fault("POST", "/webhooks", "status", status=500)
        second_id, second = server.create({**inputs, "url": "https://receiver.example/2"})
        show(second)
        secrets.append(rpc.unwrap_rpc_secret(second["secret"]))
        # One Dfns acted on: the create fails naming the webhook (its secret was lost).
        emulator.fault("POST", "/webhooks", "drop_after")
        expect_failure(lambda: server.create({**inputs, "url": "https://receiver.example/3"}))
        for webhook in emulator.webhooks():
            if webhook["url"] == "https://receiver.example/3":
                emulator.client().delete_webhook(webhook["id"])
        # Failures of every kind.
        emulator.fault("PUT", f"/webhooks/{webhook_id}", "status", status=401)
        expect_failure(lambda: server.update(webhook_id, outs, {**inputs, "description": "x"}))
        emulator.fault("DELETE", f"/webhooks/{webhook_id}", "status", status=403)
        expect_failure(lambda: server.delete(webhook_id, outs))
        expect_failure(
            lambda: server.create(
                {**inputs, "url": "http://127.0.0.1:9/closed", "verify_with_ping": True}
            )
        )
        server.delete(webhook_id, outs)
        server.delete(second_id, second)
    finally:
        server.close()
    # The same with broken settings: errors there must not quote them either.
    broken = ProviderServer()
    try:
        broken.configure({**config, "dfns:privateKeyPassphrase": PASSPHRASE + "-wrong"})
        show(broken.check(inputs).__dict__)
        expect_failure(lambda: broken.create(inputs))
    finally:
        broken.close()
    seen.append(server.output())
    seen.append(broken.output())
    seen.append(base64.b64decode(server.provider).decode("latin-1"))
    emulator.stop()

    everything = "\n".join(seen)
    key_lines = [line for line in key_pem.splitlines() if "-----" not in line and line]
    encrypted_lines = [line for line in encrypted_pem.splitlines() if "-----" not in line]
    needles = {
        "auth token": creds["authToken"],
        "token signature": creds["authToken"].rsplit(".", 1)[1],
        "passphrase": PASSPHRASE,
        **{f"webhook secret {n}": s for n, s in enumerate(secrets)},
        **{f"key line {n}": line for n, line in enumerate(key_lines + encrypted_lines)},
    }
    assert all(len(secret) > 20 for secret in secrets)
    hits = [name for name, needle in needles.items() if needle and needle in everything]
    assert hits == []
    # The scan did see the material: ids, errors, and the secret placeholders.
    assert webhook_id in everything and "[secret]" in everything
    assert "HTTP 401" in everything and "HTTP 403" in everything
