"""Dfns's clock as its answers state it, for telling what existed before a create.

Every HTTP answer from an origin server with a clock carries `Date` (RFC 9110,
section 6.6.1: such a server "MUST generate a Date header field in all 2xx, 3xx and 4xx
responses", and may in 5xx), at one-second resolution. Dfns stamps `dateCreated` on a
webhook (milliseconds). Assumed: both come from the same, NTP-synchronised clock; a
host skew of a few milliseconds is covered by MARGIN.

From each answer we learn a lower bound of Dfns's clock against our monotonic clock:
the answer was dated `D` (whole seconds, rounded down) before we received it at `r`,
so Dfns's time is at least `now - r + D`. The best bound seen lately is kept, so a
moment on Dfns's clock can be waited for without a request: only local waiting, judged
by what Dfns said.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from email.utils import parsedate_to_datetime

# Bounds older than this are dropped: clock rates differ by up to ~100 ppm, so a bound
# five minutes old may be 30 ms off; MARGIN covers that and host skew.
KEEP = 300.0
MARGIN = 0.05


def parse_date(value: str | None) -> float | None:
    """An HTTP `Date` header as epoch seconds, or None when absent or unreadable."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class DfnsClock:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._bounds: deque[tuple[float, float]] = deque()  # (received, date - received)

    def observe(self, headers: dict[str, str], received: float) -> float | None:
        """Learn from one answer's headers, received at monotonic time `received`."""
        date = parse_date(next((v for k, v in headers.items() if k.lower() == "date"), None))
        if date is None:
            return None
        with self._lock:
            self._bounds.append((received, date - received))
            while self._bounds and self._bounds[0][0] < received - KEEP:
                self._bounds.popleft()
        return date

    def wait_for(self, moment: float) -> float:
        """Seconds to wait (by our monotonic clock) until Dfns's clock surely passed `moment`."""
        now = self._monotonic()
        with self._lock:
            offsets = [offset for received, offset in self._bounds if received >= now - KEEP]
        if not offsets:
            return 0.0
        return max(0.0, moment + MARGIN - (now + max(offsets)))
