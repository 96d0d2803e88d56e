"""The official Dfns Python SDK (`dfns-sdk`) against the emulator: an independent client,
with its own clientData shape (origin, crossOrigin) and serialisation, is accepted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from dfns_sdk import DfnsClient, DfnsClientConfig, DfnsError, KeySigner

from pulumi_dfns.signing import KEY_TYPES
from tests.support.emulator import EmulatorProcess


def sdk_client(emulator: EmulatorProcess) -> DfnsClient:
    creds = emulator.credentials()
    signer = KeySigner(creds["credentialId"], Path(creds["privateKeyFile"]).read_text())
    return DfnsClient(
        DfnsClientConfig(auth_token=creds["authToken"], base_url=creds["apiUrl"], signer=signer)
    )


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_official_sdk_round_trip(
    start_emulator: Callable[..., EmulatorProcess], key_type: str
) -> None:
    emulator = start_emulator("--key-type", key_type)
    sdk = sdk_client(emulator)
    created = sdk.webhooks.create_webhook(
        {"url": "https://receiver.example/sdk", "events": ["wallet.created"]}
    )
    webhook_id = created["id"]
    assert created["secret"]
    updated = sdk.webhooks.update_webhook(webhook_id, {"description": "from the SDK"})
    assert updated["description"] == "from the SDK"
    assert sdk.webhooks.get_webhook(webhook_id)["status"] == "Enabled"
    assert sdk.webhooks.delete_webhook(webhook_id) == {"deleted": True}
    assert emulator.webhooks() == []
    consumed = [e for e in emulator.requests_log() if e["userActionConsumed"]]
    assert [(e["method"], e["path"]) for e in consumed] == [
        ("POST", "/webhooks"),
        ("PUT", f"/webhooks/{webhook_id}"),
        ("DELETE", f"/webhooks/{webhook_id}"),
    ]


def test_official_sdk_sees_dfns_errors(emulator: EmulatorProcess) -> None:
    sdk = sdk_client(emulator)
    with pytest.raises(DfnsError) as caught:
        sdk.webhooks.create_webhook({"url": "https://r.example", "events": []})
    assert caught.value.status_code == 400
