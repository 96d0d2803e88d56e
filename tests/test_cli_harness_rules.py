"""The harness's own rules, observed from inside a provider: a dynamic provider that
records every call it gets, run through the harness. Each assertion names the engine
rule (and the pulumi/pulumi source the harness follows for it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Harness
from tests.harness.project import SECRETS_ENV
from tests.harness.wire import SECRET_SIG, SIG, is_secret
from tests.support.cli_project import base_env, checkpoint_text, program_project

RECORDER_PROGRAM = """\
import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult
from pulumi.dynamic import Resource, ResourceProvider, UpdateResult


class Recorder(ResourceProvider):
    def record(self, call, **data):
        import json, os

        with open(os.environ["RULES_LOG"], "a") as log:
            log.write(json.dumps({"call": call, **data}) + "\\n")

    @staticmethod
    def plain(props):
        return {k: v for k, v in props.items() if k != "__provider"}

    def configure(self, req):
        import os, sys

        self.record("configure", cwd=os.getcwd(), python=sys.executable,
                    value=req.config.get("rules:value"))

    def check(self, olds, news):
        self.record("check", olds=self.plain(olds), news=self.plain(news))
        return CheckResult({**news, "checked": str(news.get("value")) + "!"}, [])

    def diff(self, id, olds, news):
        self.record("diff", id=id, olds=self.plain(olds), news=self.plain(news))
        return DiffResult(changes=olds.get("value") != news.get("value"),
                          replaces=["value"] if news.get("value") == "replace-me" else [])

    def create(self, props):
        self.record("create", props=self.plain(props))
        return CreateResult("id-" + str(props["value"]), {**self.plain(props), "out": "made"})

    def update(self, id, olds, news):
        self.record("update", id=id, olds=self.plain(olds), news=self.plain(news))
        return UpdateResult({**self.plain(news), "out": "updated"})

    def read(self, id, props):
        self.record("read", id=id, props=self.plain(props))
        return ReadResult(id, {**self.plain(props), "out": "read"})

    def delete(self, id, props):
        self.record("delete", id=id, props=self.plain(props))


class Thing(Resource):
    def __init__(self, name, value, token):
        props = {"value": value, "token": token, "checked": None, "out": None}
        opts = pulumi.ResourceOptions(additional_secret_outputs=["out"])
        super().__init__(Recorder(), name, props, opts)


config = pulumi.Config()
thing = Thing("thing", config.require("value"), config.require_secret("token"))
pulumi.export("out", thing.out)
"""

TOKEN = "tok-5e1d"


def calls(log: Path, name: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [e for e in entries if e["call"] == name]


def test_the_engine_rules_as_a_provider_sees_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.jsonl"
    project = program_project(
        tmp_path / "project",
        RECORDER_PROGRAM,
        {"rules:value": "v1", "rules:token": {"secure": "v1:in-the-environment"}},
    )
    (project / "Pulumi.yaml").write_text(
        (project / "Pulumi.yaml").read_text().replace("harness-program", "rules")
    )
    env = {**base_env(), "RULES_LOG": str(log), SECRETS_ENV: json.dumps({"rules:token": TOKEN})}
    h = Harness(project, tmp_path / "state", env=env)
    monkeypatch.chdir(tmp_path)  # the caller's directory is not the project's

    assert h.up("dev", skip_preview=True).ok
    # plugin.go newPlugin(ctx, ctx.Pwd): started in the program directory, with the
    # interpreter of its virtualenv as the shim resolves it.
    configured = calls(log, "configure")[0]
    assert configured["cwd"] == str(project)
    assert configured["python"] == str(project / ".venv" / "bin" / "python")
    assert configured["value"] == "v1"  # target.go GetPackageConfig: the whole config
    # A first Check has no old inputs; secrets reach the provider in plaintext
    # (acceptSecrets=false); Create gets Check's answer.
    assert calls(log, "check")[0]["olds"] == {}
    assert calls(log, "check")[0]["news"]["token"] == TOKEN
    assert calls(log, "create")[0]["props"]["checked"] == "v1!"
    state = h.checkpoint("dev").custom_resources()[0]
    assert state.inputs["checked"] == "v1!"  # Check's result is the stored inputs
    assert is_secret(state.inputs["token"])
    assert is_secret(state.outputs["token"])  # annotateSecrets: same key as a secret input
    assert is_secret(state.outputs["out"])  # additionalSecretOutputs
    assert TOKEN not in checkpoint_text(h)
    assert f'"{SIG}": "{SECRET_SIG}"' in checkpoint_text(h)

    config = (project / "Pulumi.dev.yaml").read_text().replace("rules:value: v1", "rules:value: v2")
    (project / "Pulumi.dev.yaml").write_text(config)
    preview = h.preview("dev")
    assert preview.ok and preview.ops("update") == ["thing"]
    assert calls(log, "update") == []  # a preview never updates
    assert h.up("dev", skip_preview=True).ok
    check, diff, update = calls(log, "check")[-1], calls(log, "diff")[-1], calls(log, "update")[-1]
    assert check["olds"]["checked"] == "v1!"  # Check gets the OLD INPUTS
    assert "out" not in check["olds"]
    assert diff["olds"]["out"] == "made"  # Diff gets the OLD OUTPUTS
    assert update["olds"]["out"] == "made"  # and so does Update
    assert update["news"]["checked"] == "v2!"
    assert h.checkpoint("dev").custom_resources()[0].outputs["out"]["value"] == "updated"

    assert h.refresh("dev").ok
    assert calls(log, "read")[-1]["props"]["out"] == "updated"  # Read gets the outputs
    assert h.destroy("dev").ok
    assert calls(log, "delete")[-1]["props"]["out"] == "read"  # Delete gets the outputs
    assert h.checkpoint("dev").resources == []


UNKNOWN_DIFF_PROGRAM = """\
import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider


class Undecided(ResourceProvider):
    def diff(self, id, olds, news):
        return DiffResult(changes=None)  # the SDK answers DIFF_UNKNOWN

    def create(self, props):
        return CreateResult("id-1", {})


class Thing(Resource):
    def __init__(self, name, value):
        super().__init__(Undecided(), name, {"value": value})


Thing("thing", pulumi.Config().require("value"))
"""


def test_a_diff_that_does_not_decide_is_settled_by_comparing_inputs(tmp_path: Path) -> None:
    """step_generator.go diff: DIFF_UNKNOWN becomes DiffNone when the old and new inputs
    are deep-equal, DiffSome otherwise (never a change by itself)."""
    project = program_project(tmp_path / "project", UNKNOWN_DIFF_PROGRAM, {})
    stack = project / "Pulumi.dev.yaml"
    stack.write_text("config:\n  harness-program:value: a\n")
    h = Harness(project, tmp_path / "state", env=base_env())
    assert h.up("dev", skip_preview=True).ok
    same = h.preview("dev")
    assert same.ok and {s.op for s in same.steps} == {"same"}, same.output
    stack.write_text("config:\n  harness-program:value: b\n")
    changed = h.preview("dev")
    assert changed.ok and changed.ops("update") == ["thing"], changed.output
