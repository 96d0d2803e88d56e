"""`dfns:index:Webhook` on the Python SDK's experimental provider API: an adapter.

`pulumi.provider.experimental.provider.Provider` (SDK >= 3.171.0, sdk/python/lib/pulumi/
provider/experimental/provider.py) is the SDK's one class for custom resources in a
plugin. Each method here translates the engine's property values to the core's plain
values (names.py: camelCase to snake_case, secrets unwrapped, unknowns as `Unknown`),
calls core.WebhookCore in a worker thread, and translates back. No Dfns logic lives here.

The experimental API's rough edges (read in SDK 3.272, and each hit in this plugin):
- an unknown input arrives as the plain sentinel string `rpc.UNKNOWN`
  (`PropertyValue.unmarshal` has no case for it), and `PropertyValue.computed()` cannot
  be marshalled (`marshal_value` has no case for `Computed`): unknowns are recognised
  by the sentinel and sent back as it, and `configure` answers supports_preview=False
  (the base class says True), so the engine answers preview creates and updates itself
  (pulumi/pulumi sdk/go/common/resource/plugin/provider_plugin.go, Create/Update);
- numbers must be floats (`PropertyValue(1)` raises TypeError);
- the SDK's `Read` always sends a properties struct, so "not found" on import or
  `Webhook.get` cannot be said by an empty answer: the core fails that read;
- there is no logging bridge: warnings go to the engine's Log service with the URN
  (server.py), so they appear on the resource.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pulumi.output import Unknown
from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    ConfigureRequest,
    ConfigureResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    GetSchemaRequest,
    GetSchemaResponse,
    PropertyDiff,
    PropertyDiffKind,
    Provider,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)
from pulumi.runtime.rpc import UNKNOWN

from ..core import Warn, WebhookCore
from ..inputs import SECRET_PROPERTIES
from ..settings import ALL_SETTINGS
from .names import (
    CAMEL_INPUTS,
    CAMEL_OF,
    DYNAMIC_PROVIDER_KEY,
    RESOURCE_TOKEN,
    SNAKE_OF,
    from_engine,
    in_schema_terms,
    to_engine,
)
from .schema import schema_json

T = TypeVar("T")
# Sends one warning to the engine about a resource (its URN): server.EngineLog.
WarnAbout = Callable[[str, str], None]


def plain(value: PropertyValue) -> Any:
    """An engine value as the core takes it: no secret mark, unknowns as `Unknown`."""
    inner = value.value
    if isinstance(inner, Computed) or (isinstance(inner, str) and inner == UNKNOWN):
        return Unknown()  # type: ignore[no-untyped-call]  # the SDK's class is untyped
    if isinstance(inner, tuple):
        return [plain(item) for item in inner]
    if isinstance(inner, Mapping):
        return {key: plain(item) for key, item in inner.items()}
    return inner


def wire(value: Any, secret: bool = False) -> PropertyValue:
    """A core value as the engine takes it: whole numbers as floats (the only number
    PropertyValue takes), unknowns as the sentinel."""
    if isinstance(value, Unknown):
        result = PropertyValue(UNKNOWN)
    elif isinstance(value, bool) or value is None or isinstance(value, str | float):
        result = PropertyValue(value)
    elif isinstance(value, int):
        result = PropertyValue(float(value))
    elif isinstance(value, list | tuple):
        result = PropertyValue([wire(item) for item in value])
    elif isinstance(value, Mapping):
        result = PropertyValue({str(k): wire(v) for k, v in value.items()})
    else:
        raise TypeError(f"no engine value for a {type(value).__name__}")
    return result.with_secret(True) if secret and value is not None else result


def _wire_map(values: Mapping[str, Any]) -> dict[str, PropertyValue]:
    return {
        key: wire(value, secret=key in SECRET_PROPERTIES_CAMEL)
        for key, value in to_engine(values).items()
    }


def _plain_map(values: Mapping[str, PropertyValue]) -> dict[str, Any]:
    return {key: plain(value) for key, value in values.items()}


SECRET_PROPERTIES_CAMEL = frozenset(CAMEL_OF[name] for name in SECRET_PROPERTIES)
SECRET_SETTINGS = frozenset(setting.key for setting in ALL_SETTINGS if setting.secret)


class DfnsProvider(Provider):
    """The `dfns` provider: one process per provider instance (one Dfns organisation)."""

    def __init__(self, version: str, warn_about: WarnAbout) -> None:
        self._version = version
        self._warn_about = warn_about
        self._core = WebhookCore()

    def _warn(self, urn: str) -> Warn:
        return lambda text: self._warn_about(urn, in_schema_terms(text))

    @staticmethod
    async def _run(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """The core is synchronous (blocking HTTP): run it off the event loop, so that the
        engine's parallel steps (`--parallel`) are served in parallel."""
        return await asyncio.to_thread(functools.partial(call, *args, **kwargs))

    async def get_schema(self, request: GetSchemaRequest) -> GetSchemaResponse:
        return GetSchemaResponse(schema_json(self._version))

    async def check_config(self, request: CheckRequest) -> CheckResponse:
        """The provider's inputs as the engine stores them: the secret settings (token,
        key, passphrase) marked secret whatever the program did, so that a plain value
        given to an explicit provider is never written to the state in plain text (the
        engine does not apply the schema's `secret` to a provider's inputs; generated
        SDKs and sdk.py mark them, a YAML literal or another tool may not)."""
        inputs = {
            key: value.with_secret(True) if key in SECRET_SETTINGS else value
            for key, value in request.new_inputs.items()
        }
        return CheckResponse(inputs=inputs)

    async def configure(self, request: ConfigureRequest) -> ConfigureResponse:
        # `args` holds the provider's inputs by schema name (explicit providers, and the
        # default provider from the stack's `dfns:*` config); `variables` is the older
        # form, "dfns:config:<key>" = text, for engines that send no args.
        config: dict[str, object] = {}
        for key, value in (request.args or {}).items():
            config[f"dfns:{key}"] = plain(value)
        if not config:
            for key, text in request.variables.items():
                package, _, name = key.partition(":config:")
                if package == "dfns" and name:
                    config[f"dfns:{name}"] = text
        for key, setting in list(config.items()):
            if isinstance(setting, float) and setting.is_integer():
                config[key] = int(setting)  # `maxAttempts: 4` in YAML arrives as 4.0
        self._core.configure(config)
        return ConfigureResponse(
            accept_secrets=True,
            supports_preview=False,
            accept_resources=False,
            accept_outputs=False,
        )

    async def check(self, request: CheckRequest) -> CheckResponse:
        news_wire = request.new_inputs
        # Not a schema name (a snake_case spelling included): refused here, since the
        # core would take `secret_version` as its own name.
        refused = sorted(k for k in news_wire if k not in SNAKE_OF)
        olds, _ = from_engine(_plain_map(request.old_inputs))
        news, _ = from_engine(
            _plain_map({k: v for k, v in news_wire.items() if k in SNAKE_OF}), legacy=False
        )
        outcome = await self._run(self._core.check, olds, news, self._warn(request.urn))
        failures = [
            CheckFailure(prop, in_schema_terms(reason)) for prop, reason in outcome.failures
        ]
        takes = ", ".join(CAMEL_INPUTS)
        for key in refused:
            # Not echoed beside a value: the property is named in the reason only.
            failures.append(
                CheckFailure("", f"{key} is an unknown property; {RESOURCE_TOKEN} takes: {takes}")
            )
        return CheckResponse(_wire_map(outcome.inputs), failures)

    async def diff(self, request: DiffRequest) -> DiffResponse:
        olds, was_dynamic = from_engine(_plain_map(request.old_state))
        news, _ = from_engine(_plain_map(request.new_inputs))
        outcome = self._core.diff(olds, news)  # no I/O: on the loop
        detailed: dict[str, PropertyDiff] = {}
        for name in outcome.changes:
            old, new = olds.get(name), news.get(name)
            replace = name in outcome.replaces
            if old is None:
                kind = PropertyDiffKind.ADD_REPLACE if replace else PropertyDiffKind.ADD
            elif new is None:
                kind = PropertyDiffKind.DELETE_REPLACE if replace else PropertyDiffKind.DELETE
            else:
                kind = PropertyDiffKind.UPDATE_REPLACE if replace else PropertyDiffKind.UPDATE
            detailed[CAMEL_OF[name]] = PropertyDiff(kind, input_diff=True)
        if was_dynamic:
            # A DfnsWebhook's state, moved here by an alias: one update rewrites it in the
            # schema's names (no request to Dfns when nothing else changed).
            detailed[DYNAMIC_PROVIDER_KEY] = PropertyDiff(PropertyDiffKind.DELETE, input_diff=False)
        return DiffResponse(
            changes=bool(detailed),
            replaces=[CAMEL_OF[name] for name in outcome.replaces],
            delete_before_replace=False,
            diffs=list(detailed),
            detailed_diff=detailed,
        )

    async def create(self, request: CreateRequest) -> CreateResponse:
        props, _ = from_engine(_plain_map(request.properties))
        id_, outs = await self._run(
            self._core.create, props, self._warn(request.urn), _timeout(request.timeout)
        )
        return CreateResponse(id_, _wire_map(outs))

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        olds, _ = from_engine(_plain_map(request.olds))
        news, _ = from_engine(_plain_map(request.news))
        outs = await self._run(
            self._core.update,
            request.resource_id,
            olds,
            news,
            self._warn(request.urn),
            _timeout(request.timeout),
        )
        return UpdateResponse(_wire_map(outs))

    async def read(self, request: ReadRequest) -> ReadResponse:
        props, _ = from_engine(_plain_map(request.properties))
        outcome = await self._run(
            self._core.read, request.resource_id, props, self._warn(request.urn)
        )
        if outcome is None:
            return ReadResponse("", {}, {})  # gone: an empty id drops it from the state
        return ReadResponse(outcome.id, _wire_map(outcome.outputs), _wire_map(outcome.inputs))

    async def delete(self, request: DeleteRequest) -> None:
        await self._run(self._core.delete, request.resource_id, _timeout(request.timeout))


def _timeout(seconds: float) -> float | None:
    """The engine's custom timeout for the step, in seconds; 0 when none was given."""
    return seconds if seconds and seconds > 0 else None
