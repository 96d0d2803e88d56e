"""Stand in for the Pulumi engine: drive `python -u -m pulumi.dynamic` over gRPC.

The engine runs the SDK's provider server, reads its port from stdout, calls Configure
with the whole stack config, then Check/Diff/Create/Update/Read/Delete with Structs that
carry `__provider` (the pickled provider) and the resource's properties. Since the
server answers Configure with acceptSecrets=false, the engine sends plaintext.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from pulumi_dfns.provider import DfnsWebhookProvider
from tests.support.zygotes import FORK, Zygote, stop

TYPE = "pulumi-python:dynamic/dfns:Webhook"
PROVIDER_KEY = "__provider"
DIFF_NONE = provider_pb2.DiffResponse.DIFF_NONE
DIFF_SOME = provider_pb2.DiffResponse.DIFF_SOME
UNKNOWN = rpc.UNKNOWN


def sdk_version() -> tuple[int, ...]:
    """The installed `pulumi` SDK's version, e.g. (3, 216, 0)."""
    numbers = re.findall(r"\d+", importlib.metadata.version("pulumi"))
    return tuple(int(n) for n in numbers[:3])


# pulumi/dynamic/__main__.py wraps each call in `_abort_with_traceback` (the user reads
# `traceback.format_exc()`) from SDK 3.260.0; before it, grpcio answers every failed call
# with `Exception calling application: <message>` (grpc/_server.py).
SDK_SENDS_TRACEBACKS = sdk_version() >= (3, 260)
# How the one line the user reads for DfnsWebhook's own errors begins, on this SDK.
ERROR_PREFIX = (
    "pulumi_dfns.provider.DfnsProviderError: "
    if SDK_SENDS_TRACEBACKS
    else "Exception calling application: "
)


def serialized_provider() -> str:
    """What a program puts in `__provider` for a DfnsWebhook (the SDK's own serializer)."""
    value: str = serialize_provider(DfnsWebhookProvider())
    return value


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    struct: struct_pb2.Struct = asyncio.run(rpc.serialize_properties(props, {}))
    return struct


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    props: dict[str, Any] = rpc.deserialize_properties(struct, keep_unknowns=True)
    return props


@dataclass
class EngineError(Exception):
    """A provider call failed: the gRPC status and the details the engine would show."""

    code: grpc.StatusCode
    details: str

    def __str__(self) -> str:
        return f"{self.code.name}: {self.details}"


@dataclass
class Checked:
    inputs: dict[str, Any]
    failures: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Diffed:
    changes: int
    replaces: list[str]
    delete_before_replace: bool


class ProviderServer:
    """One provider server process, configured once (as the engine does).

    `provider` is the `__provider` string to send (default: a pickled
    DfnsWebhookProvider, as a program's DfnsWebhook sends it).
    """

    pid: int
    # Provider servers forked in this process (tests/conftest.py counts processes with
    # it; a server started as a command is counted as every subprocess is).
    forked = 0

    def __init__(self, env: dict[str, str] | None = None, provider: str | None = None) -> None:
        self.provider = provider or serialized_provider()
        environ = {**os.environ, "PULUMI_PROJECT": "pulumi-dfns-tests", **(env or {})}
        self._proc: subprocess.Popen[bytes] | None = None
        stdout: IO[bytes]
        stderr: IO[bytes]
        zygote = Zygote.get("provider") if FORK else None
        if zygote is not None and zygote.same_start(environ):
            # Forked from a warm interpreter (tests/support/zygote.py); a test that sets
            # variables read at an interpreter's start (PYTHON*, locale...) gets a fresh
            # `python -u -m`.
            self.pid, out, err = zygote.provider(environ)
            ProviderServer.forked += 1
            stdout, stderr = os.fdopen(out, "rb"), os.fdopen(err, "rb")
        else:
            self._proc = subprocess.Popen(
                [sys.executable, "-u", "-m", "pulumi.dynamic"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=environ,
            )
            assert self._proc.stdout is not None and self._proc.stderr is not None
            self.pid, stdout, stderr = self._proc.pid, self._proc.stdout, self._proc.stderr
        first = stdout.readline().decode().strip()
        if not first.isdigit():
            self._stop()
            stdout.close()
            stderr.close()
            raise RuntimeError(f"the provider server did not print its port: {first!r}")
        port = int(first)
        self.stdout = bytearray()
        self.stderr = bytearray()
        self._readers = [
            threading.Thread(target=self._drain, args=(stdout, self.stdout)),
            threading.Thread(target=self._drain, args=(stderr, self.stderr)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    @staticmethod
    def _drain(stream: Any, sink: bytearray) -> None:
        with stream:
            for chunk in iter(lambda: stream.read1(4096), b""):
                sink.extend(chunk)

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        else:
            stop(self.pid)

    def close(self) -> None:
        self.channel.close()
        self._stop()
        for reader in self._readers:
            reader.join(timeout=5)

    def output(self) -> str:
        """All the provider process printed (what the user would see)."""
        return (bytes(self.stdout) + bytes(self.stderr)).decode(errors="replace")

    def output_with(self, text: str, within: float = 10.0) -> str:
        """The output once it holds `text` (or at `within` seconds): the reader threads
        copy the process's pipes a moment after a call has answered."""
        deadline = time.monotonic() + within
        while text not in (output := self.output()) and time.monotonic() < deadline:
            time.sleep(0.01)
        return output

    # -- calls ------------------------------------------------------------------------

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=120)
        except grpc.RpcError as exc:
            raise EngineError(exc.code(), exc.details() or "") from None

    def _with_provider(
        self, props: dict[str, Any], provider: str | None = None
    ) -> struct_pb2.Struct:
        return to_struct({**props, PROVIDER_KEY: provider or self.provider})

    def configure(self, config: dict[str, str]) -> None:
        self._call(
            "Configure",
            provider_pb2.ConfigureRequest(
                args=to_struct(config), acceptSecrets=True, acceptResources=True
            ),
        )

    def check(self, news: dict[str, Any], olds: dict[str, Any] | None = None) -> Checked:
        answer = self._call(
            "Check",
            provider_pb2.CheckRequest(
                urn=self.urn(),
                olds=self._with_provider(olds or {}),
                news=self._with_provider(news),
            ),
        )
        inputs = from_struct(answer.inputs)
        inputs.pop(PROVIDER_KEY, None)
        return Checked(inputs, [(f.property, f.reason) for f in answer.failures])

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> Diffed:
        answer = self._call(
            "Diff",
            provider_pb2.DiffRequest(
                id=id_,
                urn=self.urn(),
                olds=self._with_provider(olds),
                news=self._with_provider(news),
            ),
        )
        return Diffed(answer.changes, list(answer.replaces), answer.deleteBeforeReplace)

    def create(
        self, inputs: dict[str, Any], provider: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Create; `provider` sends another `__provider` (another library's resource)."""
        answer = self._call(
            "Create",
            provider_pb2.CreateRequest(
                urn=self.urn(), properties=self._with_provider(inputs, provider)
            ),
        )
        return answer.id, self._outs(answer.properties)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        answer = self._call(
            "Update",
            provider_pb2.UpdateRequest(
                id=id_,
                urn=self.urn(),
                olds=self._with_provider(plaintext(olds)),
                news=self._with_provider(news),
            ),
        )
        return self._outs(answer.properties)

    def read(self, id_: str, outs: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        answer = self._call(
            "Read",
            provider_pb2.ReadRequest(
                id=id_, urn=self.urn(), properties=self._with_provider(plaintext(outs))
            ),
        )
        inputs = from_struct(answer.inputs)
        inputs.pop(PROVIDER_KEY, None)
        return answer.id, self._outs(answer.properties), inputs

    def delete(self, id_: str, outs: dict[str, Any]) -> None:
        self._call(
            "Delete",
            provider_pb2.DeleteRequest(
                id=id_, urn=self.urn(), properties=self._with_provider(plaintext(outs))
            ),
        )

    @staticmethod
    def urn(name: str = "hook") -> str:
        return f"urn:pulumi:dev::pulumi-dfns::{TYPE}::{name}"

    @staticmethod
    def _outs(struct: struct_pb2.Struct) -> dict[str, Any]:
        outs = from_struct(struct)
        outs.pop(PROVIDER_KEY, None)
        return outs


def plaintext(props: dict[str, Any]) -> dict[str, Any]:
    """State as the engine sends it to a provider that does not accept secrets."""
    return {k: rpc.unwrap_rpc_secret(v) for k, v in props.items()}
