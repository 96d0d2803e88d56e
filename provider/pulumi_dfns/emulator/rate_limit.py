"""The emulator's rate limit: per-organisation fixed windows, answered with 429 and
Retry-After once spent.
"""

from __future__ import annotations

import threading

from .assumed import RATE_LIMIT_HEADERS
from .clock import Clock
from .errors import ApiFailure

RATE_WINDOW = 60.0


class RateLimiter:
    """Per-organisation fixed 60 s windows (Dfns: 100 or 1000 requests a minute per
    organisation), with rate-limit headers whose names are ASSUMED (assumed.py)."""

    def __init__(self, limit: int, clock: Clock) -> None:
        self.limit = limit
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def spend(self, org_id: str) -> dict[str, str]:
        now = self.clock.now()
        with self._lock:
            start, count = self._windows.get(org_id, (now, 0))
            if now - start >= RATE_WINDOW:
                start, count = now, 0
            count += 1
            self._windows[org_id] = (start, count)
        reset = start + RATE_WINDOW
        limit_name, remaining_name, reset_name = RATE_LIMIT_HEADERS
        headers = {
            limit_name: str(self.limit),
            remaining_name: str(max(0, self.limit - count)),
            reset_name: str(int(reset)),
        }
        if count > self.limit:
            headers["Retry-After"] = str(max(1, int(reset - now + 0.999)))
            raise ApiFailure(429, "Too many requests: rate limit exceeded", headers)
        return headers
