"""What the four Dfns webhook fields mean when two versions are compared.

The provider's diff and update, adoption, and the search for a lost create all ask the
same questions (are these equal? what PUT body turns one into the other?), so they ask
here: events compare as sets, and no description equals an empty one.
"""

from __future__ import annotations

from typing import Any, TypedDict

from .inputs import DEFAULT_STATUS, DESCRIPTION, EVENTS, STATUS, URL, WEBHOOK_FIELDS


class WebhookState(TypedDict):
    """What Dfns holds of a webhook: the body of every PUT (the client's keywords)."""

    url: str
    events: list[str]
    status: str
    description: str | None


def same(name: str, old: Any, new: Any) -> bool:
    if name == EVENTS:
        return old is not None and new is not None and sorted(set(old)) == sorted(set(new))
    if name == DESCRIPTION:
        return (old or None) == (new or None)
    return bool(old == new)


def from_dfns(webhook: dict[str, Any]) -> dict[str, Any]:
    """Dfns's webhook as DfnsWebhook's four fields, normalised as `check` normalises."""
    return {
        URL: webhook.get("url"),
        EVENTS: sorted(set(webhook.get("events") or [])),
        DESCRIPTION: webhook.get("description") or None,
        STATUS: webhook.get("status"),
    }


def all_same(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(same(name, current.get(name), wanted.get(name)) for name in WEBHOOK_FIELDS)


def changed_fields(current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The fields that differ: a PUT is sent only when there is one."""
    return [n for n in WEBHOOK_FIELDS if not same(n, current.get(n), wanted.get(n))]


def whole_state(fields: dict[str, Any]) -> WebhookState:
    """The four fields as every PUT carries them (the client sends "" for no description)."""
    return WebhookState(
        url=str(fields.get(URL)),
        events=sorted(set(fields.get(EVENTS) or [])),
        status=str(fields.get(STATUS) or DEFAULT_STATUS),
        description=fields.get(DESCRIPTION) or None,
    )
