"""Text from elsewhere is redacted before a user reads it (README "Credentials in urls"):
Dfns's error message and a receiver's answer to the test ping, each holding a url with
credentials and a query token, through the SDK's provider server as the engine drives
it. The emulator (a fault with a message) and a real receiver on loopback answer with
that text; the assertions are on what the user reads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.engine import EngineError, ProviderServer

GOOD = {"url": "https://receiver.example/x", "events": ["wallet.created"]}
# What Dfns or a receiver might say: a url with userinfo, a query token and a fragment.
LEAKY = "https://ops:hunter2@relay.example/in?token=s3cr3t&region=eu#k=fr4gm3nt"
SHOWN = "https://***@relay.example/in?token=***&region=***#***"
SECRETS = ("hunter2", "s3cr3t", "fr4gm3nt", "ops:")


@pytest.fixture
def engine(emulator: EmulatorProcess) -> Iterator[ProviderServer]:
    server = ProviderServer()
    server.configure({**emulator.config(), "dfns:maxAttempts": "1"})
    yield server
    server.close()


def assert_redacted(text: str) -> None:
    assert SHOWN in text, text
    for secret in SECRETS:
        assert secret not in text, text


@pytest.mark.parametrize("status", [400, 403, 500])
def test_dfns_error_text_holding_a_url_is_redacted(
    engine: ProviderServer, emulator: EmulatorProcess, status: int
) -> None:
    emulator.fault(
        "POST", "/webhooks", "status", status=status, message=f"could not reach {LEAKY} (x)"
    )
    with pytest.raises(EngineError) as caught:
        engine.create(engine.check(GOOD).inputs)
    assert f"HTTP {status}: could not reach {SHOWN} (x)" in caught.value.details
    assert_redacted(caught.value.details)
    for secret in SECRETS:
        assert secret not in engine.output()


class Answering(BaseHTTPRequestHandler):
    """A receiver that refuses every delivery with a text naming where it forwards."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f"upstream {LEAKY} refused the event".encode()
        self.send_response(502)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/dfns"
    server.shutdown()
    server.server_close()


def test_a_receivers_answer_to_the_ping_is_redacted(
    engine: ProviderServer, emulator: EmulatorProcess, receiver: str
) -> None:
    inputs = engine.check({**GOOD, "url": receiver, "verify_with_ping": True}).inputs
    with pytest.raises(EngineError) as caught:
        engine.create(inputs)
    details = caught.value.details
    assert "answered the test ping" in details and "with status 502" in details, details
    assert f"upstream {SHOWN} refused the event" in details
    assert_redacted(details)
    assert emulator.webhooks() == []  # the change was not kept
