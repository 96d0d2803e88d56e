"""The README's first command: the main job on the embedded default."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def language_host_beside(bin_dir: Path) -> None:
    """A `pulumi-language-python` beside the stand-in `pulumi`, as every CLI release has
    it: the quickstart then runs `pulumi up` itself (without one it takes the Automation
    API's inline path, tests/test_realcli_quickstart.py)."""
    host = bin_dir / "pulumi-language-python"
    host.write_text("#!/bin/sh\nexit 1\n")
    host.chmod(0o755)


def run_quickstart(tmp_path: Path, path: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pulumi_dfns.quickstart",
            "--data-dir",
            str(tmp_path / "emu"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PATH": path},
    )


def test_without_the_cli_it_says_how_to_install_and_runs_the_provider(tmp_path: Path) -> None:
    # A copy of the project: the checkout may hold a CLI in .tools/pulumi/.
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", project / "stacks")
    path = str(Path(sys.executable).parent)
    result = run_quickstart(tmp_path, path, "--project", str(project))
    assert result.returncode == 0, result.stderr
    assert "pulumi CLI is not installed" in result.stderr
    assert "get.pulumi.com" in result.stderr
    for step in ("+ payments   created wh-", "= payments   refreshed: no drift", "- audit"):
        assert step in result.stdout
    assert "whsec-" not in result.stdout + result.stderr  # the secret stays hidden


def test_with_the_cli_it_runs_pulumi_up_on_the_dev_stack(tmp_path: Path) -> None:
    # A stand-in records how the CLI is called, so the hand-off (arguments, backend,
    # credentials) is checked; the real CLI: tests/test_realcli_quickstart.py.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "calls.jsonl"
    fake = bin_dir / "pulumi"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(record)!r}, 'a') as f:\n"
        "    keys = ('DFNS_API_URL', 'DFNS_AUTH_TOKEN', 'DFNS_CREDENTIAL_ID',\n"
        "            'DFNS_PRIVATE_KEY_FILE', 'PULUMI_BACKEND_URL')\n"
        "    f.write(json.dumps({'args': sys.argv[1:],\n"
        "                        'env': {k: os.environ.get(k) for k in keys}}) + '\\n')\n"
    )
    fake.chmod(0o755)
    language_host_beside(bin_dir)
    result = run_quickstart(tmp_path, f"{bin_dir}:{Path(sys.executable).parent}")
    assert result.returncode == 0, result.stderr
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert calls[0]["args"] == ["stack", "select", "--create", "dev", "--cwd", str(ROOT)]
    assert calls[1]["args"] == ["up", "--stack", "dev", "--yes", "--cwd", str(ROOT)]
    env = calls[1]["env"]
    credentials = json.loads((tmp_path / "emu" / "credentials.json").read_text())
    assert env["DFNS_API_URL"] == credentials["apiUrl"]
    assert env["DFNS_AUTH_TOKEN"] == credentials["authToken"]
    assert env["PULUMI_BACKEND_URL"].startswith("file://")


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_the_stack_config_file_is_left_as_found(tmp_path: Path, stack: str) -> None:
    # A copy of the project, so a failure cannot touch the checkout's tracked files.
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", project / "stacks")
    stack_file = project / "stacks" / f"Pulumi.{stack}.yaml"
    before = stack_file.read_bytes() if stack_file.exists() else None
    # As the real CLI does with the passphrase secrets provider: `stack select --create`
    # and `up` write an encryptionsalt into the stack's config file.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "env.jsonl"
    fake = bin_dir / "pulumi"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, os\n"
        f"with open({str(stack_file)!r}, 'a') as f:\n"
        "    f.write('encryptionsalt: v1:c2FsdA==:v1:bm9uY2U=:dGFn\\n')\n"
        f"with open({str(record)!r}, 'a') as f:\n"
        "    name = 'PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER'\n"
        "    f.write(json.dumps({name: os.environ.get(name)}) + '\\n')\n"
    )
    fake.chmod(0o755)
    language_host_beside(bin_dir)
    path = f"{bin_dir}:{Path(sys.executable).parent}"
    result = run_quickstart(tmp_path, path, "--project", str(project), "--stack", stack)
    assert result.returncode == 0, result.stderr
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 2  # stack select --create, then up
    assert all(c["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true" for c in calls)
    if before is None:
        assert not stack_file.exists()
    else:
        assert stack_file.read_bytes() == before
