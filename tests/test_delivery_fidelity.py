"""Issue 18 (fidelity of delivery events and pings) and issue 17 items 6 and 13.

The rotation gate (`python -m pulumi_dfns.audit --awaiting-retry`, as a process) and
`track_deliveries` (the provider through the engine protocol) on both event shapes the
sources show: the 2024 docs' (the emulator's default: `deliveryFailed`,
`deliveryAttempt`, `retryOf`, `nextAttemptDate`) and the SDKs' lean one
(`--lean-events`). Time moves with the emulator's clock (`POST /_emulator/clock`),
which also brings scheduled delivery retries due: no test waits for Dfns's schedule.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
from pulumi.runtime import rpc

from pulumi_dfns import DeliveryVerificationError, verify_delivery
from pulumi_dfns.audit import awaiting_retry
from pulumi_dfns.delivery import SIGNATURE_HEADER, sign_delivery
from pulumi_dfns.emulator.jsjson import stringify
from pulumi_dfns.health import RETRY_GRACE_SECONDS, pending_retries
from tests.support.emulator import EmulatorProcess
from tests.support.engine import EngineError, ProviderServer
from tests.support.failures import reasons_for
from tests.support.loopback_http import QuietHandler, serving, url_of
from tests.test_audit import audit, export
from tests.test_deliveries import Receiver, emit, free_port

EVENTS = ["wallet.created"]
DAY = 86400.0
SHAPES = {"docs": (), "lean": ("--lean-events",)}
LEAN_FIELDS = {"id", "kind", "date", "data", "status", "error", "timestampSent"}


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/dfns"


def until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll a condition the emulator reaches on its own (a retry made on its thread)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def pending_retries_of(emulator: EmulatorProcess) -> int:
    count: int = emulator.control("GET", "stats")["pendingRetries"]
    return count


def gate(emulator: EmulatorProcess, tmp_path: Path, webhook_id: str) -> tuple[int, list[Any]]:
    """The audit's --awaiting-retry, as a process: exit status and what it found."""
    state = export(tmp_path / "dev.json", "dev", {"old": webhook_id})
    result = audit(emulator, "--state", str(state), "--awaiting-retry", webhook_id, "--json")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    detail: list[Any] = report["awaitingRetryDetail"][webhook_id]
    assert report["awaitingRetry"][webhook_id] == [d["first"] for d in detail]
    return result.returncode, detail


# -- the rotation gate (issue 18; issue 17 item 6) -----------------------------------------


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_gate_holds_while_a_retry_can_come_and_clears_when_none_can(
    start_emulator: Callable[..., EmulatorProcess], tmp_path: Path, shape: str
) -> None:
    emulator = start_emulator(*SHAPES[shape])
    client = emulator.client()
    webhook = client.create_webhook(dead_url(), EVENTS)
    emit(emulator, "wallet.created")  # fails; Dfns's schedule: a retry in 60 s
    code, detail = gate(emulator, tmp_path, webhook["id"])
    # The lean shape has no deliveryFailed: the gate found nothing there before.
    assert code == 1 and len(detail) == 1
    if shape == "docs":
        assert detail[0]["reason"].startswith("nextAttemptDate ")
    else:
        assert "no nextAttemptDate, attempt number or retryOf" in detail[0]["reason"]

    # Disabled: Dfns will not retry it (it counted for 31 days before).
    whole = {"url": webhook["url"], "events": EVENTS, "description": None}
    client.update_webhook(webhook["id"], status="Disabled", **whole)
    assert gate(emulator, tmp_path, webhook["id"]) == (0, [])
    # Its retry comes due while disabled and is dropped; enabled again, nothing revives it,
    # but the gate cannot see that at once: it waits out the grace past the due time.
    emulator.advance_clock(61)
    until(lambda: pending_retries_of(emulator) == 0, "the dropped retry")
    client.update_webhook(webhook["id"], status="Enabled", **whole)
    assert gate(emulator, tmp_path, webhook["id"])[0] == 1
    emulator.advance_clock(RETRY_GRACE_SECONDS)
    if shape == "lean":
        # Nothing dates its retry: the schedule's bound, a day after the attempt.
        assert gate(emulator, tmp_path, webhook["id"])[0] == 1
        emulator.advance_clock(DAY)
    # The retry schedule long passed: the gate clears (it never did before).
    assert gate(emulator, tmp_path, webhook["id"]) == (0, [])
    assert len(client.list_webhook_events(webhook["id"])) == 1  # no retry was made


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_successful_retry_clears_the_gate_where_retryOf_tells(
    start_emulator: Callable[..., EmulatorProcess], tmp_path: Path, shape: str
) -> None:
    emulator = start_emulator(*SHAPES[shape])
    client = emulator.client()
    port = free_port()
    webhook = client.create_webhook(f"http://127.0.0.1:{port}/dfns", EVENTS)
    emit(emulator, "wallet.created")  # nothing listens yet: fails
    receiver = Receiver(port, webhook["secret"])
    try:
        emulator.advance_clock(61)
        until(lambda: len(client.list_webhook_events(webhook["id"])) == 2, "the retry")
        assert "accepted wallet.created" in receiver.read(1)[0]
    finally:
        receiver.stop()
    code, detail = gate(emulator, tmp_path, webhook["id"])
    if shape == "docs":
        assert (code, detail) == (0, [])  # retryOf ties the success to the failure
    else:
        # Nothing ties them: the failure counts until the schedule's bound (erring on
        # "still pending", with the reason).
        assert code == 1 and "no nextAttemptDate" in detail[0]["reason"]


def test_the_gate_rule_reads_retryOf_either_way() -> None:
    """retryOf: "the ID of the previously failed Webhook Event" (2024 docs) or "ID of the
    original event" (current reference): the same answer on both readings."""
    now = 1_800_000_000.0

    def event(id_: str, attempt: int, retry_of: str | None, **extra: Any) -> dict[str, Any]:
        sent = now - 60 * (6 - attempt)
        return {"id": id_, "deliveryAttempt": attempt, "retryOf": retry_of, "timestampSent": sent}

    def chain(name: str, attempts: int, reading: str) -> list[dict[str, Any]]:
        out = []
        for n in range(1, attempts + 1):
            previous = f"{name}{n - 1}" if reading == "previous" else f"{name}1"
            out.append(event(f"{name}{n}", n, None if n == 1 else previous))
        return out

    for reading in ("previous", "original"):
        recovered = chain("a", 2, reading)  # a2 succeeded
        waiting = chain("b", 3, reading)  # b3 failed, no nextAttemptDate: schedule bound
        spent = chain("c", 5, reading)  # all failed: no 6th attempt
        everything = list(reversed(recovered + waiting + spent))  # any order
        failed = [e for e in everything if e["id"] != "a2"]
        found = pending_retries(failed, everything, now=now, enabled=True)
        assert [(p.first, p.event) for p in found] == [("b1", "b3")], reading
        assert found[0].until == waiting[0]["timestampSent"] + 2 * 3600 + RETRY_GRACE_SECONDS
        assert pending_retries(failed, everything, now=now, enabled=False) == []


# -- scheduled retries survive a restart (issue 17 item 13) --------------------------------


def test_a_restart_keeps_the_scheduled_retries(
    start_emulator: Callable[..., EmulatorProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "restarted"
    first = start_emulator(data_dir=data_dir)
    webhook = first.client().create_webhook(dead_url(), EVENTS)
    emit(first, "wallet.created")
    assert pending_retries_of(first) == 1
    first.stop()
    second = start_emulator(data_dir=data_dir)
    assert pending_retries_of(second) == 1  # 0 before: the retry lived in memory
    second.advance_clock(61)
    client = second.client()
    until(lambda: len(client.list_webhook_events(webhook["id"])) == 2, "the retry after a restart")
    attempts = sorted(client.list_webhook_events(webhook["id"]), key=lambda e: e["deliveryAttempt"])
    assert attempts[1]["retryOf"] == attempts[0]["id"] and attempts[1]["deliveryAttempt"] == 2
    assert attempts[0]["nextAttemptDate"] and pending_retries_of(second) == 1  # the 3rd is due


# -- the emulator's shapes and checks ------------------------------------------------------


def test_event_listings_in_the_docs_shape_and_the_lean_sdk_shape(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    docs, lean = start_emulator(), start_emulator("--lean-events")
    assert docs.control("GET", "assumptions")["lean_events"] is False
    assert lean.control("GET", "assumptions")["lean_events"] is True
    for emulator in (docs, lean):
        client = emulator.client()
        webhook = client.create_webhook(dead_url(), EVENTS)
        before = (
            time.time() + emulator.control("POST", "clock", {"advanceSeconds": 0})["offsetSeconds"]
        )
        emit(emulator, "wallet.created")
        (item,) = client.list_webhook_events(webhook["id"], delivery_failed=True)
        again = client.get_webhook_event(webhook["id"], item["id"])
        if emulator is lean:
            assert set(item) == LEAN_FIELDS and set(again) == LEAN_FIELDS
            continue
        assert item["deliveryFailed"] is True and item["deliveryAttempt"] == 1
        assert "retryOf" not in item and again == item
        due = datetime.fromisoformat(item["nextAttemptDate"].replace("Z", "+00:00")).timestamp()
        assert before + 60 - 1 <= due <= time.time() + 60 + 1  # 1 min after the first attempt


def test_the_events_kind_parameter_is_checked_against_the_enum(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    emulator = start_emulator("--extra-event-kind", "card.issued")
    webhook = emulator.client().create_webhook(dead_url(), EVENTS)
    url = f"{emulator.url}/webhooks/{webhook['id']}/events"
    headers = {"Authorization": f"Bearer {emulator.credentials()['authToken']}"}
    for kind, status in [
        ("wallet.created", 200),
        ("card.issued", 200),
        ("wallet.transfer.executed", 400),
        ("*", 400),
    ]:
        answer = requests.get(url, params={"kind": kind}, headers=headers, timeout=10)
        assert answer.status_code == status, (kind, answer.text)
        if status == 400:
            assert "kind" in answer.json()["error"]["message"]


# -- delivery bytes (issue 18, "Delivery bytes") -------------------------------------------


class _Capture(QuietHandler):
    seen: ClassVar[list[tuple[bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((body, self.headers[SIGNATURE_HEADER]))
        self.answer(200)


@pytest.fixture
def capture() -> Iterator[tuple[str, list[tuple[bytes, str]]]]:
    """A loopback receiver that keeps each delivery's raw body and signature header."""
    seen: list[tuple[bytes, str]] = []

    class Handler(_Capture):
        pass

    Handler.seen = seen
    with serving(Handler) as server:
        yield f"{url_of(server)}/dfns", seen


def _node_hmac(body: bytes, secret: str) -> str | None:
    """The docs' Node check: HMAC-SHA256 over JSON.stringify(JSON.parse(body))."""
    node = shutil.which("node")
    if node is None:
        return None
    script = (
        "let d='';process.stdin.setEncoding('utf8').on('data',c=>d+=c).on('end',()=>"
        "process.stdout.write(require('crypto').createHmac('sha256',process.argv[1])"
        ".update(JSON.stringify(JSON.parse(d))).digest('hex')))"
    )
    done = subprocess.run(
        [node, "-e", script, secret], input=body, capture_output=True, check=True, timeout=60
    )
    return "sha256=" + done.stdout.decode()


def test_deliveries_are_compact_utf8_json_as_json_stringify_writes_it(
    emulator: EmulatorProcess, capture: tuple[str, list[tuple[bytes, str]]]
) -> None:
    url, seen = capture
    secret = emulator.client().create_webhook(url, EVENTS)["secret"]
    data = {"name": "Zoë ✓ 日本 😀", "ratio": 1.0, "tiny": 1e-7, "lone": "\ud800"}
    emulator.control("POST", "events", {"kind": "wallet.created", "data": data})
    ((raw, header),) = seen
    assert "Zoë ✓ 日本 😀".encode() in raw  # UTF-8, not \\u escapes
    assert b'"ratio":1,' in raw and b'"tiny":1e-7' in raw and b'"lone":"\\ud800"' in raw
    assert raw == stringify(json.loads(raw)).encode("utf-8")
    node = _node_hmac(raw, secret)
    if node is not None:  # the docs' receiver re-serialises, and agrees
        assert node == header
    # verify_delivery checks the raw bytes: given as bytes or as text, they pass ...
    assert verify_delivery(raw, header, secret)["data"]["name"] == data["name"]
    assert verify_delivery(raw.decode("utf-8"), header, secret)["data"] == json.loads(raw)["data"]
    # ... and another serialisation of the same event (ASCII escapes) does not.
    escaped = json.dumps(json.loads(raw), separators=(",", ":")).encode()
    with pytest.raises(DeliveryVerificationError, match="signature mismatch"):
        verify_delivery(escaped, header, secret)


# -- track_deliveries by timestampSent (issue 18) ------------------------------------------


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_track_deliveries_counts_and_picks_by_when_each_attempt_was_sent(
    start_emulator: Callable[..., EmulatorProcess], shape: str
) -> None:
    emulator = start_emulator(*SHAPES[shape])
    engine = ProviderServer()
    try:
        engine.configure(emulator.config())
        program = {"url": dead_url(), "events": EVENTS, "track_deliveries": True}
        webhook_id, outs = engine.create(engine.check(program).inputs)
        emit(emulator, "wallet.created")
        # A day later every retry is due: attempts 2 to 5 are sent now, all failing.
        emulator.advance_clock(DAY + 30)
        client = emulator.client()
        until(lambda: len(client.list_webhook_events(webhook_id)) == 5, "five attempts")
        _, read_outs, _ = engine.read(webhook_id, outs)
    finally:
        engine.close()
    # By `date` (when the event happened, a day ago) none counted: 4 were sent today.
    assert read_outs["failed_deliveries"] == 4
    last = read_outs["last_delivery_failure"]
    newest = max(client.list_webhook_events(webhook_id), key=lambda e: e["timestampSent"])
    sent = datetime.fromtimestamp(newest["timestampSent"], tz=timezone.utc)
    assert last["sent"] == sent.isoformat().replace("+00:00", "Z")
    assert last["date"] == newest["date"]  # the event's own date, a day before


# -- the ping's undocumented payload (issue 18) --------------------------------------------


def test_a_ping_without_timestampSent_passes_the_example_receiver(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    emulator = start_emulator("--ping-without-timestamp", "--ping-kind", "test.ping")
    engine = ProviderServer()
    port = free_port()
    receiver: Receiver | None = None
    try:
        engine.configure(emulator.config())
        program = {"url": f"http://127.0.0.1:{port}/dfns", "events": EVENTS}
        webhook_id, outs = engine.create(engine.check(program).inputs)
        secret = rpc.unwrap_rpc_secret(outs["secret"])
        receiver = Receiver(port, secret)
        # Turning verify_with_ping on pings: signed, no timestampSent, an unknown kind.
        news = engine.check({**program, "verify_with_ping": True}).inputs
        engine.update(webhook_id, outs, news)
        assert receiver.read(1) == [
            "acknowledged, not processed: signed test.ping without timestampSent"
        ]
        # A real event without timestampSent is refused: Dfns retries it, nothing is lost.
        body = json.dumps({"id": "whe-x", "kind": "wallet.created", "data": {}}).encode()
        answer = requests.post(
            receiver.url,
            data=body,
            headers={SIGNATURE_HEADER: sign_delivery(body, secret)},
            timeout=10,
        )
        assert answer.status_code == 401 and "timestampSent" in answer.text
    finally:
        if receiver is not None:
            receiver.stop()
        engine.close()


def test_a_failed_ping_names_the_undocumented_payload_among_the_causes(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    emulator = start_emulator("--ping-kind", "test.ping")
    engine = ProviderServer()
    port = free_port()
    receiver = Receiver(port, "whsec-another-webhooks-secret")  # refuses this webhook's
    try:
        engine.configure(emulator.config())
        program = {"url": receiver.url, "events": EVENTS, "verify_with_ping": True}
        with pytest.raises(EngineError) as failed:
            engine.create(engine.check(program).inputs)
    finally:
        receiver.stop()
        engine.close()
    message = str(failed.value)
    assert "status 401" in message and "knows this webhook's secret" in message
    assert "may carry no timestampSent" in message


# -- `secret` in GET /webhooks/{id} (issue 18) ---------------------------------------------


def test_a_secret_returned_by_get_is_kept_by_adopt_and_refresh_without_the_warning(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    emulator = start_emulator("--secret-in-get")
    assert emulator.control("GET", "assumptions")["secret_in_get"] is True
    existing = emulator.client().create_webhook("https://old.example/dfns", EVENTS)
    engine = ProviderServer()
    try:
        engine.configure(emulator.config())
        # Adopted with a change (a description), so the update's answer is used too.
        program = {
            "url": existing["url"],
            "events": EVENTS,
            "description": "adopted",
            "adopt_webhook_id": existing["id"],
        }
        webhook_id, outs = engine.create(engine.check(program).inputs)
        assert rpc.unwrap_rpc_secret(outs["secret"]) == existing["secret"]
        assert rpc.is_rpc_secret(outs["secret"])
        # A refresh of a state that lost it (an older adopt) takes Dfns's again.
        _, read_outs, _ = engine.read(webhook_id, {**outs, "secret": None})
        assert rpc.unwrap_rpc_secret(read_outs["secret"]) == existing["secret"]
        output = engine.output()
    finally:
        engine.close()
    assert "adopted" not in output and "only when it is created" not in output
    assert existing["secret"] not in output


# -- event kinds seen only in the docs' examples (issue 18) --------------------------------


def test_an_example_only_kind_is_refused_naming_its_family_not_a_look_alike(
    emulator: EmulatorProcess,
) -> None:
    engine = ProviderServer()
    try:
        engine.configure(emulator.config())
        checked = engine.check({"url": dead_url(), "events": ["wallet.transfer.executed"]})
    finally:
        engine.close()
    (failure,) = reasons_for("events", checked.failures)
    assert "appears only in an example" in failure, checked.failures
    assert "wallet.transfer.requested" in failure and "did you mean" not in failure


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "604801", "1e9", "soon"])
def test_a_bad_retry_grace_is_refused_naming_the_option(
    emulator: EmulatorProcess, value: str
) -> None:
    result = audit(emulator, "--retry-grace", value)
    assert result.returncode == 2 and "--retry-grace" in result.stderr
    assert value not in result.stderr.replace("--retry-grace", "")


def test_without_a_date_header_the_gate_says_it_judged_by_this_machine_s_clock() -> None:
    """A Date-less answer is one no local process here serves (the emulator always sends
    Date, as RFC 9110 asks of an origin server): a stand-in client gives one."""
    sent = time.time() - 60

    class DatelessDfns:
        def get_webhook(self, webhook_id: str) -> dict[str, Any]:
            return {"id": webhook_id, "status": "Enabled"}

        def list_webhook_events_dated(
            self, webhook_id: str, *, delivery_failed: bool | None = None
        ) -> tuple[list[dict[str, Any]], float | None]:
            return [{"id": "whe-1", "kind": "wallet.created", "timestampSent": sent}], None

    (found,) = awaiting_retry(DatelessDfns(), "wh-1")
    assert found.reason.endswith("(Dfns's answer had no Date: judged by this machine's clock)")
    assert found.until == sent + DAY + RETRY_GRACE_SECONDS


def test_integer_like_keys_come_first_as_in_a_javascript_object() -> None:
    """JSON.parse then JSON.stringify puts array-index keys first, ascending (ECMAScript
    OrdinaryOwnPropertyKeys); the expected text is what node 20 printed for this input."""
    text = '{"b":1,"2":"x","1":"y","01":"z","4294967295":"big","4294967294":"max"}'
    assert stringify(json.loads(text)) == (
        '{"1":"y","2":"x","4294967294":"max","b":1,"01":"z","4294967295":"big"}'
    )
