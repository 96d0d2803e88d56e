"""The hostile review (issue 11): each case through the engine protocol or the client,
against the emulator. Every fix has a test here that failed on the code before it; the
guards marked "guard" keep a boundary (they passed before too, or test a new helper)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from pulumi_dfns.client import DfnsClient
from pulumi_dfns.dfns_clock import CreateAttempt
from pulumi_dfns.errors import DfnsTransportError, DfnsUserActionError
from pulumi_dfns.recovery import CreateFailed, ExactlyOnceCreator
from pulumi_dfns.transport import Transport, send
from pulumi_dfns.user_action import user_action_refusal
from tests.support.emulator import EmulatorProcess
from tests.support.engine import DIFF_SOME, UNKNOWN, EngineError, ProviderServer, plaintext
from tests.support.failures import named, reasons_for

GOOD = {"url": "https://receiver.example/x", "events": ["wallet.created"]}
SIGNING = [("POST", "/auth/action/init"), ("POST", "/auth/action")]


def calls(emulator: EmulatorProcess) -> list[tuple[str, str]]:
    return [(e["method"], e["path"]) for e in emulator.requests_log()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def engine(emulator: EmulatorProcess) -> Iterator[ProviderServer]:
    server = ProviderServer()
    server.configure({**emulator.config(), "dfns:readTimeout": "2"})
    yield server
    server.close()


# -- 2: adopting with verify_with_ping puts the webhook back when the ping fails ----------


def test_adopt_with_failed_ping_puts_the_webhook_back(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    old_url = f"http://127.0.0.1:{free_port()}/old"
    made = emulator.client().create_webhook(old_url, ["wallet.created"], description="kept")
    news = engine.check(
        {
            "url": f"http://127.0.0.1:{free_port()}/new",
            "events": ["*"],
            "adopt_webhook_id": made["id"],
            "verify_with_ping": True,
        }
    ).inputs
    with pytest.raises(EngineError) as caught:
        engine.create(news)
    assert "answered the test ping" in caught.value.details
    after = emulator.client().get_webhook(made["id"])
    assert (after["url"], after["events"], after["description"], after["status"]) == (
        old_url,
        ["wallet.created"],
        "kept",
        "Enabled",
    )


# -- 3: unknowns inside a value give a clean "may change" -----------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"events": ["wallet.created", UNKNOWN]},
        {"events": [UNKNOWN, UNKNOWN]},
        {"url": UNKNOWN, "events": ["*", UNKNOWN]},
    ],
)
def test_diff_with_unknown_list_items_says_may_change(
    engine: ProviderServer, change: dict[str, Any]
) -> None:
    inputs = engine.check(GOOD).inputs
    olds = {**inputs, "id": "wh-x", "secret": None}
    checked = engine.check({**GOOD, **change})
    assert checked.failures == []
    diffed = engine.diff("wh-x", olds, {**checked.inputs, **change})
    assert diffed.changes == DIFF_SOME
    assert diffed.replaces == []


# -- 4, 9, 13: settings that can never work fail at check, naming the setting -------------

# "TOKEN" stands for the emulator's real token (a good token, pasted badly).
BAD_SETTINGS: list[tuple[str, dict[str, str], str, str]] = [
    ("token-newline", {"dfns:authToken": "TOKEN\n"}, "dfns:authToken", "line break"),
    ("token-space", {"dfns:authToken": "Bearer TOKEN"}, "dfns:authToken", "whitespace"),
    ("port-text", {"dfns:apiUrl": "http://127.0.0.1:80x"}, "dfns:apiUrl", "port"),
    ("port-range", {"dfns:apiUrl": "https://api.dfns.io:70000"}, "dfns:apiUrl", "port"),
    ("userinfo", {"dfns:apiUrl": "https://ops:hunter2@api.dfns.io"}, "dfns:apiUrl", "password"),
    ("ipv6-broken", {"dfns:apiUrl": "https://[::1/x"}, "dfns:apiUrl", "not a valid URL"),
    ("timeout-inf", {"dfns:readTimeout": "inf"}, "dfns:readTimeout", "finite"),
    ("timeout-nan", {"dfns:connectTimeout": "nan"}, "dfns:connectTimeout", "finite"),
    ("timeout-huge", {"dfns:readTimeout": "1e308"}, "dfns:readTimeout", "at most"),
    ("retry-negative", {"dfns:retryTimeout": "-5"}, "dfns:retryTimeout", "at least"),  # guard
    ("attempts-huge", {"dfns:maxAttempts": "1e308"}, "dfns:maxAttempts", "at most"),
]


@pytest.mark.processes
@pytest.mark.parametrize(
    ("overrides", "setting", "words"),
    [case[1:] for case in BAD_SETTINGS],
    ids=[case[0] for case in BAD_SETTINGS],
)
def test_settings_that_cannot_work_fail_at_check(
    emulator: EmulatorProcess, overrides: dict[str, str], setting: str, words: str
) -> None:
    server = ProviderServer(env={"DFNS_AUTH_TOKEN": "", "DFNS_API_URL": ""})
    try:
        config = emulator.config()
        real = config["dfns:authToken"]
        server.configure({**config, **{k: v.replace("TOKEN", real) for k, v in overrides.items()}})
        emulator.clear_log()
        checked = server.check(GOOD)
        assert [p for p, _ in checked.failures] == [setting]
        reason = checked.failures[0][1]
        assert words in reason
        assert "hunter2" not in reason
        assert config["dfns:authToken"] not in reason
        with pytest.raises(EngineError) as caught:
            server.create(checked.inputs)
        assert setting in caught.value.details
        # Nothing was sent, so nothing was looked for: no lost-create recovery.
        assert emulator.requests_log() == []
    finally:
        server.close()


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("http://127.0.0.1:80x/webhooks", {}),
        ("http://127.0.0.1:9/webhooks", {"Authorization": "Bearer abc\n"}),
    ],
)
def test_a_request_that_never_left_is_not_maybe_applied(url: str, headers: dict[str, str]) -> None:
    transport = Transport("http://127.0.0.1:9")
    with pytest.raises(DfnsTransportError) as caught:
        send(transport, "POST", url, "/webhooks", headers=headers, data=b"{}", params=None,
             timeout=(1, 1))  # fmt: skip
    assert caught.value.maybe_applied is False


# -- 7: a short stretch of 404s does not drop a live webhook --------------------------------


def test_refresh_outlasts_a_300ms_stretch_of_404s(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    webhook_id, outs = engine.create(engine.check(GOOD).inputs)
    emulator.fault("GET", f"/webhooks/{webhook_id}", "status", status=404, times=1000)
    threading.Timer(0.3, emulator.clear_faults).start()
    started = time.monotonic()
    read_id, _, _ = engine.read(webhook_id, outs)
    assert read_id == webhook_id
    assert time.monotonic() - started >= 0.45  # the second read came after the stretch


def test_a_gone_webhook_is_confirmed_over_one_and_a_half_seconds(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    webhook_id, outs = engine.create(engine.check(GOOD).inputs)
    emulator.client().delete_webhook(webhook_id)
    emulator.clear_log()
    read_id, _, _ = engine.read(webhook_id, outs)
    assert read_id == ""
    reads = [e["time"] for e in emulator.requests_log()]
    assert len(reads) == 3
    assert reads[1] - reads[0] >= 0.45 and reads[2] - reads[1] >= 0.95


# -- 8, 11, 14: urls: malformed, too long, carrying credentials --------------------------


def test_malformed_ipv6_url_is_a_check_failure_beside_the_others(engine: ProviderServer) -> None:
    checked = engine.check({"url": "https://[::1/x", "events": ["walet.created"]})
    assert set(named(checked.failures)) == {"url", "events"}
    assert "not a valid URL" in reasons_for("url", checked.failures)[0]


def test_url_over_2048_characters_fails_check_without_echoing_it(engine: ProviderServer) -> None:
    url = "https://receiver.example/" + "a" * 3000
    checked = engine.check({**GOOD, "url": url})
    assert named(checked.failures) == ["url"]
    reason = checked.failures[0][1]
    assert "2048" in reason and len(reason) < 300 and "aaaa" not in reason
    ok = "https://receiver.example/" + "a" * (2048 - 25)
    assert engine.check({**GOOD, "url": ok}).failures == []


def test_credentials_in_webhook_urls_are_never_shown(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    port = free_port()
    url = f"http://ops:hunter2@127.0.0.1:{port}/hook?token=s3cr3t&x=1"
    inputs = engine.check({**GOOD, "url": url, "verify_with_ping": True}).inputs
    with pytest.raises(EngineError) as caught:
        engine.create(inputs)  # the ping fails: nothing listens
    emulator.fault("POST", "/webhooks", "status", status=403)
    with pytest.raises(EngineError) as refused:
        engine.create(engine.check({**GOOD, "url": url}).inputs)
    bad = engine.check({**GOOD, "url": "ftp://ops:hunter2@host.example/?token=s3cr3t"})
    texts = [caught.value.details, refused.value.details, bad.failures[0][1], engine.output()]
    assert "answered the test ping" in texts[0] and "Webhooks:Create" in texts[1]
    for text in texts:
        assert "hunter2" not in text and "s3cr3t" not in text, text
    # A refused url is not shown at all (it may be a Pulumi secret): what is wrong is.
    assert "'ftp'" in texts[2] and "host.example" not in texts[2]


# -- 12: expired challenge or user action token: retried once, cause named -------------------


class ClockJump(Transport):
    """Moves the emulator's clock forward right after chosen answers, as a slow network
    or a paused process would between the steps of one signed call."""

    def __init__(self, emulator: EmulatorProcess, after_path: str, times: int) -> None:
        super().__init__(emulator.url)
        self.emulator = emulator
        self.after_path = after_path
        self.times = times

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        response = super().request(method, url, **kwargs)
        if url.endswith(self.after_path) and self.times > 0:
            self.times -= 1
            self.emulator.advance_clock(400)  # past the 300 s lifetimes
        return response


@pytest.mark.parametrize(
    ("after_path", "refused_at", "cause"),
    [
        ("/auth/action/init", ("POST", "/auth/action"), "signing challenge as expired"),
        ("/auth/action", ("POST", "/webhooks"), "user action token as expired"),
    ],
)
def test_an_expired_challenge_or_token_is_retried_with_a_fresh_one(
    emulator: EmulatorProcess, after_path: str, refused_at: tuple[str, str], cause: str
) -> None:
    client = DfnsClient(emulator.settings(), transport=ClockJump(emulator, after_path, 1))
    made = client.create_webhook("https://receiver.example/x", ["*"])
    assert made["id"].startswith("wh-")
    log = emulator.requests_log()
    # Dfns's documented answers: 400 for a bad challenge, 403 for an expired token.
    assert [(e["method"], e["path"]) for e in log if e["status"] in (400, 401, 403)] == [refused_at]
    assert calls(emulator)[-3:] == [*SIGNING, ("POST", "/webhooks")]

    emulator.clear_log()
    stuck = DfnsClient(emulator.settings(), transport=ClockJump(emulator, after_path, 2))
    with pytest.raises(DfnsUserActionError) as caught:
        stuck.create_webhook("https://receiver.example/y", ["*"])
    text = str(caught.value)
    assert cause in text and "fresh challenge" in text
    assert "must be the private key" not in text and "needs Webhooks" not in text
    assert "not at fault" in text
    assert len([e for e in emulator.requests_log() if e["path"] == "/webhooks"]) <= 2


@pytest.mark.parametrize(
    ("path", "status", "message", "cause"),
    [
        # Dfns's documented answers (and the emulator's, per SCOPES.md) ...
        ("/auth/action", 400, "Invalid challenge", "signing challenge"),
        ("/auth/action", 400, "challenge expired", "signing challenge as expired"),
        ("/webhooks", 400, "user action has already been used", "already used"),
        ("/webhooks", 403, "user action token has expired", "as expired"),
        # ... and the emulator's older ones.
        ("/auth/action", 401, "Unauthorized: challenge expired", "as expired"),
        ("/webhooks", 403, "Forbidden: user action token already used", "already used"),
    ],
)
def test_user_action_refusals_name_their_cause(
    path: str, status: int, message: str, cause: str
) -> None:
    found = user_action_refusal(path, status, message)
    assert found is not None and cause in found


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/auth/action", 401, "Unauthorized: invalid signature"),
        ("/auth/action", 401, "Invalid signature for the challenge"),
        ("/webhooks", 403, "Forbidden: missing permission Webhooks:Create"),
        ("/webhooks", 400, "url: must be a valid URL"),
        ("/webhooks", 400, "this url is already used by another webhook"),
    ],
)
def test_other_refusals_are_not_user_action_refusals(path: str, status: int, message: str) -> None:
    """Guard."""
    assert user_action_refusal(path, status, message) is None


# -- 17: backoff on 5xx whatever the headers; Retry-After on 429 only, capped ---------------


def test_a_503_with_rate_limit_headers_is_backed_off_not_waited_out(
    emulator: EmulatorProcess,
) -> None:
    waits: list[float] = []
    client = DfnsClient(emulator.settings(), sleep=waits.append)
    emulator.fault("GET", "/webhooks", "status", status=503, retryAfter=44, times=2)
    assert client.list_webhooks() == []
    assert len(waits) == 2 and all(w <= 0.5 for w in waits), waits


def test_retry_after_on_429_is_capped(emulator: EmulatorProcess) -> None:
    waits: list[float] = []
    client = DfnsClient(emulator.settings(retry_timeout=600), sleep=waits.append)
    emulator.fault("GET", "/webhooks", "status", status=429, retryAfter=300)
    assert client.list_webhooks() == []
    assert len(waits) == 1 and 30 <= waits[0] <= 30.1, waits


# -- issue 10 item 3: every PUT carries the whole state ------------------------------------


def test_every_update_sends_url_events_status_and_description(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    inputs = engine.check({**GOOD, "description": "first", "status": "Disabled"}).inputs
    webhook_id, outs = engine.create(inputs)
    steps = [
        {**GOOD, "description": "first", "status": "Disabled", "url": "https://r.example/2"},
        {**GOOD, "url": "https://r.example/2", "status": "Disabled"},  # description cleared
        {**GOOD, "url": "https://r.example/2", "events": ["*"], "status": "Disabled"},
    ]
    for step in steps:
        emulator.clear_log()
        news = engine.check(step).inputs
        outs = engine.update(webhook_id, plaintext(outs), news)
        put = [e for e in emulator.requests_log() if e["method"] == "PUT"]
        assert len(put) == 1
        assert put[0]["bodyFields"] == ["description", "events", "status", "url"]
        live = emulator.client().get_webhook(webhook_id)
        # A url-only change kept the webhook Disabled; a cleared description is empty.
        assert live["status"] == "Disabled"
        assert live["url"] == "https://r.example/2"
    assert emulator.client().get_webhook(webhook_id).get("description") in ("", None)
    emulator.clear_log()
    engine.update(webhook_id, plaintext(outs), engine.check(steps[-1]).inputs)
    assert emulator.requests_log() == []  # nothing Dfns holds changed: no call


# -- 1: what makes a lost create decidable: Dfns's clock around the attempt ----------------


def test_a_create_attempt_is_dated_after_everything_made_before_it(
    emulator: EmulatorProcess,
) -> None:
    """Guard. The invariant recovery relies on, on the emulator's clock: a webhook made just
    before an attempt is dated before `dated_after`, the attempt's own one at or after."""
    client = emulator.client()
    for n in range(4):
        before = client.create_webhook(f"https://receiver.example/{n}", ["*"])
        attempt = CreateAttempt()
        started = time.monotonic()
        made = client.create_webhook(f"https://receiver.example/{n}", ["*"], attempt=attempt)
        assert time.monotonic() - started < 1.5  # the wait is at most about a second
        assert attempt.dated_after is not None
        assert _epoch(before["dateCreated"]) < attempt.dated_after
        assert _epoch(made["dateCreated"]) >= attempt.dated_after
        for webhook in (before, made):
            client.delete_webhook(webhook["id"])


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class NoDate(Transport):
    """A proxy that strips `Date` from Dfns's answers (RFC 9110 lets a server without a
    clock omit it): recovery then has nothing to judge by."""

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        response = super().request(method, url, **kwargs)
        response.headers.pop("Date", None)
        return response


def test_without_dfns_dates_a_lost_create_touches_no_look_alike(
    emulator: EmulatorProcess,
) -> None:
    client = DfnsClient(emulator.settings(), transport=NoDate(emulator.url))
    creator = ExactlyOnceCreator(client, sleep=lambda _: None)
    inputs = {"url": "https://receiver.example/nodate", "events": ["*"], "status": "Enabled"}
    # No look-alike: a lost create (Dfns did not act) is simply made again.
    emulator.fault("POST", "/webhooks", "status", status=500)
    first = creator.create(inputs)
    # A look-alike now exists (the one just made): the next lost create cannot tell
    # whether Dfns made another, so it fails, naming it, and deletes nothing.
    emulator.fault("POST", "/webhooks", "status", status=500)
    with pytest.raises(CreateFailed) as caught:
        creator.create(inputs)
    assert first["id"] in str(caught.value) and "no Date header" in str(caught.value)
    assert [w["id"] for w in emulator.webhooks()] == [first["id"]]
