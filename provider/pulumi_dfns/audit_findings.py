"""What the audit concludes from Dfns's webhooks and the state files: a row per webhook
(managed, duplicate, rotation pair, failed deliveries), the findings that fail the
audit, and the rotation gate (failed deliveries Dfns may still retry).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, TypedDict

from .audit_inputs import Reference, StateIndex
from .health import (
    FAILURE_PAGE_LIMIT,
    RETRY_GRACE_SECONDS,
    DeliveryFailure,
    Pending,
    pending_retries,
    summarise,
)
from .redact import shown_url


class Row(TypedDict):
    id: str
    url: str
    events: list[str]
    status: str
    description: str | None
    dateCreated: str | None
    managedBy: list[Reference]
    lookedUpBy: list[Reference]
    duplicateOf: str | None
    rotationPairOf: str | None  # same url and events, both managed by one stack
    failedDeliveries24h: int
    failedDeliveriesAtLeast: bool
    lastDeliveryFailure: DeliveryFailure | None


def run_audit(client: Any, states: StateIndex) -> tuple[list[Row], list[Reference]]:
    """Rows for every webhook Dfns holds, and state references Dfns no longer holds."""
    webhooks = sorted(client.list_webhooks(), key=lambda w: (w.get("dateCreated") or "", w["id"]))
    rows: list[Row] = []
    same: dict[tuple[str, tuple[str, ...]], list[Row]] = {}  # url and events -> rows
    for webhook in webhooks:
        key = (str(webhook.get("url")), tuple(sorted(set(webhook.get("events") or []))))
        events, more, date = client.webhook_events_page(
            webhook["id"], delivery_failed=True, limit=FAILURE_PAGE_LIMIT
        )
        health = summarise(events, more, now=date)
        row: Row = {
            "id": webhook["id"],
            "url": shown_url(webhook.get("url")),
            "events": list(key[1]),
            "status": str(webhook.get("status")),
            "description": webhook.get("description"),
            "dateCreated": webhook.get("dateCreated"),
            "managedBy": states.managed.get(webhook["id"], []),
            "lookedUpBy": states.looked_up.get(webhook["id"], []),
            "duplicateOf": None,
            "rotationPairOf": None,
            "failedDeliveries24h": health.failed,
            "failedDeliveriesAtLeast": health.at_least,
            "lastDeliveryFailure": health.last,
        }
        earlier = same.setdefault(key, [])
        if len(earlier) == 1 and _one_stack(earlier[0]["managedBy"], row["managedBy"]):
            # The documented rotation: the old webhook and its successor, both declared
            # by the same stack. The same url and events in two stacks (dev and prod)
            # is a duplicate: every event would be delivered twice, for good.
            earlier[0]["rotationPairOf"] = row["id"]
            row["rotationPairOf"] = earlier[0]["id"]
        elif earlier:
            row["duplicateOf"] = earlier[0]["id"]
        earlier.append(row)
        rows.append(row)
    held = {w["id"] for w in webhooks}
    missing = [ref for wid, refs in states.managed.items() if wid not in held for ref in refs]
    return rows, missing


def awaiting_retry(
    client: Any,
    webhook_id: str,
    *,
    enabled: bool | None = None,
    grace: float = RETRY_GRACE_SECONDS,
) -> list[Pending]:
    """The rotation gate: the failed deliveries of a webhook that Dfns can still retry
    (health.pending_retries says how each is decided).

    Every page of two listings (Dfns keeps 31 days): all events, then those Dfns's own
    filter `deliveryFailed=true` returns (documented by every source), in that order so
    that no failure can be newer than what the first listing shows of its delivery.
    Judged at the `Date` of the last answer, Dfns's clock (dfns_clock.py), or by this
    machine's clock, said so, when Dfns sent none. `enabled`: the webhook's status is
    Enabled (None: read it).
    """
    if enabled is None:
        enabled = client.get_webhook(webhook_id).get("status") == "Enabled"
    everything, _ = client.list_webhook_events_dated(webhook_id)
    failed, date = client.list_webhook_events_dated(webhook_id, delivery_failed=True)
    now = time.time() if date is None else date
    pending = pending_retries(failed, everything, now=now, enabled=bool(enabled), grace=grace)
    if date is None:
        note = " (Dfns's answer had no Date: judged by this machine's clock)"
        pending = [replace(p, reason=p.reason + note) for p in pending]
    return pending


def _stack_of(ref: Reference) -> str:
    """The stack a reference belongs to: `urn:pulumi:<stack>::<project>` (two stacks
    named dev of two projects are two stacks)."""
    return "::".join(ref["urn"].split("::")[:2])


def _one_stack(old: list[Reference], new: list[Reference]) -> bool:
    """Are both webhooks managed, and every reference to either of the same stack?"""
    return bool(old and new) and len({_stack_of(ref) for ref in old + new}) == 1


def findings_of(rows: list[Row], missing: list[Reference]) -> list[str]:
    found = []
    for row in rows:
        if not row["managedBy"]:
            found.append(f"{row['id']} is managed by no stack given")
        elif len(row["managedBy"]) > 1:
            owners = ", ".join(f"{r['stack']}/{r['resource']}" for r in row["managedBy"])
            found.append(f"{row['id']} is managed by several resources: {owners}")
        if row["duplicateOf"]:
            found.append(f"{row['id']} duplicates {row['duplicateOf']} (same url and events)")
    for ref in missing:
        found.append(
            f"{ref['stack']}/{ref['resource']} points at a webhook Dfns no longer holds: "
            "`pulumi refresh` that stack"
        )
    return found


def rotation_pairs(rows: list[Row]) -> list[tuple[str, str]]:
    """(older, newer) ids of each rotation pair; rows are oldest first."""
    seen: set[str] = set()
    pairs = []
    for row in rows:
        partner = row["rotationPairOf"]
        if partner is not None and partner in seen:
            pairs.append((partner, row["id"]))
        seen.add(row["id"])
    return pairs


def awaiting_finding(webhook_id: str, pending: list[Pending]) -> str:
    known = [p.until for p in pending if p.until is not None]
    last = max(known) if len(known) == len(pending) else None
    until = (
        f"the last of them counts until {_iso(last)} by Dfns's clock"
        if last is not None
        else "one of them cannot be dated, so it counts until it is retried or expires"
    )
    reasons = "; ".join(sorted({p.reason for p in pending}))
    return (
        f"{webhook_id} has {len(pending)} failed deliveries that Dfns may still retry: do "
        "not delete or disable it yet (Dfns does not retry a deleted or disabled webhook's "
        f"deliveries); {until} (judged by: {reasons})"
    )


def _iso(moment: float) -> str:
    stamp = datetime.fromtimestamp(moment, tz=timezone.utc).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")
