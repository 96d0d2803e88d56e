"""Creating a webhook exactly once, although Dfns has no idempotency key.

When a create's answer is lost (timeout, dropped connection, 5xx, unreadable body),
Dfns may or may not have made the webhook. Posting again blindly could leave a
duplicate (and eat into the 5-webhook limit); deleting a look-alike could delete
someone else's webhook (another resource, another stack on the same receiver, or the
old webhook of a secret roll, which has the very same fields). So recovery acts only
on a webhook it can tell this create made, judged by Dfns's own clock:

- Each create is held back until Dfns's clock has passed the whole second after its
  signing answer's `Date` (client.CreateAttempt, dfns_clock.py): every webhook made
  before the attempt has a `dateCreated` before that moment, the attempt's own one at
  or after it. No extra request; on average half a second of waiting.
- After a lost answer it lists the webhooks and keeps those with the same url, events,
  description and status dated at or after that moment: the candidates.
  - None: Dfns did not act (a timed-out request is given one read-timeout to land
    first); post again.
  - One: it is this create's (its secret was in the lost answer): delete it, post again.
  - Several, or a look-alike it cannot date (no `Date` from Dfns, no `dateCreated`):
    it cannot tell; it touches nothing and fails, naming them and the next step.
- After a create that succeeds following a lost answer, it looks once more, so a lost
  request Dfns acted on late is found and removed too.
- Creates of identical webhooks in one provider process run one at a time, so the
  provider's own parallel creates never look like each other's.

What it cannot tell apart: an identical webhook that another process (another stack)
creates during the seconds of this create's recovery. README "When things go wrong".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import retry_policy
from .client import CreateAttempt
from .errors import (
    DfnsError,
    DfnsMalformedResponseError,
    DfnsNotFoundError,
    DfnsServerError,
    DfnsTransportError,
)
from .fields import all_same, from_dfns
from .inputs import DEFAULT_STATUS, DESCRIPTION, EVENTS, STATUS, URL

if TYPE_CHECKING:
    from .client import DfnsClient

# Rounds of listing (to find) and deleting the webhook whose answer was lost: each
# round is a full client call with its own retries, since giving up orphans it.
CLEANUP_ROUNDS = 5
# Where to look for a lost webhook: python -m pulumi_dfns.audit lists webhooks of the
# organisation that no stack holds.
AUDIT_HINT = "`python -m pulumi_dfns.audit` lists webhooks no stack holds"

_locks_guard = threading.Lock()
_locks: dict[tuple[Any, ...], threading.Lock] = {}


class CreateFailed(DfnsError):
    """Creating failed, and the message says what, if anything, was left in Dfns."""


def _lost(exc: DfnsError) -> bool:
    """Did this failure lose the answer to the POST itself, which Dfns may have acted on?

    A failure of the signing steps, or one raised before the POST left this machine,
    is not lost: the POST was never sent.
    """
    if getattr(exc, "path", None) != "/webhooks":
        return False
    if isinstance(exc, DfnsTransportError):
        return exc.maybe_applied
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
        self.identical = [w for w in listed if all_same(from_dfns(w), wanted)]
        self.undatable = [
            str(w.get("id")) for w in self.identical if _timestamp(w.get("dateCreated")) is None
        ]
        self.candidates = (
            []
            if after is None
            else [
                str(w["id"])
                for w in self.identical
                if (created := _timestamp(w.get("dateCreated"))) is not None and created >= after
            ]
        )

    def unsure(self, after: float | None) -> list[str]:
        """Look-alikes whose age cannot be judged: any at all without a clock."""
        if after is None:
            return [str(w.get("id")) for w in self.identical]
        return self.undatable


class ExactlyOnceCreator:
    def __init__(
        self,
        client: DfnsClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.sleep = sleep
        # Notes for the user about what a successful create could not clean up.
        self.warnings: list[str] = []

    def create(self, inputs: dict[str, Any]) -> dict[str, Any]:
        with _lock_for(inputs):
            return self._create(inputs)

    def _create(self, inputs: dict[str, Any]) -> dict[str, Any]:
        settings = self.client.settings
        # The earliest moment (Dfns's clock) of an attempt whose answer was lost.
        since: float | None = None
        lost = False
        removed: set[str] = set()
        for round_ in range(1, settings.max_attempts + 1):
            attempt = CreateAttempt()
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
                if lost:
                    self._look_again(inputs, since, str(webhook["id"]), removed)
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
            self._remove_ours(inputs, since, last, settle, removed)
            if round_ < settings.max_attempts:
                self.sleep(retry_policy.round_pause(round_))
        raise CreateFailed(
            f"Dfns did not confirm the create after {settings.max_attempts} attempts "
            f"(last: {last}); nothing it made was left behind in Dfns"
        )

    def _list(self, inputs: dict[str, Any], cause: DfnsError) -> list[dict[str, Any]]:
        error: DfnsError | None = None
        for _ in range(CLEANUP_ROUNDS):
            try:
                return self.client.list_webhooks_dated()[0]
            except DfnsError as exc:
                error = exc
        raise CreateFailed(
            f"the create's answer was lost ({cause}) and listing webhooks to check "
            f"whether Dfns made it failed ({error}); look in Dfns for a webhook with this "
            f"resource's url made in the last minutes ({AUDIT_HINT}): delete "
            "it, or adopt it with adopt_webhook_id"
        )

    def _find_ours(
        self, inputs: dict[str, Any], since: float | None, cause: DfnsError, removed: set[str]
    ) -> list[str]:
        look = Look(self._list(inputs, cause), inputs, since)
        unsure = look.unsure(since)
        if unsure:
            why = (
                "Dfns's answers carried no Date header to judge by"
                if since is None
                else "Dfns gave no readable dateCreated"
            )
            raise CreateFailed(
                f"the create's answer was lost ({cause}), and Dfns holds webhook(s) with "
                f"the same url, events, description and status: {', '.join(unsure)}; "
                f"whether this create made one cannot be told ({why}), so none was "
                "touched: if no other resource or stack made it, delete it in Dfns or "
                "adopt it with adopt_webhook_id, then run `pulumi up` again"
            )
        return [w for w in look.candidates if w not in removed]

    def _remove_ours(
        self,
        inputs: dict[str, Any],
        since: float | None,
        cause: DfnsError,
        settle: float,
        removed: set[str],
    ) -> None:
        found = self._find_ours(inputs, since, cause, removed)
        if not found and settle > 0:
            self.sleep(settle)
            found = self._find_ours(inputs, since, cause, removed)
        if len(found) > 1:
            raise CreateFailed(
                f"the create's answer was lost ({cause}) and {len(found)} webhooks with "
                f"the same url, events, description and status were made in Dfns since "
                f"this create began: {', '.join(found)}; which (if any) is this create's "
                "cannot be told, so none was touched: if no other stack made them, delete "
                "the extra ones in Dfns (or adopt one with adopt_webhook_id), then run "
                "`pulumi up` again"
            )
        for webhook_id in found:
            self._delete(webhook_id, cause)
            removed.add(webhook_id)

    def _look_again(
        self, inputs: dict[str, Any], since: float | None, made: str, removed: set[str]
    ) -> None:
        """After a lost answer and a successful create: did the lost request land late?"""
        try:
            listed = self.client.list_webhooks_dated()[0]
        except DfnsError as exc:
            self.warnings.append(
                f"after a lost create answer, the final look for a late copy failed ({exc}); "
                f"{AUDIT_HINT}"
            )
            return
        look = Look(listed, inputs, since)
        late = [w for w in look.candidates if w not in removed and w != made]
        unsure = [w for w in look.unsure(since) if w != made]
        if len(late) == 1 and not unsure:
            try:
                if delete_until_gone(self.client, late[0], self.sleep):
                    return
                reason = "Dfns still shows it"
            except DfnsError as exc:
                reason = str(exc)
            self.warnings.append(
                f"webhook {late[0]} was made late by this create's lost request and could "
                f"not be deleted ({reason}); delete it in Dfns"
            )
        elif late or unsure:
            self.warnings.append(
                f"after a lost create answer, Dfns also holds {', '.join(late + unsure)} "
                "with the same fields, which this create cannot tell from another stack's; "
                f"if no stack holds it, delete it in Dfns ({AUDIT_HINT})"
            )

    def _delete(self, webhook_id: str, cause: DfnsError) -> None:
        error: DfnsError | None = None
        for _ in range(CLEANUP_ROUNDS):
            try:
                if delete_until_gone(self.client, webhook_id, self.sleep):
                    return
            except DfnsError as exc:
                error = exc
        raise CreateFailed(
            f"Dfns made webhook {webhook_id} but its answer, with the secret, was lost "
            f"({cause}), and deleting it to start again failed ({error}); delete "
            f"{webhook_id} in Dfns, or adopt it with adopt_webhook_id={webhook_id} "
            "(its secret cannot be recovered)"
        )


def get_unless_gone(
    client: DfnsClient, webhook_id: str, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any] | None:
    """The webhook, or None when three reads over 1.5 s all say it is gone.

    A lone 404 is not trusted: dropping a live webhook from state (or skipping its
    deletion) would orphan it, and a lagging replica can answer 404 for a moment. The
    reads are spaced (retry_policy.CONFIRM_PAUSES) so a short stretch of 404s is
    outlasted. The extra reads cost only on this path, never on a read that finds it.
    """
    pauses = (*retry_policy.CONFIRM_PAUSES, None)
    for pause in pauses:
        try:
            return client.get_webhook(webhook_id)
        except DfnsNotFoundError:
            if pause is not None:
                sleep(pause)
    return None


def delete_until_gone(
    client: DfnsClient, webhook_id: str, sleep: Callable[[float], None] = time.sleep
) -> bool:
    """Delete; a 404 counts once the reads agree. False if Dfns still shows it after two tries."""
    for _ in range(2):
        try:
            client.delete_webhook(webhook_id)
            return True
        except DfnsNotFoundError:
            if get_unless_gone(client, webhook_id, sleep) is None:
                return True
    return False
