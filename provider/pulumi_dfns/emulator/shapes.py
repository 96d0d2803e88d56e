"""Store rows as the API's JSON objects: a webhook, a webhook event."""

from __future__ import annotations

import json
from typing import Any

from .store import Row

# What a delivered event holds that the lean listing shape (emulator --lean-events) omits.
LEAN_DROPS = ("deliveryAttempt", "retryOf")


def webhook_json(row: Row, *, with_secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "url": row["url"],
        "events": json.loads(row["events"]),
        "status": row["status"],
        "dateCreated": row["date_created"],
        "dateUpdated": row["date_updated"],
    }
    if row["description"] is not None:
        out["description"] = row["description"]
    if with_secret:
        out["secret"] = row["secret"]
    return out


def event_json(row: Row, *, lean: bool = False) -> dict[str, Any]:
    """A webhook event as listed: what was delivered, plus `status`, `error?`,
    `deliveryFailed` and, while a retry is scheduled, `nextAttemptDate`
    (dfns/dfns-api-docs api-docs/webhooks/list-webhook-events.md and
    get-webhook-event.md, 2024). `lean`: the shape of the SDKs' generated types and
    the current reference's list page (`id`, `date`, `kind`, `data`, `status`,
    `error?`, `timestampSent` only: @dfns/sdk generated/webhooks/types.ts
    ListWebhookEventsResponse, dfns-sdk GetWebhookEventResponse, dfns-sdk-go
    types.WebhookEvent; https://docs.dfns.co/api-reference/webhooks/list-webhook-events).
    """
    out: dict[str, Any] = json.loads(row["body"])
    out["status"] = row["status"]
    if row["error"]:
        out["error"] = row["error"]
    if lean:
        for name in LEAN_DROPS:
            out.pop(name, None)
        return out
    out["deliveryFailed"] = bool(row["delivery_failed"])
    if row["next_attempt_date"]:
        out["nextAttemptDate"] = row["next_attempt_date"]
    return out
