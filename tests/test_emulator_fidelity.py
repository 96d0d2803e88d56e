"""The emulator looks and answers like Dfns where Dfns's sources say how, and makes
each assumed value a flag: ids, credentials, methods, limits, retention, event items,
event kinds, file modes, and the assumed values themselves."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pulumi_dfns.emulator.__main__ import parse_args
from pulumi_dfns.events import EVENT_KINDS, closest_known, is_known
from pulumi_dfns.inputs import check_inputs
from pulumi_dfns.signing import b64url_decode
from tests.support.emulator import EmulatorProcess
from tests.support.engine import EngineError, ProviderServer
from tests.support.raw import RawDfns

WEBHOOK_ID = re.compile(r"wh-[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{14,16}")
EVENT_ID = re.compile(r"whe-[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{14,16}")
DAY = 24 * 3600.0
RECEIVER = "http://127.0.0.1:9/x"  # nothing listens: every delivery fails at once


def create(raw: RawDfns, **fields: Any) -> dict[str, Any]:
    body = {"url": RECEIVER, "events": ["wallet.created"], **fields}
    response = raw.signed("POST", "/webhooks", json.dumps(body).encode())
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def message(response: Any) -> str:
    text: str = response.json()["error"]["message"]
    return text


# -- ids and credentials ----------------------------------------------------------------


def test_ids_have_dfns_shapes(emulator: EmulatorProcess) -> None:
    raw = RawDfns(emulator)
    webhook_id = create(raw)["id"]
    assert WEBHOOK_ID.fullmatch(webhook_id), webhook_id
    emulator.control("POST", "events", {"kind": "wallet.created", "timeScale": 1000})
    events = raw.http.get(
        f"{raw.url}/webhooks/{webhook_id}/events", headers=raw.headers(), timeout=10
    ).json()["items"]
    assert events and all(EVENT_ID.fullmatch(e["id"]) for e in events)


def test_credentials_json_names_both_credential_ids(emulator: EmulatorProcess) -> None:
    path = emulator.data_dir / "credentials.json"
    creds = json.loads(path.read_text())
    assert set(creds) == {
        "apiUrl",
        "authToken",
        "credentialId",
        "credentialUuid",
        "privateKeyFile",
    }
    # credentialId: base64url text like Dfns's `Y2kt...` (it decodes to `ci-...`).
    assert creds["credentialId"].startswith("Y2kt")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", creds["credentialId"])
    assert b64url_decode(creds["credentialId"]).decode().startswith("ci-")
    assert re.fullmatch(r"cr-[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{16}", creds["credentialUuid"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # allowCredentials lists the credentialId, the one credId must carry.
    challenge = RawDfns(emulator).challenge("POST", "/webhooks", "")
    assert [c["id"] for c in challenge["allowCredentials"]["key"]] == [creds["credentialId"]]


@pytest.mark.processes
def test_state_files_are_owner_only_and_tightened_on_restart(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    first = start_emulator()
    create(RawDfns(first))  # writes through the WAL
    data_dir = first.data_dir
    files = sorted(p.name for p in data_dir.iterdir())
    assert "emulator.sqlite3" in files
    for path in data_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    first.stop()
    # A data directory from an older emulator (0644 files) is tightened on start.
    for path in data_dir.glob("emulator.sqlite3*"):
        path.chmod(0o644)
    second = start_emulator(data_dir=data_dir)
    create(RawDfns(second))
    for path in data_dir.glob("emulator.sqlite3*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


# -- methods, limits --------------------------------------------------------------------


@pytest.mark.parametrize(("method", "status"), [("GET", 200), ("PATCH", 400), ("HEAD", 400)])
def test_user_action_methods_are_the_documented_four(
    emulator: EmulatorProcess, method: str, status: int
) -> None:
    raw = RawDfns(emulator)
    response = raw.post_json(
        "/auth/action/init",
        {
            "userActionPayload": "",
            "userActionHttpMethod": method,
            "userActionHttpPath": "/webhooks",
            "userActionServerKind": "Api",
        },
    )
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("path", "limit", "status"),
    [
        ("/webhooks", "100", 200),
        ("/webhooks", "101", 400),
        ("events", "200", 200),
        ("events", "201", 400),
    ],
)
def test_page_limits(emulator: EmulatorProcess, path: str, limit: str, status: int) -> None:
    raw = RawDfns(emulator)
    if path == "events":
        path = f"/webhooks/{create(raw)['id']}/events"
    response = raw.http.get(
        raw.url + path, params={"limit": limit}, headers=raw.headers(), timeout=10
    )
    assert response.status_code == status, response.text


def test_url_cap_is_2048_and_not_echoed(emulator: EmulatorProcess) -> None:
    raw = RawDfns(emulator)
    base = "https://receiver.example/"
    create(raw, url=base + "a" * (2048 - len(base)))
    body = json.dumps({"url": base + "a" * (2049 - len(base)), "events": ["*"]}).encode()
    response = raw.signed("POST", "/webhooks", body)
    assert response.status_code == 400
    assert "2048" in message(response) and "aaaa" not in response.text


# -- webhook events ---------------------------------------------------------------------


def test_event_items_carry_the_documented_fields_and_are_kept_31_days(
    emulator: EmulatorProcess,
) -> None:
    raw = RawDfns(emulator)
    webhook_id = create(raw)["id"]
    emulator.control(
        "POST", "events", {"kind": "wallet.created", "data": {"a": 1}, "timeScale": 1e6}
    )
    url = f"{raw.url}/webhooks/{webhook_id}/events"

    def items() -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = raw.http.get(url, headers=raw.headers(), timeout=10).json()[
            "items"
        ]
        return listed

    (event,) = items()
    # dfns/dfns-api-docs api-docs/webhooks/list-webhook-events.md and get-webhook-event.md.
    assert {
        "id",
        "kind",
        "date",
        "data",
        "status",
        "timestampSent",
        "deliveryAttempt",
        "deliveryFailed",
    } <= set(event)
    assert event["kind"] == "wallet.created" and event["data"] == {"a": 1}
    assert event["status"] == "0" and event["deliveryFailed"] is True and event["error"]
    one = raw.http.get(f"{url}/{event['id']}", headers=raw.headers(), timeout=10)
    assert one.status_code == 200 and one.json() == event
    emulator.advance_clock(30 * DAY)
    assert [e["id"] for e in items()] == [event["id"]]
    emulator.advance_clock(DAY + 1)
    assert items() == []
    gone = raw.http.get(f"{url}/{event['id']}", headers=raw.headers(), timeout=10)
    assert gone.status_code == 404


# -- event kinds ------------------------------------------------------------------------


def test_the_catalogue_is_dfns_sdk_1_0_4() -> None:
    # The installed official SDK's own enum (dfns_sdk/generated/webhooks/types.py).
    from dfns_sdk.generated.webhooks import types

    (union,) = typing.get_args(typing.get_type_hints(types.CreateWebhookRequest)["events"])
    kinds = [k for literal in typing.get_args(union) for k in typing.get_args(literal)]
    assert kinds[-1] == "*"
    assert tuple(kinds[:-1]) == EVENT_KINDS
    assert len(EVENT_KINDS) == len(set(EVENT_KINDS)) == 47


@pytest.mark.parametrize("kind", ["webhook.event.retry.triggered", "policy.activity.resolved"])
def test_kinds_no_sdk_lists_are_unknown_warned_never_blocked(kind: str) -> None:
    assert not is_known(kind)
    assert closest_known(kind) is None  # not taken for a typo either
    checked = check_inputs({"url": "https://receiver.example/x", "events": [kind]})
    assert checked.failures == []
    assert checked.inputs["events"] == [kind]
    assert any(kind in w for w in checked.warnings)


@pytest.mark.processes
def test_the_emulator_refuses_unknown_kinds_unless_told_dfns_added_them(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    # Dfns validates kinds against its enum; a kind it added after our catalogue is
    # emulated with --extra-event-kind.
    body = json.dumps({"url": RECEIVER, "events": ["webhook.event.retry.triggered"]}).encode()
    strict = RawDfns(start_emulator())
    refused = strict.signed("POST", "/webhooks", body)
    assert refused.status_code == 400 and "Invalid enum" in message(refused)
    newer = RawDfns(start_emulator("--extra-event-kind", "webhook.event.retry.triggered"))
    assert newer.signed("POST", "/webhooks", body).status_code == 200


# -- assumed values are flags -----------------------------------------------------------


def test_assumed_values_are_listed_and_default_as_documented(emulator: EmulatorProcess) -> None:
    assumed = emulator.control("GET", "assumptions")
    assert assumed == {
        "challenge_ttl": 300.0,
        "user_action_ttl": 300.0,
        "webhook_limit_status": 409,
        "webhook_limit_message": (
            "Webhook limit reached: an organization can have at most {limit} webhooks"
        ),
        "url_max": 2048,
        "delivery_timeout": 10.0,
        "ping_kind": "webhook.ping",
        "unreachable_status": "0",
        "refuse_unknown_fields": True,
        "extra_event_kinds": [],
        "ping_timestamp": True,
        "lean_events": False,
        "secret_in_get": False,
    }


def test_webhook_limit_answer_is_a_flag(start_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = start_emulator(
        "--max-webhooks",
        "1",
        "--webhook-limit-status",
        "400",
        "--webhook-limit-message",
        "quota exceeded ({limit})",
    )
    raw = RawDfns(emulator)
    create(raw)
    body = json.dumps({"url": RECEIVER, "events": ["*"]}).encode()
    response = raw.signed("POST", "/webhooks", body)
    assert response.status_code == 400
    assert message(response) == "quota exceeded (1)"


def test_lifetimes_are_flags(start_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = start_emulator("--challenge-ttl", "5", "--user-action-ttl", "5")
    raw = RawDfns(emulator)
    challenge = raw.challenge("POST", "/webhooks", "")
    emulator.advance_clock(6)
    assert raw.redeem(challenge).status_code == 400
    body = json.dumps({"url": RECEIVER, "events": ["*"]})
    token = raw.user_action("POST", "/webhooks", body)
    emulator.advance_clock(6)
    expired = raw.call("POST", "/webhooks", body.encode(), token)
    assert expired.status_code == 403 and "expired" in message(expired)


@pytest.mark.processes
def test_unknown_fields_answer_400_unless_allowed(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    body = json.dumps({"url": RECEIVER, "events": ["*"], "colour": "blue"}).encode()
    strict = RawDfns(start_emulator())
    assert strict.signed("POST", "/webhooks", body).status_code == 400
    lenient = RawDfns(start_emulator("--allow-unknown-fields"))
    created = lenient.signed("POST", "/webhooks", body)
    assert created.status_code == 200 and "colour" not in created.json()


@pytest.mark.parametrize(
    "flags",
    [
        ("--challenge-ttl", "0"),
        ("--webhook-limit-status", "200"),
        ("--url-max", "0"),
        ("--delivery-timeout", "-1"),
    ],
)
def test_bad_assumption_flags_are_refused(tmp_path: Path, flags: tuple[str, str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--data-dir", str(tmp_path), *flags])


@pytest.mark.processes
def test_a_data_dir_from_before_credential_uuids_gets_one(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    first = start_emulator()
    credential_id = first.credentials()["credentialId"]
    first.stop()
    with sqlite3.connect(first.data_dir / "emulator.sqlite3") as db:
        db.execute("DELETE FROM meta WHERE key='credential_uuid'")
        db.execute("UPDATE credentials SET credential_uuid=NULL")
    second = start_emulator(data_dir=first.data_dir)
    creds = second.credentials()
    assert creds["credentialId"] == credential_id  # configured stacks keep working
    assert creds["credentialUuid"].startswith("cr-")
    create(RawDfns(second))


# -- the provider when Dfns's assumed answers differ -------------------------------------


@pytest.mark.processes
@pytest.mark.parametrize(
    ("status", "words", "hinted"),
    [
        ("409", "Webhook limit reached ({limit})", True),
        ("400", "Maximum number of webhooks: limit {limit}", True),
        ("422", "Organization webhook limit exceeded", True),
        ("400", "Too many webhooks for this organization", False),
    ],
)
def test_the_webhook_limit_hint_degrades_safely(
    start_emulator: Callable[..., EmulatorProcess], status: str, words: str, hinted: bool
) -> None:
    # Dfns documents the limit, not its answer: whatever the status and message, the
    # provider shows Dfns's words, creates nothing more, and adds the hint only when the
    # message speaks of a limit.
    emulator = start_emulator(
        "--max-webhooks", "1", "--webhook-limit-status", status, "--webhook-limit-message", words
    )
    server = ProviderServer()
    try:
        server.configure(emulator.config())
        inputs = {"url": RECEIVER, "events": ["wallet.created"]}
        first = server.check(inputs)
        server.create(first.inputs)
        second = server.check({**inputs, "url": RECEIVER + "/second"})
        emulator.clear_log()
        with pytest.raises(EngineError) as caught:
            server.create(second.inputs)
        details = caught.value.details
        assert words.format(limit=1) in details
        assert ("webhook limit is reached" in details) is hinted
        assert len(emulator.webhooks()) == 1
        creates = [
            e for e in emulator.requests_log() if (e["method"], e["path"]) == ("POST", "/webhooks")
        ]
        assert len(creates) == 1  # a definite 4xx: no retry, no recovery
    finally:
        server.close()
