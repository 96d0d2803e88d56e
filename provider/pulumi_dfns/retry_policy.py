"""The one retry policy: what is retried, how long to wait, and for how long to try.

The client (each HTTP call), create recovery (rounds after a lost create) and the
confirmation of a 404 all take their waits from here, so the README's promises have
one home:

- 5xx, timeouts, dropped connections and malformed answers: exponential backoff with
  full jitter, 0.25 s, 0.5 s, 1 s, ... capped at 8 s per wait. Headers are ignored
  on these: a 503 carrying rate-limit headers is backed off like any 503, never made
  to wait for a rate window that is not the cause.
- 429: `Retry-After` (seconds or an HTTP date), else `X-RateLimit-Reset`, honoured up
  to RATE_LIMIT_WAIT_CAP (30 s) per wait; without either header, the backoff above.
  Which headers Dfns sends on 429 is [assumed] (dfns-api.md): without them, backoff.
- Every wait also fits in `dfns:retryTimeout` and the attempts in `dfns:maxAttempts`.
"""

from __future__ import annotations

import random

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


def may_retry(exc: DfnsError, idempotent: bool) -> bool:
    """May this failed attempt be sent again? A non-idempotent call only if Dfns surely
    did not act (429, a request never sent or a connection never opened)."""
    if getattr(exc, "path", None) in SIGNING_PATHS:
        return True
    if isinstance(exc, DfnsTransportError):
        return idempotent or not exc.maybe_applied
    if isinstance(exc, DfnsRateLimitedError):
        return True
    if isinstance(exc, DfnsMalformedResponseError):
        # Dfns may have acted before the answer went wrong: only repeatable calls.
        return idempotent
    return idempotent and isinstance(exc, DfnsApiError) and exc.status in RETRYABLE_STATUSES


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
    """The pause between rounds of create recovery (no jitter: one caller, rare path)."""
    return float(min(BACKOFF_CAP / 2, BACKOFF_FIRST * 2 ** (round_ - 1)))
