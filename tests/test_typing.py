"""Users' type checkers see the package's types (PEP 561), from the installed wheel.

mypy runs from this repository's virtualenv but resolves imports in the user
project's virtualenv (`--python-executable`), where only the wheel provides
pulumi_dfns, from a directory outside the source tree with no config file: the
`py.typed` marker in the wheel is what lets it read the annotations.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.wheel_project import UserProject, user_env

pytestmark = pytest.mark.wheel

MISUSE = """\
import pulumi
from pulumi_dfns import DfnsWebhook, DfnsWebhookArgs

DfnsWebhook("a", url="https://hooks.example.com/a", events="wallet.created")
DfnsWebhook("b", DfnsWebhookArgs(url="https://hooks.example.com/b", events="wallet.created"))
DfnsWebhook("c", url="https://hooks.example.com/c", events=["*"], verify_with_ping="yes")
url: pulumi.Output[int] = DfnsWebhook("d", url="https://h.example/d", events=["*"]).url
"""

TYPO = """\
from pulumi_dfns import DfnsWebhok
"""

CORRECT = """\
import pulumi
from pulumi_dfns import DfnsWebhook, DfnsWebhookArgs, verify_delivery

kinds: list[str] = ["wallet.transfer.confirmed"]
from_config: pulumi.Output[list[str]] = pulumi.Output.from_input(["wallet.created"])
DfnsWebhook("a", url="https://hooks.example.com/a", events=["wallet.created"])
DfnsWebhook("b", url="https://hooks.example.com/b", events=kinds, status="Disabled")
DfnsWebhook("c", url="https://hooks.example.com/c", events=("*",))
DfnsWebhook("d", url="https://hooks.example.com/d", events=from_config)
DfnsWebhook("e", url="https://hooks.example.com/e", events=[pulumi.Output.from_input("*")])
hook = DfnsWebhook("f", DfnsWebhookArgs(url="https://hooks.example.com/f", events=kinds))
secret: pulumi.Output[str | None] = hook.secret
events: pulumi.Output[list[str]] = hook.events
event: dict[str, object] = verify_delivery(b"{}", "sha256=00", "whsec-x")
"""


def mypy(user_project: UserProject, workdir: Path, program: str) -> tuple[int, str]:
    source = workdir / "program.py"
    source.write_text(program)
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--python-executable",
        str(user_project.python),
        "--cache-dir",
        str(workdir / ".mypy_cache"),
        str(source),
    ]
    done = subprocess.run(
        command, cwd=workdir, env=user_env(), capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def test_mypy_flags_misuse_of_the_api(user_project: UserProject, workdir: Path) -> None:
    status, output = mypy(user_project, workdir, MISUSE)
    assert status == 1, output
    lines = output.splitlines()
    # a bare string where a list of event kinds is expected, in both spellings
    assert any('program.py:4: error: Argument "events" to "DfnsWebhook"' in x for x in lines)
    assert any('program.py:5: error: Argument "events" to "DfnsWebhookArgs"' in x for x in lines)
    assert any('program.py:6: error: Argument "verify_with_ping"' in x for x in lines)
    assert any("program.py:7: error: Incompatible types in assignment" in x for x in lines)
    assert "Found 4 errors" in output, output


def test_mypy_flags_a_misspelt_import(user_project: UserProject, workdir: Path) -> None:
    status, output = mypy(user_project, workdir, TYPO)
    assert status == 1
    assert 'Module "pulumi_dfns" has no attribute "DfnsWebhok"' in output, output


def test_mypy_passes_correct_programs_and_the_template(
    user_project: UserProject, workdir: Path
) -> None:
    status, output = mypy(user_project, workdir, CORRECT)
    assert status == 0, output
    template_program = (user_project.directory / "__main__.py").read_text()
    status, output = mypy(user_project, workdir, template_program)
    assert status == 0, output


def test_without_the_marker_mypy_sees_no_types(user_project: UserProject, workdir: Path) -> None:
    """The control: the same check with py.typed hidden finds an untyped package."""
    (site_packages,) = user_project.virtualenv.glob("lib/python*/site-packages")
    marker = site_packages / "pulumi_dfns" / "py.typed"
    hidden = marker.with_name("py.typed.hidden")
    marker.rename(hidden)
    try:
        status, output = mypy(user_project, workdir, CORRECT)
    finally:
        hidden.rename(marker)
    assert status == 1
    assert "missing library stubs or py.typed marker" in output, output
