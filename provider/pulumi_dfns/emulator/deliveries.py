"""Deliveries from the emulator to webhook urls, signed and retried as Dfns does.

An emitted event reaches every Enabled webhook subscribed to its kind (or to "*"). Each
delivery attempt is recorded as a webhook event; a failed one (any answer but 200) is
retried on Dfns's schedule, each retry a new event with `retryOf` and
`deliveryAttempt`, and the failed event shows when with `nextAttemptDate`
(dfns/dfns-api-docs api-docs/webhooks/README.md and get-webhook-event.md). The schedule
can be time-scaled so tests run in seconds.

Scheduled retries live in the store (a restart loses none: the due ones run at start)
and are due at a moment of the emulator's clock, so `POST /_emulator/clock` brings them
forward as it ages everything else. A retry found due while its webhook is Disabled is
dropped, and no later one is scheduled ("If your webhook has been disabled or deleted
when Dfns attempts a retry, future retries of that event are prevented", README.md);
the dropped retry's event keeps its `nextAttemptDate` (*assumed*: no source says
whether Dfns clears it). A retry interrupted by a crash is made again at start: a
receiver may see an attempt twice, which Dfns also allows ("Webhook endpoints might
occasionally receive the same event more than once").
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from ..delivery import SIGNATURE_HEADER, sign_delivery
from .assumed import Assumed
from .clock import Clock, event_id
from .jsjson import stringify
from .store import Row, Store

# Seconds after the first attempt at which Dfns retries: about 1 min, 12 min, 2 h,
# 1 day (5 attempts in all) (dfns/dfns-api-docs api-docs/webhooks/README.md). The
# delivery timeout, the ping's event kind and the "0" status of an unreachable
# receiver are ASSUMED (assumed.py).
RETRY_SCHEDULE = (60.0, 12 * 60.0, 2 * 3600.0, 24 * 3600.0)
# The scheduler looks again at least this often (seconds of real time), so a clock the
# emulator's own control route did not move still brings retries due.
SCHEDULER_PERIOD = 0.5


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
        self._wake = threading.Condition()
        self._running: set[int] = set()  # seqs of scheduled retries being carried out
        self._closed = False
        self._scheduler: threading.Thread | None = None

    def start(self) -> None:
        """Run the scheduled retries, those a previous run left first (due ones at once)."""
        self._scheduler = threading.Thread(
            target=self._schedule, name="dfns-emulator-retries", daemon=True
        )
        self._scheduler.start()

    def wake(self) -> None:
        """Look at the schedule again now (the clock moved, or a retry was added)."""
        with self._wake:
            self._wake.notify_all()

    def post(self, url: str, secret: str, event: dict[str, Any]) -> tuple[str, str | None]:
        """POST one signed event; answer the receiver's status (as Dfns: a string) and error."""
        body = stringify(event).encode("utf-8")  # JSON.stringify's text as UTF-8 (jsjson.py)
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
        """Send the ping's test event; like Dfns, it is not kept as a webhook event. Its
        payload is *assumed* (no source shows it): the emulator's has `timestampSent`
        unless --ping-without-timestamp, to show what a receiver does without one."""
        now = self.clock.now()
        event: dict[str, Any] = {
            "id": event_id(),
            "kind": self.assumed.ping_kind,
            "date": self.clock.iso(now),
            "data": {"webhookId": row["id"], "message": "Ping from Dfns"},
            "deliveryAttempt": 1,
        }
        if self.assumed.ping_timestamp:
            event["timestampSent"] = int(now)
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
            results.append(self._attempt(target.webhook_id, target, event, 1, None, now, scale))
        return results

    def _attempt(
        self,
        webhook_id: str,
        target: Target,
        event: dict[str, Any],
        attempt: int,
        retry_of: str | None,
        first_sent: float,
        scale: float,
        done: int | None = None,
    ) -> dict[str, Any]:
        """One attempt, recorded with the retry it calls for (if any) in one transaction;
        `done` is the scheduled retry this attempt carries out."""
        sent = dict(event)
        if attempt > 1:
            sent["id"] = event_id()
            sent["retryOf"] = retry_of
        sent["timestampSent"] = int(self.clock.now())
        sent["deliveryAttempt"] = attempt
        status, error = self.post(target.url, target.secret, sent)
        retry = None
        if status != "200" and attempt <= len(RETRY_SCHEDULE):
            # The schedule counts from the first attempt; it is due on the emulator's clock.
            due = first_sent + RETRY_SCHEDULE[attempt - 1] * scale
            retry = {
                "webhook_id": webhook_id,
                "event": event,
                "attempt": attempt + 1,
                "retry_of": retry_of or sent["id"],
                "first_sent": first_sent,
                "scale": scale,
                "due": due,
                "next_attempt_date": self.clock.iso(due),
            }
        self.store.add_event(webhook_id, sent, status, error, retry=retry, done=done)
        if retry is not None:
            self.wake()
        return {
            "webhookId": webhook_id,
            "eventId": sent["id"],
            "status": status,
            "deliveryAttempt": attempt,
        }

    # -- the schedule -----------------------------------------------------------------

    def _schedule(self) -> None:
        while True:
            with self._wake:
                if self._closed:
                    return
                with_running = set(self._running)
            for row in self.store.retries_due(self.clock.now(), with_running):
                self._carry_out(row)
            with self._wake:
                if self._closed:
                    return
                due = self.store.next_retry_due(set(self._running))
                wait = SCHEDULER_PERIOD if due is None else due - self.clock.now()
                if wait > 0:
                    self._wake.wait(min(wait, SCHEDULER_PERIOD))

    def _carry_out(self, row: Row) -> None:
        """Make one due retry on its own thread (a slow receiver holds up no other)."""
        seq = int(row["seq"])
        with self._wake:
            self._running.add(seq)

        def run() -> None:
            try:
                self._retry(row)
            finally:
                with self._wake:
                    self._running.discard(seq)

        threading.Thread(target=run, name=f"dfns-emulator-retry-{seq}", daemon=True).start()

    def _retry(self, row: Row) -> None:
        webhook = self.store.webhook_row(row["webhook_id"])
        if webhook is None or webhook["status"] != "Enabled":
            self.store.drop_retry(int(row["seq"]))  # disabled or deleted: no more retries
            return
        target = Target(webhook["id"], webhook["url"], webhook["secret"])
        self._attempt(
            webhook["id"],
            target,
            json.loads(row["event"]),
            int(row["attempt"]),
            str(row["retry_of"]),
            float(row["first_sent"]),
            float(row["scale"]),
            done=int(row["seq"]),
        )

    def pending_retries(self) -> int:
        return self.store.retry_count()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
        # Give retries in flight a moment to record their outcome before the store closes.
        deadline = time.monotonic() + 2
        while self._running and time.monotonic() < deadline:
            time.sleep(0.01)
