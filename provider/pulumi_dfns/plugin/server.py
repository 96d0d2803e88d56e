"""`pulumi-resource-dfns`: the plugin's gRPC server, as the `pulumi` CLI launches it.

The CLI finds an executable `pulumi-resource-dfns` on its plugin search path (a
`plugins.providers` path in Pulumi.yaml, `PATH`, the plugin cache: pulumi/pulumi
sdk/go/common/workspace/plugins.go), runs it with the engine's address as argument,
and reads the port it listens on from its first line of stdout (sdk/go/common/resource/
plugin/plugin.go, newPlugin). This module is that executable (pyproject's
[project.scripts]); it needs no Python language host.

It serves `pulumi.provider.experimental.server.ProviderServicer` (the SDK's gRPC
plumbing for custom providers) with three workarounds of its own (SDK 3.272):
- the SDK's `main` declares no `--tracing`, which the CLI puts before the engine
  address when tracing is on, so `--tracing EP` would take the engine's place;
- every error comes back with a Python stack appended (`_raise_with_traceback`), which
  the user reads under the resource: our errors (`OneLineError`) abort the call with
  their one line instead; any other error keeps the stack (it is a bug to report);
- `DiffConfig` with a detailed diff raises, and its bool `changes` maps True onto
  DIFF_NONE: answered here instead. UNIMPLEMENTED is no answer: the engine reads it as
  "unknown, never replace the provider" (pkg/resource/plugin/provider_plugin.go,
  DiffConfig), so a provider pointed at another organisation would leave its webhooks
  in the old one, unmanaged, and the next refresh would drop them from the state. A
  change of organisation (organisation.moved_keys) replaces the provider, and with it
  (pkg/resource/deploy/step_generator.go) every webhook it manages: each is created in
  the new organisation and deleted from the old one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
from pulumi.output import Unknown
from pulumi.provider.experimental.server import ProviderServicer
from pulumi.runtime import rpc
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, provider_pb2, provider_pb2_grpc
from pulumi.runtime.rpc import UNKNOWN, _special_sig_key

from ..organisation import moved_keys
from ..tracebacks import OneLineError
from .provider import DfnsProvider

Handler = Callable[[Any, Any], Awaitable[Any]]
SECRET_SIG = _special_sig_key
# The properties whose value decides the organisation (organisation.moved_keys).
MOVES = ("apiUrl", "authToken")


class EngineLog:
    """Warnings to the engine's Log service, attached to a resource by its URN: the CLI
    prints them under that resource (a dynamic provider can only print to stderr, which
    the engine logs without a resource)."""

    def __init__(self, engine_address: str) -> None:
        self._address = engine_address
        self._stub: engine_pb2_grpc.EngineStub | None = None
        self._lock = threading.Lock()

    def warn(self, urn: str, message: str) -> None:
        with self._lock:
            if self._stub is None:
                channel = grpc.insecure_channel(self._address, options=_GRPC_CHANNEL_OPTIONS)
                self._stub = engine_pb2_grpc.EngineStub(channel)
            stub = self._stub
        request = engine_pb2.LogRequest(severity=engine_pb2.WARNING, message=message, urn=urn)
        try:
            stub.Log(request)
        except grpc.RpcError:
            # The engine went away (a cancelled run): the warning has no reader left.
            print(f"warning: {message}", file=sys.stderr, flush=True)


def _one_line(method: Handler) -> Handler:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await method(request, context)
        except Exception as exc:
            # The SDK re-raises `Exception(message + stack)` inside its except block, so
            # our error is the new one's __context__.
            cause = exc if isinstance(exc, OneLineError) else exc.__context__
            if isinstance(cause, OneLineError):
                await context.abort(grpc.StatusCode.UNKNOWN, str(cause))
            raise

    return call


class DfnsServicer(ProviderServicer):
    def __init__(self, args: list[str], version: str, provider: DfnsProvider, engine: str) -> None:
        super().__init__(args, version, provider, engine)
        for name in (
            "CheckConfig",
            "Configure",
            "Check",
            "Diff",
            "Create",
            "Read",
            "Update",
            "Delete",
        ):
            setattr(self, name, _one_line(getattr(super(), name)))

    async def DiffConfig(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        return diff_config(request)


def _plain_config(struct: Any) -> dict[str, object]:
    """A provider's properties as plain values: secrets unwrapped (their signature key
    and `value`, sdk/go/common/resource/sig), unknowns kept as the sentinel string."""
    values: dict[str, object] = rpc.deserialize_properties(struct, keep_unknowns=True)
    return {
        key: value.get("value") if isinstance(value, dict) and SECRET_SIG in value else value
        for key, value in values.items()
    }


def diff_config(request: Any) -> provider_pb2.DiffResponse:
    old = _plain_config(request.olds)
    new = _plain_config(request.news)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if any(new.get(k) == UNKNOWN or isinstance(new.get(k), Unknown) for k in MOVES):
        # Not known until apply: which organisation it will be cannot be said yet.
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_UNKNOWN, diffs=changed
        )
    return provider_pb2.DiffResponse(
        changes=provider_pb2.DiffResponse.DIFF_SOME
        if changed
        else provider_pb2.DiffResponse.DIFF_NONE,
        diffs=changed,
        replaces=moved_keys(old, new),
    )


def version() -> str:
    from .. import _distribution_version

    return _distribution_version()


def parse(args: list[str]) -> argparse.Namespace:
    """The CLI's arguments (plugin.go, newPlugin): flags such as `--logtostderr`,
    `-v=N` and `--tracing ENDPOINT`, then the engine's address."""
    parser = argparse.ArgumentParser(prog="pulumi-resource-dfns", description=__doc__)
    parser.add_argument("engine", help="the Pulumi engine's address")
    parser.add_argument("--tracing", help="a tracing endpoint (ignored)")
    parser.add_argument("--logflow", action="store_true", help="ignored")
    parser.add_argument("--logtostderr", action="store_true", help="ignored")
    known, _ = parser.parse_known_args(args)
    return known


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    known = parse(args)
    plugin_version = version()
    log = EngineLog(known.engine)
    provider = DfnsProvider(plugin_version, log.warn)

    async def serve() -> None:
        server = grpc.aio.server(options=_GRPC_CHANNEL_OPTIONS)
        servicer = DfnsServicer(args, plugin_version, provider, known.engine)
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
        port = server.add_insecure_port(address="127.0.0.1:0")
        await server.start()
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await server.wait_for_termination()

    with contextlib.suppress(KeyboardInterrupt):  # the engine stops plugins with SIGINT
        asyncio.run(serve())


if __name__ == "__main__":
    main()
