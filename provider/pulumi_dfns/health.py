"""Delivery health: what a webhook's failed deliveries say, and which await a retry.

Dfns records every delivery attempt as a webhook event (`whe-...`) with its `kind`,
`date` (when the event happened), `timestampSent` (when this attempt was sent), the
receiver's `status` and maybe an `error`, and keeps them 31 days
(`GET /webhooks/{id}/events?deliveryFailed=true`, dfns-api.md [doc]). Every source shows
those fields (2024 docs get-webhook-event.md; @dfns/sdk generated/webhooks/types.ts
ListWebhookEventsResponse; dfns-sdk generated/webhooks/types.py GetWebhookEventResponse;
dfns-sdk-go types/types.go WebhookEvent; https://docs.dfns.co/api-reference/webhooks/
list-webhook-events). Only the 2024 docs show `deliveryFailed`, `deliveryAttempt`,
`retryOf` and `nextAttemptDate` on listed events, so nothing here needs them: they
sharpen an answer where present. A refresh of a tracked webhook reads ONE page of
failures (a bounded cost) and summarises it here; the audit command does the same per
webhook, and its rotation gate (`--awaiting-retry`) asks `pending_retries`.

Assumed (no source states it): the order of that list. The summary does not depend on
it within a page; when the page is full, more failures exist than were read, so the
count is a lower bound ("at least N") and, if Dfns lists oldest first, failures of
the last day may lie beyond the page.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypedDict

from .redact import shown_text

# Dfns makes at most 5 delivery attempts (about 1 min, 12 min, 2 h and 1 day after the
# first), each retry a new event with `retryOf` and `deliveryAttempt`; none once the
# webhook is disabled or deleted (dfns/dfns-api-docs api-docs/webhooks/README.md,
# "Webhook Event Deliveries & Retries"; dfns-api.md [doc]).
MAX_DELIVERY_ATTEMPTS = 5
RETRY_SCHEDULE = (60.0, 12 * 60.0, 2 * 3600.0, 24 * 3600.0)  # after the first attempt
# How long after its due moment a retry is still waited for: *assumed* (the docs say
# only "around" nextAttemptDate). Past it, a retry that has not happened is taken as one
# Dfns will not make (the webhook was disabled when it was due, or it was lost): the
# audit's --retry-grace changes it.
RETRY_GRACE_SECONDS = 3600.0

# Events read per refresh of a tracked webhook: the emulator's (and, assumed, Dfns's)
# largest page.
FAILURE_PAGE_LIMIT = 100
WINDOW_SECONDS = 24 * 3600.0


class DeliveryFailure(TypedDict):
    """The `last_delivery_failure` output."""

    date: str  # when the event happened (Dfns's `date`)
    sent: str | None  # when this attempt was sent (`timestampSent`, ISO 8601)
    kind: str | None
    status: str | None
    error: str | None


@dataclass(frozen=True)
class Health:
    failed: int  # failures sent within the last 24 hours, among those read
    at_least: bool  # the page was full: `failed` is a lower bound
    last: DeliveryFailure | None  # the newest failure read (any age within retention)

    def describe(self) -> str:
        more = "at least " if self.at_least else ""
        return f"{more}{self.failed} failed deliveries in the last 24 hours"


def parse_date(text: Any) -> float | None:
    """Dfns's ISO 8601 dates (`...Z`); None when unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def sent_at(event: dict[str, Any]) -> float | None:
    """When this attempt was sent: `timestampSent` (unix seconds). An event without one
    (no source shows such) is placed at its `date`, when the event happened: never
    later than any of its attempts."""
    sent = _number(event.get("timestampSent"))
    return sent if sent is not None else parse_date(event.get("date"))


def _iso(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, tz=timezone.utc)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def summarise(events: list[dict[str, Any]], page_full: bool, now: float | None = None) -> Health:
    """Failures sent in the last 24 hours and the newest failure, both by when each
    attempt was sent (`timestampSent`), not by the event's `date`: a retry a day after
    the event is a failure of today (the docs define `date` as when the event happened
    and `timestampSent` as when the attempt was sent, get-webhook-event.md)."""
    # `now` is the listing's Date (Dfns's clock, the one that stamps timestampSent);
    # this machine's clock only when Dfns sent none.
    current = time.time() if now is None else now
    dated = [(sent_at(e), e) for e in events if isinstance(e, dict)]
    known = [(moment, e) for moment, e in dated if moment is not None]
    recent = sum(1 for moment, _ in known if current - moment <= WINDOW_SECONDS)
    last: DeliveryFailure | None = None
    if known:
        event = max(known, key=lambda pair: pair[0])[1]
        stamped = _number(event.get("timestampSent"))
        last = {
            "date": str(event.get("date")),
            "sent": None if stamped is None else _iso(stamped),
            "kind": _text(event.get("kind")),
            "status": _text(event.get("status")),
            "error": _text(event.get("error")),
        }
    return Health(recent, page_full, last)


# -- the rotation gate ----------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """A delivery whose newest attempt failed and that Dfns may still retry."""

    first: str  # the earliest attempt of it that was found (its retryOf chain's root)
    event: str  # its newest failed attempt
    until: float | None  # on Dfns's clock: past this it no longer counts (None: unknown)
    reason: str  # how that was decided, from which field

    def as_json(self) -> dict[str, Any]:
        until = None if self.until is None else _iso(self.until)
        return {"first": self.first, "event": self.event, "until": until, "reason": self.reason}


def _root(event: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> str:
    """The earliest attempt found by following `retryOf`. Right on both readings of
    it: "the ID of the previously failed Webhook Event" (2024 get-webhook-event.md: a
    chain) and "ID of the original event" (https://docs.dfns.co/api-reference/webhooks/
    webhook-event-retry: one step)."""
    seen = {str(event["id"])}
    current = event
    while True:
        parent = current.get("retryOf")
        if not isinstance(parent, str) or not parent or parent in seen or parent not in by_id:
            return str(parent) if isinstance(parent, str) and parent else str(current["id"])
        seen.add(parent)
        current = by_id[parent]


def _attempt(event: dict[str, Any]) -> int | None:
    value = event.get("deliveryAttempt")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _order(event: dict[str, Any]) -> tuple[int, float]:
    return (_attempt(event) or 0, sent_at(event) or 0.0)


def pending_retries(
    failed: list[dict[str, Any]],
    everything: list[dict[str, Any]],
    *,
    now: float,
    enabled: bool,
    grace: float = RETRY_GRACE_SECONDS,
) -> list[Pending]:
    """The deliveries of one webhook that Dfns can still retry, judged at `now` (the
    listing's `Date`: Dfns's clock).

    `failed` is the listing with Dfns's filter `deliveryFailed=true` (documented by
    every source); `everything` the unfiltered one, to see a later attempt that
    succeeded. Attempts of one delivery are grouped by `retryOf` where Dfns gives it
    (`_root`); without it (the SDKs' lean shape) each failed attempt stands alone. A
    delivery counts when its newest attempt failed and:
    - the webhook is Enabled (Dfns does not retry a disabled webhook's deliveries);
    - its attempt number, where given, is below 5 (no 6th attempt);
    - `nextAttemptDate`, where given, is less than `grace` ago (2024
      get-webhook-event.md: "the date around when the delivery retry will happen");
    - where nothing tells (no `nextAttemptDate`: the SDKs' types and the current
      reference lack it, so its absence cannot be read as "no retry", though the 2024
      README reads it so), the retry schedule bounds it: its next retry is due at most a
      day after the first attempt, so it counts until then plus `grace` (from this
      attempt's `timestampSent` when the first attempt is unknown). Erring on "still
      pending" costs a wait of at most about a day; the other way loses deliveries.
    """
    by_id = {str(e["id"]): e for e in everything + failed if isinstance(e, dict) and e.get("id")}
    failed_ids = {str(e["id"]) for e in failed if isinstance(e, dict) and e.get("id")}
    newest: dict[str, dict[str, Any]] = {}
    for event in by_id.values():
        root = _root(event, by_id)
        if root not in newest or _order(event) > _order(newest[root]):
            newest[root] = event
    if not enabled:
        return []
    pending = []
    for root, event in sorted(newest.items()):
        if str(event["id"]) not in failed_ids:
            continue  # its newest attempt succeeded (or is not a failure Dfns lists)
        decided = _judge(event, by_id.get(root), now, grace)
        if decided is not None:
            until, reason = decided
            pending.append(Pending(root, str(event["id"]), until, reason))
    return pending


def _judge(
    event: dict[str, Any], first: dict[str, Any] | None, now: float, grace: float
) -> tuple[float | None, str] | None:
    """(until when it counts, why) for a delivery whose newest attempt is `event` and
    failed; None when Dfns will not retry it."""
    attempt = _attempt(event)
    if attempt is not None and attempt >= MAX_DELIVERY_ATTEMPTS:
        return None
    next_attempt = parse_date(event.get("nextAttemptDate"))
    if next_attempt is not None:
        until = next_attempt + grace
        reason = f"nextAttemptDate {event.get('nextAttemptDate')}"
        return (until, reason) if now < until else None
    first_sent = None if first is None else sent_at(first)
    if (
        attempt is not None
        and first is not None
        and first_sent is not None
        and _attempt(first) in (None, 1)
    ):
        due = first_sent + RETRY_SCHEDULE[attempt - 1]
        reason = f"no nextAttemptDate; attempt {attempt} of 5, so its retry is due by the schedule"
    else:
        sent = sent_at(event)
        if sent is None:
            return (None, "no nextAttemptDate and no timestampSent: cannot be dated")
        due = sent + RETRY_SCHEDULE[-1]
        reason = (
            "no nextAttemptDate, attempt number or retryOf: Dfns may retry it up to a day "
            "after its first attempt"
        )
    until = due + grace
    return (until, reason) if now < until else None


def _text(value: Any) -> str | None:
    """Dfns's or a receiver's text as a person may read it: urls redacted, cut short."""
    return None if value is None else shown_text(str(value))
