"""The README's pipeline steps as commands under the real `pulumi` CLI (what
`pulumi/actions` runs: `preview` on a pull request, `up` on main): a preview of a change
(exit 0, nothing sent to Dfns), `preview --expect-no-changes` on a change and on drift
made outside (exit codes: a plain preview does not see drift, `--refresh` does), and
`up --yes`.

Path: `preview`/`up` on the inline Automation API language server (`--client`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli_project import read_stack, reference_project, write_stack
from tests.support.emulator import EmulatorProcess
from tests.support.real_cli import Cli, cli_env, dfns_calls, webhooks_of

pytestmark = pytest.mark.realcli

WEBHOOKS = "dfns-webhooks:webhooks"
NO_CHANGES = "error: no changes were expected for preview but changes were proposed"
EXPECTED_NO_CHANGES = 7  # the exit code CLI v3.277.0 gives (not 255, its general failure)


@pytest.fixture(scope="module")
def deployed(
    pulumi_cli: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Cli, EmulatorProcess]]:
    base = tmp_path_factory.mktemp("realcli-pipeline")
    emulator = EmulatorProcess(base / "emulator").start()
    cli = Cli(pulumi_cli, reference_project(base / "project"), base, cli_env(emulator))
    try:
        assert cli.run("stack", "init", "dev").ok
        first = cli.run("up", "--stack", "dev", "--yes")
        assert first.ok, first
        yield cli, emulator
    finally:
        emulator.stop()


def test_a_pull_request_preview_of_a_change(deployed: tuple[Cli, EmulatorProcess]) -> None:
    cli, emulator = deployed
    config = read_stack(cli.project)
    config[WEBHOOKS]["payments"]["description"] = "Payments, from a pull request"
    write_stack(cli.project, "dev", config)
    emulator.clear_log()
    preview = cli.run("preview", "--stack", "dev")
    assert preview.code == 0, preview
    assert "~ 1 to update" in preview.output
    strict = cli.run("preview", "--stack", "dev", "--expect-no-changes")
    assert strict.code == EXPECTED_NO_CHANGES, strict
    assert NO_CHANGES in strict.output
    assert dfns_calls(emulator) == []  # previews send nothing


def test_drift_needs_refresh_to_fail_expect_no_changes(
    deployed: tuple[Cli, EmulatorProcess],
) -> None:
    cli, emulator = deployed
    assert cli.run("up", "--stack", "dev", "--yes").ok  # main applies the change
    audit = webhooks_of(cli.export())["audit"]["id"]
    client = emulator.client()
    hook = client.get_webhook(audit)
    client.update_webhook(
        audit, url=hook["url"], events=hook["events"], status="Enabled", description="drifted"
    )
    # A plain preview compares the program with the state, not with Dfns: no drift seen.
    plain = cli.run("preview", "--stack", "dev", "--expect-no-changes")
    assert plain.code == 0, plain
    # With --refresh it reads Dfns first (GETs only), sees the drift, and fails.
    emulator.clear_log()
    refreshed = cli.run("preview", "--stack", "dev", "--refresh", "--expect-no-changes")
    assert refreshed.code == EXPECTED_NO_CHANGES, refreshed
    assert NO_CHANGES in refreshed.output
    assert {method for method, _ in dfns_calls(emulator)} == {"GET"}
    # `up --yes` (with --refresh, as a drift-repairing job runs it) puts Dfns back.
    up = cli.run("up", "--stack", "dev", "--yes", "--refresh")
    assert up.ok, up
    held = {w["id"]: w for w in emulator.webhooks()}
    assert held[audit]["status"] == "Disabled"
    assert held[audit]["description"] == "Everything, for the audit log"
    assert cli.run("preview", "--stack", "dev", "--refresh", "--expect-no-changes").ok
