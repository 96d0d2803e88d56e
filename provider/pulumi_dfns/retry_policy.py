"""The one retry policy: what is retried, how long to wait, and for how long to try.

The client (each HTTP call), create recovery (rounds after a lost create) and the
confirmation of a 404 all take their waits from here, so the documented promises
(docs/troubleshooting.md) have one home:

- 5xx, timeouts, dropped connections and malformed answers: exponential backoff with
  full jitter, 0.25 s, 0.5 s, 1 s, ... capped at 8 s per wait. Headers are ignored
  on these: a 503 carrying rate-limit headers is backed off like any 503, never made
  to wait for a rate window that is not the cause.
- 429: `Retry-After` (seconds or an HTTP date), else `X-RateLimit-Reset`, honoured up
  to RATE_LIMIT_WAIT_CAP (30 s) per wait; without either header, the backoff above.
  Which headers Dfns sends on 429 is [assumed] (dfns-api.md): without them, backoff.
- Every wait also fits in `dfns:retryTimeout` and the attempts in `dfns:maxAttempts`;
  so does create recovery as a whole (its listings, their pauses, its rounds): a
  `Deadline` started when the create starts.
- A transport failure whose cause chain holds urllib3's or requests' proof that no
  connection was made (name resolution, connection refused, connect timeout) is a
  request never sent: never "maybe applied" (`never_sent`).

This module does not import `requests` (nor does anything the provider imports at
start-up): the provider process loads the HTTP stack only when it first talks to Dfns
(README "Performance", tests/test_start_imports.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from .errors import (
    DfnsApiError,
    DfnsError,
    DfnsMalformedResponseError,
    DfnsRateLimitedError,
    DfnsTransportError,
)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_FIRST = 0.25
BACKOFF_CAP = 8.0
# The longest one wait on a 429 may be, whatever Dfns asks: past it, retryTimeout
# decides (an operation blocked minutes on one header would look hung).
RATE_LIMIT_WAIT_CAP = 30.0
# Getting a challenge or a user action token changes nothing: always safe to repeat.
SIGNING_PATHS = frozenset({"/auth/action/init", "/auth/action"})
# Pauses between the reads that confirm a 404 (read, 0.5 s, read, 1 s, read): a
# webhook counts as gone only when Dfns says so three times over 1.5 s, so a short
# stretch of 404s (a lagging replica) never drops a live webhook from state.
CONFIRM_PAUSES = (0.5, 1.0)
# Listings after a lost create answer: each is a full client call with its own
# retries; a failed one is tried again this many times, LISTING_PAUSE apart, since
# giving up leaves the user to look for the webhook by hand.
LISTING_ROUNDS = 3
LISTING_PAUSE = 1.0
# Exceptions that prove no connection to Dfns was made, so no byte of the request was
# sent: urllib3 raises NewConnectionError (NameResolutionError, urllib3 2, is one) from
# its connect step and ConnectTimeoutError before a connection exists; requests wraps
# them in ConnectionError / ConnectTimeout, keeping them as the cause. They are matched
# by class (and base class) name within each package's modules, which is isinstance
# without importing either package: an exception of theirs exists only once they are
# loaded, and the provider's start-up must not load them (cold start).
NOT_CONNECTED = {
    "urllib3": frozenset({"NewConnectionError", "ConnectTimeoutError"}),
    "requests": frozenset({"ConnectTimeout"}),
}


class Deadline:
    """A time budget (`dfns:retryTimeout`) for work made of several client calls."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self.ends = monotonic() + seconds

    def allows(self, wait: float) -> bool:
        """Would waiting `wait` seconds (and then trying) still fit in the budget?"""
        return self._monotonic() + wait <= self.ends


def _not_connected(exc: BaseException) -> bool:
    return any(
        cls.__name__ in NOT_CONNECTED.get(cls.__module__.split(".")[0], ())
        for cls in type(exc).__mro__
    )


def never_sent(exc: BaseException) -> bool:
    """Does the cause chain of `exc` prove no connection was made (nothing was sent)?

    Walks `__cause__` / `__context__` (kept even under `raise ... from None`), the
    wrapped exception of requests' errors and the `reason` of urllib3's MaxRetryError.
    Matching types, not message text: a DNS failure reads differently in every version.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if _not_connected(current):
            return True
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += [arg for arg in current.args if isinstance(arg, BaseException)]
        pending += [e for e in linked if isinstance(e, BaseException)]
    return False


def may_retry(exc: DfnsError, idempotent: bool) -> bool:
    """May this failed attempt be sent again? A non-idempotent call only if Dfns surely
    did not act (429, a request never sent or a connection never opened)."""
    if getattr(exc, "path", None) in SIGNING_PATHS:
        return True
    if isinstance(exc, DfnsTransportError):
        return idempotent or not maybe_applied(exc)
    if isinstance(exc, DfnsRateLimitedError):
        return True
    if isinstance(exc, DfnsMalformedResponseError):
        # Dfns may have acted before the answer went wrong: only repeatable calls.
        return idempotent
    return idempotent and isinstance(exc, DfnsApiError) and exc.status in RETRYABLE_STATUSES


def maybe_applied(exc: DfnsTransportError) -> bool:
    """May Dfns have acted on the request that failed without an answer?"""
    return exc.maybe_applied and not never_sent(exc)


def backoff(attempt: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter for the `attempt`-th failure (1-based)."""
    return rng.uniform(0, min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (attempt - 1)))


def delay(attempt: int, exc: DfnsError, rng: random.Random) -> float:
    """How long to wait before the next attempt after `exc`."""
    asked = exc.retry_after if isinstance(exc, DfnsRateLimitedError) else None
    if asked is not None:
        return float(min(RATE_LIMIT_WAIT_CAP, asked)) + rng.uniform(0, 0.1)
    return backoff(attempt, rng)


def round_pause(round_: int) -> float:
    """The pause between rounds of create recovery (no jitter: one caller, rare path);
    the rounds also stop at the create's Deadline."""
    return float(min(BACKOFF_CAP / 2, BACKOFF_FIRST * 2 ** (round_ - 1)))
