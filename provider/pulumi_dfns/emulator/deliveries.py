"""Deliveries from the emulator to webhook urls, signed as Dfns signs them."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import requests

from ..delivery import SIGNATURE_HEADER, sign_delivery
from .auth import Clock, new_id
from .store import Store

DELIVERY_TIMEOUT = 10.0


class Deliverer:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._session = requests.Session()
        # Deliveries go to the user's receiver, never through a proxy from the environment.
        self._session.trust_env = False

    def post(self, url: str, secret: str, event: dict[str, Any]) -> tuple[str, str | None]:
        """POST one signed event; answer the receiver's status (as Dfns: a string) and error."""
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_delivery(body, secret),
            "User-Agent": "Dfns-Webhook-Emulator",
        }
        try:
            response = self._session.post(url, data=body, headers=headers, timeout=DELIVERY_TIMEOUT)
        except requests.RequestException as exc:
            return "0", f"delivery failed: {type(exc).__name__}"
        error = None if response.status_code == 200 else response.text[:500] or None
        return str(response.status_code), error

    def ping(self, row: sqlite3.Row) -> tuple[str, str | None]:
        now = self.clock.now()
        event = {
            "id": new_id("whe"),
            "kind": "webhook.ping",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "data": {"webhookId": row["id"], "message": "Ping from Dfns"},
            "timestampSent": int(now),
            "deliveryAttempt": 1,
        }
        return self.post(row["url"], row["secret"], event)
