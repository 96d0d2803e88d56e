"""The README's first command on its CLI path: `python -m pulumi_dfns.quickstart` with a
`pulumi` on PATH, here the harness's CLI front (tests/harness/cli.py), so the commands
and environment the quickstart hands over really deploy the dev stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.harness import Harness
from tests.harness.wire import is_secret
from tests.support.cli_project import ROOT, reference_project
from tests.support.emulator import EmulatorProcess


def pulumi_on_path(bin_dir: Path) -> None:
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="{ROOT}${{PYTHONPATH:+:$PYTHONPATH}}" '
        f'exec "{sys.executable}" -m tests.harness.cli "$@"\n'
    )
    script.chmod(0o755)
    # With a language host beside `pulumi` the quickstart runs `pulumi up` itself (this
    # stand-in is never run: the harness front plays the whole CLI).
    host = bin_dir / "pulumi-language-python"
    host.write_text("#!/bin/sh\nexit 1\n")
    host.chmod(0o755)


def test_the_quickstart_deploys_the_dev_stack_through_pulumi_up(tmp_path: Path) -> None:
    project = reference_project(tmp_path / "project")
    pulumi_on_path(tmp_path / "bin")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DFNS_", "PULUMI_"))}
    env["PATH"] = f"{tmp_path / 'bin'}:{Path(sys.executable).parent}:/usr/bin:/bin"
    data_dir = tmp_path / "emulator"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pulumi_dfns.quickstart",
            "--data-dir",
            str(data_dir),
            "--project",
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pulumi CLI is not installed" not in result.stderr
    assert "Updating (dev):" in result.stdout
    assert "+ 3 created" in result.stdout
    assert "whsec" not in result.stdout + result.stderr
    # The quickstart's backend: <project>/.pulumi-state, its default passphrase.
    h = Harness(project, project / ".pulumi-state", env={**env, "PULUMI_CONFIG_PASSPHRASE": "dev"})
    state = {r.name: r for r in h.checkpoint("dev").custom_resources()}
    assert sorted(state) == ["audit", "payments"]
    assert all(is_secret(r.outputs["secret"]) for r in state.values())
    emulator = EmulatorProcess(data_dir).start()  # the same Dfns, started again
    try:
        assert {w["id"] for w in emulator.webhooks()} == {r.id for r in state.values()}
    finally:
        emulator.stop()
