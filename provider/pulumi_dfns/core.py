"""The webhook operations both front doors share: the dynamic resource and the plugin.

`DfnsWebhook` (a Python dynamic resource, provider.py) and `dfns:index:Webhook` (a
provider plugin, plugin/) are thin adapters over this module (README "Two front doors").
It speaks in plain Python values with the snake_case property names of inputs.py: no
Pulumi wire types, no secret wrappers (each adapter marks `SECRET_PROPERTIES` secret on
its way out), unknowns as `pulumi.output.Unknown` (inputs.is_unknown). Warnings go to a
callback, because each engine shows them its own way (stderr for the dynamic provider,
the engine's Log service with the resource's URN for the plugin).

It holds the Dfns logic: check (normalise, validate), diff, the exactly-once create,
adoption, ping verification and the revert of a failed change, refresh with delivery
health and 404 confirmation, delete until gone; its errors are worded by
operation_errors.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import (
    DfnsError,
    DfnsNotFoundError,
    DfnsSettingsError,
)
from .fields import changed_fields, from_dfns, same, whole_state
from .health import FAILURE_PAGE_LIMIT, summarise
from .inputs import (
    ADOPT_SECRET,
    ADOPT_WEBHOOK_ID,
    DATE_CREATED,
    DATE_UPDATED,
    FAILED_DELIVERIES,
    INPUTS,
    LAST_DELIVERY_FAILURE,
    SECRET,
    SECRET_VERSION,
    TRACK_DELIVERIES,
    VERIFY_WITH_PING,
    WEBHOOK_FIELDS,
    check_inputs,
    holds_unknown,
    is_unknown,
    reported,
)
from .operation_errors import DfnsProviderError, explain
from .redact import shown_text
from .settings import ALL_SETTINGS, ClientSettings, load_settings

if TYPE_CHECKING:
    from .client import DfnsClient

# recovery.py and gone.py (and through them client.py and `requests`) load on the first
# operation that calls Dfns: a preview's check and diff, and the provider's start, never
# need them.

# Inputs Dfns does not store: kept in state from the program's inputs.
PROGRAM_ONLY = (SECRET_VERSION, ADOPT_WEBHOOK_ID, VERIFY_WITH_PING, ADOPT_SECRET, TRACK_DELIVERIES)
# Program-only inputs whose change alone is recorded without a request to Dfns.
RECORDED_ONLY = (ADOPT_WEBHOOK_ID, VERIFY_WITH_PING, ADOPT_SECRET, TRACK_DELIVERIES)
HEALTH = (FAILED_DELIVERIES, LAST_DELIVERY_FAILURE)

Warn = Callable[[str], None]


@dataclass
class CheckOutcome:
    """Normalised inputs, and failures as (property, reason) ready for the engine: the
    property is empty for an input failure (its reason names it; see inputs.reported)
    and names the setting for a settings failure."""

    inputs: dict[str, Any]
    failures: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class DiffOutcome:
    """The properties that changed (Dfns fields first, then recorded-only inputs), and
    those of them whose change replaces the webhook."""

    changes: list[str]
    replaces: list[str]


@dataclass
class ReadOutcome:
    id: str
    outputs: dict[str, Any]
    inputs: dict[str, Any]


class WebhookCore:
    """The operations on one Dfns organisation's webhooks (one per provider instance)."""

    def __init__(self) -> None:
        self._settings: ClientSettings | None = None
        self._settings_error: DfnsSettingsError | None = None
        self._client: DfnsClient | None = None
        self._client_lock = threading.Lock()

    # -- settings ---------------------------------------------------------------------

    def configure(self, config: Mapping[str, object]) -> None:
        """Settings from `dfns:*` keys (stack config or provider inputs), then DFNS_*.

        Never raises: a settings problem is reported by `check` (at preview) and by
        every operation that needs Dfns.
        """
        self._settings = None
        self._settings_error = None
        self._client = None
        try:
            self._settings = load_settings(
                {s.config_key: config.get(s.config_key) for s in ALL_SETTINGS}
            )
        except DfnsSettingsError as exc:
            self._settings_error = exc

    @property
    def settings(self) -> ClientSettings | None:
        return self._settings

    def _dfns(self, timeout: float | None = None) -> DfnsClient:
        """The client, built on first use: a preview (check, diff) never needs one, and
        the HTTP stack's import stays off the provider's start-up path. `timeout` (an
        engine's custom timeout, seconds) bounds the retry budget of this operation."""
        settings = self._settings
        if settings is None:
            error = self._settings_error
            raise DfnsProviderError(
                f"Dfns settings: {error}" if error else "the provider was not configured"
            )
        with self._client_lock:
            if self._client is None:
                from . import client

                try:
                    self._client = client.DfnsClient(settings)
                except DfnsSettingsError as exc:
                    # Read from the environment as the client is built (a CA bundle
                    # that does not exist): nothing was sent.
                    raise DfnsProviderError(f"Dfns settings: {exc}") from None
            built = self._client
        if timeout:
            return built.within(timeout)
        return built

    # -- check and diff: no network ---------------------------------------------------

    def check(self, olds: dict[str, Any], news: dict[str, Any], warn: Warn) -> CheckOutcome:
        settings = self._settings
        extra_kinds = settings.extra_event_kinds if settings is not None else frozenset()
        checked = check_inputs(news, extra_kinds)
        for warning in checked.warnings:
            warn(warning)
        failures = [reported(prop, reason) for prop, reason in checked.failures]
        error = self._settings_error
        if error is not None:
            # A setting is not an input: the engine finds no value to print for it.
            failures.append((error.setting, error.reason))
        inputs = checked.inputs
        rolled = rolls_an_adopted_webhook(olds, inputs)
        if rolled:
            failures.append(("", f"{ADOPT_WEBHOOK_ID}: {rolled}"))
        return CheckOutcome(inputs, failures)

    @staticmethod
    def diff(olds: dict[str, Any], news: dict[str, Any]) -> DiffOutcome:
        changes = []
        for name in (*WEBHOOK_FIELDS, SECRET_VERSION):
            old, new = olds.get(name), news.get(name)
            # A value not known until apply (whole, or one list item) may change: say so
            # without comparing it (sorting a list holding an Unknown would raise).
            if holds_unknown(new) or holds_unknown(old) or not same(name, old, new):
                changes.append(name)
        replaces = [SECRET_VERSION] if SECRET_VERSION in changes else []
        # adopt_webhook_id, verify_with_ping, adopt_secret and track_deliveries matter
        # only when they act (create, update, read): changing them alone is recorded
        # without touching Dfns.
        for name in RECORDED_ONLY:
            if olds.get(name) != news.get(name):
                changes.append(name)
        return DiffOutcome(changes, replaces)

    # -- create, update, read, delete ------------------------------------------------

    def create(
        self, props: dict[str, Any], warn: Warn, timeout: float | None = None
    ) -> tuple[str, dict[str, Any]]:
        inputs = {k: props.get(k) for k in INPUTS}
        client = self._dfns(timeout)
        adopt = inputs.get(ADOPT_WEBHOOK_ID)
        # No url in what the user reads: the engine names the resource already, and a url
        # given as a Pulumi secret may reach the provider as plain text, so the provider
        # cannot tell which urls must not be shown.
        what = f"adopting webhook {adopt}" if adopt else "creating webhook"
        before: dict[str, Any] | None = None
        try:
            if adopt:
                webhook, before = self._adopt(client, str(adopt), inputs, warn)
            else:
                from .recovery import ExactlyOnceCreator

                creator = ExactlyOnceCreator(client)
                webhook = creator.create(inputs)
                for note in creator.warnings:
                    warn(note)
        except DfnsError as exc:
            raise explain(what, "Webhooks:Create", exc) from None
        try:
            self._verify(client, webhook["id"], inputs)
        except DfnsProviderError:
            if not adopt:
                # The engine cannot record a resource whose create failed: remove it
                # again so nothing is left in Dfns outside the state.
                self._delete_quietly(client, webhook["id"], warn)
            elif before is not None:
                # Adopting failed: the webhook goes back to what it was before.
                self._revert_quietly(client, webhook["id"], before, warn, adopting=True)
            raise
        # Dfns's own secret first: one version of the current reference returns it from
        # GET /webhooks/{id} (https://docs.dfns.co/api-reference/webhooks/get-webhook),
        # the 2024 docs and the SDK types only from create. Without it the user's
        # adopt_secret, if given, stands in for it (Dfns cannot confirm it).
        secret = webhook.get(SECRET) or (inputs.get(ADOPT_SECRET) if adopt else None)
        return str(webhook["id"]), outputs(webhook, inputs, secret)

    @staticmethod
    def _adopt(
        client: DfnsClient, webhook_id: str, inputs: dict[str, Any], warn: Warn
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The adopted webhook, changed to the inputs, and what it was before when changed."""
        what = f"adopting webhook {webhook_id}"
        try:
            current = client.get_webhook(webhook_id)
        except DfnsNotFoundError:
            raise DfnsProviderError(
                f"adopt_webhook_id: no webhook {webhook_id} in this Dfns organisation; "
                "check the id, or remove adopt_webhook_id to create a new webhook"
            ) from None
        except DfnsError as exc:
            # Each call names its own permission: adopting creates nothing.
            raise explain(what, "Webhooks:Read", exc) from None
        before = from_dfns(current)
        returned = current.get(SECRET)
        if returned:
            # Dfns returned the secret itself: the output holds it, nothing to warn about
            # unless the user's adopt_secret says otherwise (neither value is shown).
            if inputs.get(ADOPT_SECRET) and inputs.get(ADOPT_SECRET) != returned:
                warn(
                    f"adopted {webhook_id}: adopt_secret differs from the secret Dfns "
                    "returned; the 'secret' output is Dfns's"
                )
        elif inputs.get(ADOPT_SECRET):
            warn(
                f"adopted {webhook_id}: the 'secret' output is the adopt_secret you gave; "
                "Dfns cannot confirm it, so check that your receivers verify its deliveries"
            )
        else:
            warn(
                f"adopted {webhook_id}: Dfns returns a webhook's secret only when it is "
                "created, so the 'secret' output stays empty; give adopt_secret if you know "
                "it, or set secret_version to replace the webhook with one whose secret "
                "Pulumi holds"
            )
        if not changed_fields(before, inputs):
            return current, None
        try:
            updated = client.update_webhook(webhook_id, **whole_state(inputs))
        except DfnsError as exc:
            raise explain(what, "Webhooks:Update", exc, adopting=True) from None
        # The update's answer may lack the secret the GET returned: keep that one.
        return {**updated, SECRET: updated.get(SECRET) or returned}, before

    def update(
        self,
        id_: str,
        olds: dict[str, Any],
        news: dict[str, Any],
        warn: Warn,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        inputs = {k: news.get(k) for k in INPUTS}
        client = self._dfns(timeout)
        before = {k: olds.get(k) for k in WEBHOOK_FIELDS}
        changes = changed_fields(before, inputs)
        secret = olds.get(SECRET)
        adopt_secret = inputs.get(ADOPT_SECRET)
        if (
            adopt_secret
            and inputs.get(ADOPT_WEBHOOK_ID) == id_
            and adopt_secret != olds.get(ADOPT_SECRET)
        ):
            # The user now knows (or corrects) the adopted webhook's secret.
            secret = adopt_secret
        if changes:
            try:
                # The whole desired state, not only what changed (client.update_webhook).
                webhook = client.update_webhook(id_, **whole_state(inputs))
            except DfnsNotFoundError:
                raise DfnsProviderError(
                    f"updating webhook {id_}: it no longer exists in Dfns (deleted outside "
                    "Pulumi?); run `pulumi refresh` to drop it from the state, then "
                    "`pulumi up` to create it again"
                ) from None
            except DfnsError as exc:
                raise explain(f"updating webhook {id_}", "Webhooks:Update", exc) from None
            # Dfns returns the secret only at creation; older API versions echoed it here.
            secret = webhook.get(SECRET) or secret
        else:
            webhook = {
                "id": id_,
                **{k: olds.get(k) for k in WEBHOOK_FIELDS},
                "dateCreated": olds.get(DATE_CREATED),
                "dateUpdated": olds.get(DATE_UPDATED),
            }
        # Ping when something Dfns holds changed, or when verification was just turned
        # on; a change of recorded inputs alone (adopt_secret, track_deliveries, ...)
        # sends no request at all.
        turned_on = inputs.get(VERIFY_WITH_PING) and not olds.get(VERIFY_WITH_PING)
        try:
            if changes or turned_on:
                self._verify(client, id_, inputs)
        except DfnsProviderError:
            if changes:
                # A failed update keeps the old state: put Dfns back the same way.
                self._revert_quietly(client, id_, before, warn)
            raise
        # Delivery health is read by refresh only; an update carries it over.
        health = {k: olds.get(k) for k in HEALTH} if inputs.get(TRACK_DELIVERIES) else {}
        return outputs(webhook, inputs, secret, health)

    def read(self, id_: str, props: dict[str, Any], warn: Warn) -> ReadOutcome | None:
        """What Dfns holds now; None when the webhook is gone (confirmed by a second 404).

        `props` is the state the engine holds: empty for an import or a lookup (`get`),
        where a missing webhook fails the read instead (nothing to drop from state)."""
        client = self._dfns()
        try:
            from .gone import get_unless_gone

            webhook = get_unless_gone(client, id_)
        except DfnsError as exc:
            raise explain(
                f"reading webhook {id_}", "Webhooks:Read", exc, stored_config=True
            ) from None
        if webhook is None:
            if props.get(DATE_CREATED) is None:
                # Never read before: a lookup or import of an id that does not exist.
                raise DfnsProviderError(
                    f"reading webhook {id_}: no such webhook in this Dfns organisation; "
                    "check the id (wh-...) and dfns:apiUrl"
                )
            return None
        kept = {k: props.get(k) for k in PROGRAM_ONLY}
        secret = webhook.get(SECRET) or props.get(SECRET)
        health = self._health(client, id_, warn) if kept.get(TRACK_DELIVERIES) else {}
        outs = outputs(webhook, kept, secret, health)
        inputs = {k: outs[k] for k in INPUTS if outs.get(k) is not None}
        return ReadOutcome(id_, outs, inputs)

    @staticmethod
    def _health(client: DfnsClient, id_: str, warn: Warn) -> dict[str, Any]:
        """One GET: a page of the webhook's failed deliveries, summarised.

        A failed read (say a 403 without Webhooks:Events:Read) must not fail the refresh
        of the webhook itself: it warns and leaves the health outputs None ("unknown"),
        never 0 ("healthy")."""
        try:
            events, more, date = client.webhook_events_page(
                id_, delivery_failed=True, limit=FAILURE_PAGE_LIMIT
            )
        except DfnsError as exc:
            failure = explain(
                f"reading the failed deliveries of webhook {id_} (track_deliveries)",
                "Webhooks:Events:Read",
                exc,
            )
            warn(
                f"{failure}; failed_deliveries and last_delivery_failure are left unset "
                "(unknown) by this refresh"
            )
            return {}
        health = summarise(events, more, now=date)
        if health.at_least:
            warn(
                f"{id_}: {health.describe()} (one page of "
                f"{FAILURE_PAGE_LIMIT} failures read; more exist)"
            )
        return {FAILED_DELIVERIES: health.failed, LAST_DELIVERY_FAILURE: health.last}

    def delete(self, id_: str, timeout: float | None = None) -> None:
        try:
            from .gone import delete_until_gone

            gone = delete_until_gone(self._dfns(timeout), id_)
        except DfnsError as exc:
            raise explain(
                f"deleting webhook {id_}", "Webhooks:Delete", exc, stored_config=True
            ) from None
        if not gone:
            raise DfnsProviderError(
                f"deleting webhook {id_}: Dfns answered 404 to DELETE but still shows it; "
                "run `pulumi destroy` (or `pulumi up`) again"
            )

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def _delete_quietly(client: DfnsClient, id_: str, warn: Warn) -> None:
        from .gone import delete_until_gone

        try:
            if delete_until_gone(client, id_):
                return
            reason = "Dfns still shows it"
        except DfnsError as exc:
            reason = str(exc)
        warn(
            f"could not remove webhook {id_} after its failed "
            f"create ({reason}); delete it in Dfns or adopt it with adopt_webhook_id"
        )

    @staticmethod
    def _revert_quietly(
        client: DfnsClient,
        id_: str,
        before: dict[str, Any],
        warn: Warn,
        *,
        adopting: bool = False,
    ) -> None:
        try:
            client.update_webhook(id_, **whole_state(before))
        except DfnsError as exc:
            if adopting:
                # The failed create leaves nothing in the state: a refresh cannot see it.
                then = (
                    "no stack holds it, so `pulumi refresh` cannot help: fix the receiver "
                    "and run `pulumi up` again (it adopts the webhook again), or put its "
                    "previous url, events, status and description back in Dfns"
                )
            else:
                then = (
                    "the state keeps the previous ones: run `pulumi refresh` to record "
                    "what Dfns holds, or fix the receiver and run `pulumi up` again"
                )
            warn(
                f"could not undo the change to webhook {id_} "
                f"({exc}); Dfns keeps the new settings and {then}"
            )

    @staticmethod
    def _verify(client: DfnsClient, webhook_id: str, inputs: dict[str, Any]) -> None:
        if not inputs.get(VERIFY_WITH_PING):
            return
        try:
            answer = client.ping_webhook(webhook_id)
        except DfnsError as exc:
            raise explain(f"pinging webhook {webhook_id}", "Webhooks:Ping", exc) from None
        if str(answer.get("status")) != "200":
            detail = f": {shown_text(str(answer['error']))}" if answer.get("error") else ""
            raise DfnsProviderError(
                f"the receiver answered the test ping of webhook "
                f"{webhook_id} with status {answer.get('status')}{detail}; the change was "
                "not kept: check that the receiver is up at the url and knows this "
                "webhook's secret, and that it accepts a ping (Dfns does not document the "
                "ping's payload: it may carry no timestampSent, which verify_delivery "
                "requires at its default tolerance; examples/receiver.py acknowledges such "
                "a ping); then run `pulumi up` again (or set verify_with_ping=False)"
            )


def outputs(
    webhook: dict[str, Any],
    inputs: dict[str, Any],
    secret: Any,
    health: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A resource's outputs: what Dfns holds, the program-only inputs, the secret (plain:
    the adapter marks SECRET_PROPERTIES secret) and the delivery health."""
    outs = from_dfns(webhook)
    outs[SECRET] = secret or None
    outs[DATE_CREATED] = webhook.get("dateCreated")
    outs[DATE_UPDATED] = webhook.get("dateUpdated")
    for name in PROGRAM_ONLY:
        outs[name] = inputs.get(name)
    outs[ADOPT_SECRET] = inputs.get(ADOPT_SECRET) or None
    for name in HEALTH:
        outs[name] = (health or {}).get(name)
    return outs


def rolls_an_adopted_webhook(olds: dict[str, Any], inputs: dict[str, Any]) -> str | None:
    """A secret_version change replaces the webhook: the replacement's create would adopt
    the same webhook again, and the engine's deletion of the old one would delete it.

    `olds` empty: a new resource."""
    adopt = inputs.get(ADOPT_WEBHOOK_ID)
    if not olds or adopt is None or is_unknown(adopt):
        return None
    old, new = olds.get(SECRET_VERSION), inputs.get(SECRET_VERSION)
    if is_unknown(new) or old == new:
        return None
    return (
        "changing secret_version replaces the webhook, and the replacement would adopt "
        f"{adopt} again before the old one is deleted (deleting it): remove "
        "adopt_webhook_id (and adopt_secret) in the same change"
    )
