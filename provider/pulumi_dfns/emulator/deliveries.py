"""Deliveries from the emulator to webhook urls, signed and retried as Dfns does.

An emitted event reaches every Enabled webhook subscribed to its kind (or to "*"). Each
delivery attempt is recorded as a webhook event; a failed one (any answer but 200) is
retried on Dfns's schedule, each retry a new event with `retryOf` and
`deliveryAttempt`. The schedule can be time-scaled so tests run in seconds.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import requests

from ..delivery import SIGNATURE_HEADER, sign_delivery
from .assumed import Assumed
from .clock import Clock, event_id
from .store import Row, Store

# Seconds after the first attempt at which Dfns retries: about 1 min, 12 min, 2 h,
# 1 day (5 attempts in all) (dfns/dfns-api-docs api-docs/webhooks/README.md). The
# delivery timeout, the ping's event kind and the "0" status of an unreachable
# receiver are ASSUMED (assumed.py).
RETRY_SCHEDULE = (60.0, 12 * 60.0, 2 * 3600.0, 24 * 3600.0)


@dataclass
class Target:
    webhook_id: str
    url: str
    secret: str


class Deliverer:
    def __init__(
        self, store: Store, clock: Clock, assumed: Assumed, time_scale: float = 1.0
    ) -> None:
        self.store = store
        self.clock = clock
        self.assumed = assumed
        self.time_scale = time_scale
        self._session = requests.Session()
        # Deliveries go to the user's receiver, never through a proxy from the environment.
        self._session.trust_env = False
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def post(self, url: str, secret: str, event: dict[str, Any]) -> tuple[str, str | None]:
        """POST one signed event; answer the receiver's status (as Dfns: a string) and error."""
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_delivery(body, secret),
            "User-Agent": "Dfns-Webhook-Emulator",
        }
        try:
            response = self._session.post(
                url, data=body, headers=headers, timeout=self.assumed.delivery_timeout
            )
        except requests.RequestException as exc:
            return self.assumed.unreachable_status, f"delivery failed: {type(exc).__name__}"
        error = None if response.status_code == 200 else response.text[:500] or None
        return str(response.status_code), error

    def ping(self, row: Row) -> tuple[str, str | None]:
        """Send the ping's test event; like Dfns, it is not kept as a webhook event."""
        now = self.clock.now()
        event = {
            "id": event_id(),
            "kind": self.assumed.ping_kind,
            "date": self.clock.iso(now),
            "data": {"webhookId": row["id"], "message": "Ping from Dfns"},
            "timestampSent": int(now),
            "deliveryAttempt": 1,
        }
        return self.post(row["url"], row["secret"], event)

    # -- emitted events ---------------------------------------------------------------

    def targets(self, org_id: str, kind: str) -> list[Target]:
        rows = self.store.enabled_webhooks(org_id)
        return [
            Target(r["id"], r["url"], r["secret"])
            for r in rows
            if kind in json.loads(r["events"]) or "*" in json.loads(r["events"])
        ]

    def emit(
        self, org_id: str, kind: str, data: dict[str, Any], time_scale: float | None
    ) -> list[dict[str, Any]]:
        """Deliver an event now to every subscribed webhook; schedule retries of failures."""
        scale = self.time_scale if time_scale is None else time_scale
        now = self.clock.now()
        results = []
        for target in self.targets(org_id, kind):
            event = {"id": event_id(), "kind": kind, "date": self.clock.iso(now), "data": data}
            results.append(self._attempt(target, event, 1, None, scale))
        return results

    def _attempt(
        self,
        target: Target,
        event: dict[str, Any],
        attempt: int,
        retry_of: str | None,
        scale: float,
    ) -> dict[str, Any]:
        sent = dict(event)
        if attempt > 1:
            sent["id"] = event_id()
            sent["retryOf"] = retry_of
        now = self.clock.now()
        sent["timestampSent"] = int(now)
        sent["deliveryAttempt"] = attempt
        status, error = self.post(target.url, target.secret, sent)
        failed = status != "200"
        self.store.add_event(target.webhook_id, sent, status, error)
        if failed and attempt <= len(RETRY_SCHEDULE):
            first_id = retry_of or sent["id"]
            # The schedule counts from the first attempt.
            previous = RETRY_SCHEDULE[attempt - 2] if attempt > 1 else 0.0
            delay = (RETRY_SCHEDULE[attempt - 1] - previous) * scale
            self._later(delay, target, event, attempt + 1, first_id, scale)
        return {
            "webhookId": target.webhook_id,
            "eventId": sent["id"],
            "status": status,
            "deliveryAttempt": attempt,
        }

    def _later(
        self,
        delay: float,
        target: Target,
        event: dict[str, Any],
        attempt: int,
        retry_of: str,
        scale: float,
    ) -> None:
        def run() -> None:
            with self._lock:
                self._timers.discard(timer)
            if self._still_enabled(target.webhook_id):
                self._attempt(target, event, attempt, retry_of, scale)

        timer = threading.Timer(delay, run)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _still_enabled(self, webhook_id: str) -> bool:
        return self.store.webhook_status(webhook_id) == "Enabled"

    def pending_retries(self) -> int:
        with self._lock:
            return len(self._timers)

    def close(self) -> None:
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
