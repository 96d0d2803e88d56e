"""The emulator's clock and the shapes of the ids it mints.

Id shapes follow Dfns's documents: a webhook id is `wh-xxxxx-xxxxx-` then 14 to 16
lowercase alphanumerics, events are `whe-...`, credential uuids `cr-...`
(dfns/dfns-api-docs, api-docs/webhooks/ and api-docs/authentication/). A credential's
`credentialId` is base64url text; the service-account examples decode to `ci-...`
(`credId` values `Y2ktQzNPNi1...` and `Y2ktNGpidGct...` in
api-docs/authentication/service-account-management/listServiceAccounts.md), so the
emulator mints it that way. Not every example has that shape (the `allowCredentials`
example of the login pages is opaque text): the provider treats the id as opaque text.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone

from ..signing import b64url

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class Clock:
    """Wall time plus an offset a test can advance, to expire challenges on demand."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    @staticmethod
    def iso(moment: float) -> str:
        """A moment as Dfns writes dates: ISO 8601, UTC, milliseconds, `Z`."""
        return (
            datetime.fromtimestamp(moment, tz=timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str) -> str:
    """`prefix-xxxxx-xxxxx-` then 16 lowercase alphanumerics, as Dfns ids look."""
    return f"{prefix}-{_random(5)}-{_random(5)}-{_random(16)}"


def webhook_id() -> str:
    return new_id("wh")


def event_id() -> str:
    return new_id("whe")


def credential_ids() -> tuple[str, str]:
    """A new credential's (credentialId, credentialUuid): distinct, shaped like Dfns's."""
    return b64url(new_id("ci").encode("ascii")), new_id("cr")
