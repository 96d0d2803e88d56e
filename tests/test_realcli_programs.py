"""The offline harness's other scenarios under the real `pulumi` CLI: the project layout
(the former `main: stacks/` cannot start the provider), `secretVersion: 1` unquoted, a
second dynamic provider keeping its traceback, `adopt_secret`, `track_deliveries`.

Path: `preview`/`up` on the inline Automation API language server (`--client`), with
Pulumi.yaml's runtime options given to the provider's shim as the engine gives them
(tests/support/real_cli.py `runtime_options_env`); `refresh`, `destroy`, `config`,
`stack` on the CLI binary alone.
(The same through the offline harness: tests/test_cli_layout.py, test_cli_programs.py,
test_cli_options.py.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.cli_project import program_project, read_stack, reference_project, write_stack
from tests.support.emulator import EmulatorProcess
from tests.support.real_cli import Cli, cli_env, dfns_calls, is_ciphertext, webhooks_of
from tests.test_cli_options import ADOPT_PROGRAM, TRACK_PROGRAM
from tests.test_cli_programs import TWO_PROVIDERS_PROGRAM

pytestmark = pytest.mark.realcli


def stack(cli: Cli) -> Cli:
    result = cli.run("stack", "init", "dev")
    assert result.ok, result
    return cli


def test_the_former_layout_main_stacks_cannot_start_the_provider(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = reference_project(tmp_path / "old")
    shutil.copy(project / "__main__.py", project / "stacks" / "__main__.py")
    (project / "__main__.py").unlink()
    text = (project / "Pulumi.yaml").read_text()
    (project / "Pulumi.yaml").write_text(
        text.replace("stackConfigDir:", "main: stacks/\nstackConfigDir:")
    )
    cli = stack(Cli(pulumi_cli, project, tmp_path, cli_env(emulator)))
    result = cli.run("preview", "--stack", "dev")
    assert result.code != 0, result
    assert "The 'virtualenv' option in Pulumi.yaml is set to" in result.output
    assert f"{project / 'stacks' / '.venv'}\" doesn't exist" in result.output


def test_an_unquoted_whole_number_secret_version_is_accepted(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = reference_project(tmp_path / "project")
    config = read_stack(project)
    config["dfns-webhooks:webhooks"]["payments"]["secretVersion"] = 1  # YAML: secretVersion: 1
    write_stack(project, "dev", config)
    cli = stack(Cli(pulumi_cli, project, tmp_path, cli_env(emulator)))
    up = cli.run("up", "--stack", "dev", "--yes")
    assert up.ok, up
    assert webhooks_of(cli.export())["payments"]["inputs"]["secret_version"] == "1"
    # Unchanged at the next preview: no replacement from 1 vs "1" vs 1.0.
    assert cli.run("preview", "--stack", "dev", "--expect-no-changes").ok
    assert cli.run("destroy", "--stack", "dev", "--yes").ok


def test_another_dynamic_provider_in_the_program_keeps_its_traceback(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = program_project(tmp_path / "project", TWO_PROVIDERS_PROGRAM, {})
    cli = stack(Cli(pulumi_cli, project, tmp_path, cli_env(emulator)))
    result = cli.run("up", "--stack", "dev", "--yes", "--skip-preview")
    assert result.code != 0, result
    assert "ValueError: the other provider failed" in result.output
    # One provider process serves both resources: the other library's frames stay.
    assert "Traceback (most recent call last)" in result.output
    assert "in explode" in result.output
    assert cli.run("destroy", "--stack", "dev", "--yes").ok


def test_adopt_secret_becomes_the_secret_output_and_stays_secret(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    made = emulator.client().create_webhook("https://receiver.example/dfns/adopted", ["*"])
    known = made["secret"]
    project = program_project(
        tmp_path / "project", ADOPT_PROGRAM, {"harness-program:adoptId": made["id"]}
    )
    cli = stack(Cli(pulumi_cli, project, tmp_path, cli_env(emulator)))
    assert cli.run("config", "set", "--secret", "adoptSecret", known).ok
    up = cli.run("up", "--stack", "dev", "--yes")
    assert up.ok, up
    exported = cli.export()
    hook = webhooks_of(exported)["adopted"]
    assert hook["id"] == made["id"]
    assert is_ciphertext(hook["outputs"]["secret"]) and is_ciphertext(
        hook["inputs"]["adopt_secret"]
    )
    shown = cli.run("stack", "output", "secret", "--stack", "dev", "--show-secrets")
    assert shown.ok and shown.stdout.strip() == known, shown
    assert known not in up.output + str(exported)
    assert cli.run("destroy", "--stack", "dev", "--yes").ok
    assert emulator.webhooks() == []


def test_track_deliveries_costs_one_more_get_per_tracked_webhook_at_refresh(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = program_project(tmp_path / "project", TRACK_PROGRAM, {})
    cli = stack(Cli(pulumi_cli, project, tmp_path, cli_env(emulator)))
    assert cli.run("up", "--stack", "dev", "--yes", "--skip-preview").ok
    ids = {name: r["id"] for name, r in webhooks_of(cli.export()).items()}
    emulator.clear_log()
    refreshed = cli.run("refresh", "--stack", "dev", "--yes", "--skip-preview")
    assert refreshed.ok, refreshed
    calls = dfns_calls(emulator)
    assert all(method == "GET" for method, _ in calls)
    assert sorted(path for _, path in calls) == sorted(
        [
            f"/webhooks/{ids['plain']}",
            f"/webhooks/{ids['tracked']}",
            f"/webhooks/{ids['tracked']}/events",
        ]
    )
    assert webhooks_of(cli.export())["tracked"]["outputs"]["failed_deliveries"] == 0
    assert cli.run("destroy", "--stack", "dev", "--yes").ok
