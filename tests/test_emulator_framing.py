"""Hostile HTTP framing and parameters get a 400 from the emulator: never a hang, never
a 500, and the emulator keeps serving afterwards. Raw sockets, so nothing tidies the
request on the way."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Callable

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.raw import RawDfns

ANSWER_WITHIN = 5.0


def exchange(emulator: EmulatorProcess, request: bytes, *, wait: float = ANSWER_WITHIN) -> bytes:
    """Send raw bytes; answer what comes back before the server closes or `wait` passes."""
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=wait) as sock:
        sock.sendall(request)
        received = b""
        deadline = time.monotonic() + wait
        while b"\r\n\r\n" not in received or not _complete(received):
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
    return received


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


def status_of(answer: bytes) -> int:
    assert answer, "no answer"
    return int(answer.split(b" ", 2)[1])


def message_of(answer: bytes) -> str:
    message: str = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["message"]
    return message


def request(
    emulator: EmulatorProcess, method: str, target: str, headers: dict[str, str], body: bytes
) -> bytes:
    token = emulator.credentials()["authToken"]
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def still_serving(emulator: EmulatorProcess) -> None:
    raw = RawDfns(emulator)
    response = raw.http.get(raw.url + "/webhooks", headers=raw.headers(), timeout=5)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("label", "headers", "body"),
    [
        ("length-not-a-number", {"Content-Length": "abc"}, b"{}"),
        ("length-negative", {"Content-Length": "-1"}, b"{}"),
        ("length-unicode-digit", {"Content-Length": "\u0662"}, b"{}"),
        ("length-huge", {"Content-Length": "99999999999999999999"}, b"{}"),
        ("two-lengths", {"Content-Length": "2", "content-length": "3"}, b"{}x"),
        ("chunked", {"Transfer-Encoding": "chunked"}, b"2\r\n{}\r\n0\r\n\r\n"),
    ],
)
def test_bad_framing_is_400_at_once(
    emulator: EmulatorProcess, label: str, headers: dict[str, str], body: bytes
) -> None:
    started = time.monotonic()
    answer = exchange(emulator, request(emulator, "POST", "/auth/action/init", headers, body))
    assert status_of(answer) in (400, 413), answer
    assert b"\r\nConnection: close\r\n" in answer
    assert time.monotonic() - started < ANSWER_WITHIN
    still_serving(emulator)


def test_a_body_shorter_than_announced_is_400_not_a_held_thread(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    emulator = start_emulator("--body-timeout", "1")
    headers = {"Content-Length": "100", "Content-Type": "application/json"}
    started = time.monotonic()
    answer = exchange(emulator, request(emulator, "POST", "/auth/action/init", headers, b"{}"))
    assert status_of(answer) == 400
    assert "shorter" in message_of(answer)
    assert time.monotonic() - started < 4
    still_serving(emulator)


@pytest.mark.parametrize("target", ["http://[::1/webhooks", "https://[::1"])
def test_a_malformed_request_target_is_refused(emulator: EmulatorProcess, target: str) -> None:
    # An absolute-form target (RFC 9112 section 3.2.2) with an unclosed IPv6 bracket
    # reaches the emulator's urlsplit on every Python; `//[::1/x` would not: http.server
    # folds a leading `//` to `/` on some versions (then a plain 404).
    answer = exchange(emulator, request(emulator, "GET", target, {}, b""))
    assert status_of(answer) == 400, answer[:200]
    assert message_of(answer) == "request target is not a valid path"
    still_serving(emulator)


@pytest.mark.parametrize(
    "limit", ["\u00b2", "\u0661", "\uff11", "1\u0660", "+5", " 5", "5.0", "0", "101", "9" * 50]
)
def test_limit_must_be_ascii_digits_in_range(emulator: EmulatorProcess, limit: str) -> None:
    raw = RawDfns(emulator)
    response = raw.http.get(
        raw.url + "/webhooks", params={"limit": limit}, headers=raw.headers(), timeout=5
    )
    assert response.status_code == 400, response.text
    assert "limit" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "token",
    [
        base64.urlsafe_b64encode(b"9" * 5000).decode(),  # beyond int() and SQLite
        base64.urlsafe_b64encode(b"99999999999999999999").decode(),  # beyond 64 bits
        base64.urlsafe_b64encode("\u0661\u0662".encode()).decode(),
        base64.urlsafe_b64encode(b"-1").decode(),
        "%%%",
        "x" * 100_00,
    ],
    ids=["5000-digits", "20-digits", "unicode-digits", "negative", "not-base64", "10k-chars"],
)
def test_bad_pagination_tokens_are_400(emulator: EmulatorProcess, token: str) -> None:
    raw = RawDfns(emulator)
    webhook_id = raw.signed(
        "POST", "/webhooks", b'{"url":"http://127.0.0.1:9/x","events":["*"]}'
    ).json()["id"]
    for path in ("/webhooks", f"/webhooks/{webhook_id}/events"):
        response = raw.http.get(
            raw.url + path, params={"paginationToken": token}, headers=raw.headers(), timeout=5
        )
        assert response.status_code == 400, (path, response.text)
        assert "paginationToken" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "url",
    ["https://[::1/x", "https://[::1", "http://[zz]/x", "https://host:99999/x", "https://host:x/"],
)
def test_malformed_urls_are_400(emulator: EmulatorProcess, url: str) -> None:
    raw = RawDfns(emulator)
    body = json.dumps({"url": url, "events": ["*"]}).encode()
    response = raw.signed("POST", "/webhooks", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == "url: Invalid url"


NESTED = b"[" * 200_000 + b"]" * 200_000


@pytest.mark.parametrize("path", ["/auth/action/init", "/auth/action", "/_emulator/faults"])
def test_json_nested_past_any_stack_is_400(emulator: EmulatorProcess, path: str) -> None:
    headers = {"Content-Length": str(len(NESTED)), "Content-Type": "application/json"}
    answer = exchange(emulator, request(emulator, "POST", path, headers, NESTED))
    assert status_of(answer) == 400, answer[:200]
    assert "not valid JSON" in message_of(answer) or "not JSON" in message_of(answer)
    still_serving(emulator)


def test_json_nested_past_any_stack_in_a_signed_call_is_403(emulator: EmulatorProcess) -> None:
    """Signed (challenge and user action for these very bytes), the body still cannot be
    read, so it cannot be the payload the user action signed: refused as any other."""
    response = RawDfns(emulator).signed("POST", "/webhooks", NESTED)
    assert response.status_code == 403, response.text
    assert "differs from the signed user action payload" in response.json()["error"]["message"]
    assert emulator.webhooks() == []
    still_serving(emulator)


def test_deeply_nested_client_data_is_400(emulator: EmulatorProcess) -> None:
    raw = RawDfns(emulator)
    challenge = raw.challenge("POST", "/webhooks", "")
    response = raw.redeem(challenge, client_data=b"[" * 200_000 + b"]" * 200_000)
    assert response.status_code == 400
