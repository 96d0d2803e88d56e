"""The Dfns client against the emulator process, over loopback HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pulumi_dfns.client import DfnsClient
from pulumi_dfns.errors import (
    DfnsConflictError,
    DfnsNotFoundError,
    DfnsPendingApprovalError,
    DfnsRateLimitedError,
    DfnsServerError,
    DfnsSigningError,
    DfnsTransportError,
    DfnsUnauthorizedError,
)
from pulumi_dfns.settings import ClientSettings
from pulumi_dfns.signing import KEY_TYPES, Credential
from pulumi_dfns.transport import USER_AGENT
from tests.support.emulator import EmulatorProcess

SIGNING = [("POST", "/auth/action/init"), ("POST", "/auth/action")]


def calls(emulator: EmulatorProcess) -> list[tuple[str, str]]:
    return [(e["method"], e["path"]) for e in emulator.requests_log()]


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_full_webhook_round_trip_for_every_key_type(
    start_emulator: Callable[..., EmulatorProcess], key_type: str
) -> None:
    emulator = start_emulator("--key-type", key_type)
    client = emulator.client()

    created = client.create_webhook(
        "https://receiver.example/hook", ["wallet.created"], description="first"
    )
    webhook_id = created["id"]
    assert webhook_id.startswith("wh-")
    assert created["secret"]
    assert created["status"] == "Enabled"
    assert calls(emulator) == [*SIGNING, ("POST", "/webhooks")]

    emulator.clear_log()
    updated = client.update_webhook(
        webhook_id,
        url="https://receiver.example/hook",
        events=["wallet.created"],
        status="Enabled",
        description="second",
    )
    assert updated["description"] == "second"
    assert updated["url"] == "https://receiver.example/hook"
    assert updated["events"] == ["wallet.created"]
    # Every update carries the whole state (issue 10 item 3): all four fields, one PUT.
    assert emulator.requests_log()[-1]["bodyFields"] == ["description", "events", "status", "url"]
    assert "secret" not in updated
    assert calls(emulator) == [*SIGNING, ("PUT", f"/webhooks/{webhook_id}")]

    fetched = client.get_webhook(webhook_id)
    assert fetched["description"] == "second"
    assert "secret" not in fetched
    assert [w["id"] for w in client.list_webhooks()] == [webhook_id]

    emulator.clear_log()
    client.delete_webhook(webhook_id)
    log = emulator.requests_log()
    assert [(e["method"], e["path"]) for e in log] == [
        *SIGNING,
        ("DELETE", f"/webhooks/{webhook_id}"),
    ]
    assert log[-1]["userActionConsumed"] is True
    assert all(e["userAgent"] == USER_AGENT for e in log)
    with pytest.raises(DfnsNotFoundError):
        client.get_webhook(webhook_id)


def test_list_follows_every_page(start_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = start_emulator("--max-webhooks", "20")
    client = emulator.client(page_limit=3)
    made = [client.create_webhook(f"https://receiver.example/{n}", ["*"])["id"] for n in range(7)]
    emulator.clear_log()
    assert [w["id"] for w in client.list_webhooks()] == made
    pages = [e for e in emulator.requests_log() if e["path"] == "/webhooks"]
    assert len(pages) == 3  # 3 + 3 + 1
    assert "paginationToken" not in pages[0]["query"]
    assert all("paginationToken" in p["query"] for p in pages[1:])


def test_webhook_limit_is_enforced_like_dfns(emulator: EmulatorProcess) -> None:
    client = emulator.client()
    for n in range(5):
        client.create_webhook(f"https://receiver.example/{n}", ["*"])
    with pytest.raises(DfnsConflictError) as caught:
        client.create_webhook("https://receiver.example/6", ["*"])
    assert caught.value.status == 409
    assert "at most 5 webhooks" in str(caught.value)
    assert len(emulator.webhooks()) == 5


@pytest.mark.processes
def test_state_survives_an_emulator_restart(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    first = start_emulator()
    credentials = first.credentials()
    webhook_id = first.client().create_webhook("https://receiver.example/x", ["*"])["id"]
    first.stop()

    second = start_emulator(data_dir=first.data_dir)
    again = second.credentials()
    assert again["authToken"] == credentials["authToken"]
    assert again["credentialId"] == credentials["credentialId"]
    client = second.client()
    assert client.get_webhook(webhook_id)["url"] == "https://receiver.example/x"
    # The old key still signs.
    client.update_webhook(
        webhook_id,
        url="https://receiver.example/x",
        events=["*"],
        status="Disabled",
        description=None,
    )
    assert client.get_webhook(webhook_id)["status"] == "Disabled"


def test_refuses_to_sign_with_a_credential_the_challenge_does_not_allow(
    emulator: EmulatorProcess,
) -> None:
    settings = emulator.settings()
    assert settings.credential is not None
    stranger = Credential("Y2ktbm90LW1pbmU", settings.credential.key)
    client = DfnsClient(emulator.settings(credential=stranger))
    with pytest.raises(DfnsSigningError) as caught:
        client.create_webhook("https://receiver.example/x", ["*"])
    # Named by its first characters and length (signing.Credential.shown_id).
    assert "Y2kt... (15 characters)" in str(caught.value)
    assert "dfns:credentialId" in str(caught.value)
    # Refused before anything changing was sent.
    assert ("POST", "/webhooks") not in calls(emulator)


def test_a_credential_uuid_gives_an_error_naming_the_id_to_set(
    emulator: EmulatorProcess,
) -> None:
    # The cr-... credentialUuid is the id people find first; Dfns signs with the
    # credentialId. The error says which to set, and where it is shown.
    settings = emulator.settings()
    assert settings.credential is not None
    creds = emulator.credentials()
    uuid, credential_id = creds["credentialUuid"], creds["credentialId"]
    assert uuid.startswith("cr-") and credential_id != uuid
    client = DfnsClient(emulator.settings(credential=Credential(uuid, settings.credential.key)))
    with pytest.raises(DfnsSigningError) as caught:
        client.create_webhook("https://receiver.example/x", ["*"])
    message = str(caught.value)
    assert "credentialUuid" in message
    assert "set dfns:credentialId to the signing key's credentialId" in message
    assert "Cred ID" in message
    assert credential_id in message  # the id Dfns allows, to copy
    assert ("POST", "/webhooks") not in calls(emulator)


def test_errors_carry_status_and_message_but_never_the_token(emulator: EmulatorProcess) -> None:
    good = emulator.settings()
    bad_token = good.auth_token[:-6] + "AAAAAA"
    client = DfnsClient(
        ClientSettings(api_url=good.api_url, auth_token=bad_token, credential=good.credential)
    )
    with pytest.raises(DfnsUnauthorizedError) as caught:
        client.list_webhooks()
    text = str(caught.value)
    assert caught.value.status == 401
    assert "GET /webhooks" in text
    assert "dfns:authToken" in text
    assert bad_token not in text and good.auth_token not in text
    assert caught.value.error_id and caught.value.error_id.startswith("er-")


def test_pending_approval_is_its_own_error(emulator: EmulatorProcess) -> None:
    client = emulator.client()
    webhook_id = client.create_webhook("https://receiver.example/x", ["*"])["id"]
    emulator.fault("PUT", f"/webhooks/{webhook_id}", "status", status=202)
    with pytest.raises(DfnsPendingApprovalError) as caught:
        client.update_webhook(
            webhook_id,
            url="https://receiver.example/x",
            events=["*"],
            status="Disabled",
            description=None,
        )
    assert caught.value.error_id and caught.value.error_id.startswith("ap-")
    assert "approve" in str(caught.value)


def test_one_pooled_connection_serves_sequential_calls(emulator: EmulatorProcess) -> None:
    client = emulator.client()
    before = emulator.connections_opened()
    webhook_id = client.create_webhook("https://receiver.example/x", ["*"])["id"]
    for _ in range(5):
        client.get_webhook(webhook_id)
    client.delete_webhook(webhook_id)
    # 3 + 5 + 3 requests over one kept-alive connection.
    assert emulator.connections_opened() - before == 1


def test_a_lost_create_answer_is_not_retried_blindly(emulator: EmulatorProcess) -> None:
    client = emulator.client()
    emulator.fault("POST", "/webhooks", "drop_after")
    with pytest.raises(DfnsTransportError) as caught:
        client.create_webhook("https://receiver.example/x", ["*"])
    assert caught.value.maybe_applied is True
    creates = [e for e in emulator.requests_log() if e["path"] == "/webhooks"]
    assert len(creates) == 1
    assert len(emulator.webhooks()) == 1


def test_ping_and_events_endpoints(emulator: EmulatorProcess) -> None:
    client = emulator.client()
    # Nothing listens on port 9 of loopback: the ping reports the failed delivery.
    webhook_id = client.create_webhook("http://127.0.0.1:9/hook", ["*"])["id"]
    answer = client.ping_webhook(webhook_id)
    assert answer["status"] == "0"
    assert "delivery failed" in answer["error"]
    assert client.list_webhook_events(webhook_id) == []
    assert client.list_webhook_events(webhook_id, kind="wallet.created", delivery_failed=True) == []
    with pytest.raises(DfnsNotFoundError):
        client.get_webhook_event(webhook_id, "whe-missing")


def test_retry_after_is_honoured(emulator: EmulatorProcess) -> None:
    client = emulator.client()
    emulator.fault("GET", "/webhooks", "status", status=429, retryAfter=1)
    started = time.monotonic()
    assert client.list_webhooks() == []
    assert time.monotonic() - started >= 1.0
    assert [e["status"] for e in emulator.requests_log()] == [429, 200]


def test_a_retried_signed_call_gets_a_fresh_challenge_and_signature(
    emulator: EmulatorProcess,
) -> None:
    client = emulator.client()
    webhook_id = client.create_webhook("https://receiver.example/x", ["*"])["id"]
    emulator.clear_log()
    emulator.fault("PUT", f"/webhooks/{webhook_id}", "status", status=503)
    client.update_webhook(
        webhook_id,
        url="https://receiver.example/x",
        events=["*"],
        status="Disabled",
        description=None,
    )
    log = emulator.requests_log()
    put = ("PUT", f"/webhooks/{webhook_id}")
    assert [(e["method"], e["path"]) for e in log] == [*SIGNING, put, *SIGNING, put]
    assert [e["status"] for e in log] == [200, 200, 503, 200, 200, 200]


def test_retries_are_bounded_in_attempts(start_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = start_emulator()
    client = DfnsClient(emulator.settings(max_attempts=3))
    emulator.fault("GET", "/webhooks", "status", status=500, times=10)
    with pytest.raises(DfnsServerError):
        client.list_webhooks()
    assert len(emulator.requests_log()) == 3


def test_retries_are_bounded_in_time(emulator: EmulatorProcess) -> None:
    client = DfnsClient(emulator.settings(retry_timeout=0.5))
    emulator.fault("GET", "/webhooks", "status", status=429, retryAfter=5, times=10)
    started = time.monotonic()
    with pytest.raises(DfnsRateLimitedError) as caught:
        client.list_webhooks()
    # A wait past the budget is not started: the error comes at once, saying to wait.
    assert time.monotonic() - started < 2
    assert caught.value.retry_after == 5
    assert "wait" in str(caught.value)


def test_non_ascii_bodies_are_signed_and_sent_as_the_same_bytes(emulator: EmulatorProcess) -> None:
    client = emulator.client()
    created = client.create_webhook(
        "https://receiver.example/x", ["*"], description="Zahlungen für café ✓"
    )
    updated = client.update_webhook(
        created["id"],
        url="https://receiver.example/x",
        events=["*"],
        status="Enabled",
        description="paiements, 支付",
    )
    assert updated["description"] == "paiements, 支付"
