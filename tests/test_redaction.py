"""Text from elsewhere is redacted before a user reads it (README "Credentials in urls"):
Dfns's error message and a receiver's answer to the test ping, each holding a url with
credentials and a query token, through the SDK's provider server as the engine drives
it. The emulator (a fault with a message) and a real receiver on loopback answer with
that text; the assertions are on what the user reads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pulumi_dfns.redact import SHOWN_MAX, TEXT_MAX, shown_text, shown_url
from tests.support.emulator import EmulatorProcess
from tests.support.engine import ERROR_PREFIX, EngineError, ProviderServer
from tests.support.loopback_http import QuietHandler, serving, url_of

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
    assert caught.value.details.startswith(f"{ERROR_PREFIX}creating webhook: "), caught.value
    assert f"HTTP {status}: could not reach {SHOWN} (x)" in caught.value.details
    assert_redacted(caught.value.details)
    for secret in SECRETS:
        assert secret not in engine.output()


class Answering(QuietHandler):
    """A receiver that refuses every delivery with a text naming where it forwards."""

    def do_POST(self) -> None:
        self.read_body()
        self.answer(502, f"upstream {LEAKY} refused the event".encode(), "text/plain")


@pytest.fixture
def receiver() -> Iterator[str]:
    with serving(Answering) as server:
        yield f"{url_of(server)}/dfns"


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


# -- the redaction's own edges (in-process): what a log line can hold ----------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://host.example/p#token=s3cr3t", "https://host.example/p#***"),
        ("https://host.example/p?a=1#s3cr3t", "https://host.example/p?a=***#***"),
        ("https://host.example/p?s3cr3t", "https://host.example/p?***"),
        ("https://host.example?x=s3cr3t", "https://host.example?x=***"),
        ("host.example/p?x=s3cr3t", "host.example/p?x=***"),
        ("https://?token=s3cr3t", "https://?token=***"),  # no host at all
        ("https://#s3cr3t", "https://#***"),
    ],
)
def test_fragments_and_bare_queries_are_hidden(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_a_long_url_is_cut_to_the_limit_and_says_how_long_it_was() -> None:
    exact = "https://host.example/" + "a" * (SHOWN_MAX - len("https://host.example/"))
    assert shown_url(exact) == exact  # at the limit: whole
    longer = exact + "b"
    cut = shown_url(longer)
    assert cut == f"{exact[: SHOWN_MAX - 1]}… ({SHOWN_MAX + 1} characters)"


def test_a_long_text_is_cut_to_the_limit() -> None:
    assert shown_text("x" * TEXT_MAX) == "x" * TEXT_MAX
    assert shown_text("x" * (TEXT_MAX + 1)) == "x" * (TEXT_MAX - 1) + "…"
    # Redacted first, then cut: a url past the cut is hidden, not half shown.
    text = "y" * (TEXT_MAX - 10) + f" {LEAKY}"
    assert "hunter2" not in shown_text(text) and len(shown_text(text)) == TEXT_MAX
