"""Creating a webhook exactly once, although Dfns has no idempotency key.

When a create's answer is lost (timeout, dropped connection, 5xx, unreadable body),
Dfns may or may not have made the webhook. Posting again blindly could leave a
duplicate (and eat into the 5-webhook limit). Deleting a look-alike could delete
someone else's webhook: nothing in Dfns's data ties a webhook to the request that made
it, so an identical webhook another stack creates at the same moment (blue/green
stacks on one receiver) can never be told from this create's own. So recovery never
deletes anything; it only decides whether to post again:

- Each create is held back until Dfns's clock has passed the whole second after its
  signing answer's `Date` (dfns_clock.CreateAttempt, client.py): every webhook made
  before the attempt has a `dateCreated` before that moment, the attempt's own one at
  or after it. No extra request; on average half a second of waiting.
- After a lost answer it lists the webhooks and keeps those with the same url, events,
  description and status dated at or after that moment: the candidates.
  - None: Dfns did not act (a timed-out request is given one read-timeout to land
    first); post again.
  - One or more, or a look-alike it cannot date (no `Date` from Dfns, no
    `dateCreated`, or a clock that failed its check): it touches nothing, creates
    nothing more, and fails naming them and the next steps (adopt, or delete if no
    stack holds it).
- After a create that succeeds following a lost answer, it looks once more and warns
  (never deletes) when a lost request was acted on late.
- Every successful create checks the clock assumption (dfns_clock.ClockTrust); once it
  fails, every look-alike counts as a candidate for the rest of the process.
- Creates of identical webhooks in one provider process run one at a time, so the
  provider's own parallel creates never look like each other's.
- The whole recovery fits in `dfns:retryTimeout` (retry_policy.Deadline).

docs/troubleshooting.md "Lost creates" states what this promises.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import dfns_clock, retry_policy
from .errors import (
    DfnsError,
    DfnsMalformedResponseError,
    DfnsServerError,
    DfnsTransportError,
)
from .fields import all_same, from_dfns
from .inputs import DEFAULT_STATUS, DESCRIPTION, EVENTS, STATUS, URL

if TYPE_CHECKING:
    from .client import DfnsClient

# How the user finds which stack, if any, holds a webhook.
AUDIT_HINT = (
    "`python -m pulumi_dfns.audit --state <file from pulumi stack export>` shows which "
    "stack holds which webhook"
)

_locks_guard = threading.Lock()
_locks: dict[tuple[Any, ...], threading.Lock] = {}


class CreateFailed(DfnsError):
    """Creating failed, and the message says what, if anything, was left in Dfns."""


def _lost(exc: DfnsError) -> bool:
    """Did this failure lose the answer to the POST itself, which Dfns may have acted on?

    A failure of the signing steps, or one raised before the POST left this machine
    (including a connection never made: retry_policy.never_sent), is not lost: the
    POST was never sent.
    """
    if getattr(exc, "path", None) != "/webhooks":
        return False
    if isinstance(exc, DfnsTransportError):
        return retry_policy.maybe_applied(exc)
    return isinstance(exc, DfnsServerError | DfnsMalformedResponseError)


def _timestamp(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _wanted(inputs: dict[str, Any]) -> dict[str, Any]:
    return {**inputs, STATUS: inputs.get(STATUS) or DEFAULT_STATUS}


def _lock_for(inputs: dict[str, Any]) -> threading.Lock:
    wanted = from_dfns({k: v for k, v in _wanted(inputs).items() if k != "id"})
    key = (wanted[URL], tuple(wanted[EVENTS]), wanted[DESCRIPTION], wanted[STATUS])
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


class Look:
    """One listing, sorted for a create begun at `after` (None: no clock to judge by)."""

    def __init__(
        self, listed: list[dict[str, Any]], inputs: dict[str, Any], after: float | None
    ) -> None:
        wanted = _wanted(inputs)
        identical = [w for w in listed if all_same(from_dfns(w), wanted)]
        self.candidates: list[str] = []  # could be this create's (or another's like it)
        self.undatable: list[str] = []  # could be anything: no date, or no clock
        for webhook in identical:
            created = _timestamp(webhook.get("dateCreated"))
            if after is None or created is None:
                self.undatable.append(str(webhook.get("id")))
            elif created >= after:
                self.candidates.append(str(webhook["id"]))

    def named(self) -> list[str]:
        return self.candidates + self.undatable


class ExactlyOnceCreator:
    def __init__(
        self,
        client: DfnsClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.sleep = sleep
        # Notes for the user about a successful create (a late copy, the clock).
        self.warnings: list[str] = []

    def create(self, inputs: dict[str, Any]) -> dict[str, Any]:
        with _lock_for(inputs):
            return self._create(inputs)

    def _create(self, inputs: dict[str, Any]) -> dict[str, Any]:
        settings = self.client.settings
        deadline = retry_policy.Deadline(settings.retry_timeout)
        # The earliest moment (Dfns's clock) of an attempt whose answer was lost.
        since: float | None = None
        lost = False
        for round_ in range(1, settings.max_attempts + 1):
            attempt = dfns_clock.CreateAttempt()
            try:
                webhook = self.client.create_webhook(
                    inputs[URL],
                    list(inputs[EVENTS]),
                    status=inputs.get(STATUS),
                    description=inputs.get(DESCRIPTION),
                    attempt=attempt,
                )
            except DfnsError as exc:
                if not _lost(exc):
                    raise
                last = exc
            else:
                self._check_clock(attempt, webhook)
                if lost:
                    self._look_again(inputs, since, str(webhook["id"]))
                return webhook
            if not lost:
                since = attempt.dated_after
            elif since is not None and attempt.dated_after is not None:
                since = min(since, attempt.dated_after)
            else:
                since = None  # one lost attempt cannot be dated: none can be told apart
            lost = True
            # A slow Dfns may still be acting on a request whose answer timed out:
            # give it one read-timeout to land before deciding it did not.
            settle = settings.read_timeout if isinstance(last, DfnsTransportError) else 0.0
            self._stop_if_made(inputs, since, last, settle, deadline)
            pause = retry_policy.round_pause(round_)
            if round_ == settings.max_attempts or not deadline.allows(pause):
                break
            self.sleep(pause)
        raise CreateFailed(
            f"Dfns did not confirm the create after {round_} attempt(s) within "
            f"dfns:maxAttempts and dfns:retryTimeout (last: {last}); Dfns holds no webhook "
            "with these fields made since this create began: run `pulumi up` again"
        )

    def _check_clock(self, attempt: dfns_clock.CreateAttempt, webhook: dict[str, Any]) -> None:
        """Check the clock assumption on a create that succeeded; warn once if it fails."""
        reason = dfns_clock.TRUST.check(
            attempt.dated_after,
            _timestamp(webhook.get("dateCreated")),
            dfns_clock.last_date_seen(),
        )
        if reason is not None:
            self.warnings.append(
                f"Dfns's Date header and the webhooks' dateCreated disagree ({reason}): "
                "this provider process no longer tells webhooks apart by time; after a lost "
                "create answer it now names every webhook with the same fields and creates "
                "no other (docs/fidelity.md)"
            )

    def _since(self, since: float | None) -> float | None:
        return since if dfns_clock.TRUST.trusted else None

    def _list(self, cause: DfnsError, deadline: retry_policy.Deadline) -> list[dict[str, Any]]:
        error: DfnsError | None = None
        for round_ in range(1, retry_policy.LISTING_ROUNDS + 1):
            try:
                return self.client.list_webhooks_dated()[0]
            except DfnsError as exc:
                error = exc
            if round_ == retry_policy.LISTING_ROUNDS:
                break
            if not deadline.allows(retry_policy.LISTING_PAUSE):
                break
            self.sleep(retry_policy.LISTING_PAUSE)
        raise CreateFailed(
            f"the create's answer was lost ({cause}) and listing webhooks to check "
            f"whether Dfns made it failed ({error}); nothing else was created. Look in "
            "Dfns for a webhook with this resource's url, events and description made in "
            "the last minutes: if there is one, adopt it with adopt_webhook_id (then "
            "change secret_version to roll its secret, which was in the lost answer), or "
            f"delete it in Dfns if no stack holds it ({AUDIT_HINT}); then run `pulumi up` "
            "again"
        )

    def _stop_if_made(
        self,
        inputs: dict[str, Any],
        since: float | None,
        cause: DfnsError,
        settle: float,
        deadline: retry_policy.Deadline,
    ) -> None:
        """Fail, naming them, if Dfns holds webhooks this lost create may have made."""
        look = Look(self._list(cause, deadline), inputs, self._since(since))
        if not look.named() and settle > 0 and deadline.allows(settle):
            self.sleep(settle)
            look = Look(self._list(cause, deadline), inputs, self._since(since))
        named = look.named()
        if not named:
            return
        ids = ", ".join(named)
        if not look.undatable:
            why = "made since this create began"
        elif since is None:
            why = "of an age this create cannot judge (Dfns's answers carried no Date header)"
        elif not dfns_clock.TRUST.trusted:
            why = "of an age this create cannot judge (Dfns's clock failed its check)"
        else:
            why = "of an age this create cannot judge (no readable dateCreated)"
        first = named[0]
        raise CreateFailed(
            f"the create's answer was lost ({cause}), and Dfns holds {len(named)} "
            f"webhook(s) with the same url, events, description and status, {why}: {ids}. "
            "Nothing ties a webhook to the request that made it, so none was touched and "
            f"no other was created. Next: check whether a stack holds it ({AUDIT_HINT}); "
            "one that no stack holds is this create's or a leftover: adopt it with "
            f"adopt_webhook_id={first}, then change secret_version to roll its secret "
            "(the secret was in the lost answer), or delete it in Dfns; then run "
            "`pulumi up` again"
        )

    def _look_again(self, inputs: dict[str, Any], since: float | None, made: str) -> None:
        """After a lost answer and a successful create: did the lost request land late?
        Only warns: a late copy cannot be told from another stack's identical webhook."""
        try:
            listed = self.client.list_webhooks_dated()[0]
        except DfnsError as exc:
            self.warnings.append(
                f"after a lost create answer, the final look for a late copy of webhook "
                f"{made} failed ({exc}); {AUDIT_HINT}; delete a copy no stack holds"
            )
            return
        look = Look(listed, inputs, self._since(since))
        late = [w for w in look.named() if w != made]
        if late:
            self.warnings.append(
                f"after a lost create answer, Dfns also holds {', '.join(late)} with the "
                f"same fields as the new webhook {made}, which may be a late copy made by "
                "the lost request or another stack's webhook; nothing was deleted: if no "
                f"stack holds it ({AUDIT_HINT}), delete it in Dfns"
            )
