"""Dfns's clock as its answers state it, for telling what existed before a create.

Every HTTP answer from an origin server with a clock carries `Date` (RFC 9110,
section 6.6.1: such a server "MUST generate a Date header field in all 2xx, 3xx and 4xx
responses", and may in 5xx), at one-second resolution. Dfns stamps `dateCreated` on a
webhook (milliseconds). Assumed: both come from the same, NTP-synchronised clock; a
host skew of a few milliseconds is covered by MARGIN. This is checked on every
successful create (`ClockTrust`, used by recovery.py): a webhook must be dated within
the window its create's answers bound. Once one is not, the process stops judging by
time: after a lost create answer every look-alike is then named as a possible copy,
never taken as absent (docs/fidelity.md).

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
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime

# Bounds older than this are dropped: clock rates differ by up to ~100 ppm, so a bound
# five minutes old may be 30 ms off; MARGIN covers that and host skew.
KEEP = 300.0
MARGIN = 0.05


# The `Date` of the last answer each thread observed: a create reads its own answer's
# Date here right after the call returns (no other request runs on that thread between).
_seen = threading.local()


def last_date_seen() -> float | None:
    """The `Date` (epoch seconds) of the last answer this thread observed, if it had one."""
    date: float | None = getattr(_seen, "date", None)
    return date


def parse_date(value: str | None) -> float | None:
    """An HTTP `Date` header as epoch seconds, or None when absent or unreadable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        # RFC 9110 section 5.6.7: an HTTP date is GMT. A zoneless one (`-0000`, or an
        # obsolete form) is read as UTC, never as this machine's local time.
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


@dataclass
class CreateAttempt:
    """What one create learned of Dfns's clock, for recovery when its answer is lost.

    Here, not in client.py, so that recovery.py (on the provider's start path) can
    make one without importing the HTTP stack.

    `dated_after`: a moment (epoch seconds, on Dfns's clock) such that every webhook
    Dfns made before this attempt began has a `dateCreated` before it, and the webhook
    this attempt makes (if any) one at or after it. None when Dfns's answers carried no
    `Date`: then nothing can be told apart by time.
    """

    dated_after: float | None = None


class DfnsClock:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._bounds: deque[tuple[float, float]] = deque()  # (received, date - received)

    def observe(self, headers: dict[str, str], received: float) -> float | None:
        """Learn from one answer's headers, received at monotonic time `received`."""
        date = parse_date(next((v for k, v in headers.items() if k.lower() == "date"), None))
        _seen.date = date
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


class ClockTrust:
    """Whether this process still judges lost creates by Dfns's clock.

    `check` tests one successful create against the assumption above: the webhook's
    `dateCreated` lies at or after the moment the create waited for, and no later than
    one second (the `Date` header's resolution) plus MARGIN after its answer's `Date`.
    A failure means `Date` and `dateCreated` disagree (another clock, a skewed edge):
    trust is withdrawn for the rest of the process, since a skewed `Date` can make the
    attempt's own webhook look older than the attempt (taken as absent: a duplicate).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.broken: str | None = None  # why trust was withdrawn

    @property
    def trusted(self) -> bool:
        return self.broken is None

    def check(
        self, dated_after: float | None, created: float | None, answered: float | None
    ) -> str | None:
        """Check one create; the reason, the first time trust is withdrawn (warn once)."""
        if dated_after is None or created is None or answered is None:
            return None
        latest = answered + 1.0 + MARGIN
        if dated_after <= created <= latest:
            return None
        reason = (
            f"a webhook dated {created:.3f} (epoch seconds, dateCreated) by a create whose "
            f"answers bound it to [{dated_after:.3f}, {latest:.3f}] (their Date headers)"
        )
        with self._lock:
            if self.broken is not None:
                return None
            self.broken = reason
        return reason


# One per process: the provider server's workers share it.
TRUST = ClockTrust()
