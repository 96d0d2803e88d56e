"""The reference stack program under Pulumi's mocks: what it declares, from its config."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "stacks"))

import webhooks_program  # noqa: E402

TYPE = "pulumi-python:dynamic/dfns:Webhook"


class Recorder(pulumi.runtime.Mocks):
    """Records every resource the program registers; answers like a created webhook."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        outputs.update(secret=f"whsec-{args.name}", date_created="now", date_updated="now")
        return f"wh-{args.name}", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    # Other tests' asyncio.run() leave no current loop; Pulumi's runtime wants one.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = Recorder()
    pulumi.runtime.set_mocks(mocks, project="dfns-webhooks", stack="dev", preview=False)
    yield mocks
    asyncio.set_event_loop(None)
    loop.close()


def dev_webhooks() -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    webhooks: dict[str, Any] = config["config"]["dfns-webhooks:webhooks"]
    return webhooks


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_dev_stack_declares_one_webhook_per_config_entry(recorder: Recorder) -> Any:
    webhooks = webhooks_program.declare(dev_webhooks())

    def verify(_: Any) -> None:
        assert sorted(r.name for r in recorder.resources) == ["audit", "payments"]
        assert {r.typ for r in recorder.resources} == {TYPE}
        payments = next(r for r in recorder.resources if r.name == "payments")
        assert payments.inputs["url"] == "https://receiver.example/dfns/payments"
        assert payments.inputs["events"] == [
            "wallet.transfer.confirmed",
            "wallet.transfer.failed",
        ]
        # The provider travels pickled, and is a secret in state.
        assert "__provider" in payments.inputs
        audit = next(r for r in recorder.resources if r.name == "audit")
        assert audit.inputs["status"] == "Disabled"

    return pulumi.Output.all(*(hook.id for hook in webhooks.values())).apply(verify)


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_engine_outputs_reach_the_declared_output_properties(recorder: Recorder) -> Any:
    webhooks = webhooks_program.declare(dev_webhooks())

    def verify(values: list[Any]) -> None:
        secret, created, status = values
        assert secret == "whsec-payments"
        assert created == "now"
        assert status is None  # not given in config: the provider's check fills it

    hook = webhooks["payments"]
    return pulumi.Output.all(hook.secret, hook.date_created, hook.status).apply(verify)


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_additional_secret_outputs_are_merged_into_the_users_options(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> Any:
    # Mocks ignore additional_secret_outputs, so look at the options the SDK receives.
    seen: list[pulumi.ResourceOptions] = []
    original = pulumi.CustomResource.__init__

    def spy(self: Any, t: str, name: str, props: Any, opts: Any = None, *a: Any, **k: Any) -> None:
        seen.append(opts)
        original(self, t, name, props, opts, *a, **k)

    monkeypatch.setattr(pulumi.CustomResource, "__init__", spy)
    from pulumi_dfns import DfnsWebhook

    hook = DfnsWebhook(
        "h",
        url="https://r.example",
        events=["*"],
        opts=pulumi.ResourceOptions(protect=True, additional_secret_outputs=["url"]),
    )
    assert seen[0].protect is True
    assert set(seen[0].additional_secret_outputs or []) == {"url", "secret", "adopt_secret"}
    return hook.id  # let the registration finish inside the test's event loop


def test_unknown_config_fields_are_named() -> None:
    with pytest.raises(ValueError, match=r"webhooks.x: unknown field\(s\) colour"):
        webhooks_program.declare({"x": {"url": "https://r.example", "events": ["*"], "colour": 1}})


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_args_object_and_keywords_declare_the_same_inputs(recorder: Recorder) -> Any:
    from pulumi_dfns import DfnsWebhook, DfnsWebhookArgs

    by_args = DfnsWebhook(
        "by-args",
        DfnsWebhookArgs(
            url="https://r.example/a", events=["*"], description="d", status="Disabled"
        ),
    )
    by_keywords = DfnsWebhook(
        "by-keywords", url="https://r.example/a", events=["*"], description="d", status="Disabled"
    )

    def verify(_: Any) -> None:
        inputs = {r.name: r.inputs for r in recorder.resources}
        for name in ("by-args", "by-keywords"):
            inputs[name].pop("__provider")
        assert inputs["by-args"] == inputs["by-keywords"]
        assert inputs["by-args"]["status"] == "Disabled"

    return pulumi.Output.all(by_args.id, by_keywords.id).apply(verify)


def test_the_provider_class_has_a_stable_public_import_path() -> None:
    import pulumi_dfns
    from pulumi_dfns.provider import DfnsWebhookProvider

    assert pulumi_dfns.DfnsWebhookProvider is DfnsWebhookProvider
    assert DfnsWebhookProvider.__module__ == "pulumi_dfns.provider"


def test_delete_before_replace_in_config_must_be_true_or_false() -> None:
    spec = {"url": "https://r.example", "events": ["*"], "deleteBeforeReplace": "yes"}
    with pytest.raises(ValueError, match=r"webhooks.x.deleteBeforeReplace: must be true or false"):
        webhooks_program.declare({"x": spec})


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_delete_before_replace_in_config_is_a_resource_option_not_an_input(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> Any:
    seen: dict[str, Any] = {}
    original = pulumi.CustomResource.__init__

    def spy(self: Any, t: str, name: str, props: Any, opts: Any = None, *a: Any, **k: Any) -> None:
        seen[name] = opts
        original(self, t, name, props, opts, *a, **k)

    monkeypatch.setattr(pulumi.CustomResource, "__init__", spy)
    hooks = webhooks_program.declare(
        {
            "rolled": {"url": "https://r.example/a", "events": ["*"], "deleteBeforeReplace": True},
            "plain": {"url": "https://r.example/b", "events": ["*"]},
        }
    )
    assert seen["rolled"].delete_before_replace is True
    assert seen["plain"].delete_before_replace is None

    def verify(_: Any) -> None:
        for resource in recorder.resources:
            assert "deleteBeforeReplace" not in resource.inputs
            assert "delete_before_replace" not in resource.inputs

    return pulumi.Output.all(*(h.id for h in hooks.values())).apply(verify)
