"""Stacks of webhooks under the real `pulumi` CLI, for bench_cli.py and cli_versions.py.

Path: the Python Automation API with an inline program (`program=`): it serves the
program from this process through its own language server and runs the CLI binary with
`--client=ADDR` (sdk/python/lib/pulumi/automation/_server.py, _stack.py). The Python
language host `pulumi-language-python` cannot be had on this machine kind (the Go proxy
answers 403 for its module), so the plain `pulumi up` of a project is not what runs
here; the engine, the dynamic provider plugin and the provider server are the real ones.

`refresh` and `destroy` run without the program, as a plain `pulumi refresh` /
`pulumi destroy` does (the stack's stored config and state only): the Automation API
refuses an inline program for them below CLI 3.181 (`_check_inline_support`).

The dynamic provider runs through the bundled plugin `pulumi-resource-pulumi-python`, a
`sh` script in the `github.com/pulumi/pulumi/sdk/v3` Go module under `python/dist/`. The
engine finds it beside the `pulumi` binary or on PATH; when neither has it, it is asked
of the `go` client by module name and copied, executable, into the run's scratch
directory (nothing from the module cache is committed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi import automation as auto
from pulumi.dynamic import Resource

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
for _path in (ROOT, ROOT / "stacks", BENCHMARKS):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from noop_provider import NoopProvider  # noqa: E402

PROJECT = "dfns-webhooks"
PLUGIN = "pulumi-resource-pulumi-python"
PASSPHRASE = "pulumi-dfns-bench"
# Offline (sdk/go/common/env/env.go): no update check, no plugin download, no registry.
OFFLINE = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    "PULUMI_DISABLE_REGISTRY_RESOLVE": "true",
}


def dev_webhooks() -> dict[str, Any]:
    """The dev stack's webhooks, as stacks/Pulumi.dev.yaml declares them."""
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    webhooks: dict[str, Any] = config[f"{PROJECT}:webhooks"]
    return webhooks


def many_webhooks(count: int) -> dict[str, Any]:
    return {
        f"hook{n}": {
            "url": f"https://receiver.example/bench/{n}",
            "events": ["wallet.created"],
            "description": f"bench webhook {n}",
        }
        for n in range(count)
    }


def changed(webhooks: dict[str, Any]) -> dict[str, Any]:
    """Every webhook's description changed: an update of each (one signed PUT)."""
    return {
        name: {**spec, "description": f"{spec.get('description', '')} (changed)"}
        for name, spec in webhooks.items()
    }


class NoopWebhook(Resource):
    """The same declaration with a dynamic provider that does nothing (the baseline)."""

    def __init__(self, name: str, props: dict[str, Any]) -> None:
        super().__init__(NoopProvider(), name, props)


def noop_program() -> None:
    """webhooks_program.main's shape, each DfnsWebhook replaced by a NoopWebhook."""
    webhooks = pulumi.Config().require_object("webhooks")
    declared = {name: NoopWebhook(name, dict(spec)) for name, spec in sorted(webhooks.items())}
    pulumi.export("webhookIds", {name: hook.id for name, hook in declared.items()})


def dfns_program() -> None:
    """The reference program (stacks/webhooks_program.py), imported when it runs: a
    program process started for one command pays for importing pulumi_dfns."""
    from webhooks_program import main

    main()


PROGRAMS: dict[str, Callable[[], None]] = {"dfns": dfns_program, "noop": noop_program}


def cli_version(binary: Path) -> str:
    done = subprocess.run(
        [str(binary), "version"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **OFFLINE},
    )
    return done.stdout.strip()


def plugin_dir(binary: Path, scratch: Path) -> Path:
    """Where the engine will find the dynamic provider's plugin script: beside the
    binary, on PATH, or else a copy in `scratch` of the one in the `sdk/v3` module the
    `go` client hands out (executable: the module cache keeps no file modes, and the
    engine runs only executables)."""
    if (binary.parent / PLUGIN).exists():
        return binary.parent
    on_path = shutil.which(PLUGIN)
    if on_path:
        return Path(on_path).parent
    go = shutil.which("go")
    if go is None:
        raise SystemExit(f"{PLUGIN} is neither beside {binary} nor on PATH, and no `go` to get it")
    module = f"github.com/pulumi/pulumi/sdk/v3@{cli_version(binary)}"
    done = subprocess.run(
        [go, "mod", "download", "-json", module], capture_output=True, text=True, check=True
    )
    script = Path(json.loads(done.stdout)["Dir"]) / "python" / "dist" / PLUGIN
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / PLUGIN
    shutil.copyfile(script, copy)
    copy.chmod(0o755)
    return scratch


@dataclass
class Cli:
    """One CLI binary with a backend and PULUMI_HOME of its own under `workdir`."""

    binary: Path
    workdir: Path
    venv: Path  # the virtualenv the dynamic provider runs in (PULUMI_RUNTIME_VIRTUALENV)
    dfns_config: dict[str, str]
    version: str = field(init=False)

    def __post_init__(self) -> None:
        self.version = cli_version(self.binary)
        plugins = plugin_dir(self.binary, self.workdir / "plugins")
        for name in ("home", "backend", "project"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        self.env = {
            **OFFLINE,
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_HOME": str(self.workdir / "home"),
            # With --client the CLI drops the project's runtime options
            # (pkg/cmd/pulumi/operations/io.go readProjectForUpdate); set here, the
            # plugin script finds the virtualenv as it would from Pulumi.yaml.
            "PULUMI_RUNTIME_VIRTUALENV": str(self.venv),
            # The provider process unpickles NoopProvider by reference.
            "PYTHONPATH": str(BENCHMARKS),
            "PATH": f"{plugins}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def spec(self, name: str, program: str) -> dict[str, Any]:
        """What `open_stack` needs to open stack `name` again, in another process."""
        return {
            "binary": str(self.binary),
            "workdir": str(self.workdir),
            "env": self.env,
            "stack": name,
            "program": program,
        }

    def stack(self, name: str, program: str, webhooks: dict[str, Any]) -> auto.Stack:
        """A new stack running `program` ("dfns" or "noop") with these webhooks."""
        stack = open_stack(self.spec(name, program), create=True)
        values = {
            key: auto.ConfigValue(value, secret=key == "dfns:authToken")
            for key, value in self.dfns_config.items()
        }
        values[f"{PROJECT}:webhooks"] = auto.ConfigValue(json.dumps(webhooks))
        stack.set_all_config(values)
        return stack


def open_stack(spec: dict[str, Any], create: bool = False) -> auto.Stack:
    workdir = Path(spec["workdir"])
    settings = auto.ProjectSettings(
        name=PROJECT,
        runtime="python",
        backend=auto.ProjectBackend(url=f"file://{workdir / 'backend'}"),
    )
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(workdir / "project"),
        pulumi_home=str(workdir / "home"),
        env_vars=spec["env"],
        project_settings=settings,
        pulumi_command=auto.PulumiCommand(root=str(Path(spec["binary"]).parent.parent)),
    )
    make = auto.create_stack if create else auto.select_stack
    return make(spec["stack"], project_name=PROJECT, program=PROGRAMS[spec["program"]], opts=opts)


def set_webhooks(stack: auto.Stack, webhooks: dict[str, Any]) -> None:
    stack.set_config(f"{PROJECT}:webhooks", auto.ConfigValue(json.dumps(webhooks)))


def without_program(stack: auto.Stack, run: Callable[[auto.Stack], Any]) -> Any:
    """Run `refresh` / `destroy` as the plain CLI command does: no program."""
    program = stack.workspace.program
    stack.workspace.program = None
    try:
        return run(stack)
    finally:
        stack.workspace.program = program


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result
