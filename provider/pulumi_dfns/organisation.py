"""Which Dfns organisation a provider configuration talks to.

A Dfns organisation lives in one region (`dfns:apiUrl`), and its id is inside the bearer
token: Dfns tokens are JWTs whose `https://custom/app_metadata` claim holds `orgId`
(docs.dfns.co getting-started; `@dfns/sdk` utils/authToken.js; ../shared/dfns-api.md).
The claim is read, never verified: it only tells two configurations apart, and Dfns
checks the token on every call anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

ORG_CLAIM = "https://custom/app_metadata"


def org_id(token: object) -> str | None:
    """The organisation id a Dfns token carries, or None when it cannot be read (not a
    JWT, or no such claim)."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    metadata = claims.get(ORG_CLAIM) if isinstance(claims, dict) else None
    found = metadata.get("orgId") if isinstance(metadata, dict) else None
    return found if isinstance(found, str) and found else None


def _given(config: Mapping[str, object], key: str) -> object:
    """A provider property by its name, or by its stack-config name: a dynamic stack's
    default provider (`pulumi:providers:pulumi-python`, which the engine diffs against
    when a stack moves to this plugin) stores the whole stack config, namespaced
    (pkg/resource/deploy/target.go GetPackageConfig)."""
    value = config.get(key)
    if value is None or value == "":
        value = config.get(f"dfns:{key}")
    return None if value == "" else value


def moved_keys(old: Mapping[str, object], new: Mapping[str, object]) -> list[str]:
    """The provider properties whose change points at another organisation: `apiUrl`
    (another region, or another API), or `authToken` when both tokens name their
    organisation and the two differ. A rotated token of the same organisation, a new
    key or credential id, or a token that names none, moves nothing. A property one side
    does not give is no evidence: the provider then reads `DFNS_*` from its environment,
    which this comparison cannot see (and a replacement recreates every webhook of the
    provider with a new secret, so it is never guessed)."""
    moved = []
    before_url, after_url = _given(old, "apiUrl"), _given(new, "apiUrl")
    if before_url is not None and after_url is not None and before_url != after_url:
        moved.append("apiUrl")
    before, after = org_id(_given(old, "authToken")), org_id(_given(new, "authToken"))
    if before is not None and after is not None and before != after:
        moved.append("authToken")
    return moved
