"""The catalogue of Dfns webhook event kinds, and typo detection.

The catalogue is the subscribable enum of the newest official SDK, PyPI `dfns-sdk`
1.0.4 (dfns_sdk/generated/webhooks/types.py, CreateWebhookRequest.events: 47 kinds plus
"*"); npm `@dfns/sdk` 0.8.21 lists 32 of them. Dfns adds kinds every few months. A kind
missing from this catalogue is therefore not an error by itself (check warns, and Dfns
decides): only a near miss of a known kind (a likely typo) is. A new kind that happens to
be a near miss (`wallet.deleted` beside `wallet.created`) is let through by naming it in
the dfns:extraEventKinds setting: kinds listed there count as known.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

ALL_EVENTS = "*"

# dfns-sdk 1.0.4, in its order (47 kinds).
EVENT_KINDS: tuple[str, ...] = (
    "policy.triggered",
    "policy.approval.pending",
    "policy.approval.resolved",
    "key.created",
    "key.deleted",
    "key.delegated",
    "key.exported",
    "wallet.blockchainevent.detected",
    "wallet.blockchain_event.transfer.included",
    "wallet.blockchain_event.misc.confirmed",
    "wallet.created",
    "wallet.activated",
    "wallet.delegated",
    "wallet.exported",
    "wallet.signature.failed",
    "wallet.signature.rejected",
    "wallet.signature.requested",
    "wallet.signature.signed",
    "wallet.transaction.broadcasted",
    "wallet.transaction.confirmed",
    "wallet.transaction.failed",
    "wallet.transaction.rejected",
    "wallet.transaction.requested",
    "wallet.transfer.broadcasted",
    "wallet.transfer.confirmed",
    "wallet.transfer.failed",
    "wallet.transfer.rejected",
    "wallet.transfer.requested",
    "wallet.offer.received",
    "wallet.offer.accepted",
    "wallet.offer.rejected",
    "wallet.offer.withdrawn",
    "wallet.tags.modified",
    "vault.created",
    "vault.updated",
    "vault.tags.modified",
    "vault.event.created",
    "address_watch.blockchain_event.transfer.confirmed",
    "address_watch.blockchain_event.misc.confirmed",
    "payout.action.required",
    "allocation.action.created",
    "allocation.action.completed",
    "allocation.action.failed",
    "swap.requested",
    "swap.rejected",
    "swap.completed",
    "swap.failed",
)

# `webhook.event.retry.triggered` (a delivered-event page in the docs, in no SDK's
# subscribable list) and `policy.activity.resolved` (in no source) are not here: they
# are unknown kinds, warned about and sent as written.
KNOWN_KINDS: frozenset[str] = frozenset(EVENT_KINDS)

# Kinds that appear only in examples of Dfns's docs, in no enum of any source: the
# 2024 get-webhook.md example lists `wallet.transfer.initiated` and
# `wallet.transfer.executed` (dfns/dfns-api-docs api-docs/webhooks/get-webhook.md).
# Naming the nearest catalogued kind (`wallet.transfer.rejected` is a near miss by
# spelling) would mislead: say where they come from and name the family instead.
EXAMPLE_ONLY_KINDS: frozenset[str] = frozenset(
    {"wallet.transfer.initiated", "wallet.transfer.executed"}
)

# How close an unknown kind must be to a known one to be called a typo. 0.85 catches
# one or two wrong letters in a kind (`wallet.transfer.confimed`) while letting new
# kinds from a new family (`card.issued`) through.
_TYPO_CUTOFF = 0.85


def is_known(kind: str, extra: Collection[str] = ()) -> bool:
    """In the catalogue, "*", or one of `extra` (the kinds of dfns:extraEventKinds)."""
    return kind == ALL_EVENTS or kind in KNOWN_KINDS or kind in extra


def family(kind: str) -> list[str]:
    """Catalogued kinds of the same family (all but the last dotted part)."""
    prefix = kind.rsplit(".", 1)[0] + "."
    return [k for k in EVENT_KINDS if k.startswith(prefix)]


def example_only_note(kind: str) -> str | None:
    """For a kind found only in the docs' examples: where it comes from, and the
    catalogued kinds of its family."""
    if kind not in EXAMPLE_ONLY_KINDS:
        return None
    kinds = ", ".join(family(kind))
    return (
        f"'{kind}' appears only in an example of Dfns's 2024 docs (get-webhook.md), in no "
        f"list of event kinds; the {kind.rsplit('.', 1)[0]} kinds are: {kinds}"
    )


def closest_known(kind: str, extra: Collection[str] = ()) -> str | None:
    """The known kind this unknown one most likely misspells, or None."""
    if is_known(kind, extra):
        return None
    matches = difflib.get_close_matches(kind, sorted(KNOWN_KINDS), n=1, cutoff=_TYPO_CUTOFF)
    if matches:
        return matches[0]
    folded = kind.strip().lower()
    if folded != kind and is_known(folded):
        return folded
    return None
