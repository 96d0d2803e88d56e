"""The Python dynamic provider, started and called as the engine does.

Start-up follows the CLI's plugin shim `sdk/python/dist/pulumi-resource-pulumi-python`
(what the engine executes for package `pulumi-python`) and its caller
`pkg/resource/plugin/provider_plugin.go NewProvider`:
- working directory: the plugin context's Pwd, i.e. the PROGRAM directory
  (pkg/resource/plugin/plugin.go newPlugin(ctx, ctx.Pwd, ...); cmd.Dir = pwd);
- environment: the CLI's own, plus PULUMI_RUNTIME_<OPTION> for every runtime option of
  Pulumi.yaml (`optionsStore["PULUMI_RUNTIME_"+strings.ToUpper(k)]`), PULUMI_PROJECT,
  and PULUMI_CONFIG (the `pulumi-python:*` config, pkg/host/host.go Provider);
- the shim: PULUMI_RUNTIME_VIRTUALENV (".venv" when the toolchain is uv), made
  absolute against $PWD, must hold bin/python, which runs `-u -m pulumi.dynamic
  <engine address>` with PATH prefixed and PYTHONHOME unset; with no virtualenv,
  `${PULUMI_PYTHON_CMD:-python3}`.
The provider prints its port on stdout; its stderr lines reach the user as info lines
of the stack (plugin.go runtrace: `ctx.Diag.Infoerrf` with an empty URN).

Calls follow provider_plugin.go (Configure, Check, Diff, Create, Read, Update, Delete):
every request is marshalled with `KeepSecrets: protocol.acceptSecrets` (the SDK's
dynamic provider answers acceptSecrets=false, so secrets travel in plaintext), and
`annotateSecrets` re-marks as secret every returned property whose input was secret.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from .wire import Props, annotate_secrets, from_struct, strip_secrets, to_struct

PROVIDER_PACKAGE = "pulumi-python"


class ProviderStartError(Exception):
    """The shim could not start the provider; the message is what the shim prints."""


class ProviderCallError(Exception):
    """A provider call failed: the gRPC details the engine shows the user."""

    def __init__(self, method: str, details: str) -> None:
        super().__init__(details)
        self.method = method
        self.details = details


@dataclass
class Checked:
    inputs: Props
    failures: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Diffed:
    changes: bool
    replaces: list[str]
    delete_before_replace: bool


def _option_text(value: Any) -> str:
    # Go's fmt.Sprintf("%v", v) of a YAML value.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def shim_command(pwd: Path, env: dict[str, str], engine_address: str) -> list[str]:
    """What sdk/python/dist/pulumi-resource-pulumi-python execs, or the error it prints."""
    venv = env.get("PULUMI_RUNTIME_VIRTUALENV", "")
    if not venv and env.get("PULUMI_RUNTIME_TOOLCHAIN") == "uv":
        venv = ".venv"
    if not venv and env.get("PULUMI_RUNTIME_TOOLCHAIN") == "poetry":
        raise ProviderStartError(
            "the harness does not run `poetry env info --path` (toolchain poetry)"
        )
    if not venv:
        return [
            env.get("PULUMI_PYTHON_CMD") or "python3",
            "-u",
            "-m",
            "pulumi.dynamic",
            engine_address,
        ]
    venv = venv.rstrip("/")
    path = Path(venv) if venv.startswith("/") else pwd / venv
    python = path / "bin" / "python"
    if not python.is_file():
        what = "doesn't appear to be a virtual environment" if path.is_dir() else "doesn't exist"
        raise ProviderStartError(
            f'The \'virtualenv\' option in Pulumi.yaml is set to "{path}", but "{path}" {what}.'
        )
    env["PATH"] = f"{path}/bin:{env.get('PATH', '')}"
    env.pop("PYTHONHOME", None)
    return [str(python), "-u", "-m", "pulumi.dynamic", engine_address]


class ProviderPlugin:
    """One provider process for the default `pulumi-python` provider of a deployment."""

    def __init__(
        self,
        pwd: Path,
        runtime_options: dict[str, Any],
        project: str,
        engine_address: str,
        plugin_config: dict[str, str],
        on_stderr: Callable[[str], None],
        base_env: dict[str, str],
    ) -> None:
        env = dict(base_env)
        for key, value in runtime_options.items():
            env["PULUMI_RUNTIME_" + key.upper()] = _option_text(value)
        env["PULUMI_PROJECT"] = project
        env["PULUMI_CONFIG"] = json.dumps(plugin_config)
        command = shim_command(pwd, env, engine_address)
        self._proc = subprocess.Popen(
            command, cwd=pwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._on_stderr = on_stderr
        self.stderr_lines: list[str] = []
        self._stderr = threading.Thread(target=self._drain, args=(self._proc.stderr,), daemon=True)
        self._stderr.start()
        first = self._proc.stdout.readline().decode().strip()
        if not first.isdigit():
            self._proc.wait(timeout=30)
            self._stderr.join(timeout=5)
            raise ProviderStartError(
                "could not read plugin [pulumi-python] port: "
                + ("\n".join(self.stderr_lines) or f"exit code {self._proc.returncode}")
            )
        self._stdout = threading.Thread(target=self._drain, args=(self._proc.stdout,), daemon=True)
        self._stdout.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{first}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.accept_secrets = True
        self.supports_preview = False

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            if line.strip():
                self.stderr_lines.append(line)
                self._on_stderr(line)

    def close(self) -> None:
        self.channel.close()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._stderr.join(timeout=5)

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=300)
        except grpc.RpcError as exc:
            raise ProviderCallError(method, exc.details() or str(exc.code())) from None

    def _send(self, props: Props) -> Any:
        return to_struct(props if self.accept_secrets else strip_secrets(props))

    # -- the calls --------------------------------------------------------------------

    def configure(self, urn: str, id_: str, inputs: Props) -> None:
        """provider_plugin.go Configure: the provider resource's inputs as `args`
        (secrets kept), plus the deprecated `variables` map of plain text."""
        variables = {}
        for key, value in strip_secrets(inputs).items():
            text = value if isinstance(value, str) else json.dumps(value)
            variables[f"{PROVIDER_PACKAGE}:config:{key}"] = text
        answer = self._call(
            "Configure",
            provider_pb2.ConfigureRequest(
                variables=variables,
                args=to_struct(inputs),
                acceptSecrets=True,
                acceptResources=True,
                sends_old_inputs=True,
                sends_old_inputs_to_delete=True,
                id=id_,
                urn=urn,
                name="default",
                type=f"pulumi:providers:{PROVIDER_PACKAGE}",
            ),
        )
        self.accept_secrets = answer.acceptSecrets
        self.supports_preview = answer.supportsPreview

    def check(self, urn: str, olds: Props, news: Props) -> Checked:
        answer = self._call(
            "Check",
            provider_pb2.CheckRequest(urn=urn, olds=self._send(olds), news=self._send(news)),
        )
        inputs = from_struct(answer.inputs)
        if not self.accept_secrets:
            annotate_secrets(inputs, news)
        return Checked(inputs, [(f.property, f.reason) for f in answer.failures])

    def diff(
        self, urn: str, id_: str, old_inputs: Props, old_outputs: Props, news: Props
    ) -> Diffed:
        answer = self._call(
            "Diff",
            provider_pb2.DiffRequest(
                id=id_,
                urn=urn,
                olds=self._send(old_outputs),
                news=self._send(news),
                old_inputs=self._send(old_inputs),
            ),
        )
        changes = answer.changes == provider_pb2.DiffResponse.DIFF_SOME
        if answer.changes == provider_pb2.DiffResponse.DIFF_UNKNOWN:
            # step_generator.go diff: "if diff.Changes == plugin.DiffUnknown { if
            # oldInputs.DeepEquals(newInputs) { DiffNone } else { DiffSome } }".
            changes = old_inputs != news
        return Diffed(changes, list(answer.replaces), answer.deleteBeforeReplace)

    def create(self, urn: str, props: Props, preview: bool) -> tuple[str, Props]:
        if preview and not self.supports_preview:
            # provider_plugin.go Create: a preview against a provider that does not
            # support previews "return[s] the inputs as the state".
            return "", dict(props)
        answer = self._call(
            "Create",
            provider_pb2.CreateRequest(urn=urn, properties=self._send(props), preview=preview),
        )
        outs = from_struct(answer.properties)
        if not self.accept_secrets:
            annotate_secrets(outs, props)
        return answer.id, outs

    def update(
        self, urn: str, id_: str, old_inputs: Props, old_outputs: Props, news: Props, preview: bool
    ) -> Props:
        if preview and not self.supports_preview:
            return dict(news)  # provider_plugin.go Update: inputs as the state
        answer = self._call(
            "Update",
            provider_pb2.UpdateRequest(
                id=id_,
                urn=urn,
                olds=self._send(old_outputs),
                news=self._send(news),
                old_inputs=self._send(old_inputs),
                preview=preview,
            ),
        )
        outs = from_struct(answer.properties)
        if not self.accept_secrets:
            annotate_secrets(outs, news)
        return outs

    def read(
        self, urn: str, id_: str, inputs: Props, state: Props
    ) -> tuple[str, Props, Props | None]:
        answer = self._call(
            "Read",
            provider_pb2.ReadRequest(
                id=id_, urn=urn, properties=self._send(state), inputs=self._send(inputs)
            ),
        )
        outs = from_struct(answer.properties)
        new_inputs = from_struct(answer.inputs) if answer.HasField("inputs") else None
        if not self.accept_secrets:
            annotate_secrets(outs, state)
            if new_inputs is not None:
                annotate_secrets(new_inputs, inputs)
        return answer.id, outs, new_inputs

    def delete(self, urn: str, id_: str, inputs: Props, outputs: Props) -> None:
        self._call(
            "Delete",
            provider_pb2.DeleteRequest(
                id=id_, urn=urn, properties=self._send(outputs), old_inputs=self._send(inputs)
            ),
        )
