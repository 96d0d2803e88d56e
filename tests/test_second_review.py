"""The second hostile review (issue 17): each defect through the process where it was
seen (the audit and the receiver as processes, the emulator over HTTP, the provider over
gRPC). Every fix has a test here (or in the bad-input corpus and the fault matrix) that
failed on the code before it; "guard" marks the ones that keep a boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pulumi_dfns.emulator.auth import WEBHOOK_PERMISSIONS
from pulumi_dfns.redact import shown_url
from tests.support.emulator import EmulatorProcess
from tests.support.engine import EngineError, ProviderServer
from tests.test_audit import EVENTS, audit, export

# -- 7: a rotation pair is two webhooks of the same stack ---------------------------------


def test_the_same_webhook_in_two_stacks_is_a_duplicate_not_a_rotation_pair(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    client = emulator.client()
    dev = client.create_webhook("https://hooks.example/dfns", EVENTS)
    prod = client.create_webhook("https://hooks.example/dfns", EVENTS)
    states = [
        export(tmp_path / "dev.json", "dev", {"payments": dev["id"]}),
        export(tmp_path / "prod.json", "prod", {"payments": prod["id"]}),
    ]
    result = audit(emulator, "--state", str(states[0]), "--state", str(states[1]), "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["rotationPairs"] == []
    rows = {row["id"]: row for row in report["webhooks"]}
    assert rows[prod["id"]]["duplicateOf"] == dev["id"]
    assert rows[prod["id"]]["rotationPairOf"] is None
    assert f"{prod['id']} duplicates {dev['id']} (same url and events)" in report["findings"]
    table = audit(emulator, "--state", str(states[0]), "--state", str(states[1]))
    assert "rotation pair" not in table.stdout.replace("0 rotation pair(s)", "")


# -- 8: a query that is not plain name=value pairs is hidden whole ------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example/dfns?s3cr3tT0ken", "https://hooks.example/dfns?***"),
        ("https://hooks.example/dfns?k%3Ds3cr3tT0ken", "https://hooks.example/dfns?***"),
        ("https://hooks.example/dfns?s3cr3tT0ken&a=1", "https://hooks.example/dfns?***"),
        ("https://hooks.example/dfns?%74oken=s3cr3tT0ken", "https://hooks.example/dfns?***"),
        (
            "https://hooks.example/dfns?a=1&token=s3cr3tT0ken",
            "https://hooks.example/dfns?a=***&token=***",
        ),
    ],
)
def test_shown_url_hides_a_query_it_cannot_split_into_names_and_values(
    url: str, shown: str
) -> None:
    assert shown_url(url) == shown


def test_the_audit_table_never_shows_a_bare_query_token(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    client = emulator.client()
    made = [
        client.create_webhook(url, EVENTS, description=str(n))
        for n, url in enumerate(
            ("https://hooks.example/a?s3cr3tT0ken", "https://hooks.example/b?k%3Ds3cr3tT0ken")
        )
    ]
    state = export(tmp_path / "dev.json", "dev", {f"w{n}": w["id"] for n, w in enumerate(made)})
    for extra in ([], ["--json"]):
        result = audit(emulator, "--state", str(state), *extra)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "hooks.example/a?***" in result.stdout
        assert "s3cr3tT0ken" not in result.stdout + result.stderr


# -- guard: a state file nested past Python's stack -----------------------------------------


def test_a_deeply_nested_state_or_config_file_is_refused_by_name(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    for option in ("--state", "--config"):
        result = audit(emulator, option, str(deep))
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{option} {deep}: nested too deeply" in result.stderr, result.stderr
        assert "unexpected" not in result.stderr


# -- 9: an adopt refused for lack of Webhooks:Update names Webhooks:Update ----------------


def test_an_adopt_without_the_update_permission_names_it(emulator: EmulatorProcess) -> None:
    made = emulator.client().create_webhook("https://hooks.example/old", EVENTS)
    permissions = [p for p in WEBHOOK_PERMISSIONS if p != "Webhooks:Update"]
    config = {**emulator.config(), "dfns:authToken": emulator.issue_token(permissions=permissions)}
    server = ProviderServer()
    try:
        server.configure(config)
        news = server.check(
            {"url": "https://hooks.example/new", "events": EVENTS, "adopt_webhook_id": made["id"]}
        )
        with pytest.raises(EngineError) as caught:
            server.create(news.inputs)
    finally:
        server.close()
    details = caught.value.details
    assert "HTTP 403" in details and "needs the Webhooks:Update permission" in details, details
    assert "Webhooks:Create" not in details
    assert emulator.client().get_webhook(made["id"])["url"] == "https://hooks.example/old"
