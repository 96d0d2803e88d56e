"""How a user action binds to its request: by method, path and JSON value.

Every shape an official SDK sends is accepted (binding.py cites what each signs and
sends); every change of method, path or JSON value is refused and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.raw import RawDfns

# A loopback port nothing listens on: pings are refused at once, and no traffic leaves.
WEBHOOK = {
    "url": "http://127.0.0.1:9/x",
    "events": ["wallet.created", "wallet.exported"],
    "status": "Enabled",
    "description": "Zürich <&> café",
}
COMPACT = json.dumps(WEBHOOK, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture
def raw(emulator: EmulatorProcess) -> RawDfns:
    return RawDfns(emulator)


def create(raw: RawDfns) -> str:
    response = raw.signed("POST", "/webhooks", COMPACT.encode())
    assert response.status_code == 200, response.text
    webhook_id: str = response.json()["id"]
    return webhook_id


def state(emulator: EmulatorProcess, webhook_id: str) -> dict[str, Any]:
    found = {w["id"]: w for w in emulator.webhooks()}
    return found.get(webhook_id, {})


# (label, signed payload, body sent): one JSON value, two texts.
SAME_VALUE: list[tuple[str, str, bytes]] = [
    (
        "python-sdk-ascii-escapes-signed-utf8-sent",
        json.dumps(WEBHOOK, separators=(",", ":")),
        COMPACT.encode(),
    ),
    ("utf8-signed-ascii-escapes-sent", COMPACT, json.dumps(WEBHOOK).encode()),
    ("spaced-json-httpx-before-0.28", COMPACT, json.dumps(WEBHOOK, ensure_ascii=False).encode()),
    (
        "keys-in-another-order",
        COMPACT,
        json.dumps(dict(reversed(list(WEBHOOK.items()))), ensure_ascii=False).encode(),
    ),
    (
        "go-html-escapes",
        COMPACT,
        COMPACT.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode(),
    ),
    ("escaped-slashes", COMPACT, COMPACT.replace("/", "\\/").encode()),
    ("surrounding-whitespace", COMPACT, b"\n " + COMPACT.encode() + b" \r\n"),
]


@pytest.mark.parametrize(("label", "signed", "sent"), SAME_VALUE, ids=[c[0] for c in SAME_VALUE])
def test_the_same_json_value_in_any_text_binds(
    raw: RawDfns, emulator: EmulatorProcess, label: str, signed: str, sent: bytes
) -> None:
    webhook_id = create(raw)
    path = f"/webhooks/{webhook_id}"
    token = raw.user_action("PUT", path, signed)
    response = raw.call("PUT", path, sent, token)
    assert response.status_code == 200, response.text
    assert response.json()["description"] == WEBHOOK["description"]


# Bodiless calls: no body, "" and {} are one value, whichever is signed and sent.
BODILESS = [
    ("python-go-sdk", "", b""),  # dfns-sdk and dfns-sdk-go: payload "", no body
    ("java-sdk", "{}", b""),  # dfns-sdk-java: signs {}, sends no body
    ("typescript-sdk", "{}", b"{}"),  # @dfns/sdk: signs and sends {}
    ("empty-signed-object-sent", "", b"{}"),
]


@pytest.mark.parametrize(("label", "signed", "sent"), BODILESS, ids=[c[0] for c in BODILESS])
def test_bodiless_delete_and_ping_bind_in_every_sdk_shape(
    raw: RawDfns, emulator: EmulatorProcess, label: str, signed: str, sent: bytes
) -> None:
    webhook_id = create(raw)
    ping = f"/webhooks/{webhook_id}/ping"
    pinged = raw.call("POST", ping, sent, raw.user_action("POST", ping, signed))
    assert pinged.status_code == 200, pinged.text
    assert set(pinged.json()) <= {"status", "error"}
    path = f"/webhooks/{webhook_id}"
    deleted = raw.call("DELETE", path, sent, raw.user_action("DELETE", path, signed))
    assert deleted.status_code == 200, deleted.text
    assert state(emulator, webhook_id) == {}


def test_python_sdk_empty_update_binds(raw: RawDfns, emulator: EmulatorProcess) -> None:
    # dfns-sdk signs "" for a `{}` body (`if body`) and sends `{}`.
    webhook_id = create(raw)
    path = f"/webhooks/{webhook_id}"
    before = state(emulator, webhook_id)
    response = raw.call("PUT", path, b"{}", raw.user_action("PUT", path, ""))
    assert response.status_code == 200, response.text
    assert {k: v for k, v in state(emulator, webhook_id).items() if k != "dateUpdated"} == {
        k: v for k, v in before.items() if k != "dateUpdated"
    }


def _with(**changes: Any) -> bytes:
    body = {**WEBHOOK, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


# (label, method sent, path sent ({id} is the webhook), body sent); the token is always
# signed for PUT /webhooks/{id} with COMPACT.
TAMPERED: list[tuple[str, str, str, bytes]] = [
    ("url-changed", "PUT", "/webhooks/{id}", _with(url="http://127.0.0.1:9/y")),
    ("url-host-changed", "PUT", "/webhooks/{id}", _with(url="https://evil.example/x")),
    ("event-changed", "PUT", "/webhooks/{id}", _with(events=["wallet.created", "key.created"])),
    ("event-added", "PUT", "/webhooks/{id}", _with(events=[*WEBHOOK["events"], "key.created"])),
    ("event-removed", "PUT", "/webhooks/{id}", _with(events=["wallet.created"])),
    (
        "events-reordered",
        "PUT",
        "/webhooks/{id}",
        _with(events=["wallet.exported", "wallet.created"]),
    ),
    ("events-star", "PUT", "/webhooks/{id}", _with(events=["*"])),
    ("status-changed", "PUT", "/webhooks/{id}", _with(status="Disabled")),
    ("status-dropped", "PUT", "/webhooks/{id}", _with(status=None)),
    ("description-changed", "PUT", "/webhooks/{id}", _with(description="Zürich <&> cafe")),
    ("description-emptied", "PUT", "/webhooks/{id}", _with(description="")),
    ("description-dropped", "PUT", "/webhooks/{id}", _with(description=None)),
    (
        "unicode-decomposed",
        "PUT",
        "/webhooks/{id}",
        _with(description="Zu\u0308rich <&> cafe\u0301"),
    ),
    ("field-added", "PUT", "/webhooks/{id}", _with(secret="mine")),
    ("null-for-a-field", "PUT", "/webhooks/{id}", COMPACT.replace('"Enabled"', "null").encode()),
    ("bool-for-number", "PUT", "/webhooks/{id}", b'{"status":true}'),
    (
        "repeated-key-last-wins",
        "PUT",
        "/webhooks/{id}",
        COMPACT[:-1].encode() + b',"status":"Disabled"}',
    ),
    ("trailing-garbage", "PUT", "/webhooks/{id}", COMPACT.encode() + b"x"),
    ("second-document", "PUT", "/webhooks/{id}", COMPACT.encode() + b'{"status":"Disabled"}'),
    ("not-json", "PUT", "/webhooks/{id}", b"url=https://evil.example"),
    ("not-utf8", "PUT", "/webhooks/{id}", COMPACT.encode("utf-16")),
    ("empty-body", "PUT", "/webhooks/{id}", b""),
    ("empty-object", "PUT", "/webhooks/{id}", b"{}"),
    ("array-of-it", "PUT", "/webhooks/{id}", b"[" + COMPACT.encode() + b"]"),
    ("method-delete", "DELETE", "/webhooks/{id}", COMPACT.encode()),
    ("method-post-create", "POST", "/webhooks", COMPACT.encode()),
    ("method-ping", "POST", "/webhooks/{id}/ping", COMPACT.encode()),
    ("path-other-webhook", "PUT", "/webhooks/{other}", COMPACT.encode()),
    ("path-trailing-slash", "PUT", "/webhooks/{id}/", COMPACT.encode()),
    ("path-id-extended", "PUT", "/webhooks/{id}0", COMPACT.encode()),
    ("path-id-truncated", "PUT", "/webhooks/{id_head}", COMPACT.encode()),
    ("path-upper-case", "PUT", "/Webhooks/{id}", COMPACT.encode()),
]


@pytest.mark.parametrize(
    ("label", "method", "path", "body"), TAMPERED, ids=[c[0] for c in TAMPERED]
)
def test_every_change_of_method_path_or_value_is_refused(
    raw: RawDfns,
    emulator: EmulatorProcess,
    label: str,
    method: str,
    path: str,
    body: bytes,
) -> None:
    webhook_id = create(raw)
    other_id = create(raw)
    before = [state(emulator, webhook_id), state(emulator, other_id)]
    signed_path = f"/webhooks/{webhook_id}"
    token = raw.user_action("PUT", signed_path, COMPACT)
    sent_path = path.format(id=webhook_id, other=other_id, id_head=webhook_id[:-1])
    response = raw.call(method, sent_path, body, token)
    assert response.status_code in (403, 404, 405), (label, response.status_code, response.text)
    assert [state(emulator, webhook_id), state(emulator, other_id)] == before
    assert len(emulator.webhooks()) == 2
    # The refusal did not spend the token: the signed request still goes through.
    assert raw.call("PUT", signed_path, COMPACT.encode(), token).status_code == 200


def test_the_tampering_corpus_is_large_enough() -> None:
    assert len(TAMPERED) >= 30


def test_numbers_compare_exactly(raw: RawDfns) -> None:
    # Float rounding must never merge two numbers (2**53 + 1 rounds to 2**53 as a double).
    webhook_id = create(raw)
    path = f"/webhooks/{webhook_id}"
    token = raw.user_action("PUT", path, '{"n":9007199254740993}')
    response = raw.call("PUT", path, b'{"n":9007199254740992}', token)
    assert response.status_code == 403
    # Same number, two spellings: binds (then the body is refused for its unknown field).
    token = raw.user_action("PUT", path, '{"n":1}')
    assert raw.call("PUT", path, b'{"n":1.0}', token).status_code == 400
