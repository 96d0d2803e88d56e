"""Believing a 404: a webhook is gone only when spaced reads agree.

A lagging replica can answer 404 for a webhook that exists; dropping it from state (or
counting it deleted) would orphan it. Used by read, refresh and delete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import retry_policy
from .errors import DfnsNotFoundError

if TYPE_CHECKING:
    from .client import DfnsClient


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
