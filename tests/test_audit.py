"""`python -m pulumi_dfns.audit` against the emulator, as a process (issue 12 item 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.emulator import EmulatorProcess
from tests.test_deliveries import emit, free_port

TYPE = "pulumi-python:dynamic/dfns:Webhook"
EVENTS = ["wallet.created"]


def export(path: Path, stack: str, resources: dict[str, str], **extra: Any) -> Path:
    """A `pulumi stack export` file (apitype.UntypedDeployment, deployment v3) holding
    DfnsWebhooks by resource name -> id; outputs hold an encrypted secret, as exported."""
    items = [
        {
            "urn": f"urn:pulumi:{stack}::dfns-webhooks::{TYPE}::{name}",
            "custom": True,
            "id": webhook_id,
            "type": TYPE,
            "outputs": {
                "secret": {
                    "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                    "ciphertext": "v1:abc",
                }
            },
        }
        for name, webhook_id in resources.items()
    ]
    deployment = {"manifest": {}, "resources": items, **extra}
    path.write_text(json.dumps({"version": 3, "deployment": deployment}))
    return path


def audit(emulator: EmulatorProcess, *args: str, env: dict[str, str] | None = None) -> Any:
    creds = emulator.credentials()
    base = {k: v for k, v in os.environ.items() if not k.startswith("DFNS_")}
    if env is None:
        env = {"DFNS_API_URL": creds["apiUrl"], "DFNS_AUTH_TOKEN": creds["authToken"]}
    return subprocess.run(
        [sys.executable, "-m", "pulumi_dfns.audit", *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=120,
    )


def test_audit_marks_managed_unmanaged_duplicates_and_failures(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    client = emulator.client()
    dead = f"http://127.0.0.1:{free_port()}/dfns"
    dev = client.create_webhook("https://hooks.example/dfns?token=s3cr3t", EVENTS)
    prod = client.create_webhook("https://prod.example/dfns", ["key.created"])
    duplicate = client.create_webhook("https://hooks.example/dfns?token=s3cr3t", EVENTS)
    orphan = client.create_webhook(dead, ["wallet.signature.failed"], description="orphan")
    secrets = [w["secret"] for w in (dev, prod, duplicate, orphan)]
    emit(emulator, "wallet.signature.failed", timeScale=1000)  # the orphan's delivery fails
    states = [
        export(tmp_path / "dev.json", "dev", {"payments": dev["id"]}),
        export(
            tmp_path / "prod.json",
            "prod",
            {"all": prod["id"], "gone": "wh-gone0-gone0-00000000000000"},
        ),
    ]
    emulator.clear_log()
    result = audit(emulator, "--state", str(states[0]), "--state", str(states[1]), "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    rows = {row["id"]: row for row in report["webhooks"]}
    assert [(r["stack"], r["resource"]) for r in rows[dev["id"]]["managedBy"]] == [
        ("dev", "payments")
    ]
    assert [r["stack"] for r in rows[prod["id"]]["managedBy"]] == ["prod"]
    assert rows[duplicate["id"]]["managedBy"] == []
    assert rows[duplicate["id"]]["duplicateOf"] == dev["id"]
    assert rows[dev["id"]]["duplicateOf"] is None
    assert rows[orphan["id"]]["managedBy"] == [] and rows[orphan["id"]]["duplicateOf"] is None
    assert rows[orphan["id"]]["failedDeliveries24h"] == 1
    assert rows[orphan["id"]]["lastDeliveryFailure"]["status"] == "0"
    assert rows[dev["id"]]["failedDeliveries24h"] == 0
    assert rows[dev["id"]]["url"] == "https://hooks.example/dfns?token=***"  # redacted
    assert [m["resource"] for m in report["missingFromDfns"]] == ["gone"]
    assert report["freeSlots"] == 1 and report["limit"] == 5 and report["ok"] is False
    # Read-only: only GETs reached Dfns; nothing secret was printed.
    assert {e["method"] for e in emulator.requests_log()} == {"GET"}
    for secret in [*secrets, "s3cr3t", emulator.credentials()["authToken"]]:
        assert secret not in result.stdout + result.stderr

    table = audit(emulator, "--state", str(states[0]), "--state", str(states[1]))
    assert table.returncode == 1
    text = table.stdout
    assert f"{duplicate['id']} duplicates {dev['id']} (same url and events)" in text
    assert f"{orphan['id']} is managed by no stack given" in text
    assert "prod/gone points at a webhook Dfns no longer holds" in text
    assert (
        "4 webhook(s): 2 managed, 2 unmanaged, 1 duplicate(s), 0 rotation pair(s); "
        "free slots 1 of 5" in text
    )
    orphan_line = next(line for line in text.splitlines() if line.startswith(orphan["id"]))
    assert "UNMANAGED" in orphan_line and orphan_line.rstrip().endswith("1")
    assert {e["method"] for e in emulator.requests_log()} == {"GET"}


def test_audit_passes_when_everything_is_managed_once(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    client = emulator.client()
    hook = client.create_webhook("https://hooks.example/dfns", EVENTS)
    pending = {
        "pending_operations": [
            {
                "type": "creating",
                "resource": {"urn": f"urn:pulumi:dev::p::{TYPE}::next", "type": TYPE},
            }
        ]
    }
    state = export(tmp_path / "dev.json", "dev", {"payments": hook["id"]}, **pending)
    creds = emulator.credentials()
    # Settings from a `pulumi config --json --show-secrets` file instead of DFNS_*.
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "dfns:apiUrl": {"value": creds["apiUrl"], "secret": False},
                "dfns:authToken": {"value": creds["authToken"], "secret": True},
                "dfns-webhooks:webhooks": {"objectValue": {}, "secret": False},
            }
        )
    )
    result = audit(emulator, "--config", str(config), "--state", str(state), env={})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "1 webhook(s): 1 managed, 0 unmanaged, 0 duplicate(s), 0 rotation pair(s); "
        "free slots 4 of 5" in (result.stdout)
    )
    assert "dev/next has a pending create" in result.stdout
    assert creds["authToken"] not in result.stdout + result.stderr


def test_audit_says_why_it_cannot_run(emulator: EmulatorProcess, tmp_path: Path) -> None:
    creds = emulator.credentials()
    cases: list[tuple[list[str], dict[str, str], str]] = [
        ([], {}, "dfns:authToken: not set"),
        (["--state", str(tmp_path / "nope.json")], None, "--state"),  # type: ignore[list-item]
        (
            [],
            {
                "DFNS_API_URL": f"http://127.0.0.1:{free_port()}",
                "DFNS_AUTH_TOKEN": "x",
                "DFNS_MAX_ATTEMPTS": "1",
            },
            "cannot connect",
        ),
        ([], {"DFNS_API_URL": creds["apiUrl"], "DFNS_AUTH_TOKEN": "not-a-token"}, "401"),
    ]
    secure = tmp_path / "Pulumi.dev.yaml"
    secure.write_text("config:\n  dfns:authToken:\n    secure: v1:AAAA\n")
    cases.append((["--config", str(secure)], {}, "dfns:authToken is encrypted"))
    for args, env, words in cases:
        result = audit(emulator, *args, env=env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "audit: cannot run" in result.stderr and words in result.stderr, result.stderr


def test_a_rotation_pair_both_managed_is_information_not_a_finding(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    """The documented rotation (old + successor, same url and events, both declared)
    must not fail the audit for its whole duration; an unmanaged third one still does."""
    client = emulator.client()
    old = client.create_webhook("https://hooks.example/dfns", EVENTS)
    new = client.create_webhook("https://hooks.example/dfns", EVENTS, status="Disabled")
    state = export(
        tmp_path / "dev.json", "dev", {"payments-v1": old["id"], "payments-v2": new["id"]}
    )
    result = audit(emulator, "--state", str(state))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"note: {old['id']} and {new['id']} are a rotation pair" in result.stdout
    assert "0 duplicate(s), 1 rotation pair(s)" in result.stdout
    report = json.loads(audit(emulator, "--state", str(state), "--json").stdout)
    assert report["rotationPairs"] == [[old["id"], new["id"]]] and report["ok"] is True
    rows = {row["id"]: row for row in report["webhooks"]}
    assert rows[new["id"]]["duplicateOf"] is None
    assert rows[new["id"]]["rotationPairOf"] == old["id"]
    stray = client.create_webhook("https://hooks.example/dfns", EVENTS)
    again = audit(emulator, "--state", str(state), "--json")
    assert again.returncode == 1
    rows = {row["id"]: row for row in json.loads(again.stdout)["webhooks"]}
    assert rows[stray["id"]]["duplicateOf"] == old["id"]


def test_audit_reads_files_with_a_byte_order_mark(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    creds = emulator.credentials()
    settings = {"dfns:apiUrl": creds["apiUrl"], "dfns:authToken": creds["authToken"]}
    state = json.dumps({"version": 3, "deployment": {"resources": []}})
    for encoding in ("utf-16", "utf-8-sig", "utf-32"):
        config = tmp_path / f"config-{encoding}.json"
        config.write_text(json.dumps(settings), encoding=encoding)  # with its BOM
        export_file = tmp_path / f"state-{encoding}.json"
        export_file.write_text(state, encoding=encoding)
        result = audit(emulator, "--config", str(config), "--state", str(export_file), env={})
        assert result.returncode == 0, (encoding, result.stderr)


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("utf16-garbage", "--config"),
        ("latin1", "--config"),
        ("resources-object", "deployment.resources is not a list"),
        ("operations-object", "deployment.pending_operations is not a list"),
        ("resource-number", "deployment.resources[0] is not an object"),
        ("timeout-1e300", "dfns:readTimeout: must be at most"),
        ("timeout-1e400", "dfns:readTimeout: must be a finite number"),
        # Read with the provider's own rules (settings.load_limits), not looser ones.
        ("timeout-0.001", "dfns:readTimeout: must be at least 0.1"),
        ("attempts-1_0", "dfns:maxAttempts: is not a number"),
        ("attempts-2.5", "dfns:maxAttempts: must be a whole number"),
        ("attempts-1e9", "dfns:maxAttempts: must be at most"),
        ("timeout-eyJpasted.token", "dfns:readTimeout: is not a number"),
    ],
)
def test_audit_exits_2_naming_why_for_unusable_files_and_settings(
    emulator: EmulatorProcess, tmp_path: Path, setup: str, words: str
) -> None:
    creds = emulator.credentials()
    env = {"DFNS_API_URL": creds["apiUrl"], "DFNS_AUTH_TOKEN": creds["authToken"]}
    args: list[str] = []
    config = tmp_path / "config.json"
    if setup == "utf16-garbage":
        config.write_bytes(b"\xff\xfe" + b"\x00\xd8")  # a BOM, then a lone surrogate
        args = ["--config", str(config)]
    elif setup == "latin1":
        config.write_bytes('{"dfns:description": "caf\u00e9"}'.encode("latin-1"))
        args = ["--config", str(config)]
    elif setup.startswith(("resources", "operations", "resource-")):
        deployments: dict[str, dict[str, Any]] = {
            "resources-object": {"resources": {"a": 1}},
            "operations-object": {"resources": [], "pending_operations": {"a": 1}},
            "resource-number": {"resources": [5]},
        }
        deployment = deployments[setup]
        state = tmp_path / "state.json"
        state.write_text(json.dumps({"deployment": deployment}))
        args = ["--state", str(state)]
    elif setup.startswith("timeout"):
        env["DFNS_READ_TIMEOUT"] = setup.split("-")[1]
    else:
        env["DFNS_MAX_ATTEMPTS"] = setup.split("-")[1]
    result = audit(emulator, *args, env=env)
    assert result.returncode == 2, (setup, result.stdout, result.stderr)
    assert "audit: cannot run" in result.stderr and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    # A value is never echoed: it may be a secret pasted into the wrong setting.
    assert "eyJpasted" not in result.stderr


def test_an_unexpected_error_exits_2_naming_only_its_type(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No local process can make the audit hit a bug on purpose: one is planted."""
    from pulumi_dfns import audit as module

    def broken(client: Any, states: Any) -> Any:
        raise KeyError("whsec-must-not-be-shown")

    monkeypatch.setattr(module, "run_audit", broken)
    creds = emulator.credentials()
    code = module.main([], {"DFNS_API_URL": creds["apiUrl"], "DFNS_AUTH_TOKEN": creds["authToken"]})
    err = capsys.readouterr().err
    assert code == 2
    assert "audit: cannot run: unexpected KeyError" in err and "whsec" not in err


def test_a_refused_token_gets_the_audit_s_advice_not_the_provider_s(
    emulator: EmulatorProcess,
) -> None:
    creds = emulator.credentials()
    result = audit(emulator, env={"DFNS_API_URL": creds["apiUrl"], "DFNS_AUTH_TOKEN": "nope"})
    assert result.returncode == 2
    assert "HTTP 401" in result.stderr and "DFNS_AUTH_TOKEN" in result.stderr
    assert "pulumi refresh" not in result.stderr and "pulumi destroy" not in result.stderr


def test_awaiting_retry_gates_the_removal_of_an_old_webhook(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    """Step 3 of the rotation: the old webhook goes only when none of its failed
    deliveries waits for a retry (Dfns does not retry a deleted webhook's)."""
    client = emulator.client()
    waiting = client.create_webhook(f"http://127.0.0.1:{free_port()}/dfns", EVENTS)
    emit(emulator, "wallet.created", timeScale=1000)  # failed; its retry is far away
    state = export(tmp_path / "dev.json", "dev", {"old": waiting["id"]})
    result = audit(emulator, "--state", str(state), "--awaiting-retry", waiting["id"], "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert len(report["awaitingRetry"][waiting["id"]]) == 1
    assert any("may still retry: do not delete" in f for f in report["findings"])
    # Every attempt made (5, all failed): nothing waits any more, nothing can be lost.
    client.delete_webhook(waiting["id"])
    spent = client.create_webhook(f"http://127.0.0.1:{free_port()}/dfns", EVENTS)
    emit(emulator, "wallet.created", timeScale=0.0001)
    deadline = time.monotonic() + 30
    while len(client.list_webhook_events(spent["id"])) < 5:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    state = export(tmp_path / "dev.json", "dev", {"old": spent["id"]})
    result = audit(emulator, "--state", str(state), "--awaiting-retry", spent["id"], "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["awaitingRetry"] == {spent["id"]: []}
