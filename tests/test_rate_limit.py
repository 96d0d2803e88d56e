"""How long a 429 makes the client wait, for each form of the headers retry_policy.py
lists: `Retry-After` in seconds or as an HTTP date (RFC 9110 section 10.2.3), else
`X-RateLimit-Reset` as epoch seconds or seconds from now ([assumed], dfns-api.md).

The reading itself runs against a fixed clock (`now`); then the emulator answers 429
with each header form and the client's waits are recorded instead of slept."""

from __future__ import annotations

import random
import time
from email.utils import formatdate

import pytest

from pulumi_dfns.client import DfnsClient
from pulumi_dfns.errors import DfnsNotFoundError
from pulumi_dfns.retry_policy import BACKOFF_CAP, RATE_LIMIT_WAIT_CAP, backoff
from pulumi_dfns.transport import retry_after_seconds
from tests.support.emulator import EmulatorProcess

NOW = 1_790_000_000.0  # a fixed clock: 2026-09-21T12:53:20Z
HTTP_DATE = formatdate(NOW + 7, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "4"}, 4.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"Retry-After": HTTP_DATE}, 7.0),
        ({"retry-after": HTTP_DATE}, 7.0),  # header names are case-insensitive
        ({"Retry-After": formatdate(NOW - 60, usegmt=True)}, 0.0),  # a date passed
        ({"X-RateLimit-Reset": str(int(NOW) + 12)}, 12.0),  # epoch seconds
        ({"X-RateLimit-Reset": "12"}, 12.0),  # seconds from now
        ({"X-RateLimit-Reset": "0"}, 0.0),  # the window is open again now
        ({"X-RateLimit-Reset": "-3"}, 0.0),
        ({"X-RateLimit-Reset": str(int(NOW) - 5)}, 0.0),  # an epoch passed
        ({"X-RateLimit-Reset": "1000000001"}, 0.0),  # the smallest epoch: long passed
        ({"X-RateLimit-Reset": "1000000000"}, 1_000_000_000.0),  # not epoch: seconds
        ({"Retry-After": "3", "X-RateLimit-Reset": "40"}, 3.0),  # Retry-After first
        ({"Retry-After": "soon", "X-RateLimit-Reset": "9"}, 9.0),  # unreadable: fall back
        ({"X-RateLimit-Reset": "soon"}, None),
        ({}, None),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else None,
)
def test_each_header_form_on_a_fixed_clock(headers: dict[str, str], wait: float | None) -> None:
    assert retry_after_seconds(headers, now=NOW) == wait


def waits_on_429(emulator: EmulatorProcess, headers: dict[str, str]) -> list[float]:
    """The client's waits when Dfns answers one 429 carrying `headers`."""
    waits: list[float] = []
    emulator.fault("GET", "/webhooks", "status", status=429, headers=headers)
    assert DfnsClient(emulator.settings(), sleep=waits.append).list_webhooks() == []
    assert [e["status"] for e in emulator.requests_log()] == [429, 200]
    return waits


def test_retry_after_as_an_http_date_is_waited_out(emulator: EmulatorProcess) -> None:
    # An HTTP date has whole seconds: 20 s ahead is 19 to 20 s away by now.
    [wait] = waits_on_429(emulator, {"Retry-After": formatdate(time.time() + 20, usegmt=True)})
    assert 18.5 <= wait <= 20.2, wait


def test_x_ratelimit_reset_as_epoch_seconds_is_waited_out(emulator: EmulatorProcess) -> None:
    [wait] = waits_on_429(emulator, {"X-RateLimit-Reset": str(int(time.time()) + 15)})
    assert 13.5 <= wait <= 15.2, wait


def test_x_ratelimit_reset_as_relative_seconds_is_waited_out(emulator: EmulatorProcess) -> None:
    [wait] = waits_on_429(emulator, {"X-RateLimit-Reset": "9"})
    assert 9.0 <= wait <= 9.1, wait


def test_a_far_date_is_waited_no_longer_than_the_cap(emulator: EmulatorProcess) -> None:
    [wait] = waits_on_429(emulator, {"Retry-After": formatdate(time.time() + 600, usegmt=True)})
    assert RATE_LIMIT_WAIT_CAP <= wait <= RATE_LIMIT_WAIT_CAP + 0.1, wait


# -- whether and how long the client waits on other failures (retry_policy.py) -----------


class Longest(random.Random):
    """The top of every jitter range: the backoff's bound itself."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_the_backoff_doubles_from_a_quarter_second_to_the_cap() -> None:
    bounds = [backoff(attempt, Longest()) for attempt in range(1, 9)]
    assert bounds == [0.25, 0.5, 1.0, 2.0, 4.0, BACKOFF_CAP, BACKOFF_CAP, BACKOFF_CAP]


def test_a_failed_signing_step_is_retried_even_for_a_create(emulator: EmulatorProcess) -> None:
    """Getting a challenge changes nothing in Dfns: a 500 there is sent again, and the
    create goes through once."""
    waits: list[float] = []
    emulator.fault("POST", "/auth/action/init", "status", status=500)
    client = DfnsClient(emulator.settings(), sleep=waits.append)
    made = client.create_webhook("https://receiver.example/signing", ["*"])
    assert [w["id"] for w in emulator.webhooks()] == [made["id"]]
    statuses = [(e["path"], e["status"]) for e in emulator.requests_log()]
    assert statuses[:2] == [("/auth/action/init", 500), ("/auth/action/init", 200)]
    assert len(waits) >= 1


def test_a_404_is_an_answer_not_a_failure_to_retry(emulator: EmulatorProcess) -> None:
    waits: list[float] = []
    client = DfnsClient(emulator.settings(), sleep=waits.append)
    with pytest.raises(DfnsNotFoundError):
        client.get_webhook("wh-00000-00000-0000000000000000")
    assert [e["status"] for e in emulator.requests_log()] == [404]
    assert waits == []


def test_an_unreadable_answer_to_a_read_is_read_again(emulator: EmulatorProcess) -> None:
    """A GET may be repeated whatever Dfns did; a malformed answer to it is retried."""
    waits: list[float] = []
    emulator.fault("GET", "/webhooks", "malformed")
    assert DfnsClient(emulator.settings(), sleep=waits.append).list_webhooks() == []
    assert [e.get("fault") for e in emulator.requests_log()] == ["malformed", None]
    assert len(waits) == 1


def test_a_date_without_a_zone_is_read_as_gmt_whatever_the_local_zone() -> None:
    """RFC 9110: HTTP dates are GMT. `-0000` parses without a zone, and the rotation gate
    and create recovery judge by this value: it must not move with TZ (review)."""
    import os
    import time as clock

    from pulumi_dfns.dfns_clock import parse_date

    saved = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "America/Los_Angeles"
        clock.tzset()
        zoneless = parse_date("Sat, 05 Dec 2026 03:00:00 -0000")
        gmt = parse_date("Sat, 05 Dec 2026 03:00:00 GMT")
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        clock.tzset()
    assert zoneless == gmt == 1796439600.0
