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


# -- issue 17 item 12: --body-timeout and --header-timeout are deadlines, not per read ----


def _drip(sock: socket.socket, data: bytes, every: float) -> None:
    """Send a byte at a time, `every` seconds apart; stop quietly once the server hangs up."""
    for n in range(len(data)):
        try:
            sock.sendall(data[n : n + 1])
        except OSError:
            return
        time.sleep(every)


def test_a_dripped_body_is_400_at_the_body_deadline(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    """10 bytes at 0.15 s each: every read is quick, the body as a whole is not."""
    emulator = start_emulator("--body-timeout", "0.5")
    headers = {"Content-Length": "10", "Content-Type": "application/json"}
    head = request(emulator, "POST", "/auth/action/init", headers, b"")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(head)
        _drip(sock, b'{"a":1234}', 0.15)
        sock.settimeout(5)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert status_of(answer) == 400, answer
    assert "did not all arrive within 0.5s" in message_of(answer)
    assert time.monotonic() - started < 1.5 + 0.5  # the drip's own 1.5 s, at most
    assert not emulator.requests_log()  # refused before anything was handled
    still_serving(emulator)


@pytest.mark.parametrize("partial", [b"POST /auth/action/init HT", b"GET /webhooks HTTP/1.1\r\nHo"])
def test_partial_headers_are_closed_at_the_header_deadline(
    start_emulator: Callable[..., EmulatorProcess], partial: bytes
) -> None:
    emulator = start_emulator("--header-timeout", "0.5")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(partial)
        sock.settimeout(3)  # a held connection fails the test with a timeout
        assert sock.recv(65536) == b""
    assert 0.4 < time.monotonic() - started < 2
    still_serving(emulator)


def test_an_idle_kept_alive_connection_is_not_closed_by_the_header_deadline(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    """The deadline starts with a request's first byte: a pooled connection that waits
    between requests stays usable (closing it could cut a request being sent)."""
    emulator = start_emulator("--header-timeout", "0.3")
    token = emulator.credentials()["authToken"]
    get = f"GET /webhooks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(get)
            received = b""
            while b"\r\n\r\n" not in received or not _complete(received):
                received += sock.recv(65536)
            assert status_of(received) == 200
            time.sleep(0.6)  # idle for twice the header deadline


# -- issue 17 item 14: a lone surrogate escape is 400 before anything is spent -------------

LONE = b'"\\ud800"'  # JSON's escape of a lone surrogate: 8 ASCII bytes


@pytest.mark.parametrize(
    "body",
    [
        b'{"url":"https://h.example/x","events":["wallet.created"],"description":' + LONE + b"}",
        b'{"url":"https://h.example/x","events":["wallet.created"],' + LONE + b':"x"}',
        b'{"url":"https://h.example/x","events":[' + LONE + b"]}",
    ],
)
def test_a_lone_surrogate_in_a_signed_body_is_400_and_spends_nothing(
    emulator: EmulatorProcess, body: bytes
) -> None:
    raw = RawDfns(emulator)
    token = raw.user_action("POST", "/webhooks", body.decode())
    answer = raw.call("POST", "/webhooks", body, token)
    assert answer.status_code == 400, answer.text
    assert "lone UTF-16 surrogate" in answer.json()["error"]["message"]
    assert raw.http.get(raw.url + "/webhooks", headers=raw.headers()).json()["items"] == []
    # Unspent: the same token on another request is refused as signed for another
    # request, not as already used (the emulator checks "used" first).
    again = raw.call("DELETE", "/webhooks/wh-absent", b"", token)
    assert again.status_code == 403 and "another request" in again.text, again.text
    still_serving(emulator)


def test_a_lone_surrogate_elsewhere_is_400_never_500(emulator: EmulatorProcess) -> None:
    raw = RawDfns(emulator)
    init = (
        b'{"userActionPayload":' + LONE + b',"userActionHttpMethod":"POST",'
        b'"userActionHttpPath":"/webhooks","userActionServerKind":"Api"}'
    )
    answer = raw.http.post(raw.url + "/auth/action/init", data=init, headers=raw.headers())
    assert answer.status_code == 400, answer.text
    emitted = raw.http.post(
        raw.url + "/_emulator/events", data=b'{"kind":"wallet.created","data":{"n":' + LONE + b"}}"
    )
    # Emitted event data may hold one: deliveries escape it as JSON.stringify does
    # (emulator/jsjson.py; tests/test_delivery_fidelity.py checks the bytes).
    assert emitted.status_code == 200, emitted.text
    # A pair of escapes is one character beyond U+FFFF: accepted.
    body = (
        '{"url":"https://h.example/x","events":["wallet.created"],"description":"\\ud83d\\ude00"}'
    )
    made = raw.signed("POST", "/webhooks", body.encode())
    assert made.status_code == 200 and made.json()["description"] == "\U0001f600"
    still_serving(emulator)
