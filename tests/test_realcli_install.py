"""scripts/install-pulumi-cli and how the tests find the real CLI: a second run finds
the build and answers at once; a bad version is refused; a CLI on PATH is used from
3.139.0 only; a real-CLI test without a CLI
fails in CI (CI=true) and is skipped elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.real_cli import INSTALL_SCRIPT, ROOT, cli_version


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTALL_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env or dict(os.environ),
    )


@pytest.mark.realcli
def test_a_second_run_finds_the_build(pulumi_cli: Path) -> None:
    if not pulumi_cli.is_relative_to(ROOT / ".tools" / "pulumi"):
        pytest.skip(f"the CLI in use ({pulumi_cli}) was not built by the script")
    version = pulumi_cli.parents[1].name
    result = run_script(version)
    assert result.returncode == 0, result.stderr
    assert f"pulumi {version} already installed in .tools/pulumi/{version}" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(pulumi_cli)
    assert cli_version(pulumi_cli) == version
    for script in ("pulumi-resource-pulumi-python", "pulumi-language-python-exec"):
        assert os.access(pulumi_cli.parent / script, os.X_OK), script


def test_a_bad_version_is_refused() -> None:
    result = run_script("3.x")
    assert result.returncode == 1
    assert "expected a version such as v3." in result.stderr
    assert result.stdout == ""


def test_a_pulumi_on_path_is_used_without_a_version(tmp_path: Path) -> None:
    fake = tmp_path / "pulumi"
    fake.write_text("#!/bin/sh\necho v3.999.0\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = run_script(env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(fake)
    assert "using the pulumi CLI on PATH" in result.stderr and "v3.999.0" in result.stderr


@pytest.mark.realcli
@pytest.mark.parametrize("answer", ["v3.138.0", "not a version"])
def test_a_pulumi_on_path_older_than_the_floor_is_not_used(
    pulumi_cli: Path, tmp_path: Path, answer: str
) -> None:
    """Below 3.139.0 the engine hands a dynamic provider no stack config
    (docs/installation-configuration.md): the script builds its default instead (here
    found built already), and says why."""
    if not pulumi_cli.is_relative_to(ROOT / ".tools" / "pulumi"):
        pytest.skip(f"the CLI in use ({pulumi_cli}) was not built by the script")
    fake = tmp_path / "pulumi"
    fake.write_text(f"#!/bin/sh\necho '{answer}'\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = run_script(env=env)
    assert result.returncode == 0, result.stderr
    built = result.stdout.strip().splitlines()[-1]
    assert built != str(fake) and Path(built).is_relative_to(ROOT / ".tools" / "pulumi")
    assert f"not using the pulumi CLI on PATH: {fake}" in result.stderr
    assert "older than 3.139.0" in result.stderr


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_without_a_cli_a_real_cli_test_fails_in_ci_and_skips_elsewhere(
    ci: str, outcome: str
) -> None:
    env = {**os.environ, "CI": ci, "PULUMI_DFNS_CLI": "/nonexistent/pulumi"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_realcli_programs.py", "-k", "former_layout"],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT, env=env,
    )  # fmt: skip
    assert outcome in result.stdout, result.stdout
    assert "no pulumi CLI" in result.stdout
    assert result.returncode == (1 if ci else 0)
