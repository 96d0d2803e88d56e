"""Deliveries: verify_delivery/sign_delivery, the emulator delivering like Dfns, the
example receiver verifying with the secret output, and verify_with_ping."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pulumi.runtime import rpc

from pulumi_dfns import DeliveryVerificationError, sign_delivery, verify_delivery
from tests.support.emulator import EmulatorProcess
from tests.support.engine import EngineError, ProviderServer, plaintext

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec-test-secret"
NOW = 1_800_000_000


def event_body(**fields: Any) -> bytes:
    event = {"id": "whe-1", "kind": "wallet.created", "data": {}, "timestampSent": NOW, **fields}
    return json.dumps(event, separators=(",", ":")).encode()


# -- verify_delivery / sign_delivery ---------------------------------------------------


def test_a_signed_delivery_verifies_and_parses() -> None:
    body = event_body()
    event = verify_delivery(body, sign_delivery(body, SECRET), SECRET, now=NOW + 10)
    assert event["kind"] == "wallet.created"
    # str bodies and upper-case hex are accepted too.
    header = sign_delivery(body, SECRET)
    assert verify_delivery(body.decode(), "sha256=" + header[7:].upper(), SECRET, now=NOW)


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (None, "missing"),
        ("", "missing"),
        ("md5=abc", "malformed"),
        ("sha256=" + "0" * 63, "malformed"),
        ("sha256=" + "z" * 64, "malformed"),
        ("sha256=" + "é" * 64, "malformed"),
    ],
)
def test_bad_headers_say_what_is_wrong(header: str | None, words: str) -> None:
    with pytest.raises(DeliveryVerificationError, match=words):
        verify_delivery(event_body(), header, SECRET, now=NOW)


def test_tampered_body_and_wrong_secret_are_mismatches() -> None:
    body = event_body()
    header = sign_delivery(body, SECRET)
    with pytest.raises(DeliveryVerificationError, match="signature mismatch"):
        verify_delivery(body.replace(b"wallet.created", b"wallet.exported"), header, SECRET)
    with pytest.raises(DeliveryVerificationError, match="signature mismatch"):
        verify_delivery(body, header, "whsec-other", now=NOW)


def test_stale_and_future_deliveries_are_refused() -> None:
    body = event_body()
    header = sign_delivery(body, SECRET)
    with pytest.raises(DeliveryVerificationError, match="stale"):
        verify_delivery(body, header, SECRET, now=NOW + 301)
    with pytest.raises(DeliveryVerificationError, match="stale"):
        verify_delivery(body, header, SECRET, now=NOW - 301)
    assert verify_delivery(body, header, SECRET, tolerance=0, now=NOW + 10**6)


def test_bodies_without_json_or_timestamp_are_refused() -> None:
    for body, words in [(b"not json", "not JSON"), (b"[1]", "not a JSON object")]:
        with pytest.raises(DeliveryVerificationError, match=words):
            verify_delivery(body, sign_delivery(body, SECRET), SECRET)
    body = event_body(timestampSent="soon")
    with pytest.raises(DeliveryVerificationError, match="timestampSent"):
        verify_delivery(body, sign_delivery(body, SECRET), SECRET)
    with pytest.raises(DeliveryVerificationError, match="no webhook secret"):
        verify_delivery(body, sign_delivery(body, SECRET), "")


# -- end to end: emulator -> example receiver -----------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Receiver:
    """examples/receiver.py as a process, verifying with a given secret."""

    def __init__(self, port: int, secret: str) -> None:
        self.url = f"http://127.0.0.1:{port}/dfns"
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "receiver.py"), "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "DFNS_WEBHOOK_SECRET": secret},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "receiver ready" in line, line
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())

    def read(self, count: int, timeout: float = 10) -> list[str]:
        """The next `count` printed lines, or fewer if `timeout` passes first."""
        deadline = time.monotonic() + timeout
        got: list[str] = []
        while len(got) < count:
            try:
                got.append(self._lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return got

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def deployed(
    emulator: EmulatorProcess,
) -> Iterator[tuple[ProviderServer, Callable[..., tuple[str, dict[str, Any], Receiver]]]]:
    server = ProviderServer()
    server.configure(emulator.config())
    receivers: list[Receiver] = []

    def deploy(
        events: list[str], secret_override: str | None = None, **extra: Any
    ) -> tuple[str, dict[str, Any], Receiver]:
        """Deploy a webhook at a free port, then start the receiver with its secret output."""
        port = free_port()
        inputs = server.check(
            {"url": f"http://127.0.0.1:{port}/dfns", "events": events, **extra}
        ).inputs
        webhook_id, outs = server.create(inputs)
        secret = rpc.unwrap_rpc_secret(outs["secret"])
        receiver = Receiver(port, secret_override or secret)
        receivers.append(receiver)
        return webhook_id, outs, receiver

    yield server, deploy
    for receiver in receivers:
        receiver.stop()
    server.close()


def emit(emulator: EmulatorProcess, kind: str, **extra: Any) -> list[dict[str, Any]]:
    answer = emulator.control("POST", "events", {"kind": kind, "data": {"n": 1}, **extra})
    deliveries: list[dict[str, Any]] = answer["deliveries"]
    return deliveries


def test_receiver_accepts_what_dfns_signs_with_the_secret_output(
    emulator: EmulatorProcess, deployed: Any
) -> None:
    _, deploy = deployed
    webhook_id, _, receiver = deploy(["wallet.created"])
    delivered = emit(emulator, "wallet.created")
    assert [(d["webhookId"], d["status"]) for d in delivered] == [(webhook_id, "200")]
    assert receiver.read(1) == [f"accepted wallet.created {delivered[0]['eventId']} attempt 1"]
    # Recorded as a webhook event, readable through the API.
    client = emulator.client()
    events = client.list_webhook_events(webhook_id)
    assert [e["id"] for e in events] == [delivered[0]["eventId"]]
    assert events[0]["status"] == "200" and events[0]["deliveryAttempt"] == 1
    assert client.get_webhook_event(webhook_id, events[0]["id"])["kind"] == "wallet.created"
    assert client.list_webhook_events(webhook_id, delivery_failed=True) == []
    # Dfns's ping reaches the receiver signed, and reports its status.
    assert client.ping_webhook(webhook_id)["status"] == "200"
    assert receiver.read(1)[0].startswith("accepted webhook.ping")


def test_tampered_bodies_are_refused_by_the_receiver(
    emulator: EmulatorProcess, deployed: Any
) -> None:
    _, deploy = deployed
    _, outs, receiver = deploy(["*"])
    secret = rpc.unwrap_rpc_secret(outs["secret"])
    body = json.dumps({"id": "whe-x", "kind": "wallet.created", "timestampSent": int(time.time())})
    header = sign_delivery(body, secret)
    tampered = body.replace("wallet.created", "wallet.exported")
    answer = requests.post(
        receiver.url,
        data=tampered,
        headers={"X-DFNS-WEBHOOK-SIGNATURE": header},
        timeout=10,
    )
    assert answer.status_code == 401
    assert receiver.read(1) == ["refused: signature mismatch: wrong secret or altered body"]


def test_wrong_secret_fails_and_dfns_retries_on_its_schedule(
    emulator: EmulatorProcess, deployed: Any
) -> None:
    _, deploy = deployed
    webhook_id, _, receiver = deploy(["wallet.created"], secret_override="whsec-not-it")
    # Dfns's schedule (1 min, 12 min, 2 h, 1 day) scaled down to under a second.
    delivered = emit(emulator, "wallet.created", timeScale=0.00001)
    assert delivered[0]["status"] == "401"
    lines = receiver.read(5)
    assert lines == ["refused: signature mismatch: wrong secret or altered body"] * 5
    client = emulator.client()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(client.list_webhook_events(webhook_id)) < 5:
        time.sleep(0.05)
    events = client.list_webhook_events(webhook_id, delivery_failed=True)
    assert [e["deliveryAttempt"] for e in events] == [1, 2, 3, 4, 5]
    first = events[0]["id"]
    assert "retryOf" not in events[0]
    assert all(e["retryOf"] == first for e in events[1:])
    assert len({e["id"] for e in events}) == 5  # each retry is a new event
    time.sleep(0.2)
    assert len(client.list_webhook_events(webhook_id)) == 5  # and then it stops


def test_stale_deliveries_are_refused(emulator: EmulatorProcess, deployed: Any) -> None:
    _, deploy = deployed
    _, _, receiver = deploy(["wallet.created"])
    emulator.advance_clock(600)  # Dfns's clock runs 10 minutes ahead of the receiver's
    delivered = emit(emulator, "wallet.created", timeScale=1)
    assert delivered[0]["status"] == "401"
    assert receiver.read(1)[0].startswith("refused: stale delivery")


def test_unsubscribed_kinds_and_disabled_webhooks_get_nothing(
    emulator: EmulatorProcess, deployed: Any
) -> None:
    server, deploy = deployed
    webhook_id, outs, receiver = deploy(["wallet.created"])
    assert emit(emulator, "key.created") == []
    news = server.check(
        {**{k: plaintext(outs)[k] for k in ("url", "events")}, "status": "Disabled"}
    )
    server.update(webhook_id, outs, news.inputs)
    assert emit(emulator, "wallet.created") == []
    assert receiver.read(1, timeout=0.5) == []
    assert emulator.client().list_webhook_events(webhook_id) == []


# -- verify_with_ping -------------------------------------------------------------------


def test_verify_with_ping_passes_for_a_live_receiver(
    emulator: EmulatorProcess, deployed: Any
) -> None:
    server, deploy = deployed
    # The receiver can only learn the secret after the create; it acknowledges the ping.
    webhook_id, outs, receiver = deploy(["*"])
    news = {**server.check({"url": receiver.url, "events": ["*"]}).inputs, "verify_with_ping": True}
    new_outs = server.update(webhook_id, outs, news)
    assert new_outs["verify_with_ping"] is True
    assert receiver.read(1)[0].startswith("accepted webhook.ping")


def test_verify_with_ping_fails_create_and_leaves_nothing(
    emulator: EmulatorProcess, deployed: Any
) -> None:
    server, _ = deployed
    inputs = server.check(
        {"url": f"http://127.0.0.1:{free_port()}/gone", "events": ["*"], "verify_with_ping": True}
    ).inputs
    with pytest.raises(EngineError) as caught:
        server.create(inputs)
    assert "answered the test ping" in caught.value.details
    assert "status 0" in caught.value.details
    assert emulator.webhooks() == []


def test_verify_with_ping_failure_on_update_puts_dfns_back(
    emulator: EmulatorProcess, deployed: Any
) -> None:
    server, deploy = deployed
    webhook_id, outs, receiver = deploy(["*"])
    broken = f"http://127.0.0.1:{free_port()}/gone"
    news = server.check({"url": broken, "events": ["*"], "verify_with_ping": True}).inputs
    with pytest.raises(EngineError) as caught:
        server.update(webhook_id, outs, news)
    assert f"the receiver answered the test ping of webhook {webhook_id}" in caught.value.details
    assert "/gone" not in caught.value.details  # the url may be a secret: never shown
    # A failed update keeps the old state, and Dfns was put back to match it.
    assert emulator.client().get_webhook(webhook_id)["url"] == receiver.url
