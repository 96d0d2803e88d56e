"""Run a user's Pulumi project (`preview`, `up`, `refresh`, `destroy`) without the CLI.

STAND-IN, to be replaced by the offline engine harness (tests/harness/, its CLI-shaped
front) once that lands: `run_project` is the one function the wheel/template test
calls, and the lead switches its body to the harness. Until then it does what it can
with real processes and the SDK's own pieces:

- the PROGRAM runs in the project's virtualenv Python, cwd = the project directory,
  no PYTHONPATH, under Pulumi's mocks (`pulumi.runtime.set_mocks`), with the stack
  config in `PULUMI_CONFIG` and the program run by `runpy.run_path(program,
  run_name="__main__")`, both as the language host's executor does
  (pulumi/pulumi sdk/python/cmd/pulumi-language-python-exec). The mocks record each
  registration (type token, name, inputs with the pickled `__provider`) and answer
  from this stand-in's state, so exports are computed by the program itself;
- the PROVIDER runs as the shim starts it: `<virtualenv>/bin/python -u -m
  pulumi.dynamic` with the program directory as cwd (pulumi-dynamic.md; pulumi/pulumi
  #7061), driven over gRPC by `tests/support/engine.py`, configured with the whole
  stack config, against the emulator;
- the ENGINE's steps are the plainest ones: preview = Check (+ Diff for a resource in
  state); up = Check, then Create (new) or Diff + Update (changed), then Delete for
  what the program no longer declares; refresh = Read of each resource in state (an
  empty id drops it); destroy = Delete of each. State lives in memory, per project
  and stack, for the life of the test process. Not covered here, and covered by the
  harness: step ordering across resources, replacements, the checkpoint file, secrets
  encryption, stored-config use by refresh/destroy.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2_grpc

from tests.support.engine import DIFF_SOME, PROVIDER_KEY, ProviderServer
from tests.support.wheel_project import VIRTUALENV, user_env

# Runs in the project's virtualenv; reads {"project", "stack", "preview", "state"} on
# stdin; prints one RESULT line.
_PROGRAM_UNDER_MOCKS = r"""
import asyncio, json, runpy, sys
import pulumi, pulumi.runtime
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func

request = json.loads(sys.stdin.read())
registered = []

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        inputs = {k: rpc.unwrap_rpc_secret(v) for k, v in args.inputs.items()}
        registered.append({"type": args.typ, "name": args.name, "inputs": inputs})
        known = request["state"].get(args.name)
        return (known["id"], known["outputs"]) if known else ("", inputs)

    def call(self, args):
        return {}, []

loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
pulumi.runtime.set_mocks(
    Mocks(), project=request["project"], stack=request["stack"], preview=request["preview"]
)
loop.run_until_complete(run_pulumi_func(lambda: runpy.run_path(".", run_name="__main__")))

async def resolve(value):
    out = pulumi.Output.from_input(value)
    return await out.future() if await out.is_known() else None

exports = {
    name: loop.run_until_complete(resolve(value))
    for name, value in settings.get_root_resource().outputs.items()
}
import pulumi_dfns
print("RESULT " + json.dumps({
    "registered": registered,
    "exports": exports,
    "pulumi_dfns": pulumi_dfns.__file__,
    "version": pulumi_dfns.__version__,
    "sys_path": sys.path,
}))
"""


@dataclass
class Resource:
    type: str
    name: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclass
class RunResult:
    """What a `pulumi <command>` shows: steps taken (or planned) and the stack outputs."""

    steps: list[tuple[str, str]] = field(default_factory=list)  # (op, resource name)
    exports: dict[str, Any] = field(default_factory=dict)
    resources: list[Resource] = field(default_factory=list)  # state after the command
    program: dict[str, Any] = field(default_factory=dict)  # where the program ran from
    provider_output: str = ""


_STATE: dict[tuple[Path, str], dict[str, Resource]] = {}


def run_project(project: Path, stack: str, command: str) -> RunResult:
    """`pulumi <command> --stack <stack> --yes` in `project` (a stand-in; see the module doc).

    HARNESS SWITCH: the lead replaces this body with the offline engine harness's
    CLI-shaped front (e.g. `python -m tests.harness.cli --cwd project <command>
    --stack stack`), returning the same RunResult.
    """
    state = _STATE.setdefault((project.resolve(), stack), {})
    config = stack_config(project, stack)
    result = RunResult()
    if command in ("preview", "up"):
        program = run_program(project, stack, config, state, preview=command == "preview")
        result.program = program
        with provider_server(project, config, program) as engine:
            apply_program(engine, program["registered"], state, result, command == "up")
        if command == "up":
            result.program = run_program(project, stack, config, state, preview=False)
        result.exports = result.program["exports"]
    elif command in ("refresh", "destroy"):
        if state:
            with provider_server(project, config, None, state) as engine:
                for name, resource in sorted(state.items()):
                    if command == "refresh":
                        refresh(engine, resource, state)
                        result.steps.append(("refresh", name))
                    else:
                        engine.delete(resource.id, resource.outputs)
                        del state[name]
                        result.steps.append(("delete", name))
    else:
        raise ValueError(f"unknown command {command!r}")
    result.resources = [state[name] for name in sorted(state)]
    return result


def stack_config(project: Path, stack: str) -> dict[str, str]:
    """The stack's config with project-less keys namespaced by the project, as the CLI does."""
    name = yaml.safe_load((project / "Pulumi.yaml").read_text())["name"]
    data = yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text()) or {}
    return {
        (key if ":" in key else f"{name}:{key}"): str(value)
        for key, value in (data.get("config") or {}).items()
    }


def run_program(
    project: Path,
    stack: str,
    config: dict[str, str],
    state: dict[str, Resource],
    preview: bool,
) -> dict[str, Any]:
    name = yaml.safe_load((project / "Pulumi.yaml").read_text())["name"]
    request = {
        "project": name,
        "stack": stack,
        "preview": preview,
        "state": {k: {"id": r.id, "outputs": plain(r.outputs)} for k, r in state.items()},
    }
    answer = subprocess.run(
        [str(project / VIRTUALENV / "bin" / "python"), "-c", _PROGRAM_UNDER_MOCKS],
        cwd=project,
        env=user_env(PULUMI_CONFIG=json.dumps(config)),
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in answer.stdout.splitlines() if line.startswith("RESULT ")]
    if answer.returncode != 0 or not lines:
        raise AssertionError(f"the program failed:\n{answer.stdout}\n{answer.stderr}")
    program: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return program


class _ProjectProviderServer(ProviderServer):
    """ProviderServer started as the shim starts it for this project (see module doc)."""

    def __init__(self, project: Path, provider: str) -> None:
        self.provider = provider
        self._proc = subprocess.Popen(
            [str(project / VIRTUALENV / "bin" / "python"), "-u", "-m", "pulumi.dynamic"],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=user_env(),
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self.pid = self._proc.pid
        port = int(self._proc.stdout.readline().decode().strip())
        self.stdout = bytearray()
        self.stderr = bytearray()
        self._readers = [
            threading.Thread(target=self._drain, args=(self._proc.stdout, self.stdout)),
            threading.Thread(target=self._drain, args=(self._proc.stderr, self.stderr)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)


@contextmanager
def provider_server(
    project: Path,
    config: dict[str, str],
    program: dict[str, Any] | None,
    state: dict[str, Resource] | None = None,
) -> Iterator[ProviderServer]:
    """One configured provider process for the command, stopped after it."""
    # The `__provider` string the program registered (up, preview) or the one in
    # state (refresh, destroy: the engine does not run the program for those).
    if program is not None and program["registered"]:
        pickled = program["registered"][0]["inputs"][PROVIDER_KEY]
    else:
        pickled = next(iter((state or {}).values())).inputs[PROVIDER_KEY]
    server = _ProjectProviderServer(project, pickled)
    try:
        server.configure(config)
        yield server
    finally:
        server.close()


def apply_program(
    engine: ProviderServer,
    registered: list[dict[str, Any]],
    state: dict[str, Resource],
    result: RunResult,
    apply: bool,
) -> None:
    declared = set()
    for registration in registered:
        name = registration["name"]
        declared.add(name)
        news = {k: v for k, v in registration["inputs"].items() if k != PROVIDER_KEY}
        old = state.get(name)
        checked = engine.check(news, old.inputs if old else None)
        if checked.failures:
            raise AssertionError(f"preview failed for {name}: {checked.failures}")
        if old is None:
            result.steps.append(("create", name))
            if apply:
                webhook_id, outs = engine.create(checked.inputs)
                inputs = {**checked.inputs, PROVIDER_KEY: engine.provider}
                state[name] = Resource(registration["type"], name, webhook_id, inputs, outs)
            continue
        if engine.diff(old.id, plain(old.outputs), checked.inputs).changes == DIFF_SOME:
            result.steps.append(("update", name))
            if apply:
                old.outputs = engine.update(old.id, old.outputs, checked.inputs)
                old.inputs = {**checked.inputs, PROVIDER_KEY: engine.provider}
    for name in sorted(set(state) - declared):
        result.steps.append(("delete", name))
        if apply:
            engine.delete(state[name].id, state[name].outputs)
            del state[name]


def refresh(engine: ProviderServer, resource: Resource, state: dict[str, Resource]) -> None:
    new_id, outs, inputs = engine.read(resource.id, resource.outputs)
    if not new_id:
        del state[resource.name]
        return
    resource.id, resource.outputs = new_id, outs
    resource.inputs = {**inputs, PROVIDER_KEY: resource.inputs.get(PROVIDER_KEY, "")}


def plain(props: dict[str, Any]) -> dict[str, Any]:
    return {k: rpc.unwrap_rpc_secret(v) for k, v in props.items()}
