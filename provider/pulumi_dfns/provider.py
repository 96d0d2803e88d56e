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
    DfnsApiError,
    DfnsError,
    DfnsForbiddenError,
    DfnsNotFoundError,
    DfnsPendingApprovalError,
    DfnsSettingsError,
)
from .fields import changed_fields, from_dfns, same, whole_state
from .inputs import (
    ADOPT_WEBHOOK_ID,
    DATE_CREATED,
    DATE_UPDATED,
    INPUTS,
    SECRET,
    SECRET_VERSION,
    URL,
    VERIFY_WITH_PING,
    WEBHOOK_FIELDS,
    check_inputs,
    holds_unknown,
)
from .recovery import ExactlyOnceCreator, delete_until_gone, get_unless_gone
from .redact import shown_text, shown_url
from .settings import ALL_SETTINGS, ClientSettings, load_settings

if TYPE_CHECKING:
    from .client import DfnsClient

PROVIDER_KEY = "__provider"
# Set to 1 to see Python tracebacks of provider errors (for debugging the provider).
TRACEBACKS_ENV = "DFNS_PROVIDER_TRACEBACKS"
# Inputs Dfns does not store: kept in state from the program's inputs.
PROGRAM_ONLY = (SECRET_VERSION, ADOPT_WEBHOOK_ID, VERIFY_WITH_PING)


class DfnsProviderError(Exception):
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
            # The SDK's server sends the user `traceback.format_exc()` for any error.
            # Our errors are complete sentences; frames of the SDK's server are noise.
            # This process serves only this program's dynamic resources.
            sys.tracebacklimit = 0
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

                self._client = client.DfnsClient(settings)
            return self._client

    # -- check and diff: no network ---------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = {k: _plain(v) for k, v in news.items() if k != PROVIDER_KEY}
        checked = check_inputs(props)
        for warning in checked.warnings:
            print(f"warning: DfnsWebhook {warning}", file=sys.stderr, flush=True)
        failures = [CheckFailure(prop, reason) for prop, reason in checked.failures]
        error = getattr(self, "_settings_error", None)
        if error is not None:
            failures.append(CheckFailure(error.setting, error.reason))
        return CheckResult(checked.inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes = []
        for name in (*WEBHOOK_FIELDS, SECRET_VERSION):
            old, new = _plain(olds.get(name)), _plain(news.get(name))
            # A value not known until apply (whole, or one list item) may change: say so
            # without comparing it (sorting a list holding an Unknown would raise).
            if holds_unknown(new) or holds_unknown(old) or not same(name, old, new):
                changes.append(name)
        replaces = [SECRET_VERSION] if SECRET_VERSION in changes else []
        # adopt_webhook_id and verify_with_ping matter only when they act (create,
        # update): changing them alone is recorded without touching Dfns.
        for name in (ADOPT_WEBHOOK_ID, VERIFY_WITH_PING):
            if _plain(olds.get(name)) != _plain(news.get(name)):
                changes.append(name)
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=False)

    # -- create, update, read, delete ------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = {k: _plain(props.get(k)) for k in INPUTS}
        client = self._dfns()
        adopt = inputs.get(ADOPT_WEBHOOK_ID)
        what = (
            f"adopting webhook {adopt}"
            if adopt
            else f"creating webhook for {shown_url(inputs.get(URL))}"
        )
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
                self._revert_quietly(client, webhook["id"], before)
            raise
        return CreateResult(webhook["id"], self._outputs(webhook, inputs, webhook.get(SECRET)))

    def _adopt(
        self, client: DfnsClient, webhook_id: str, inputs: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The adopted webhook, changed to the inputs, and what it was before when changed."""
        try:
            current = client.get_webhook(webhook_id)
        except DfnsNotFoundError:
            raise DfnsProviderError(
                f"adopt_webhook_id: no webhook {webhook_id} in this Dfns organisation; "
                "check the id, or remove adopt_webhook_id to create a new webhook"
            ) from None
        before = from_dfns(current)
        _warn(
            f"adopted {webhook_id}: Dfns returns a webhook's secret only "
            "when it is created, so the 'secret' output stays empty; set secret_version to "
            "replace the webhook with one whose secret Pulumi holds"
        )
        if not changed_fields(before, inputs):
            return current, None
        return client.update_webhook(webhook_id, **whole_state(inputs)), before

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = {k: _plain(news.get(k)) for k in INPUTS}
        client = self._dfns()
        before = {k: _plain(olds.get(k)) for k in WEBHOOK_FIELDS}
        changes = changed_fields(before, inputs)
        secret = _plain(olds.get(SECRET))
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
        try:
            self._verify(client, id_, inputs)
        except DfnsProviderError:
            if changes:
                # A failed update keeps the old state: put Dfns back the same way.
                self._revert_quietly(client, id_, before)
            raise
        return UpdateResult(self._outputs(webhook, inputs, secret))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self._dfns()
        try:
            webhook = get_unless_gone(client, id_)
        except DfnsError as exc:
            raise explain(f"reading webhook {id_}", "Webhooks:Read", exc) from None
        if webhook is None:
            return ReadResult("", {})  # gone: the engine drops it from state
        kept = {k: _plain(props.get(k)) for k in PROGRAM_ONLY}
        secret = webhook.get(SECRET) or _plain(props.get(SECRET))
        outs = self._outputs(webhook, kept, secret)
        inputs = {k: outs[k] for k in INPUTS if outs.get(k) is not None}
        return ReadResult(id_, outs, inputs)

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        try:
            gone = delete_until_gone(self._dfns(), id_)
        except DfnsError as exc:
            raise explain(f"deleting webhook {id_}", "Webhooks:Delete", exc) from None
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
    def _revert_quietly(client: DfnsClient, id_: str, before: dict[str, Any]) -> None:
        try:
            client.update_webhook(id_, **whole_state(before))
        except DfnsError as exc:
            _warn(
                f"could not undo the change to webhook {id_} ({exc}); it keeps the new "
                "settings: run `pulumi refresh` to bring the state in line, or put them "
                "back in Dfns"
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
            raise DfnsProviderError(
                f"the receiver at {shown_url(inputs.get(URL))} answered the test ping of webhook "
                f"{webhook_id} with status {answer.get('status')}{detail}; the change was "
                "not kept: fix the receiver and run `pulumi up` again (or set "
                "verify_with_ping=False)"
            )

    @staticmethod
    def _outputs(webhook: dict[str, Any], inputs: dict[str, Any], secret: Any) -> dict[str, Any]:
        outs = from_dfns(webhook)
        outs[SECRET] = _secret(secret or None)
        outs[DATE_CREATED] = webhook.get("dateCreated")
        outs[DATE_UPDATED] = webhook.get("dateUpdated")
        for name in PROGRAM_ONLY:
            outs[name] = inputs.get(name)
        return outs


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


def explain(what: str, permission: str, exc: DfnsError) -> DfnsProviderError:
    """One line for the user: the operation, what Dfns said, and the next step."""
    if isinstance(exc, DfnsForbiddenError):
        return DfnsProviderError(
            f"{what}: Dfns refused (HTTP 403: {exc.dfns_message or 'forbidden'}): the "
            f"service account needs the {permission} permission, and its user action must "
            "be allowed by your Dfns policies"
        )
    if isinstance(exc, DfnsPendingApprovalError):
        approval = f" {exc.error_id}" if exc.error_id else ""
        after = (
            "once approved, adopt the new webhook with adopt_webhook_id (or reject it) and "
            "run `pulumi up` again"
            if permission == "Webhooks:Create"
            else "once it is approved or rejected, run `pulumi refresh` and `pulumi up`"
        )
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
