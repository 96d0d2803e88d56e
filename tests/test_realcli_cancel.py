"""A cancelled `pulumi up` under the real CLI: SIGINT, then SIGKILL of the whole process
group (a killed CI job), while the emulator holds the webhook's create (a `delay`
fault). What the docs say about pending creates (docs/cli.md, "A cancelled run";
docs/troubleshooting.md, "When things go wrong") is checked against what happens: the pending
create in `pulumi stack export`, the orphan in Dfns, the next `pulumi up`, `pulumi
refresh --clear-pending-creates`, and `python -m pulumi_dfns.audit --state` naming the
orphan.

Path: `up` on the inline Automation API language server (`--client`); `refresh
--clear-pending-creates`, `stack export` on the CLI binary alone (they run no program).
(The offline harness has no cancellation: this runs only here.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli_project import ROOT, program_project
from tests.support.emulator import EmulatorProcess
from tests.support.real_cli import Cli, cli_env, kill_session, session_members, webhooks_of

pytestmark = pytest.mark.realcli

PROGRAM = """\
import pulumi
from pulumi_dfns import DfnsWebhook

hook = DfnsWebhook("hook", url="https://receiver.example/dfns/hook", events=["*"],
                   description="cancelled")
pulumi.export("id", hook.id)
"""
HELD_SECONDS = 3.0  # how long the emulator holds the create before acting on it


def wait_for(condition: str, check: Callable[[], bool], timeout: float = 30) -> None:
    """Poll a condition another process brings about (no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(0.05)


def audit(emulator: EmulatorProcess, state: Path) -> subprocess.CompletedProcess[str]:
    credentials = emulator.credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFNS_")}
    env.update(DFNS_API_URL=credentials["apiUrl"], DFNS_AUTH_TOKEN=credentials["authToken"])
    return subprocess.run(
        [sys.executable, "-m", "pulumi_dfns.audit", "--state", str(state), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_a_killed_up_leaves_a_pending_create_that_refresh_clears_and_the_audit_names(
    pulumi_cli: Path, tmp_path: Path, start_emulator: Callable[..., EmulatorProcess]
) -> None:
    emulator = start_emulator()
    project = program_project(tmp_path / "project", PROGRAM, {})
    cli = Cli(pulumi_cli, project, tmp_path, cli_env(emulator))
    assert cli.run("stack", "init", "dev").ok
    emulator.fault("POST", "/webhooks", "delay", delay=HELD_SECONDS, times=1)

    with cli.started("up", "--stack", "dev", "--yes", "--skip-preview") as proc:
        # The create has reached Dfns when the emulator has taken the fault.
        wait_for(
            "the create to reach the emulator",
            lambda: emulator.control("GET", "faults")["items"] == [],
        )
        os.kill(proc.pid, signal.SIGINT)  # a first Ctrl-C: running steps may finish
        # Then the job is killed, plugins and all: the whole session, since the CLI
        # starts each plugin in a process group of its own (the CLI, the provider's
        # shell script and its python at least).
        assert kill_session(proc.pid) >= 3
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        # Nothing of the run lives on (a kill of the CLI's process group alone left the
        # provider's process running, orphaned).
        wait_for("every process of the run to end", lambda: session_members(proc.pid) == [])

    # Dfns acts on the held request anyway: a webhook the state does not know.
    wait_for("the held create to be acted on", lambda: len(emulator.webhooks()) == 1)
    [orphan] = emulator.webhooks()
    exported = cli.export()
    pending = exported["deployment"].get("pending_operations") or []
    assert [(p["type"], p["resource"]["urn"].rsplit("::", 1)[1]) for p in pending] == [
        ("creating", "hook")
    ]
    assert webhooks_of(exported) == {}

    # The killed run still holds the stack's lock (file backend): `pulumi cancel` frees it.
    locked = cli.run("up", "--stack", "dev", "--yes")
    assert locked.code == 1 and "the stack is currently locked" in locked.output, locked
    assert "delete the lock file with `pulumi cancel`" in locked.output
    assert len(emulator.webhooks()) == 1  # refused before anything ran
    unlocked = cli.run("cancel", "--stack", "dev", "--yes")
    assert unlocked.ok, unlocked

    # docs/cli.md: a later `pulumi up` warns of the pending operation, does not clear it,
    # and creates another webhook (nothing in the state says the first exists).
    again = cli.run("up", "--stack", "dev", "--yes")
    assert again.ok, again
    assert "pending operations" in again.output
    assert len(emulator.webhooks()) == 2
    still = cli.export()["deployment"].get("pending_operations") or []
    assert [(p["type"], p["resource"]["urn"]) for p in still] == [
        (p["type"], p["resource"]["urn"]) for p in pending
    ]

    # `pulumi refresh --clear-pending-creates` drops it (it runs no program).
    cleared = cli.run("refresh", "--stack", "dev", "--yes", "--clear-pending-creates")
    assert cleared.ok, cleared
    after = cli.export()
    assert not after["deployment"].get("pending_operations")
    managed = webhooks_of(after)["hook"]["id"]
    assert managed != orphan["id"]

    # The audit on the export names the orphan: unmanaged, a duplicate of the managed one.
    state = tmp_path / "dev.json"
    state.write_text(json.dumps(after))
    result = audit(emulator, state)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    rows = {w["id"]: w for w in report["webhooks"]}
    assert rows[orphan["id"]]["managedBy"] == [] or not rows[orphan["id"]].get("managedBy")
    assert rows[managed]["managedBy"]
    assert any(orphan["id"] in finding for finding in report["findings"])
    assert cli.run("destroy", "--stack", "dev", "--yes").ok
    assert [w["id"] for w in emulator.webhooks()] == [orphan["id"]]
