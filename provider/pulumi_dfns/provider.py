"""DfnsWebhookProvider: the engine side of DfnsWebhook, run by `python -m pulumi.dynamic`.

The class's import path (`pulumi_dfns.provider.DfnsWebhookProvider`) is written into
every stack's state by the pickled `__provider` property: it must never move. The
instance pickled at program time carries no attributes at all; settings and the HTTP
client are built here, in `configure`, inside the provider process.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

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

from .core import HEALTH, PROGRAM_ONLY, RECORDED_ONLY, WebhookCore
from .inputs import SECRET_PROPERTIES
from .operation_errors import DfnsProviderError, explain
from .plugin.names import PLUGIN_ONLY_NAMES, SNAKE_OF
from .settings import ALL_SETTINGS
from .tracebacks import install_one_line_errors

if TYPE_CHECKING:
    pass

__all__ = [
    "HEALTH",
    "PROGRAM_ONLY",
    "RECORDED_ONLY",
    "DfnsProviderError",
    "DfnsWebhookProvider",
    "explain",
]

PROVIDER_KEY = "__provider"
# Set to 1 to see Python tracebacks of this provider's errors (for debugging it).
TRACEBACKS_ENV = "DFNS_PROVIDER_TRACEBACKS"


def _plain(value: Any) -> Any:
    """Drop a secret wrapper, if any: the engine may hand back secret-marked values."""
    return rpc.unwrap_rpc_secret(value)


def _secret(value: Any) -> Any:
    return None if value is None else rpc.wrap_rpc_secret(value)


def _props(values: dict[str, Any]) -> dict[str, Any]:
    """The core's view of the engine's properties: no `__provider`, no secret wrappers.

    A state the plugin wrote (`dfns:index:Webhook`, camelCase names) is read too: it
    reaches this provider when a stack moves back to DfnsWebhook by an alias (README
    "Moving a stack to the plugin", the way back)."""
    plain = {k: _plain(v) for k, v in values.items() if k != PROVIDER_KEY}
    if not any(k in PLUGIN_ONLY_NAMES for k in plain):
        return plain
    return {SNAKE_OF.get(k, k): v for k, v in plain.items()}


def _marked(values: dict[str, Any]) -> dict[str, Any]:
    """The core's outputs with the secret properties secret-marked for the engine."""
    return {k: _secret(v) if k in SECRET_PROPERTIES else v for k, v in values.items()}


class DfnsWebhookProvider(ResourceProvider):
    """The dynamic provider of DfnsWebhook: an adapter over core.WebhookCore, which holds
    every Dfns operation (the plugin `dfns:index:Webhook` is the other adapter)."""

    # Set in `configure` only (provider process); never at program time: the pickled
    # instance carries no attributes at all.
    _core: WebhookCore

    def _the_core(self) -> WebhookCore:
        core: WebhookCore | None = getattr(self, "_core", None)
        if core is None:
            # Never configured (an engine that sends no Configure, or in-process use): a
            # core without settings, whose check names the missing settings.
            core = self._core = WebhookCore()
        return core

    def configure(self, req: ConfigureRequest) -> None:
        if os.environ.get(TRACEBACKS_ENV) != "1":
            # Our errors are complete sentences: frames of the SDK's server are noise.
            # Only our own errors lose them; the process serves other libraries' dynamic
            # resources too (see tracebacks.py).
            install_one_line_errors()
        core = self._core = WebhookCore()
        core.configure({s.config_key: req.config.get(s.config_key) for s in ALL_SETTINGS})

    # -- check and diff: no network ---------------------------------------------------

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        outcome = self._the_core().check(_props(olds), _props(news), _warn)
        inputs = _marked(outcome.inputs)
        # The engine also keeps the program's secret bit on inputs returned by a
        # provider that does not accept secrets (pkg/resource/plugin/provider_plugin.go,
        # annotateSecrets); marking it here does not depend on that.
        return CheckResult(inputs, [CheckFailure(p, r) for p, r in outcome.failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        outcome = WebhookCore.diff(_props(olds), _props(news))
        # A state the plugin wrote is rewritten by one update (no request to Dfns when
        # nothing else changed): kept as it is, it would lack `__provider`, which a
        # refresh or destroy needs to find this provider.
        moved_back = any(k in PLUGIN_ONLY_NAMES for k in olds)
        return DiffResult(
            changes=bool(outcome.changes) or moved_back,
            replaces=outcome.replaces,
            delete_before_replace=False,
        )

    # -- create, update, read, delete ------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        id_, outs = self._the_core().create(_props(props), _warn)
        return CreateResult(id_, _marked(outs))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = self._the_core().update(id_, _props(olds), _props(news), _warn)
        return UpdateResult(_marked(outs))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        outcome = self._the_core().read(id_, _props(props), _warn)
        if outcome is None:
            return ReadResult("", {})  # gone: the engine drops it from state
        return ReadResult(outcome.id, _marked(outcome.outputs), _marked(outcome.inputs))

    def delete(self, id_: str, _props_: dict[str, Any]) -> None:
        self._the_core().delete(id_)


def _warn(text: str) -> None:
    """A warning the user reads in the engine's output (stderr of the provider)."""
    print(f"warning: DfnsWebhook {text}", file=sys.stderr, flush=True)
