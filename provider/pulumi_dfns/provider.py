"""DfnsWebhookProvider: the engine side of DfnsWebhook, run by `python -m pulumi.dynamic`.

The class's import path (`pulumi_dfns.provider.DfnsWebhookProvider`) is written into
every stack's state by the pickled `__provider` property: it must never move. The
instance pickled at program time carries no attributes at all; settings and the HTTP
client are built here, in `configure`, inside the provider process.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any, TypeGuard

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.runtime import rpc  # loaded already: the provider server is pulumi's

from .errors import (
    STORED_CONFIG_NOTE,
    DfnsApiError,
    DfnsError,
    DfnsForbiddenError,
    DfnsNotFoundError,
    DfnsPendingApprovalError,
    DfnsSettingsError,
    DfnsUnauthorizedError,
)
from .fields import changed_fields, from_dfns, same, whole_state
from .gone import delete_until_gone, get_unless_gone
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
from .recovery import ExactlyOnceCreator
from .redact import shown_text
from .settings import ALL_SETTINGS, ClientSettings, load_settings
from .tracebacks import OneLineError, install_one_line_errors

if TYPE_CHECKING:
    from .client import DfnsClient

PROVIDER_KEY = "__provider"
# Set to 1 to see Python tracebacks of this provider's errors (for debugging it).
TRACEBACKS_ENV = "DFNS_PROVIDER_TRACEBACKS"
# Inputs Dfns does not store: kept in state from the program's inputs.
PROGRAM_ONLY = (SECRET_VERSION, ADOPT_WEBHOOK_ID, VERIFY_WITH_PING, ADOPT_SECRET, TRACK_DELIVERIES)
# Program-only inputs whose change alone is recorded without a request to Dfns.
RECORDED_ONLY = (ADOPT_WEBHOOK_ID, VERIFY_WITH_PING, ADOPT_SECRET, TRACK_DELIVERIES)
HEALTH = (FAILED_DELIVERIES, LAST_DELIVERY_FAILURE)


class DfnsProviderError(OneLineError):
    """What the user reads when an operation fails: one line, no secret."""


def _plain(value: Any) -> Any:
    """Drop a secret wrapper, if any: the engine may hand back secret-marked values."""
    return rpc.unwrap_rpc_secret(value)


def _secret(value: Any) -> Any:
    return None if value is None else rpc.wrap_rpc_secret(value)


class DfnsWebhookProvider(ResourceProvider):
    """Creates, diffs, updates, reads and deletes one Dfns webhook per resource."""

    # Attributes set in `configure` only (provider process); never at program time.
    _settings: ClientSettings | None
    _settings_error: DfnsSettingsError | None
    _client: DfnsClient | None
    _client_lock: threading.Lock

    def configure(self, req: ConfigureRequest) -> None:
        # Never raise here: the SDK would retry configure on every call and show a
        # traceback. A settings problem is reported by `check` (at preview) and by every
        # operation that needs Dfns.
        self._settings = None
        self._settings_error = None
        self._client = None
        self._client_lock = threading.Lock()
        if os.environ.get(TRACEBACKS_ENV) != "1":
            # Our errors are complete sentences: frames of the SDK's server are noise.
            # Only our own errors lose them; the process serves other libraries' dynamic
            # resources too (see tracebacks.py).
            install_one_line_errors()
        config = {s.config_key: req.config.get(s.config_key) for s in ALL_SETTINGS}
        try:
            self._settings = load_settings(config)
        except DfnsSettingsError as exc:
            self._settings_error = exc

    def _dfns(self) -> DfnsClient:
        """The client, built on first use: a preview (check, diff) never needs one, and
        the HTTP stack's import stays off the provider's start-up path."""
        settings: ClientSettings | None = getattr(self, "_settings", None)
        if settings is None:
            error = getattr(self, "_settings_error", None)
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
            return self._client

    # -- check and diff: no network ---------------------------------------------------

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = {k: _plain(v) for k, v in news.items() if k != PROVIDER_KEY}
        settings: ClientSettings | None = getattr(self, "_settings", None)
        extra_kinds = settings.extra_event_kinds if settings is not None else frozenset()
        checked = check_inputs(props, extra_kinds)
        for warning in checked.warnings:
            _warn(warning)
        # Input failures name their property in the reason, not in the failure's
        # property: the engine would print the value beside it (see `reported`).
        failures = [CheckFailure(*reported(prop, reason)) for prop, reason in checked.failures]
        error = getattr(self, "_settings_error", None)
        if error is not None:
            # A setting is not an input: the engine finds no value to print for it.
            failures.append(CheckFailure(error.setting, error.reason))
        inputs = checked.inputs
        rolled = _rolls_an_adopted_webhook(olds, inputs)
        if rolled:
            failures.append(CheckFailure("", f"{ADOPT_WEBHOOK_ID}: {rolled}"))
        if inputs.get(ADOPT_SECRET) is not None:
            # The engine also keeps the program's secret bit on inputs returned by a
            # provider that does not accept secrets (pkg/resource/plugin/provider_plugin.go,
            # annotateSecrets); marking it here does not depend on that.
            inputs[ADOPT_SECRET] = _secret(inputs[ADOPT_SECRET])
        return CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes = []
        for name in (*WEBHOOK_FIELDS, SECRET_VERSION):
            old, new = _plain(olds.get(name)), _plain(news.get(name))
            # A value not known until apply (whole, or one list item) may change: say so
            # without comparing it (sorting a list holding an Unknown would raise).
            if holds_unknown(new) or holds_unknown(old) or not same(name, old, new):
                changes.append(name)
        replaces = [SECRET_VERSION] if SECRET_VERSION in changes else []
        # adopt_webhook_id, verify_with_ping, adopt_secret and track_deliveries matter
        # only when they act (create, update, read): changing them alone is recorded
        # without touching Dfns.
        for name in RECORDED_ONLY:
            if _plain(olds.get(name)) != _plain(news.get(name)):
                changes.append(name)
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=False)

    # -- create, update, read, delete ------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = {k: _plain(props.get(k)) for k in INPUTS}
        client = self._dfns()
        adopt = inputs.get(ADOPT_WEBHOOK_ID)
        # No url in what the user reads: the engine names the resource already, and a url
        # given as a Pulumi secret reaches the provider as plain text (acceptSecrets=false),
        # so the provider cannot tell which urls must not be shown.
        what = f"adopting webhook {adopt}" if adopt else "creating webhook"
        before: dict[str, Any] | None = None
        try:
            if adopt:
                webhook, before = self._adopt(client, str(adopt), inputs)
            else:
                creator = ExactlyOnceCreator(client)
                webhook = creator.create(inputs)
                for note in creator.warnings:
                    _warn(note)
        except DfnsError as exc:
            raise explain(what, "Webhooks:Create", exc) from None
        try:
            self._verify(client, webhook["id"], inputs)
        except DfnsProviderError:
            if not adopt:
                # The engine cannot record a resource whose create failed: remove it
                # again so nothing is left in Dfns outside the state.
                self._delete_quietly(client, webhook["id"])
            elif before is not None:
                # Adopting failed: the webhook goes back to what it was before.
                self._revert_quietly(client, webhook["id"], before, adopting=True)
            raise
        # Dfns's own secret first: one version of the current reference returns it from
        # GET /webhooks/{id} (https://docs.dfns.co/api-reference/webhooks/get-webhook),
        # the 2024 docs and the SDK types only from create. Without it the user's
        # adopt_secret, if given, stands in for it (Dfns cannot confirm it).
        secret = webhook.get(SECRET) or (inputs.get(ADOPT_SECRET) if adopt else None)
        return CreateResult(webhook["id"], self._outputs(webhook, inputs, secret))

    def _adopt(
        self, client: DfnsClient, webhook_id: str, inputs: dict[str, Any]
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
                _warn(
                    f"adopted {webhook_id}: adopt_secret differs from the secret Dfns "
                    "returned; the 'secret' output is Dfns's"
                )
        elif inputs.get(ADOPT_SECRET):
            _warn(
                f"adopted {webhook_id}: the 'secret' output is the adopt_secret you gave; "
                "Dfns cannot confirm it, so check that your receivers verify its deliveries"
            )
        else:
            _warn(
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

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = {k: _plain(news.get(k)) for k in INPUTS}
        client = self._dfns()
        before = {k: _plain(olds.get(k)) for k in WEBHOOK_FIELDS}
        changes = changed_fields(before, inputs)
        secret = _plain(olds.get(SECRET))
        adopt_secret = inputs.get(ADOPT_SECRET)
        if (
            adopt_secret
            and inputs.get(ADOPT_WEBHOOK_ID) == id_
            and adopt_secret != _plain(olds.get(ADOPT_SECRET))
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
                **{k: _plain(olds.get(k)) for k in WEBHOOK_FIELDS},
                "dateCreated": _plain(olds.get(DATE_CREATED)),
                "dateUpdated": _plain(olds.get(DATE_UPDATED)),
            }
        # Ping when something Dfns holds changed, or when verification was just turned
        # on; a change of recorded inputs alone (adopt_secret, track_deliveries, ...)
        # sends no request at all.
        turned_on = inputs.get(VERIFY_WITH_PING) and not _plain(olds.get(VERIFY_WITH_PING))
        try:
            if changes or turned_on:
                self._verify(client, id_, inputs)
        except DfnsProviderError:
            if changes:
                # A failed update keeps the old state: put Dfns back the same way.
                self._revert_quietly(client, id_, before)
            raise
        # Delivery health is read by refresh only; an update carries it over.
        health = {k: _plain(olds.get(k)) for k in HEALTH} if inputs.get(TRACK_DELIVERIES) else {}
        return UpdateResult(self._outputs(webhook, inputs, secret, health))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self._dfns()
        try:
            webhook = get_unless_gone(client, id_)
        except DfnsError as exc:
            raise explain(
                f"reading webhook {id_}", "Webhooks:Read", exc, stored_config=True
            ) from None
        if webhook is None:
            if props.get(DATE_CREATED) is None:
                # Never read before: a lookup (DfnsWebhook.get) of an id that does not exist.
                raise DfnsProviderError(
                    f"reading webhook {id_}: no such webhook in this Dfns organisation; "
                    "check the id (wh-...) and dfns:apiUrl"
                )
            return ReadResult("", {})  # gone: the engine drops it from state
        kept = {k: _plain(props.get(k)) for k in PROGRAM_ONLY}
        secret = webhook.get(SECRET) or _plain(props.get(SECRET))
        health = self._health(client, id_) if kept.get(TRACK_DELIVERIES) else {}
        outs = self._outputs(webhook, kept, secret, health)
        inputs = {k: outs[k] for k in INPUTS if outs.get(k) is not None}
        return ReadResult(id_, outs, inputs)

    @staticmethod
    def _health(client: DfnsClient, id_: str) -> dict[str, Any]:
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
            _warn(
                f"{failure}; failed_deliveries and last_delivery_failure are left unset "
                "(unknown) by this refresh"
            )
            return {}
        health = summarise(events, more, now=date)
        if health.at_least:
            _warn(
                f"{id_}: {health.describe()} (one page of "
                f"{FAILURE_PAGE_LIMIT} failures read; more exist)"
            )
        return {FAILED_DELIVERIES: health.failed, LAST_DELIVERY_FAILURE: health.last}

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        try:
            gone = delete_until_gone(self._dfns(), id_)
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
    def _delete_quietly(client: DfnsClient, id_: str) -> None:
        try:
            if delete_until_gone(client, id_):
                return
            reason = "Dfns still shows it"
        except DfnsError as exc:
            reason = str(exc)
        _warn(
            f"could not remove webhook {id_} after its failed "
            f"create ({reason}); delete it in Dfns or adopt it with adopt_webhook_id"
        )

    @staticmethod
    def _revert_quietly(
        client: DfnsClient, id_: str, before: dict[str, Any], *, adopting: bool = False
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
            _warn(
                f"could not undo the change to webhook {id_} "
                f"({exc}); Dfns keeps the new settings and {then}"
            )

    def _verify(self, client: DfnsClient, webhook_id: str, inputs: dict[str, Any]) -> None:
        if not inputs.get(VERIFY_WITH_PING):
            return
        try:
            answer = client.ping_webhook(webhook_id)
        except DfnsError as exc:
            raise explain(f"pinging webhook {webhook_id}", "Webhooks:Ping", exc) from None
        if str(answer.get("status")) != "200":
            detail = f": {shown_text(str(answer['error']))}" if answer.get("error") else ""
            # No source shows the ping's payload (ping-webhook.md: "a fake test event"):
            # a receiver that insists on a signed `timestampSent` may refuse a ping that
            # has none, so that cause is named beside the usual ones.
            raise DfnsProviderError(
                f"the receiver answered the test ping of webhook "
                f"{webhook_id} with status {answer.get('status')}{detail}; the change was "
                "not kept: check that the receiver is up at the url and knows this "
                "webhook's secret, and that it accepts a ping (Dfns does not document the "
                "ping's payload: it may carry no timestampSent, which verify_delivery "
                "requires at its default tolerance; examples/receiver.py acknowledges such "
                "a ping); then run `pulumi up` again (or set verify_with_ping=False)"
            )

    @staticmethod
    def _outputs(
        webhook: dict[str, Any],
        inputs: dict[str, Any],
        secret: Any,
        health: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        outs = from_dfns(webhook)
        outs[SECRET] = _secret(secret or None)
        outs[DATE_CREATED] = webhook.get("dateCreated")
        outs[DATE_UPDATED] = webhook.get("dateUpdated")
        for name in PROGRAM_ONLY:
            outs[name] = inputs.get(name)
        outs[ADOPT_SECRET] = _secret(inputs.get(ADOPT_SECRET) or None)
        for name in HEALTH:
            outs[name] = (health or {}).get(name)
        return outs


def _rolls_an_adopted_webhook(olds: dict[str, Any], inputs: dict[str, Any]) -> str | None:
    """A secret_version change replaces the webhook: the replacement's create would adopt
    the same webhook again, and the engine's deletion of the old one would delete it."""
    adopt = inputs.get(ADOPT_WEBHOOK_ID)
    new_resource = not any(k != PROVIDER_KEY for k in olds)
    if new_resource or adopt is None or is_unknown(adopt):
        return None
    old, new = _plain(olds.get(SECRET_VERSION)), inputs.get(SECRET_VERSION)
    if is_unknown(new) or old == new:
        return None
    return (
        "changing secret_version replaces the webhook, and the replacement would adopt "
        f"{adopt} again before the old one is deleted (deleting it): remove "
        "adopt_webhook_id (and adopt_secret) in the same change"
    )


def _warn(text: str) -> None:
    """A warning the user reads in the engine's output (stderr of the provider)."""
    print(f"warning: DfnsWebhook {text}", file=sys.stderr, flush=True)


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
