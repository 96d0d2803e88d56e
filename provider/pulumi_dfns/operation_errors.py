"""What a user reads when a webhook operation fails: one line, no secret, the next step.

Shared by both front doors through core.py: `explain` turns a `DfnsError` into the
sentence for the operation that failed (the permission of the refused call, the stored
config at refresh/destroy, a policy approval, the webhook limit).
"""

from __future__ import annotations

from typing import TypeGuard

from .errors import (
    STORED_CONFIG_NOTE,
    DfnsApiError,
    DfnsError,
    DfnsForbiddenError,
    DfnsPendingApprovalError,
    DfnsUnauthorizedError,
)
from .tracebacks import OneLineError


class DfnsProviderError(OneLineError):
    """What the user reads when an operation fails: one line, no secret."""


# The class's printed name is part of what users read ("pulumi_dfns.provider.
# DfnsProviderError: creating webhook: ..."), and has been since the dynamic provider
# raised it from provider.py: it keeps that name now that it lives here.
DfnsProviderError.__module__ = "pulumi_dfns.provider"


def _is_webhook_limit(exc: DfnsError) -> TypeGuard[DfnsApiError]:
    """Dfns documents the limit, not its status code (the emulator answers 409): any
    4xx but 429 whose message speaks of a limit is taken as the webhook limit."""
    return (
        isinstance(exc, DfnsApiError)
        and 400 <= exc.status < 500
        and exc.status != 429
        and "limit" in exc.dfns_message.lower()
    )


def explain(
    what: str,
    permission: str,
    exc: DfnsError,
    *,
    stored_config: bool = False,
    adopting: bool = False,
) -> DfnsProviderError:
    """One line for the user: the operation, what Dfns said, and the next step.

    `permission` is that of the call Dfns refused. `stored_config`: the operation runs
    under `pulumi refresh` or `pulumi destroy` (read, delete), where the provider may
    hold the config stored at the last `pulumi up` rather than the stack config as it
    is now: a refused credential may be a stale one. `adopting`: the refused call is the
    update that brings an adopted webhook to the inputs (no state holds it yet).
    """
    if stored_config and isinstance(exc, DfnsUnauthorizedError | DfnsForbiddenError):
        cause = (
            "the auth token is invalid, expired or for another region"
            if isinstance(exc, DfnsUnauthorizedError)
            else f"the service account needs the {permission} permission"
        )
        return DfnsProviderError(
            f"{what}: Dfns refused (HTTP {exc.status}: {exc.dfns_message or 'no message'}): "
            f"{cause}. {STORED_CONFIG_NOTE}"
        )
    if isinstance(exc, DfnsForbiddenError):
        return DfnsProviderError(
            f"{what}: Dfns refused (HTTP 403: {exc.dfns_message or 'forbidden'}): the "
            f"service account needs the {permission} permission, and its user action must "
            "be allowed by your Dfns policies"
        )
    if isinstance(exc, DfnsPendingApprovalError):
        approval = f" {exc.error_id}" if exc.error_id else ""
        if adopting:
            # Nothing is in the state yet: a refresh has nothing to read, and the next
            # `pulumi up` adopts the webhook again, whatever the policy decided.
            after = (
                "nothing was recorded; once it is approved or rejected, run `pulumi up` "
                "again: it adopts the webhook again and changes what still differs"
            )
        elif permission == "Webhooks:Create":
            after = (
                "once approved, adopt the new webhook with adopt_webhook_id (or reject it) "
                "and run `pulumi up` again"
            )
        else:
            after = "once it is approved or rejected, run `pulumi refresh` and `pulumi up`"
        return DfnsProviderError(
            f"{what}: a Dfns policy holds this change for approval{approval}; {after}"
        )
    if _is_webhook_limit(exc):
        return DfnsProviderError(
            f"{what}: Dfns's webhook limit is reached ({exc.dfns_message}); delete unused "
            "webhooks, or when replacing (secret_version) set the resource option "
            "delete_before_replace=True so the old webhook goes first"
        )
    return DfnsProviderError(f"{what}: {exc}")
