"""Delivery health: what one page of a webhook's failed deliveries says.

Dfns records every delivery attempt as a webhook event (`whe-...`) with its `kind`,
`date`, the receiver's `status` and maybe an `error`, and keeps them 31 days
(`GET /webhooks/{id}/events?deliveryFailed=true`, dfns-api.md [doc]). A refresh of a
tracked webhook reads ONE page of failures (a bounded cost) and summarises it here;
the audit command does the same per webhook.

Assumed (no source states it): the order of that list. The summary does not depend on
it within a page; when the page is full, more failures exist than were read, so the
count is a lower bound ("at least N") and, if Dfns lists oldest first, failures of
the last day may lie beyond the page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypedDict

from .redact import shown_text

# Dfns makes at most 5 delivery attempts (about 1 min, 12 min, 2 h and 1 day after the
# first), each retry a new event with `retryOf` (the first attempt's id) and
# `deliveryAttempt`; none once the webhook is disabled or deleted
# (dfns/dfns-api-docs api-docs/webhooks/README.md; dfns-api.md [doc]).
MAX_DELIVERY_ATTEMPTS = 5

# Events read per refresh of a tracked webhook: the emulator's (and, assumed, Dfns's)
# largest page.
FAILURE_PAGE_LIMIT = 100
WINDOW_SECONDS = 24 * 3600.0


class DeliveryFailure(TypedDict):
    """The `last_delivery_failure` output."""

    date: str
    kind: str | None
    status: str | None
    error: str | None


@dataclass(frozen=True)
class Health:
    failed: int  # failures dated within the last 24 hours, among those read
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


def summarise(events: list[dict[str, Any]], page_full: bool, now: float | None = None) -> Health:
    """Failures in the last 24 hours (by Dfns's event `date`) and the newest failure."""
    current = time.time() if now is None else now
    dated = [(parse_date(e.get("date")), e) for e in events if isinstance(e, dict)]
    known = [(moment, e) for moment, e in dated if moment is not None]
    recent = sum(1 for moment, _ in known if current - moment <= WINDOW_SECONDS)
    last: DeliveryFailure | None = None
    if known:
        event = max(known, key=lambda pair: pair[0])[1]
        last = {
            "date": str(event.get("date")),
            "kind": _text(event.get("kind")),
            "status": _text(event.get("status")),
            "error": _text(event.get("error")),
        }
    return Health(recent, page_full, last)


def awaiting_retry(events: list[dict[str, Any]]) -> list[str]:
    """First-attempt ids of the deliveries in `events` (a webhook's events, failed and
    not) that Dfns will still retry: the newest attempt of the delivery failed and was
    not the last. Deleting or disabling the webhook now would lose them (Dfns does not
    retry a deleted webhook's deliveries)."""
    newest: dict[str, dict[str, Any]] = {}
    for event in events:
        if not isinstance(event, dict) or not event.get("id"):
            continue
        first = str(event.get("retryOf") or event["id"])
        attempt = _attempt(event)
        if first not in newest or attempt > _attempt(newest[first]):
            newest[first] = event
    return sorted(
        first
        for first, event in newest.items()
        if event.get("deliveryFailed") and _attempt(event) < MAX_DELIVERY_ATTEMPTS
    )


def _attempt(event: dict[str, Any]) -> int:
    value = event.get("deliveryAttempt")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _text(value: Any) -> str | None:
    """Dfns's or a receiver's text as a person may read it: urls redacted, cut short."""
    return None if value is None else shown_text(str(value))
