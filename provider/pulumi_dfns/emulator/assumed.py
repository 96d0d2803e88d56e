"""Every value the emulator picks where no Dfns source settles it, in one place.

Each is ASSUMED: the docs, the API reference and the official SDKs are silent on it.
Where a user may need another value there is a flag (named beside it). The provider
never depends on these being right: docs/fidelity.md says what it does
when Dfns differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Rate-limit header names: ASSUMED (Dfns documents the limits, 100 or 1000 requests a
# minute per organisation, not the headers). The provider reads them on 429 only.
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

# The body of a 202 answered by the `status` fault with status 202 (a policy holding a
# change for approval): ASSUMED shape; the provider only reads the status.
APPROVAL_BODY_KIND = "Webhooks"

# A JSON body holding a lone UTF-16 surrogate escape (`"\ud800"` unpaired: JSON allows
# the escape, but it is no Unicode character, and no UTF-8 text can hold it) answers
# 400 with this message, before any user action is spent: ASSUMED (no Dfns source says
# what it answers; Node's JSON.parse accepts it). No flag: the emulator cannot store it,
# and the provider never sends it (its check refuses such text, naming the property).
LONE_SURROGATE_MESSAGE = (
    "body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff unpaired): not Unicode text"
)


@dataclass(frozen=True)
class Assumed:
    # Lifetime of an `/auth/action/init` challenge (--challenge-ttl).
    challenge_ttl: float = 300.0
    # Lifetime of a user action token from `/auth/action` (--user-action-ttl).
    user_action_ttl: float = 300.0
    # What creating one webhook past the limit answers (--webhook-limit-status,
    # --webhook-limit-message). Dfns documents the limit (5), not the refusal.
    webhook_limit_status: int = 409
    webhook_limit_message: str = (
        "Webhook limit reached: an organization can have at most {limit} webhooks"
    )
    # Longest webhook url accepted (--url-max). The provider's check uses the same value.
    url_max: int = 2048
    # How long a delivery waits for the receiver (--delivery-timeout).
    delivery_timeout: float = 10.0
    # The kind of the ping's test event (--ping-kind); Dfns documents only that the
    # ping sends "a fake test event".
    ping_kind: str = "webhook.ping"
    # Ping answers `status: "0"` when the receiver could not be reached (no HTTP status).
    unreachable_status: str = "0"
    # Unknown body fields answer 400 (--allow-unknown-fields turns this off).
    refuse_unknown_fields: bool = True
    # Event kinds Dfns may have added after the catalogue in pulumi_dfns/events.py
    # (--extra-event-kind, repeatable): accepted like catalogued ones.
    extra_event_kinds: frozenset[str] = field(default_factory=frozenset)
    # The ping's test event carries a numeric `timestampSent` (--ping-without-timestamp
    # turns it off). No source shows the ping's payload (ping-webhook.md: "a fake test
    # event"); verify_delivery needs `timestampSent` at its default tolerance.
    ping_timestamp: bool = True
    # Shapes the sources disagree on; the default is the 2024 docs' (dfns/dfns-api-docs).
    # --lean-events: webhook event listings and reads in the SDKs' generated shape, without
    # `deliveryFailed`, `deliveryAttempt`, `retryOf` and `nextAttemptDate` (@dfns/sdk
    # generated/webhooks/types.ts ListWebhookEventsResponse; dfns-sdk
    # GetWebhookEventResponse; dfns-sdk-go types.WebhookEvent; the current reference's
    # https://docs.dfns.co/api-reference/webhooks/list-webhook-events). Deliveries to the
    # receiver keep `deliveryAttempt` and `retryOf` either way (2024 README.md; the
    # current reference's webhook-event-retry page).
    lean_events: bool = False
    # --secret-in-get: `GET /webhooks/{id}` and the update's answer carry `secret`, as one
    # version of the current reference shows for the GET
    # (https://docs.dfns.co/api-reference/webhooks/get-webhook); the 2024 docs and every
    # SDK type return it only from create.
    secret_in_get: bool = False
