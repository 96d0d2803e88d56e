"""Programs other than the dev stack's, through the harness: a url given as a Pulumi
secret, a whole number where text is asked, a second dynamic provider in the program."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Harness
from tests.harness.project import SECRETS_ENV
from tests.harness.wire import is_secret
from tests.support.cli_project import (
    checkpoint_text,
    emulator_env,
    program_project,
    read_stack,
    reference_project,
    write_stack,
)
from tests.support.emulator import EmulatorProcess

SECRET_URL = "https://receiver.example/dfns/private-7f3a9c"

URL_PROGRAM = """\
import pulumi
from pulumi_dfns import DfnsWebhook

config = pulumi.Config()
hook = DfnsWebhook(
    "private",
    url=config.require_secret("hookUrl"),
    events=["*"],
    description=config.get("description"),
)
pulumi.export("webhookId", hook.id)
pulumi.export("url", hook.url)
"""

TWO_PROVIDERS_PROGRAM = """\
import pulumi
from pulumi.dynamic import Resource, ResourceProvider
from pulumi_dfns import DfnsWebhook


class Flaky(ResourceProvider):
    def create(self, props):
        return self.explode()

    def explode(self):
        raise ValueError("the other provider failed")


class Other(Resource):
    def __init__(self, name, opts=None):
        super().__init__(Flaky(), name, {}, opts)


hook = DfnsWebhook("hook", url="https://receiver.example/dfns/other", events=["*"])
Other("other", opts=pulumi.ResourceOptions(depends_on=[hook]))
"""


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(tmp_path_factory.mktemp("programs") / "emulator").start()
    yield emulator
    emulator.stop()


def secret_url_project(tmp_path: Path, emulator: EmulatorProcess) -> tuple[Path, Harness]:
    """URL_PROGRAM with its url a secret config value (SECRET_URL), and its harness."""
    project = program_project(
        tmp_path / "project",
        URL_PROGRAM,
        {"harness-program:hookUrl": {"secure": "v1:in-the-environment"}},
    )
    env = emulator_env(
        emulator, **{SECRETS_ENV: json.dumps({"harness-program:hookUrl": SECRET_URL})}
    )
    return project, Harness(project, tmp_path / "state", env=env)


def everything_the_user_sees(h: Harness, *results: object) -> str:
    texts = [checkpoint_text(h)]
    for result in results:
        texts.append(getattr(result, "output", ""))
        texts.extend(getattr(result, "provider_stderr", []))
    return "\n".join(texts)


def test_a_url_given_as_a_secret_stays_secret(tmp_path: Path, emulator: EmulatorProcess) -> None:
    project, h = secret_url_project(tmp_path, emulator)
    up = h.up("dev")
    assert up.ok, up.output
    assert [w["url"] for w in emulator.webhooks()] == [SECRET_URL]  # Dfns holds it, of course
    hook = h.checkpoint("dev").custom_resources()[0]
    # The engine sent it in plaintext (acceptSecrets=false) and re-marked what came back.
    assert is_secret(hook.inputs["url"]) and is_secret(hook.outputs["url"])
    assert is_secret(h.checkpoint("dev").stack_outputs()["url"])
    shown = h.stack_output("dev")
    assert "[secret]" in shown.output
    # An update that Dfns refuses: the error names the webhook, not its url.
    config = read_stack(project)
    config["harness-program:description"] = "now with a description"
    write_stack(project, "dev", config)
    emulator.fault("PUT", "/webhooks/*", "status", status=403, times=1)
    failed = h.up("dev", skip_preview=True)
    assert not failed.ok
    assert "403" in failed.output
    refreshed = h.refresh("dev")
    assert refreshed.ok, refreshed.output
    assert is_secret(h.checkpoint("dev").custom_resources()[0].outputs["url"])
    seen = everything_the_user_sees(h, up, shown, failed, refreshed)
    assert SECRET_URL not in seen
    assert "private-7f3a9c" not in seen
    assert h.destroy("dev").ok


def test_a_secret_url_stays_out_of_a_failed_create(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    _, h = secret_url_project(tmp_path, emulator)
    emulator.fault("POST", "/webhooks", "status", status=403, times=1)
    failed = h.up("dev", skip_preview=True)
    emulator.clear_faults()
    assert not failed.ok
    assert "403" in failed.output
    assert SECRET_URL not in everything_the_user_sees(h, failed)


def test_an_unquoted_whole_number_secret_version_is_accepted(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = reference_project(tmp_path / "project")
    config = read_stack(project)
    config["dfns-webhooks:webhooks"]["payments"]["secretVersion"] = 1  # YAML: secretVersion: 1
    write_stack(project, "dev", config)
    assert "secretVersion: 1\n" in (project / "stacks" / "Pulumi.dev.yaml").read_text()
    h = Harness(project, tmp_path / "state", env=emulator_env(emulator))
    result = h.up("dev")
    try:
        assert result.ok, result.output
        payments = next(r for r in h.checkpoint("dev").custom_resources() if r.name == "payments")
        assert payments.inputs["secret_version"] == "1"
        # Unchanged at the next preview: no replacement from 1 vs "1" vs 1.0.
        assert {s.op for s in h.preview("dev").steps} == {"same"}
    finally:
        h.destroy("dev")


# The same other library alone: no DfnsWebhook in the program, so pulumi-dfns never runs
# in its provider process. What the SDK makes of its failure there is the reference.
# Lines removed become blank lines: the frames' line numbers stay the same.
ALONE_PROGRAM = (
    TWO_PROVIDERS_PROGRAM.replace("from pulumi_dfns import DfnsWebhook\n", "\n")
    .replace(
        'hook = DfnsWebhook("hook", url="https://receiver.example/dfns/other", events=["*"])\n',
        "\n",
    )
    .replace('Other("other", opts=pulumi.ResourceOptions(depends_on=[hook]))', 'Other("other")')
)


def error_of_other(output: str, project: Path) -> list[str]:
    """The diagnostic lines the user reads for resource `other`, its project dir elided."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().endswith("(other):"))
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        block.append(line.replace(str(project), "<project>"))
    return block


def test_another_dynamic_provider_in_the_program_keeps_its_traceback(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    """One promise on every SDK: the other library's error reads exactly as it does in a
    program without DfnsWebhook (with its frames where the SDK sends frames)."""
    assert "DfnsWebhook" not in ALONE_PROGRAM and 'Other("other")' in ALONE_PROGRAM
    alone = program_project(tmp_path / "alone", ALONE_PROGRAM, {})
    reference = Harness(alone, tmp_path / "alone-state", env=emulator_env(emulator)).up(
        "dev", skip_preview=True
    )
    assert not reference.ok
    expected = error_of_other(reference.output, alone)
    assert any("the other provider failed" in line for line in expected), reference.output
    project = program_project(tmp_path / "project", TWO_PROVIDERS_PROGRAM, {})
    h = Harness(project, tmp_path / "state", env=emulator_env(emulator))
    result = h.up("dev", skip_preview=True)
    try:
        assert not result.ok
        # One provider process serves both resources: the other library's error is
        # untouched by pulumi-dfns's one-line errors.
        assert error_of_other(result.output, project) == expected, result.output
    finally:
        h.destroy("dev")
