"""DfnsWebhook through the SDK's own provider server, driven over gRPC as the engine does,
against the emulator over loopback HTTP. Request counts come from the emulator's log."""

from __future__ import annotations

import base64
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pulumi.output import Unknown
from pulumi.runtime import rpc

from pulumi_dfns.tracebacks import install_one_line_errors
from tests.support import other_provider
from tests.support.emulator import EmulatorProcess
from tests.support.engine import (
    DIFF_NONE,
    DIFF_SOME,
    ERROR_PREFIX,
    UNKNOWN,
    EngineError,
    ProviderServer,
    plaintext,
    serialized_provider,
)
from tests.support.failures import named, reasons_for

INPUTS = {
    "url": "https://receiver.example/dfns",
    "events": ["wallet.transfer.confirmed", "wallet.created", "wallet.created"],
    "description": "payments",
}
SIGNING = [("POST", "/auth/action/init"), ("POST", "/auth/action")]


@pytest.fixture
def engine(emulator: EmulatorProcess) -> Iterator[ProviderServer]:
    server = ProviderServer()
    server.configure(emulator.config())
    yield server
    server.close()


def calls(emulator: EmulatorProcess) -> list[tuple[str, str]]:
    return [(e["method"], e["path"]) for e in emulator.requests_log()]


def up(
    engine: ProviderServer, program: dict[str, Any]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """check then create, as `pulumi up` does for a new resource."""
    checked = engine.check(program)
    assert checked.failures == []
    webhook_id, outs = engine.create(checked.inputs)
    return webhook_id, checked.inputs, outs


def test_preview_sends_no_http_request(engine: ProviderServer, emulator: EmulatorProcess) -> None:
    checked = engine.check(INPUTS)
    assert checked.failures == []
    assert checked.inputs["events"] == ["wallet.created", "wallet.transfer.confirmed"]
    assert checked.inputs["status"] == "Enabled"  # the default, made explicit in state
    fake_state = {**checked.inputs, "secret": "s", "date_created": "d", "date_updated": "d"}
    assert (
        engine.diff("wh-x", fake_state, {**checked.inputs, "status": "Disabled"}).changes
        == DIFF_SOME
    )
    assert calls(emulator) == []


def test_create_is_one_signed_call_with_a_secret_output(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    webhook_id, _, outs = up(engine, INPUTS)
    assert webhook_id.startswith("wh-")
    assert calls(emulator) == [*SIGNING, ("POST", "/webhooks")]
    assert rpc.is_rpc_secret(outs["secret"])
    assert rpc.unwrap_rpc_secret(outs["secret"]).startswith("whsec-")
    assert outs["url"] == INPUTS["url"]
    assert outs["events"] == ["wallet.created", "wallet.transfer.confirmed"]
    assert outs["status"] == "Enabled"
    assert outs["date_created"] and outs["date_updated"]
    live = emulator.client().get_webhook(webhook_id)
    assert live["description"] == "payments"


def test_no_op_diff_is_diff_none_and_provider_changes_are_ignored(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    webhook_id, _inputs, outs = up(engine, INPUTS)
    # Same events in another order, and a state written by an older provider pickle.
    again = engine.check({**INPUTS, "events": list(reversed(INPUTS["events"]))}).inputs
    state = {**plaintext(outs), "__provider": "an-older-pickle"}
    assert engine.diff(webhook_id, state, again).changes == DIFF_NONE


@pytest.mark.parametrize(
    ("change", "replaces"),
    [
        ({"description": "renamed"}, []),
        ({"url": "https://receiver.example/v2"}, []),
        ({"events": ["*"]}, []),
        ({"status": "Disabled"}, []),
        ({"description": None}, []),
        ({"secret_version": "2"}, ["secret_version"]),
        ({"url": UNKNOWN}, []),
    ],
    ids=["description", "url", "events", "status", "clear-description", "roll-secret", "unknown"],
)
def test_diff_field_by_field(
    engine: ProviderServer, emulator: EmulatorProcess, change: dict[str, Any], replaces: list[str]
) -> None:
    webhook_id, inputs, outs = up(engine, INPUTS)
    news = {k: v for k, v in {**inputs, **change}.items() if v is not None}
    diffed = engine.diff(webhook_id, plaintext(outs), news)
    assert diffed.changes == DIFF_SOME
    assert diffed.replaces == replaces
    assert diffed.delete_before_replace is False


def test_update_sends_the_whole_state_and_returns_every_output(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    webhook_id, _inputs, outs = up(engine, INPUTS)
    emulator.clear_log()
    news = engine.check({**INPUTS, "description": "renamed", "status": "Disabled"}).inputs
    new_outs = engine.update(webhook_id, outs, news)
    log = emulator.requests_log()
    assert [(e["method"], e["path"]) for e in log] == [*SIGNING, ("PUT", f"/webhooks/{webhook_id}")]
    # url, events, status and description on every PUT (issue 10 item 3), in one PUT.
    assert log[-1]["bodyFields"] == ["description", "events", "status", "url"]
    assert new_outs["description"] == "renamed"
    assert new_outs["status"] == "Disabled"
    assert new_outs["url"] == INPUTS["url"]
    assert new_outs["date_created"] == outs["date_created"]
    # Dfns returns no secret on update: the one from state comes back, still secret.
    assert rpc.is_rpc_secret(new_outs["secret"])
    assert new_outs["secret"] == outs["secret"]


def test_removing_the_description_clears_it(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    webhook_id, _inputs, outs = up(engine, INPUTS)
    news = engine.check({k: v for k, v in INPUTS.items() if k != "description"}).inputs
    new_outs = engine.update(webhook_id, outs, news)
    assert new_outs.get("description") is None
    # Dfns documents no way to clear a description: an empty one is sent.
    assert emulator.client().get_webhook(webhook_id).get("description") == ""
    # ...which reads back as no description: no diff at the next preview.
    _, read_outs, _ = engine.read(webhook_id, new_outs)
    assert engine.diff(webhook_id, plaintext(read_outs), news).changes == DIFF_NONE


def test_refresh_sees_changes_made_outside_pulumi(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    webhook_id, inputs, outs = up(engine, INPUTS)
    emulator.client().update_webhook(
        webhook_id, url=str(INPUTS["url"]), events=["*"], status="Disabled", description="payments"
    )
    emulator.clear_log()
    read_id, read_outs, read_inputs = engine.read(webhook_id, outs)
    assert calls(emulator) == [("GET", f"/webhooks/{webhook_id}")]
    assert read_id == webhook_id
    assert read_outs["status"] == "Disabled" and read_outs["events"] == ["*"]
    assert read_inputs["status"] == "Disabled"
    assert rpc.is_rpc_secret(read_outs["secret"])  # carried over: Dfns never returns it again
    assert read_outs["secret"] == outs["secret"]
    # The next preview shows the drift against the program's inputs.
    assert engine.diff(webhook_id, plaintext(read_outs), inputs).changes == DIFF_SOME
    # ...and a refresh with no drift leaves no diff noise.
    assert engine.diff(webhook_id, plaintext(read_outs), read_inputs).changes == DIFF_NONE


def test_refresh_drops_a_webhook_deleted_outside_pulumi(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    webhook_id, _, outs = up(engine, INPUTS)
    emulator.client().delete_webhook(webhook_id)
    read_id, _, _ = engine.read(webhook_id, outs)
    assert read_id == ""


def test_update_of_a_webhook_deleted_outside_pulumi_says_refresh(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    webhook_id, inputs, outs = up(engine, INPUTS)
    emulator.client().delete_webhook(webhook_id)
    with pytest.raises(EngineError) as caught:
        engine.update(webhook_id, outs, {**inputs, "description": "x"})
    assert "pulumi refresh" in caught.value.details
    assert webhook_id in caught.value.details


def test_delete_is_one_signed_call_and_deleting_twice_succeeds(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    webhook_id, _, outs = up(engine, INPUTS)
    emulator.clear_log()
    engine.delete(webhook_id, outs)
    assert calls(emulator) == [*SIGNING, ("DELETE", f"/webhooks/{webhook_id}")]
    assert emulator.webhooks() == []
    engine.delete(webhook_id, outs)  # already gone: still a success


def test_rolling_the_secret_replaces_create_before_delete(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    old_id, _inputs, outs = up(engine, {**INPUTS, "secret_version": "1"})
    news = engine.check({**INPUTS, "secret_version": "2"}).inputs
    diffed = engine.diff(old_id, plaintext(outs), news)
    assert diffed.replaces == ["secret_version"] and not diffed.delete_before_replace
    # The engine replaces as create-then-delete.
    new_id, new_outs = engine.create(news)
    engine.delete(old_id, outs)
    assert new_id != old_id
    assert new_outs["secret"] != outs["secret"]
    assert [w["id"] for w in emulator.webhooks()] == [new_id]


def test_adopting_an_existing_webhook_updates_it_in_place(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    existing = emulator.client().create_webhook("https://old.example/x", ["wallet.created"])
    emulator.clear_log()
    webhook_id, _, outs = up(engine, {**INPUTS, "adopt_webhook_id": existing["id"]})
    assert webhook_id == existing["id"]
    assert calls(emulator) == [
        ("GET", f"/webhooks/{webhook_id}"),
        *SIGNING,
        ("PUT", f"/webhooks/{webhook_id}"),
    ]
    assert outs["url"] == INPUTS["url"]
    assert outs.get("secret") is None
    assert len(emulator.webhooks()) == 1
    output = engine.output_with("returns a webhook's secret only when it is created")
    assert f"warning: DfnsWebhook adopted {webhook_id}" in output
    assert "returns a webhook's secret only when it is created" in output


def test_adopting_a_missing_webhook_fails_naming_the_input(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    with pytest.raises(EngineError) as caught:
        up(engine, {**INPUTS, "adopt_webhook_id": "wh-nope"})
    assert "adopt_webhook_id" in caught.value.details
    assert emulator.webhooks() == []


def test_check_reports_every_bad_property_at_once(engine: ProviderServer) -> None:
    checked = engine.check(
        {
            "url": "not a url",
            "events": ["wallet.transfer.confimed", "*"],
            "description": "d" * 300,
            "status": "enabled",
            "colour": "blue",
        }
    )
    assert set(named(checked.failures)) == {"url", "events", "description", "status", "colour"}
    assert "did you mean 'wallet.transfer.confirmed'" in reasons_for("events", checked.failures)[0]
    assert "256" in reasons_for("description", checked.failures)[0]


def test_check_passes_an_unheard_of_kind_with_a_warning(engine: ProviderServer) -> None:
    checked = engine.check({**INPUTS, "events": ["card.issued"]})
    assert checked.failures == []
    assert checked.inputs["events"] == ["card.issued"]
    output = engine.output_with("card.issued")
    assert "card.issued" in output and "warning" in output


def test_whole_numbers_are_taken_as_text(engine: ProviderServer) -> None:
    # `secretVersion: 1` unquoted in YAML: every number crosses gRPC as a double (1.0).
    program = {**INPUTS, "secret_version": 1, "description": 2024}
    checked = engine.check(program)
    assert checked.failures == []
    assert checked.inputs["secret_version"] == "1"
    assert checked.inputs["description"] == "2024"
    webhook_id, outs = engine.create(checked.inputs)
    assert outs["secret_version"] == "1"
    # The same program at the next preview: no change, no replacement.
    again = engine.check(program, olds=checked.inputs).inputs
    assert engine.diff(webhook_id, plaintext(outs), again).changes == DIFF_NONE


def test_a_fraction_where_text_is_asked_is_refused_naming_the_property(
    engine: ProviderServer,
) -> None:
    checked = engine.check({**INPUTS, "secret_version": 1.5})
    assert named(checked.failures) == ["secret_version"]
    assert "whole number" in checked.failures[0][1] and "1.5" in checked.failures[0][1]


def test_check_skips_values_not_yet_known(engine: ProviderServer) -> None:
    news = {"url": UNKNOWN, "events": UNKNOWN, "description": UNKNOWN, "status": UNKNOWN}
    checked = engine.check(news)
    assert checked.failures == []
    # Unknowns come back as they went in (not dropped, defaulted or normalised): the
    # engine decides the diff once they are known. The SDK reads the sentinel back as
    # its `Unknown`.
    assert sorted(checked.inputs) == sorted(news)
    assert all(isinstance(v, Unknown) for v in checked.inputs.values()), checked.inputs


def test_missing_settings_fail_check_naming_the_key(emulator: EmulatorProcess) -> None:
    server = ProviderServer(env={"DFNS_AUTH_TOKEN": ""})
    try:
        config = emulator.config()
        del config["dfns:authToken"]
        server.configure(config)
        checked = server.check(INPUTS)
        assert tuple(p for p, _ in checked.failures) == ("dfns:authToken",)
        assert "pulumi config set --secret dfns:authToken" in checked.failures[0][1]
        with pytest.raises(EngineError) as caught:
            server.create(checked.inputs)
        assert "dfns:authToken" in caught.value.details
    finally:
        server.close()


def test_environment_settings_are_read_in_the_provider_process(
    emulator: EmulatorProcess,
) -> None:
    creds = emulator.credentials()
    server = ProviderServer(
        env={
            "DFNS_API_URL": creds["apiUrl"],
            "DFNS_AUTH_TOKEN": creds["authToken"],
            "DFNS_CREDENTIAL_ID": creds["credentialId"],
            "DFNS_PRIVATE_KEY_FILE": creds["privateKeyFile"],
        }
    )
    try:
        server.configure({})
        webhook_id, _, _ = up(server, INPUTS)
        assert [w["id"] for w in emulator.webhooks()] == [webhook_id]
    finally:
        server.close()


def test_the_pickled_provider_holds_no_credential(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = emulator.credentials()
    # Even with credentials in the program's environment, nothing is captured.
    monkeypatch.setenv("DFNS_AUTH_TOKEN", creds["authToken"])
    monkeypatch.setenv("DFNS_CREDENTIAL_ID", creds["credentialId"])
    raw = base64.b64decode(serialized_provider())
    for value in (creds["authToken"], creds["credentialId"], creds["privateKeyFile"]):
        assert value.encode() not in raw
    with open(creds["privateKeyFile"], "rb") as handle:
        assert handle.read()[40:80] not in raw
    # Pickled by reference: the class's import path, and no instance state.
    assert b"pulumi_dfns.provider" in raw and b"DfnsWebhookProvider" in raw
    provider = pickle.loads(raw)  # noqa: S301 - our own bytes
    assert vars(provider) == {}


def test_the_webhook_limit_error_says_what_to_do(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    emulator = start_emulator("--max-webhooks", "1")
    server = ProviderServer()
    try:
        server.configure(emulator.config())
        up(server, INPUTS)
        with pytest.raises(EngineError) as caught:
            up(server, {**INPUTS, "url": "https://receiver.example/second"})
        details = caught.value.details
        assert "webhook limit is reached" in details
        assert "delete_before_replace=True" in details
        assert len(emulator.webhooks()) == 1
    finally:
        server.close()


def _failures(server: ProviderServer) -> tuple[str, str, str]:
    """Another library's failing create, ours, then the other's again, in one process."""
    other = other_provider.serialized()
    with pytest.raises(EngineError) as before:
        server.create({"name": "x"}, provider=other)
    with pytest.raises(EngineError) as ours:
        up(server, {**INPUTS, "adopt_webhook_id": "wh-nope"})
    with pytest.raises(EngineError) as after:
        server.create({"name": "x"}, provider=other)
    return before.value.details, ours.value.details, after.value.details


def as_the_sdk_gives_it() -> str:
    """Another library's failure in a provider process DfnsWebhook never ran in: how
    this SDK formats any provider's error (a traceback from SDK 3.260, one grpcio line
    before it; tests/support/engine.py SDK_SENDS_TRACEBACKS)."""
    server = ProviderServer()
    try:
        with pytest.raises(EngineError) as caught:
            server.create({"name": "x"}, provider=other_provider.serialized())
    finally:
        server.close()
    return caught.value.details


def the_sdks_first_line(reference: str) -> str:
    """The SDK's own first line, without the failing library's message."""
    return reference.splitlines()[0].replace(other_provider.FAILURE, "")


def test_only_our_errors_lose_their_frames(emulator: EmulatorProcess) -> None:
    """One promise on every SDK from the floor up: ours read as one line ending in our
    message; another library's read exactly as the SDK gives them without us."""
    reference = as_the_sdk_gives_it()
    # One provider process serves every Python dynamic resource of a stack.
    server = ProviderServer()
    try:
        server.configure(emulator.config())
        before, ours, after = _failures(server)
    finally:
        server.close()
    assert "adopt_webhook_id" in ours and ours.strip().count("\n") == 0, ours
    assert ours.startswith(ERROR_PREFIX), ours
    assert ours.strip().endswith("remove adopt_webhook_id to create a new webhook"), ours
    assert other_provider.FAILURE in reference
    assert before == reference and after == reference  # the other library's, untouched


def test_tracebacks_of_our_errors_on_request(emulator: EmulatorProcess) -> None:
    """DFNS_PROVIDER_TRACEBACKS=1: ours read as the SDK formats any provider's error
    (with its frames where the SDK sends frames), still ending in our message."""
    reference = as_the_sdk_gives_it()
    server = ProviderServer(env={"DFNS_PROVIDER_TRACEBACKS": "1"})
    try:
        server.configure(emulator.config())
        _, ours, after = _failures(server)
    finally:
        server.close()
    assert ours.startswith(the_sdks_first_line(reference)), (ours, reference)
    assert ours.strip().endswith("remove adopt_webhook_id to create a new webhook")
    assert ("pulumi_dfns/provider.py" in ours) == ("other_provider.py" in reference)
    assert after == reference


def test_nothing_is_changed_outside_the_sdks_provider_server() -> None:
    assert install_one_line_errors() is False


def test_a_refused_token_at_refresh_and_destroy_says_which_config_they_use(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    webhook_id, _, outs = up(engine, INPUTS)
    # The token was rotated in the stack config, but refresh and destroy configure the
    # provider from the config stored at the last `pulumi up`: the old token.
    stale = "stored-token-rotated-since"
    server = ProviderServer()
    try:
        server.configure({**emulator.config(), "dfns:authToken": stale})
        with pytest.raises(EngineError) as refresh:
            server.read(webhook_id, outs)
        with pytest.raises(EngineError) as destroy:
            server.delete(webhook_id, outs)
    finally:
        server.close()
    for caught, operation in ((refresh, "reading"), (destroy, "deleting")):
        details = caught.value.details
        assert f"{operation} webhook {webhook_id}: Dfns refused (HTTP 401" in details
        assert "config stored in the state at that `pulumi up`" in details
        assert "Run `pulumi up` first" in details and "--run-program" in details
        assert "pulumi config set" not in details  # the user just did that
        assert stale not in details
        assert details.strip().count("\n") == 0, details
    assert [w["id"] for w in emulator.webhooks()] == [webhook_id]


def test_a_url_with_surrounding_spaces_is_stored_trimmed(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    """What is stored, everywhere: check's inputs (the state), Dfns, the outputs; and the
    next check of the same spaced url is no change."""
    spaced = {**INPUTS, "url": "  \thttps://receiver.example/dfns \n"}
    checked = engine.check(spaced)
    assert checked.failures == []
    assert checked.inputs["url"] == "https://receiver.example/dfns"
    webhook_id, outs = engine.create(checked.inputs)
    assert [w["url"] for w in emulator.webhooks()] == ["https://receiver.example/dfns"]
    assert outs["url"] == "https://receiver.example/dfns"
    again = engine.check(spaced, olds=checked.inputs)
    assert engine.diff(webhook_id, plaintext(outs), again.inputs).changes == DIFF_NONE
