"""The emulator refuses what Dfns refuses, and accepts every shape the official SDKs send."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import requests

from pulumi_dfns.signing import b64url, generate_private_key, sign_bytes
from tests.support.emulator import EmulatorProcess
from tests.support.raw import RawDfns

BODY = b'{"url":"https://receiver.example/x","events":["wallet.created"]}'


@pytest.fixture
def raw(emulator: EmulatorProcess) -> RawDfns:
    return RawDfns(emulator)


def created_id(raw: RawDfns) -> str:
    response = raw.signed("POST", "/webhooks", BODY)
    assert response.status_code == 200, response.text
    webhook_id: str = response.json()["id"]
    return webhook_id


def error_message(response: requests.Response) -> str:
    message: str = response.json()["error"]["message"]
    return message


# -- bearer ---------------------------------------------------------------------------


def test_missing_bearer_is_401(raw: RawDfns) -> None:
    response = requests.get(raw.url + "/webhooks", timeout=10)
    assert response.status_code == 401
    assert "bearer" in error_message(response)


def test_forged_bearer_is_401(raw: RawDfns) -> None:
    header, payload, _ = raw.token.split(".")
    forged = f"{header}.{payload}.{b64url(b'x' * 32)}"
    response = requests.get(
        raw.url + "/webhooks", headers={"Authorization": f"Bearer {forged}"}, timeout=10
    )
    assert response.status_code == 401


def test_delegated_end_users_are_refused(emulator: EmulatorProcess, raw: RawDfns) -> None:
    end_user = emulator.issue_token(kind="EndUser")
    response = raw.http.get(raw.url + "/webhooks", headers=raw.headers(end_user), timeout=10)
    assert response.status_code == 403


def test_missing_permission_is_403_naming_it(emulator: EmulatorProcess, raw: RawDfns) -> None:
    reader = emulator.issue_token(permissions=["Webhooks:Read"])
    assert raw.http.get(raw.url + "/webhooks", headers=raw.headers(reader), timeout=10).ok
    raw.token = reader
    response = raw.signed("POST", "/webhooks", BODY)
    assert response.status_code == 403
    assert "Webhooks:Create" in error_message(response)


# -- user action tokens ----------------------------------------------------------------


def test_missing_user_action_is_403(raw: RawDfns) -> None:
    response = raw.call("POST", "/webhooks", BODY, None)
    assert response.status_code == 403
    assert "X-DFNS-USERACTION" in error_message(response)


def test_reused_user_action_token_is_400_as_documented(
    raw: RawDfns, emulator: EmulatorProcess
) -> None:
    # dfns/dfns-api-docs getting-started/errors.md: 400 "user action has already been used".
    token = raw.user_action("POST", "/webhooks", BODY.decode())
    assert raw.call("POST", "/webhooks", BODY, token).status_code == 200
    again = raw.call("POST", "/webhooks", BODY, token)
    assert again.status_code == 400
    assert error_message(again) == "user action has already been used"
    assert len(emulator.webhooks()) == 1


def test_token_for_another_path_is_403(raw: RawDfns) -> None:
    webhook_id = created_id(raw)
    body = b'{"status":"Disabled"}'
    token = raw.user_action("PUT", "/webhooks/wh-someone-else", body.decode())
    response = raw.call("PUT", f"/webhooks/{webhook_id}", body, token)
    assert response.status_code == 403
    assert "another request" in error_message(response)


def test_token_for_another_method_is_403(raw: RawDfns) -> None:
    webhook_id = created_id(raw)
    token = raw.user_action("PUT", f"/webhooks/{webhook_id}", "")
    response = raw.call("DELETE", f"/webhooks/{webhook_id}", b"", token)
    assert response.status_code == 403


def test_token_for_another_body_is_403(raw: RawDfns) -> None:
    webhook_id = created_id(raw)
    token = raw.user_action("PUT", f"/webhooks/{webhook_id}", '{"status":"Disabled"}')
    response = raw.call("PUT", f"/webhooks/{webhook_id}", b'{"status":"Enabled"}', token)
    assert response.status_code == 403
    assert "differs" in error_message(response)


def test_expired_user_action_token_is_403(raw: RawDfns, emulator: EmulatorProcess) -> None:
    token = raw.user_action("POST", "/webhooks", BODY.decode())
    emulator.advance_clock(301)
    response = raw.call("POST", "/webhooks", BODY, token)
    assert response.status_code == 403
    assert "expired" in error_message(response)


def test_refused_tokens_leave_the_token_unspent(raw: RawDfns) -> None:
    # A refusal for the wrong body must not burn the token for the right one.
    token = raw.user_action("POST", "/webhooks", BODY.decode())
    tampered = BODY.replace(b"wallet.created", b"wallet.exported")
    assert raw.call("POST", "/webhooks", tampered, token).status_code == 403
    assert raw.call("POST", "/webhooks", BODY, token).status_code == 200


# -- challenges and assertions -------------------------------------------------------


def test_bad_signature_is_401(raw: RawDfns) -> None:
    challenge = raw.challenge("POST", "/webhooks", BODY.decode())
    other_key = generate_private_key("ed25519")
    data = raw.client_data(challenge)
    response = raw.redeem(challenge, data, sign_bytes(other_key, data))
    assert response.status_code == 401
    assert "signature" in error_message(response)


def test_signature_over_other_bytes_is_401(raw: RawDfns) -> None:
    challenge = raw.challenge("POST", "/webhooks", BODY.decode())
    data = raw.client_data(challenge)
    response = raw.redeem(challenge, data, sign_bytes(raw.key, data + b" "))
    assert response.status_code == 401


def test_unknown_credential_is_401(raw: RawDfns) -> None:
    challenge = raw.challenge("POST", "/webhooks", BODY.decode())
    response = raw.redeem(challenge, credential_id="Y2ktdW5rbm93bg")
    assert response.status_code == 401
    assert "credential" in error_message(response)


def test_the_credential_uuid_is_not_a_cred_id(raw: RawDfns, emulator: EmulatorProcess) -> None:
    uuid = emulator.credentials()["credentialUuid"]
    challenge = raw.challenge("POST", "/webhooks", BODY.decode())
    response = raw.redeem(challenge, credential_id=uuid)
    assert response.status_code == 401


def test_expired_challenge_is_400(raw: RawDfns, emulator: EmulatorProcess) -> None:
    challenge = raw.challenge("POST", "/webhooks", BODY.decode())
    emulator.advance_clock(301)
    response = raw.redeem(challenge)
    assert response.status_code == 400
    assert "challenge" in error_message(response)
    assert "expired" in error_message(response)


def test_unknown_challenge_is_400(raw: RawDfns) -> None:
    challenge = raw.challenge("POST", "/webhooks", BODY.decode())
    challenge["challengeIdentifier"] = "a.b.c"
    response = raw.redeem(challenge)
    assert response.status_code == 400
    assert "challenge" in error_message(response)


def test_challenge_is_single_use_even_after_a_failed_try(raw: RawDfns) -> None:
    challenge = raw.challenge("POST", "/webhooks", BODY.decode())
    data = raw.client_data(challenge)
    assert raw.redeem(challenge, data, b"\x00" * 64).status_code == 401
    again = raw.redeem(challenge)
    assert again.status_code == 400
    assert "challenge has already been used" in error_message(again)


@pytest.mark.parametrize(
    "fields",
    [{"type": "webauthn.get"}, {"challenge": "not-the-challenge"}],
    ids=["wrong-type", "wrong-challenge"],
)
def test_client_data_must_name_key_get_and_the_challenge(
    raw: RawDfns, fields: dict[str, str]
) -> None:
    challenge = raw.challenge("POST", "/webhooks", BODY.decode())
    response = raw.redeem(challenge, raw.client_data(challenge, **fields))
    assert response.status_code == 401


def test_challenge_allows_the_service_account_credential(raw: RawDfns) -> None:
    challenge = raw.challenge("POST", "/webhooks", BODY.decode())
    allowed = challenge["allowCredentials"]["key"]
    assert allowed == [{"type": "public-key", "id": raw.credential_id}]
    assert challenge["challengeIdentifier"].count(".") == 2  # a JWT


# -- every valid client shape -----------------------------------------------------------


def test_python_sdk_client_data_with_origin_is_accepted(raw: RawDfns) -> None:
    challenge = raw.challenge("POST", "/webhooks", BODY.decode())
    data = raw.client_data(challenge, origin="https://app.dfns.io", crossOrigin=False)
    response = raw.redeem(challenge, data)
    assert response.status_code == 200
    assert raw.call("POST", "/webhooks", BODY, response.json()["userAction"]).status_code == 200


def test_go_sdk_sorted_client_data_is_accepted(raw: RawDfns) -> None:
    challenge = raw.challenge("POST", "/webhooks", BODY.decode())
    data = json.dumps(
        {"challenge": challenge["challenge"], "type": "key.get"}, sort_keys=True
    ).encode()
    assert raw.redeem(challenge, data).status_code == 200


@pytest.mark.parametrize("body", [b"", b"{}"], ids=["python-sdk-no-body", "typescript-sdk-{}"])
def test_delete_with_or_without_a_body(
    raw: RawDfns, emulator: EmulatorProcess, body: bytes
) -> None:
    webhook_id = created_id(raw)
    response = raw.signed("DELETE", f"/webhooks/{webhook_id}", body)
    assert response.status_code == 200
    assert response.json() == {"deleted": True}
    assert emulator.webhooks() == []


def test_legacy_headers_are_harmless(raw: RawDfns) -> None:
    response = raw.http.get(
        raw.url + "/webhooks",
        headers=raw.headers(**{"X-DFNS-APPID": "ap-legacy", "X-DFNS-NONCE": "n"}),
        timeout=10,
    )
    assert response.status_code == 200


# -- body validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"url": "https://r.example", "events": ["*"], "secret": "x"}, "unrecognized"),
        ({"url": "https://r.example", "events": []}, "at least 1"),
        ({"url": "https://r.example"}, "events: Required"),
        ({"events": ["*"]}, "url: Required"),
        ({"url": "https://r.example", "events": ["wallet.nope"]}, "Invalid enum"),
        ({"url": "https://r.example", "events": ["*"], "status": "On"}, "status"),
        ({"url": "https://r.example", "events": ["*"], "description": "d" * 257}, "at most 256"),
        ({"url": "ftp://r.example", "events": ["*"]}, "url: Invalid"),
        ({"url": "https://", "events": ["*"]}, "url: Invalid"),
        ({"url": 7, "events": ["*"]}, "url: Expected string"),
        ([], "JSON object"),
    ],
)
def test_bad_create_bodies_are_400(raw: RawDfns, body: object, expected: str) -> None:
    response = raw.signed("POST", "/webhooks", json.dumps(body).encode())
    assert response.status_code == 400
    assert expected in error_message(response)


def test_description_of_256_chars_and_star_events_are_accepted(raw: RawDfns) -> None:
    body = {"url": "https://r.example", "events": ["*"], "description": "d" * 256}
    assert raw.signed("POST", "/webhooks", json.dumps(body).encode()).status_code == 200


def test_update_of_a_missing_webhook_is_404(raw: RawDfns) -> None:
    response = raw.signed("PUT", "/webhooks/wh-missing", b'{"status":"Disabled"}')
    assert response.status_code == 404


def test_rate_limit_headers_and_429(start_emulator: Callable[..., EmulatorProcess]) -> None:
    emulator = start_emulator("--rate-limit", "3")
    raw = RawDfns(emulator)
    answers = [
        raw.http.get(raw.url + "/webhooks", headers=raw.headers(), timeout=10) for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[2].headers["X-RateLimit-Remaining"] == "0"
    assert int(answers[3].headers["Retry-After"]) >= 1
