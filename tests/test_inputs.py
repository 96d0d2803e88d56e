"""DfnsWebhook input checks in-process (as a program under mocks or the quickstart calls
them): the same answers the engine protocol gives, where numbers stay ints."""

from __future__ import annotations

import pytest

from pulumi_dfns.provider import DfnsWebhookProvider
from tests.support.failures import named

GOOD = {"url": "https://receiver.example/x", "events": ["wallet.created"]}


@pytest.mark.parametrize("number", [1, 1.0])
def test_a_whole_number_is_text(number: float) -> None:
    checked = DfnsWebhookProvider().check({}, {**GOOD, "secret_version": number})
    assert checked.failures == []
    assert checked.inputs["secret_version"] == "1"


@pytest.mark.parametrize("number", [2024, 2024.0])
def test_a_whole_number_is_a_description(number: float) -> None:
    checked = DfnsWebhookProvider().check({}, {**GOOD, "description": number})
    assert checked.failures == []
    assert checked.inputs["description"] == "2024"


@pytest.mark.parametrize(
    ("prop", "value"),
    [("secret_version", 1.5), ("description", 0.25), ("secret_version", float("nan"))],
)
def test_a_fraction_is_refused_naming_the_property(prop: str, value: float) -> None:
    checked = DfnsWebhookProvider().check({}, {**GOOD, prop: value})
    assert named((p.property, p.reason) for p in checked.failures) == [prop]
    assert "whole number" in checked.failures[0].reason


def test_true_is_not_a_number() -> None:
    checked = DfnsWebhookProvider().check({}, {**GOOD, "secret_version": True})
    assert named((p.property, p.reason) for p in checked.failures) == ["secret_version"]


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        ("On", "got 'On'"),  # a short word is worth showing
        ("x" * 12, f"got '{'x' * 12}'"),  # up to 12 characters
        ("x" * 13, "got other text"),  # longer: may be a secret pasted there
        (5, "got 5"),
        (["Enabled"], "got a list"),
    ],
)
def test_a_refused_value_is_shown_only_when_short(status: object, shown: str) -> None:
    from pulumi_dfns.inputs import check_inputs

    checked = check_inputs({"url": "https://receiver.example/x", "events": ["*"], "status": status})
    [(prop, reason)] = checked.failures
    assert prop == "status" and shown in reason, reason
