"""The real `pulumi` CLI, run by the tests against the emulator (tests/test_realcli_*.py).

`scripts/install-pulumi-cli` finds or builds the CLI once per session (conftest.py runs
it when a test marked `realcli` is collected). Every command runs the CLI binary itself
on a file:// backend with a PULUMI_HOME of the test's own and the offline settings.
Commands that run the program (`preview`, `up`, and `refresh`/`destroy --run-program`)
get a language host as the Python Automation API's inline path gives one
(tests/support/inline_host.py, `--client=ADDR --exec-kind auto.inline`): the real Python
language host cannot be had here (docs/cli.md). Commands that do not
run the program (`refresh`, `destroy`, `stack ...`, `state ...`) run as a user runs them.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = ROOT / "scripts" / "install-pulumi-cli"
INLINE_HOST = Path(__file__).resolve().parent / "inline_host.py"
PASSPHRASE = "real-cli-tests"
# The path each scenario ran on: named in every test module's docstring and here.
INLINE_PATH = "inline Automation API language server (--client), the real CLI binary"
DIRECT_PATH = "the real CLI binary alone (no program run, no language host)"

# Offline, as the issue lists them (sdk/go/common/env/env.go): no update check, no plugin
# download, no registry lookup.
OFFLINE = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    "PULUMI_DISABLE_REGISTRY_RESOLVE": "true",
}


@dataclass
class Installed:
    """What the install script answered: the binary, or why there is none."""

    binary: Path | None = None
    problem: str = ""


INSTALLED = Installed()


def install() -> Installed:
    """Run scripts/install-pulumi-cli (PULUMI_DFNS_CLI names a binary to use instead).
    Its progress lines reach the terminal; a first build takes minutes."""
    given = os.environ.get("PULUMI_DFNS_CLI")
    if given:
        INSTALLED.binary = Path(given)
        return INSTALLED
    result = subprocess.run(
        [str(INSTALL_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False, timeout=3600
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode == 0 and lines:
        INSTALLED.binary = Path(lines[-1])
    else:
        INSTALLED.problem = f"scripts/install-pulumi-cli failed (exit {result.returncode})"
    return INSTALLED


def cli_version(binary: Path) -> str:
    return subprocess.run(
        [str(binary), "version"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **OFFLINE},
    ).stdout.strip()


@dataclass
class Run:
    """One CLI command: its arguments, exit code and what it printed."""

    args: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def ok(self) -> bool:
        return self.code == 0

    def __str__(self) -> str:
        return f"pulumi {' '.join(self.args)} -> {self.code}\n{self.stdout}\n{self.stderr}"


def runtime_options_env(project: Path) -> dict[str, str]:
    """PULUMI_RUNTIME_<KEY> for each `runtime.options` entry of Pulumi.yaml.

    The engine gives a plugin these (pkg/resource/plugin/provider_plugin.go: "Runtime
    options are passed as environment variables to the provider"), and the dynamic
    provider's shim finds its virtualenv by PULUMI_RUNTIME_VIRTUALENV
    (sdk/python/dist/pulumi-resource-pulumi-python). With `--client` the CLI replaces
    the project's runtime by `client` (pkg/cmd/pulumi/operations/io.go
    readProjectForUpdate), so the options are lost and the shim would run `python3` from
    PATH; set in the CLI's environment, they reach the plugin as the engine's own would.
    """
    import yaml

    runtime = yaml.safe_load((project / "Pulumi.yaml").read_text()).get("runtime")
    options = runtime.get("options", {}) if isinstance(runtime, dict) else {}
    return {f"PULUMI_RUNTIME_{k.upper()}": str(v) for k, v in options.items()}


def runs_program(args: tuple[str, ...]) -> bool:
    """`preview` and `up` run the program; `refresh` and `destroy` only with --run-program
    (pkg/cmd/pulumi/operations: runProgram)."""
    return args[0] in ("preview", "up") or "--run-program" in args


@dataclass
class Cli:
    """The real CLI on one project directory, with its own backend and PULUMI_HOME."""

    binary: Path
    project: Path
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    python: Path | None = None  # the interpreter of the program's language host

    def __post_init__(self) -> None:
        self.home = self.workdir / "pulumi-home"
        self.backend = self.workdir / "backend"
        self.home.mkdir(parents=True, exist_ok=True)
        self.backend.mkdir(parents=True, exist_ok=True)

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            **self.env,
            **runtime_options_env(self.project),
            **OFFLINE,
            "PULUMI_HOME": str(self.home),
            "PULUMI_BACKEND_URL": self.backend.resolve().as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": self.env.get("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE),
            **(extra or {}),
        }

    def interpreter(self) -> Path:
        """The program's interpreter: the project's `virtualenv` (Pulumi.yaml), as the
        language host resolves it, else this one."""
        if self.python is not None:
            return self.python
        venv = self.project / ".venv" / "bin" / "python"
        return venv if venv.exists() else Path(sys.executable)

    @contextmanager
    def language_host(self) -> Iterator[str]:
        """The inline language server for this project; yields its address."""
        host = subprocess.Popen(
            [str(self.interpreter()), "-I", str(INLINE_HOST), str(self.project)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=self.project,
            env={k: v for k, v in self.environ().items() if k != "PYTHONPATH"},
        )
        try:
            assert host.stdout is not None
            port = host.stdout.readline().strip()
            if not port.isdigit():
                raise RuntimeError(f"the inline language host did not start: {port!r}")
            yield f"127.0.0.1:{port}"
        finally:
            assert host.stdin is not None
            host.stdin.close()
            try:
                host.wait(timeout=10)
            except subprocess.TimeoutExpired:
                host.kill()
                host.wait()

    def command(self, args: tuple[str, ...], address: str | None) -> list[str]:
        # First, as the Automation API puts it (automation/_cmd.py `run`): after a `--`
        # it would be taken for a value.
        command = [str(self.binary), "--non-interactive", *args]
        if address is not None:
            command += [f"--client={address}", "--exec-kind", "auto.inline"]
        return command

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 240) -> Run:
        with self._host(args) as address:
            result = subprocess.run(
                self.command(args, address),
                capture_output=True,
                text=True,
                cwd=self.project,
                env=self.environ(env),
                timeout=timeout,
                check=False,
            )
        run = Run(list(args), result.returncode, result.stdout, result.stderr)
        if os.environ.get("REALCLI_ECHO"):  # pytest -s: every command and its output
            print(f"\n----- {run}")
        return run

    @contextmanager
    def _host(self, args: tuple[str, ...]) -> Iterator[str | None]:
        if runs_program(args):
            with self.language_host() as address:
                yield address
        else:
            yield None

    @contextmanager
    def started(self, *args: str) -> Iterator[subprocess.Popen[str]]:
        """The command as a running process in a session of its own: `kill_session`
        reaches the CLI and every plugin it started, as a killed CI job's end does (a
        signal to the CLI's process group does not reach the plugins: see there)."""
        with self._host(args) as address:
            proc = subprocess.Popen(
                self.command(args, address),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=self.project,
                env=self.environ(),
                start_new_session=True,
            )
            try:
                yield proc
            finally:
                if proc.poll() is None:
                    kill_session(proc.pid)
                proc.communicate()

    # -- state ------------------------------------------------------------------------

    def export(self, stack: str = "dev") -> dict[str, Any]:
        """`pulumi stack export`: the state as the CLI hands it out (secrets encrypted)."""
        result = self.run("stack", "export", "--stack", stack)
        assert result.ok, str(result)
        exported: dict[str, Any] = json.loads(result.stdout)
        return exported

    def resources(self, stack: str = "dev") -> list[dict[str, Any]]:
        resources: list[dict[str, Any]] = self.export(stack)["deployment"].get("resources") or []
        return resources


def session_members(sid: int) -> list[int]:
    """The pids of the processes of a session (/proc/PID/stat: the fields after the
    command's closing parenthesis are state, ppid, pgrp, session)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            session = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if session == sid:
            members.append(int(entry.name))
    return members


def kill_session(sid: int) -> int:
    """SIGKILL every process of a session, as a killed CI job's are: the CLI and every
    plugin it started. A kill of the CLI's process group is not enough: the CLI starts
    each plugin in a process group of its own (sdk/go/common/resource/plugin/plugin.go
    `cmdutil.RegisterProcessGroup`, `Setpgid`), so the plugins would live on, orphaned.
    Answers how many were killed."""
    killed = 0
    for pid in session_members(sid):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


def webhooks_of(exported: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> resource, for each DfnsWebhook in an export (dynamic resources' type)."""
    return {
        r["urn"].rsplit("::", 1)[1]: r
        for r in exported["deployment"].get("resources") or []
        if r["type"] == "pulumi-python:dynamic/dfns:Webhook"
    }


def default_provider(exported: dict[str, Any]) -> dict[str, Any]:
    provider: dict[str, Any] = next(
        r
        for r in exported["deployment"]["resources"]
        if r["type"] == "pulumi:providers:pulumi-python"
    )
    return provider


# A secret in a state export: {SECRET_KEY: SECRET_SIG, "ciphertext": ...}
# (sdk/go/common/resource/sig/sig.go).
SECRET_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def is_ciphertext(value: Any) -> bool:
    """A secret as `pulumi stack export` writes it: the signature and a `ciphertext`."""
    return (
        isinstance(value, dict)
        and value.get(SECRET_KEY) == SECRET_SIG
        and "ciphertext" in value
        and "plaintext" not in value
    )


def dfns_calls(emulator: EmulatorProcess) -> list[tuple[str, str]]:
    """(method, path) of each Dfns API request the emulator logged, in order."""
    return [
        (r["method"], r["path"])
        for r in emulator.requests_log()
        if not r["path"].startswith("/_emulator")
    ]


def dfns_secret(emulator: EmulatorProcess, webhook_id: str) -> str:
    """The signing secret Dfns holds for a webhook (from the emulator's store: Dfns shows
    a secret only in the answer to the create)."""
    db = sqlite3.connect(emulator.data_dir / "emulator.sqlite3")
    try:
        row = db.execute("SELECT secret FROM webhooks WHERE id=?", (webhook_id,)).fetchone()
    finally:
        db.close()
    assert row is not None, webhook_id
    return str(row[0])


def cli_env(emulator: EmulatorProcess | None = None) -> dict[str, str]:
    """The tests' environment for the CLI: no DFNS_* of the caller; the emulator's
    credentials as DFNS_* when given (as the quickstart hands them over)."""
    from tests.support.cli_project import base_env, emulator_env

    env = emulator_env(emulator) if emulator is not None else base_env()
    env["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    return env
