"""Creating a webhook exactly once, although Dfns has no idempotency key.

When a create's answer is lost (timeout, dropped connection, 5xx, unreadable body),
Dfns may or may not have made the webhook. Posting again blindly could leave a
duplicate (and eat into the 5-webhook limit). Instead: list the organisation's webhooks
and look for the one this attempt made (same url, events, description and status,
created since the attempt began).

- None found: Dfns did not act; post again.
- One found: it is ours, but its secret was in the lost answer. It is deleted and the
  webhook made again, so the stack always holds the secret of the webhook it manages.
- Several found: it cannot tell which is ours; it stops and names them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

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

# Dfns's clock and ours may disagree by this much when matching creation times.
CLOCK_SKEW = 60.0
# Rounds of listing (to find) and deleting the webhook whose answer was lost: each
# round is a full client call with its own retries, since giving up orphans it.
CLEANUP_ROUNDS = 5
# Reads that must all answer 404 before a webhook counts as gone.
CONFIRM_READS = 3


class CreateFailed(DfnsError):
    """Creating failed, and the message says what, if anything, was left in Dfns."""


def _lost(exc: DfnsError) -> bool:
    """Did this failure lose the answer to a POST Dfns may have acted on?"""
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


def matches(webhook: dict[str, Any], inputs: dict[str, Any], since: float) -> bool:
    """Is `webhook` one that a create of `inputs`, begun at `since`, could have made?"""
    created = _timestamp(webhook.get("dateCreated"))
    return (
        all_same(from_dfns(webhook), {**inputs, STATUS: inputs.get(STATUS, DEFAULT_STATUS)})
        and created is not None
        and created >= since - CLOCK_SKEW
    )


class ExactlyOnceCreator:
    def __init__(
        self,
        client: DfnsClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.sleep = sleep
        self.clock = clock

    def create(self, inputs: dict[str, Any]) -> dict[str, Any]:
        settings = self.client.settings
        since = self.clock()
        for round_ in range(1, settings.max_attempts + 1):
            try:
                return self.client.create_webhook(
                    inputs[URL],
                    list(inputs[EVENTS]),
                    status=inputs.get(STATUS),
                    description=inputs.get(DESCRIPTION),
                )
            except DfnsError as exc:
                if not _lost(exc):
                    raise
                last = exc
            # A slow Dfns may still be acting on a request whose answer timed out:
            # give it one read-timeout to land before deciding it did not.
            settle = settings.read_timeout if isinstance(last, DfnsTransportError) else 0.0
            self._remove_ours(inputs, since, last, settle)
            if round_ < settings.max_attempts:
                self.sleep(min(4.0, 0.25 * 2 ** (round_ - 1)))
        raise CreateFailed(
            f"Dfns did not confirm the create after {settings.max_attempts} attempts "
            f"(last: {last}); nothing was left behind in Dfns"
        )

    def _find_ours(self, inputs: dict[str, Any], since: float, cause: DfnsError) -> list[str]:
        error: DfnsError | None = None
        for _ in range(CLEANUP_ROUNDS):
            try:
                listed = self.client.list_webhooks()
                return [str(w["id"]) for w in listed if matches(w, inputs, since)]
            except DfnsError as exc:
                error = exc
        raise CreateFailed(
            f"the create's answer was lost ({cause}) and listing webhooks to check "
            f"whether Dfns made it failed ({error}); look in Dfns for a webhook with url "
            f"{inputs[URL]}: delete it, or adopt it with adopt_webhook_id"
        )

    def _remove_ours(
        self, inputs: dict[str, Any], since: float, cause: DfnsError, settle: float
    ) -> None:
        found = self._find_ours(inputs, since, cause)
        if not found and settle > 0:
            self.sleep(settle)
            found = self._find_ours(inputs, since, cause)
        if len(found) > 1:
            raise CreateFailed(
                f"the create's answer was lost ({cause}) and {len(found)} webhooks match "
                f"what was sent: {', '.join(found)}; delete the extra ones in Dfns (or adopt "
                "one with adopt_webhook_id), then run `pulumi up` again"
            )
        for webhook_id in found:
            self._delete(webhook_id, cause)

    def _delete(self, webhook_id: str, cause: DfnsError) -> None:
        error: DfnsError | None = None
        for _ in range(CLEANUP_ROUNDS):
            try:
                if delete_until_gone(self.client, webhook_id):
                    return
            except DfnsError as exc:
                error = exc
        raise CreateFailed(
            f"Dfns made webhook {webhook_id} but its answer, with the secret, was lost "
            f"({cause}), and deleting it to start again failed ({error}); delete "
            f"{webhook_id} in Dfns, or adopt it with adopt_webhook_id={webhook_id} "
            "(its secret cannot be recovered)"
        )


def get_unless_gone(client: DfnsClient, webhook_id: str) -> dict[str, Any] | None:
    """The webhook, or None when three reads in a row say it is gone.

    A lone 404 is not trusted: dropping a live webhook from state (or skipping its
    deletion) would orphan it, and a lagging replica can answer 404 for a moment. The
    extra reads cost only on this path, never on a refresh that finds the webhook.
    """
    for _ in range(CONFIRM_READS):
        try:
            return client.get_webhook(webhook_id)
        except DfnsNotFoundError:
            continue
    return None


def delete_until_gone(client: DfnsClient, webhook_id: str) -> bool:
    """Delete; a 404 counts once a read agrees. False if Dfns still shows it after two tries."""
    for _ in range(2):
        try:
            client.delete_webhook(webhook_id)
            return True
        except DfnsNotFoundError:
            if get_unless_gone(client, webhook_id) is None:
                return True
    return False
