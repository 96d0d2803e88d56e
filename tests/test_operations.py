"""Issue 12 items 3, 4 and 6 through the SDK's provider server (the engine protocol)
against the emulator: adopt with a known secret, delivery health on refresh, and
DfnsWebhook.get (a read-only lookup)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from pulumi_dfns.health import FAILURE_PAGE_LIMIT, summarise
from tests.support.emulator import EmulatorProcess
from tests.support.engine import DIFF_SOME, TYPE, EngineError, ProviderServer, plaintext
from tests.support.failures import named, reasons_for
from tests.support.loopback_http import QuietHandler, serving, url_of
from tests.test_deliveries import emit, free_port

EVENTS = ["wallet.created"]


@pytest.fixture
def engine(emulator: EmulatorProcess) -> Iterator[ProviderServer]:
    server = ProviderServer()
    server.configure(emulator.config())
    yield server
    server.close()


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        return args.resource_id or f"wh-{args.name}", {**args.inputs, "url": "https://x.example"}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


@pytest.fixture
def mocks() -> Iterator[_Mocks]:
    # Other tests' asyncio.run() leave no current loop; Pulumi's runtime wants one.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    recorder = _Mocks()
    pulumi.runtime.set_mocks(recorder, project="p", stack="dev", preview=False)
    yield recorder
    asyncio.set_event_loop(None)
    loop.close()


def calls(emulator: EmulatorProcess) -> list[tuple[str, str, dict[str, str]]]:
    return [(e["method"], e["path"], e.get("query") or {}) for e in emulator.requests_log()]


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/dfns"


# -- adopt_secret (item 3) ---------------------------------------------------------------


def adopting_with_its_secret(emulator: EmulatorProcess) -> tuple[dict[str, Any], str]:
    """A program adopting a webhook made in Dfns beforehand, with its secret; and the secret."""
    existing = emulator.client().create_webhook("https://old.example/dfns", EVENTS)
    known: str = existing["secret"]
    program = {
        "url": "https://old.example/dfns",
        "events": EVENTS,
        "adopt_webhook_id": existing["id"],
        "adopt_secret": known,
    }
    return program, known


def test_adopt_secret_becomes_the_secret_output_and_stays_secret(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    program, known = adopting_with_its_secret(emulator)
    checked = engine.check(program)
    assert checked.failures == []
    assert rpc.is_rpc_secret(checked.inputs["adopt_secret"])
    webhook_id, outs = engine.create(checked.inputs)
    assert webhook_id == program["adopt_webhook_id"]
    assert rpc.is_rpc_secret(outs["secret"]) and rpc.unwrap_rpc_secret(outs["secret"]) == known
    assert rpc.is_rpc_secret(outs["adopt_secret"])
    # A refresh keeps it (Dfns never returns a secret), still marked secret.
    _, read_outs, read_inputs = engine.read(webhook_id, outs)
    assert rpc.unwrap_rpc_secret(read_outs["secret"]) == known
    assert rpc.is_rpc_secret(read_outs["secret"]) and rpc.is_rpc_secret(read_outs["adopt_secret"])
    assert rpc.is_rpc_secret(read_inputs["adopt_secret"])
    output = engine.output_with("the 'secret' output is the adopt_secret you gave")
    assert "the 'secret' output is the adopt_secret you gave; Dfns cannot confirm it" in output
    assert known not in output


def test_a_corrected_adopt_secret_replaces_the_secret_without_a_request(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    existing = emulator.client().create_webhook("https://old.example/dfns", EVENTS)
    base = {"url": "https://old.example/dfns", "events": EVENTS, "adopt_webhook_id": existing["id"]}
    webhook_id, outs = engine.create(engine.check(base).inputs)
    assert outs.get("secret") is None  # adopted without a secret: Dfns cannot give it back
    news = engine.check({**base, "adopt_secret": existing["secret"]}).inputs
    assert engine.diff(webhook_id, plaintext(outs), news).changes == DIFF_SOME
    emulator.clear_log()
    new_outs = engine.update(webhook_id, outs, news)
    assert rpc.unwrap_rpc_secret(new_outs["secret"]) == existing["secret"]
    assert rpc.is_rpc_secret(new_outs["secret"])
    assert calls(emulator) == []


@pytest.mark.parametrize(
    ("program", "words"),
    [
        ({"adopt_secret": "whsec-x"}, "without adopt_webhook_id"),
        ({"adopt_webhook_id": "wh-a", "adopt_secret": 42}, "must be text"),
        ({"adopt_webhook_id": "wh-a", "adopt_secret": "  "}, "must not be blank"),
        ({"adopt_webhook_id": "wh-a", "adopt_secret": " whsec-x"}, "whitespace"),
    ],
)
def test_check_refuses_a_misused_adopt_secret_naming_it(
    engine: ProviderServer, program: dict[str, Any], words: str
) -> None:
    checked = engine.check({"url": "https://r.example/dfns", "events": EVENTS, **program})
    failures = reasons_for("adopt_secret", checked.failures)
    assert failures and words in failures[0], checked.failures
    assert "whsec-x" not in str(checked.failures)


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_the_program_sends_adopt_secret_as_a_secret(
    mocks: _Mocks, monkeypatch: pytest.MonkeyPatch
) -> Any:
    seen: list[dict[str, Any]] = []
    original = pulumi.CustomResource.__init__

    def spy(self: Any, t: str, name: str, props: Any, opts: Any = None, *a: Any, **k: Any) -> None:
        seen.append(dict(props))
        original(self, t, name, props, opts, *a, **k)

    monkeypatch.setattr(pulumi.CustomResource, "__init__", spy)
    from pulumi_dfns import DfnsWebhook

    DfnsWebhook(
        "h", url="https://r.example", events=["*"], adopt_webhook_id="wh-a", adopt_secret="s"
    )
    secret_input = seen[0]["adopt_secret"]
    assert isinstance(secret_input, pulumi.Output)
    checked: Any = _is_secret(secret_input)  # an awaitable is a valid Input
    return pulumi.Output.from_input(checked).apply(_true)


async def _is_secret(output: pulumi.Output[Any]) -> bool:
    return await output.is_secret()


def _true(value: Any) -> None:
    assert value is True


# -- track_deliveries (item 4) ------------------------------------------------------------


def test_tracked_refresh_reads_failures_with_one_more_request(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    program = {"url": dead_url(), "events": EVENTS, "track_deliveries": True}
    checked = engine.check(program)
    assert checked.failures == [] and checked.inputs["track_deliveries"] is True
    webhook_id, outs = engine.create(checked.inputs)
    assert outs.get("failed_deliveries") is None and outs.get("last_delivery_failure") is None
    emit(emulator, "wallet.created", timeScale=1000)  # fails; retries far away
    emit(emulator, "wallet.created", timeScale=1000)
    emulator.clear_log()
    _, read_outs, read_inputs = engine.read(webhook_id, outs)
    assert read_outs["failed_deliveries"] == 2
    last = read_outs["last_delivery_failure"]
    assert last["kind"] == "wallet.created" and last["status"] == "0"
    assert last["error"] and last["date"].endswith("Z")
    assert "failed_deliveries" not in read_inputs and read_inputs["track_deliveries"] is True
    query = {"deliveryFailed": "true", "limit": str(FAILURE_PAGE_LIMIT)}
    assert calls(emulator) == [
        ("GET", f"/webhooks/{webhook_id}", {}),
        ("GET", f"/webhooks/{webhook_id}/events", query),
    ]
    # Preview (check + diff) sends nothing; an update carries the values over.
    emulator.clear_log()
    news = engine.check({**program, "url": read_outs["url"], "description": "d"}).inputs
    assert engine.diff(webhook_id, plaintext(read_outs), news).changes == DIFF_SOME
    assert calls(emulator) == []
    updated = engine.update(webhook_id, read_outs, news)
    assert updated["failed_deliveries"] == 2 and updated["last_delivery_failure"] == last
    assert [c[1] for c in calls(emulator)] == [
        "/auth/action/init",
        "/auth/action",
        f"/webhooks/{webhook_id}",
    ]


def test_untracked_refresh_costs_one_request_and_turning_it_off_clears(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    program = {"url": dead_url(), "events": EVENTS}
    webhook_id, outs = engine.create(engine.check(program).inputs)
    emit(emulator, "wallet.created", timeScale=1000)
    emulator.clear_log()
    _, read_outs, _ = engine.read(webhook_id, outs)
    assert (
        read_outs.get("failed_deliveries") is None
        and read_outs.get("last_delivery_failure") is None
    )
    assert calls(emulator) == [("GET", f"/webhooks/{webhook_id}", {})]
    # On, refreshed, then off again: the values go (nothing stale is left to gate on).
    tracked = engine.check({**program, "track_deliveries": True}).inputs
    outs = engine.update(webhook_id, read_outs, tracked)
    _, outs, _ = engine.read(webhook_id, outs)
    assert outs["failed_deliveries"] == 1
    off = engine.update(webhook_id, outs, engine.check(program).inputs)
    assert off.get("failed_deliveries") is None and off.get("last_delivery_failure") is None


def test_a_full_page_of_failures_is_a_lower_bound(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    program = {"url": dead_url(), "events": EVENTS, "track_deliveries": True}
    webhook_id, outs = engine.create(engine.check(program).inputs)
    for _ in range(FAILURE_PAGE_LIMIT + 1):
        emit(emulator, "wallet.created", timeScale=1000)
    emulator.clear_log()
    _, read_outs, _ = engine.read(webhook_id, outs)
    assert read_outs["failed_deliveries"] == FAILURE_PAGE_LIMIT
    assert len(calls(emulator)) == 2  # still one page, whatever the backlog
    assert (
        f"at least {FAILURE_PAGE_LIMIT} failed deliveries in the last 24 hours"
        in engine.output_with("failed deliveries in the last 24 hours")
    )


def test_track_deliveries_must_be_a_boolean(engine: ProviderServer) -> None:
    checked = engine.check(
        {"url": "https://r.example", "events": EVENTS, "track_deliveries": "yes"}
    )
    assert named(checked.failures) == ["track_deliveries"]
    checked = engine.check({"url": "https://r.example", "events": EVENTS, "failed_deliveries": 0})
    assert named(checked.failures) == ["failed_deliveries"]


def test_the_24_hour_window_goes_by_dfns_event_dates() -> None:
    now = 1_800_000_000.0

    def at(seconds_ago: float, kind: str = "wallet.created") -> dict[str, Any]:
        from datetime import datetime, timezone

        moment = datetime.fromtimestamp(now - seconds_ago, tz=timezone.utc)
        date = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"id": "whe-x", "kind": kind, "date": date, "status": "503", "error": "busy"}

    events = [
        at(86_400 * 3, "key.created"),
        at(86_399),
        at(60, "wallet.signature.failed"),
        at(86_401),
    ]
    health = summarise(events, page_full=False, now=now)
    assert health.failed == 2 and not health.at_least
    assert health.last is not None and health.last["kind"] == "wallet.signature.failed"
    assert health.last["status"] == "503" and health.last["error"] == "busy"
    assert summarise([], page_full=False, now=now).last is None
    assert summarise([{"date": "garbage"}], page_full=True, now=now).describe() == (
        "at least 0 failed deliveries in the last 24 hours"
    )


# -- DfnsWebhook.get (item 6) ---------------------------------------------------------------


def test_get_reads_a_webhook_from_its_id_alone(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    """What the engine sends for a `get` (ReadResource): the program's properties, all
    None but `__provider`, as both inputs and state (pkg/resource/deploy/step.go,
    ReadStep.Apply); the SDK's server reads `properties`, falling back to `inputs`
    (pulumi/dynamic/__main__.py, Read)."""
    elsewhere = emulator.client().create_webhook("https://other.example/dfns", EVENTS)
    emulator.clear_log()
    lookup = dict.fromkeys(("url", "events", "description", "status", "secret"))
    read_id, outs, inputs = engine.read(elsewhere["id"], lookup)
    assert read_id == elsewhere["id"]
    assert outs["url"] == "https://other.example/dfns" and outs["events"] == EVENTS
    assert outs.get("secret") is None  # Dfns returns a secret only at creation
    assert calls(emulator) == [("GET", f"/webhooks/{elsewhere['id']}", {})]  # reads only
    assert inputs["url"] == outs["url"]


def test_get_of_a_missing_id_fails_naming_it(engine: ProviderServer) -> None:
    with pytest.raises(EngineError) as caught:
        engine.read("wh-nope-nope-0000000000000000", dict.fromkeys(("url", "events")))
    assert "wh-nope-nope-0000000000000000: no such webhook" in caught.value.details


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_get_in_a_program_reads_rather_than_registers(mocks: _Mocks) -> Any:
    from pulumi_dfns import DfnsWebhook

    hook = DfnsWebhook.get("shared", "wh-shared")

    def verify(values: list[Any]) -> None:
        assert values == ["wh-shared", "https://x.example"]
        [args] = mocks.resources
        assert args.typ == TYPE and args.resource_id == "wh-shared"  # a ReadResource, by id
        assert "__provider" in args.inputs  # the engine can find the provider from these

    return pulumi.Output.all(hook.id, hook.url).apply(verify)


def test_rolling_the_secret_of_a_still_adopted_webhook_is_refused_at_check(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    """Before this check, the replacement's create adopted the same webhook and the
    engine's deletion of the "old" one then deleted it: the resource pointed at nothing."""
    existing = emulator.client().create_webhook("https://old.example/dfns", EVENTS)
    adopted = {
        "url": "https://old.example/dfns",
        "events": EVENTS,
        "adopt_webhook_id": existing["id"],
    }
    olds = engine.check(adopted).inputs
    # Why: the replacement's create (which gets only the new inputs) adopts the same id.
    first_id, _ = engine.create(olds)
    replacement_id, _ = engine.create(engine.check({**adopted, "secret_version": "2"}).inputs)
    assert replacement_id == first_id == existing["id"]
    checked = engine.check({**adopted, "secret_version": "2"}, olds=olds)
    assert named(checked.failures) == ["adopt_webhook_id"]
    assert "remove adopt_webhook_id" in checked.failures[0][1]
    # The documented way: drop adopt_webhook_id in the same change.
    roll = {k: v for k, v in adopted.items() if k != "adopt_webhook_id"}
    assert engine.check({**roll, "secret_version": "2"}, olds=olds).failures == []
    # A new resource that adopts (no olds) and one that keeps its secret_version pass.
    assert engine.check({**adopted, "secret_version": "2"}).failures == []
    with_version = engine.check({**adopted, "secret_version": "2"}).inputs
    assert engine.check({**adopted, "secret_version": "2"}, olds=with_version).failures == []


def test_adopt_secret_is_never_visible_nor_sent_to_dfns(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    from tests.test_secret_hygiene import visible

    program, known = adopting_with_its_secret(emulator)
    seen: list[str] = []
    checked = engine.check(program)
    seen.append(repr(visible(checked.inputs)))
    webhook_id, outs = engine.create(checked.inputs)
    seen.append(repr(visible(outs)))
    news = engine.check({**program, "description": "now managed"}).inputs
    seen.append(repr(engine.diff(webhook_id, plaintext(outs), news).__dict__))
    outs = engine.update(webhook_id, outs, news)
    seen.append(repr(visible(outs)))
    _, read_outs, read_inputs = engine.read(webhook_id, outs)
    seen += [repr(visible(read_outs)), repr(visible(read_inputs))]
    seen.append(repr(engine.check({**program, "adopt_webhook_id": None}).failures))
    with pytest.raises(EngineError) as caught:
        engine.create({**checked.inputs, "adopt_webhook_id": "wh-nope-nope-0000000000000000"})
    seen.append(caught.value.details)
    seen.append(engine.output())
    everything = "\n".join(seen)
    assert known not in everything
    assert "[secret]" in everything and webhook_id in everything
    sent = [field for e in emulator.requests_log() for field in e.get("bodyFields") or []]
    assert "adopt_secret" not in sent and "secret" not in sent


# -- fixes from the review of issue 12 ----------------------------------------------------


@pytest.mark.parametrize("change", ["track_deliveries", "adopt_secret"])
def test_a_recorded_only_change_sends_no_ping(
    engine: ProviderServer, emulator: EmulatorProcess, change: str
) -> None:
    """verify_with_ping stays on while its receiver is down; toggling track_deliveries or
    correcting adopt_secret changes nothing Dfns holds: no request, so no (failing) ping."""
    existing = emulator.client().create_webhook(dead_url(), EVENTS)
    program = {
        "url": existing["url"],
        "events": EVENTS,
        "adopt_webhook_id": existing["id"],
    }
    webhook_id, outs = engine.create(engine.check(program).inputs)
    # As recorded by an earlier `up` while the receiver answered its ping.
    olds = {**outs, "verify_with_ping": True}
    extra = (
        {"track_deliveries": True}
        if change == "track_deliveries"
        else {"adopt_secret": existing["secret"]}
    )
    news = engine.check({**program, "verify_with_ping": True, **extra}).inputs
    assert engine.diff(webhook_id, plaintext(olds), news).changes == DIFF_SOME
    emulator.clear_log()
    new_outs = engine.update(webhook_id, olds, news)
    assert calls(emulator) == []
    assert new_outs["verify_with_ping"] is True


def test_a_failed_health_read_leaves_the_refresh_and_the_outputs_unknown(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    program = {"url": dead_url(), "events": EVENTS, "track_deliveries": True}
    webhook_id, outs = engine.create(engine.check(program).inputs)
    emit(emulator, "wallet.created", timeScale=1000)
    # The service account lacks Webhooks:Events:Read.
    emulator.fault("GET", f"/webhooks/{webhook_id}/events", "status", status=403)
    read_id, read_outs, read_inputs = engine.read(webhook_id, {**outs, "failed_deliveries": 7})
    assert read_id == webhook_id and read_outs["url"] == program["url"]
    assert read_outs.get("failed_deliveries") is None  # unknown, not 0 and not stale
    assert read_outs.get("last_delivery_failure") is None
    assert read_inputs["track_deliveries"] is True
    output = engine.output_with("left unset")
    assert "Webhooks:Events:Read" in output and "left unset" in output


class _Failing(QuietHandler):
    def do_POST(self) -> None:
        self.read_body()
        self.answer(500, b"upstream https://admin:hunter2@db.example/x?token=abc123 is down")


def test_a_receiver_s_error_text_is_redacted_in_the_health_output(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    with serving(_Failing) as server:
        url = f"{url_of(server)}/dfns"
        program = {"url": url, "events": EVENTS, "track_deliveries": True}
        webhook_id, outs = engine.create(engine.check(program).inputs)
        emit(emulator, "wallet.created", timeScale=1000)
        _, read_outs, _ = engine.read(webhook_id, outs)
    error = read_outs["last_delivery_failure"]["error"]
    assert read_outs["last_delivery_failure"]["status"] == "500"
    assert "db.example/x" in error and "hunter2" not in error and "abc123" not in error


def test_a_failed_revert_of_an_adopt_does_not_send_the_user_to_refresh(
    emulator: EmulatorProcess,
) -> None:
    """After a failed adopt nothing is in the state, so `pulumi refresh` cannot help."""
    from pulumi_dfns.core import WebhookCore

    client = emulator.client()
    hook = client.create_webhook("https://hooks.example/dfns", EVENTS)
    emulator.fault("PUT", f"/webhooks/{hook['id']}", "status", status=403)
    before = {"url": hook["url"], "events": EVENTS, "status": "Enabled", "description": None}
    warnings: list[str] = []
    WebhookCore._revert_quietly(client, hook["id"], before, warnings.append, adopting=True)
    warning = "\n".join(warnings)
    assert f"could not undo the change to webhook {hook['id']}" in warning
    assert "pulumi refresh` cannot help" in warning and "run `pulumi up` again" in warning
