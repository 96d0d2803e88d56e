"""DfnsWebhook: the program-side resource users declare in their Pulumi programs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, SupportsIndex, TypeVar, overload

import pulumi
from pulumi.dynamic import Resource

from .inputs import (
    ADOPT_SECRET,
    ADOPT_WEBHOOK_ID,
    DATE_CREATED,
    DATE_UPDATED,
    DESCRIPTION,
    EVENTS,
    FAILED_DELIVERIES,
    LAST_DELIVERY_FAILURE,
    SECRET,
    SECRET_PROPERTIES,
    SECRET_VERSION,
    STATUS,
    TRACK_DELIVERIES,
    URL,
    VERIFY_WITH_PING,
)
from .provider import DfnsWebhookProvider

_T_co = TypeVar("_T_co", covariant=True)


class SequenceNotStr(Protocol[_T_co]):
    """A sequence that is not a `str`, for type checkers.

    `str` is a `Sequence[str]`, so `Sequence[pulumi.Input[str]]` lets
    `events="wallet.created"` through a type checker, and the user learns of it only
    at preview. `str.__contains__` takes only a `str`, where this protocol's takes any
    object, so a `str` does not match while lists and tuples do (the approach of
    python/typing#256). It is a typing device only: nothing is checked at run time.
    """

    @overload
    def __getitem__(self, index: SupportsIndex, /) -> _T_co: ...
    @overload
    def __getitem__(self, index: slice, /) -> Sequence[_T_co]: ...
    def __contains__(self, value: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[_T_co]: ...
    def index(self, value: Any, start: int = 0, stop: int = ..., /) -> int: ...
    def count(self, value: Any, /) -> int: ...
    def __reversed__(self) -> Iterator[_T_co]: ...


# The type of `events`: a list (or tuple, or Output of one) of event kinds, never a
# bare string.
EventsInput = pulumi.Input[SequenceNotStr[pulumi.Input[str]]]


@dataclass
class DfnsWebhookArgs:
    """The inputs of a DfnsWebhook.

    - url: where Dfns POSTs events (absolute http(s) URL).
    - events: event kinds, or ["*"] for all.
    - description: at most 256 characters.
    - status: "Enabled" (default) or "Disabled".
    - secret_version: any text; changing it replaces the webhook (create the new one,
      then delete the old), which is how Dfns rolls a webhook secret.
    - adopt_webhook_id: take over an existing webhook instead of creating one. Its
      secret cannot be recovered unless Dfns returns it from GET (the 2024 docs and the
      SDKs return it only at creation; one reference version also from GET).
    - verify_with_ping: after create and update, have Dfns ping the url; a receiver
      that does not answer 200 fails the step (the webhook is kept).
    - adopt_secret: with adopt_webhook_id, the adopted webhook's secret if you know it;
      it becomes the `secret` output (a Pulumi secret; Dfns cannot confirm it).
    - track_deliveries: a refresh also reads the webhook's failed deliveries (one more
      GET) into `failed_deliveries` and `last_delivery_failure`.
    """

    url: pulumi.Input[str]
    events: EventsInput
    description: pulumi.Input[str] | None = None
    status: pulumi.Input[str] | None = None
    secret_version: pulumi.Input[str] | None = None
    adopt_webhook_id: pulumi.Input[str] | None = None
    verify_with_ping: pulumi.Input[bool] | None = None
    adopt_secret: pulumi.Input[str] | None = None
    track_deliveries: pulumi.Input[bool] | None = None


class DfnsWebhook(Resource, module="dfns", name="Webhook"):
    """One Dfns webhook. The resource id is the Dfns webhook id (`wh-...`).

    Outputs: url, events (sorted), description, status, secret, date_created,
    date_updated. `secret` is a Pulumi secret: the key receivers use to verify
    deliveries. It is None for an adopted webhook, whose secret Dfns does not return
    again, unless `adopt_secret` gives it (or Dfns's GET returns it after all).
    `failed_deliveries` (failures sent in the last 24 hours) and `last_delivery_failure`
    ({date, sent, kind, status, error}) are read by a refresh when `track_deliveries` is
    on, None otherwise.
    """

    url: pulumi.Output[str]
    events: pulumi.Output[list[str]]
    description: pulumi.Output[str | None]
    status: pulumi.Output[str]
    secret: pulumi.Output[str | None]
    date_created: pulumi.Output[str]
    date_updated: pulumi.Output[str]
    secret_version: pulumi.Output[str | None]
    adopt_webhook_id: pulumi.Output[str | None]
    verify_with_ping: pulumi.Output[bool | None]
    adopt_secret: pulumi.Output[str | None]
    track_deliveries: pulumi.Output[bool | None]
    failed_deliveries: pulumi.Output[int | None]
    last_delivery_failure: pulumi.Output[dict[str, str | None] | None]

    def __init__(
        self,
        resource_name: str,
        args: DfnsWebhookArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        url: pulumi.Input[str] | None = None,
        events: EventsInput | None = None,
        description: pulumi.Input[str] | None = None,
        status: pulumi.Input[str] | None = None,
        secret_version: pulumi.Input[str] | None = None,
        adopt_webhook_id: pulumi.Input[str] | None = None,
        verify_with_ping: pulumi.Input[bool] | None = None,
        adopt_secret: pulumi.Input[str] | None = None,
        track_deliveries: pulumi.Input[bool] | None = None,
    ) -> None:
        if args is None:
            args = DfnsWebhookArgs(
                url=url,  # type: ignore[arg-type]  # checked by the provider, by name
                events=events,  # type: ignore[arg-type]
                description=description,
                status=status,
                secret_version=secret_version,
                adopt_webhook_id=adopt_webhook_id,
                verify_with_ping=verify_with_ping,
                adopt_secret=adopt_secret,
                track_deliveries=track_deliveries,
            )
        # Every output key is seeded (None where Dfns fills it): the SDK keeps only
        # engine outputs whose keys were in the initial property map.
        props: dict[str, Any] = {
            URL: args.url,
            EVENTS: args.events,
            DESCRIPTION: args.description,
            STATUS: args.status,
            SECRET_VERSION: args.secret_version,
            ADOPT_WEBHOOK_ID: args.adopt_webhook_id,
            VERIFY_WITH_PING: args.verify_with_ping,
            # A secret from the program on: never plaintext in state, not even as an input.
            ADOPT_SECRET: None
            if args.adopt_secret is None
            else pulumi.Output.secret(args.adopt_secret),
            TRACK_DELIVERIES: args.track_deliveries,
            SECRET: None,
            DATE_CREATED: None,
            DATE_UPDATED: None,
            FAILED_DELIVERIES: None,
            LAST_DELIVERY_FAILURE: None,
        }
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_PROPERTIES))
        super().__init__(
            DfnsWebhookProvider(),
            resource_name,
            props,
            pulumi.ResourceOptions.merge(opts, secret_opts),
        )

    @staticmethod
    def get(
        resource_name: str,
        id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> DfnsWebhook:
        """Look up a webhook managed elsewhere (another stack, the dashboard), read-only.

        The engine reads it through this provider (one GET per `pulumi preview` and
        `pulumi up`: read steps run in previews too) and never changes or deletes it.
        Its `secret` is None: Dfns returns a secret only when a webhook is created.
        """
        lookup = pulumi.ResourceOptions(id=id)
        return DfnsWebhook(
            resource_name,
            DfnsWebhookArgs(url=None, events=None),  # type: ignore[arg-type]  # read, not declared
            pulumi.ResourceOptions.merge(opts, lookup),
        )
