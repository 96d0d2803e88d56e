"""The README's first command with the real `pulumi` CLI installed: `python -m
pulumi_dfns.quickstart` finds the CLI in the project's `.tools/pulumi/` (where
scripts/install-pulumi-cli puts it; nothing on PATH) and deploys the dev stack against
the emulator. Without a Python language host beside the CLI it takes the Automation
API's inline path (`--client`), and says so.

Path: the inline Automation API (`pulumi.automation`, `program=`), run by the
quickstart itself; `stack export` on the CLI binary alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli_project import ROOT, reference_project
from tests.support.emulator import EmulatorProcess
from tests.support.real_cli import Cli, is_ciphertext, webhooks_of

pytestmark = pytest.mark.realcli


def test_the_quickstart_deploys_the_dev_stack_through_the_real_cli(
    pulumi_cli: Path, tmp_path: Path
) -> None:
    project = reference_project(tmp_path / "project")
    if pulumi_cli.parent.name == "bin" and pulumi_cli.parents[2].name == "pulumi":
        # .tools/pulumi/<version>/bin/pulumi: the quickstart finds it in <project>/.tools.
        (project / ".tools").symlink_to(pulumi_cli.parents[3], target_is_directory=True)
        path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    else:  # a CLI installed the usual way: on PATH
        path = f"{pulumi_cli.parent}:{Path(sys.executable).parent}:/usr/bin:/bin"
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    before = stack_file.read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DFNS_", "PULUMI_"))}
    env["PATH"] = path
    data_dir = tmp_path / "emulator"
    result = subprocess.run(
        [sys.executable, "-m", "pulumi_dfns.quickstart", "--data-dir", str(data_dir),
         "--project", str(project)],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pulumi CLI is not installed" not in result.stderr
    has_host = (pulumi_cli.parent / "pulumi-language-python").exists()
    if not has_host:
        assert "Automation API's inline path (--client)" in result.stdout
    assert "Updating (dev):" in result.stdout
    assert "+ 3 created" in result.stdout
    assert "whsec" not in result.stdout + result.stderr
    assert stack_file.read_bytes() == before  # the tracked config file as found

    # The quickstart's backend and passphrase: <project>/.pulumi-state, "dev".
    cli = Cli(pulumi_cli, project, tmp_path / "inspect", {**env, "PULUMI_CONFIG_PASSPHRASE": "dev"})
    cli.backend = project / ".pulumi-state"
    state = webhooks_of(cli.export())
    assert sorted(state) == ["audit", "payments"]
    assert all(is_ciphertext(r["outputs"]["secret"]) for r in state.values())
    emulator = EmulatorProcess(data_dir).start()  # the same Dfns, started again
    try:
        assert {w["id"] for w in emulator.webhooks()} == {r["id"] for r in state.values()}
    finally:
        emulator.stop()
