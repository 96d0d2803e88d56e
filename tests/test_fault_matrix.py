"""Every operation x every fault, through the engine protocol against the emulator's
fault injection. After each cell the emulator holds exactly what the state says."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pulumi.runtime import rpc

from tests.support.emulator import EmulatorProcess
from tests.support.engine import ERROR_PREFIX, EngineError, ProviderServer, plaintext

READ_TIMEOUT = 1.0
FIELDS = ("url", "events", "description", "status")

FAULTS: dict[str, dict[str, Any]] = {
    "429": {"action": "status", "status": 429, "retryAfter": 1},
    "500": {"action": "status", "status": 500},
    "502": {"action": "status", "status": 502},
    "503": {"action": "status", "status": 503},
    "504": {"action": "status", "status": 504},
    "drop": {"action": "drop"},
    "drop_after": {"action": "drop_after"},
    "slow": {"action": "delay", "delay": READ_TIMEOUT * 1.6},
    "401": {"action": "status", "status": 401},
    "403": {"action": "status", "status": 403},
    "404": {"action": "status", "status": 404},
    "202": {"action": "status", "status": 202},
    "malformed": {"action": "malformed"},
}

# Cells that must fail (with a clear error); every other cell must succeed.
FAILS = {
    ("create", "401"): "dfns:authToken",
    ("create", "403"): "Webhooks:Create",
    ("create", "404"): "HTTP 404",
    ("create", "202"): "approval",
    ("update", "401"): "dfns:authToken",
    ("update", "403"): "Webhooks:Update",
    ("update", "404"): "pulumi refresh",
    ("update", "202"): "approval",
    ("delete", "401"): "dfns:authToken",
    ("delete", "403"): "Webhooks:Delete",
    ("delete", "202"): "approval",
    ("refresh", "401"): "dfns:authToken",
    ("refresh", "403"): "Webhooks:Read",
    ("refresh", "202"): "approval",
}

INPUTS = {"url": "https://receiver.example/matrix", "events": ["wallet.created"]}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(
        tmp_path_factory.mktemp("matrix"), "--max-webhooks", "1000", "--rate-limit", "100000"
    ).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def engine(emulator: EmulatorProcess) -> Iterator[ProviderServer]:
    server = ProviderServer()
    server.configure(
        {**emulator.config(), "dfns:readTimeout": str(READ_TIMEOUT), "dfns:retryTimeout": "30"}
    )
    yield server
    server.close()


class State:
    """What the engine would hold: id -> outputs."""

    def __init__(self, engine: ProviderServer, emulator: EmulatorProcess, fault: str) -> None:
        self.engine = engine
        self.emulator = emulator
        self.fault = fault
        self.resources: dict[str, dict[str, Any]] = {}
        self.baseline = {w["id"] for w in emulator.webhooks()}

    def make(self, description: str) -> str:
        inputs = self.engine.check({**INPUTS, "description": description}).inputs
        webhook_id, outs = self.engine.create(inputs)
        self.resources[webhook_id] = outs
        return webhook_id

    def assert_true(self) -> None:
        live = {w["id"]: w for w in self.emulator.webhooks() if w["id"] not in self.baseline}
        assert set(live) == set(self.resources), "Dfns and the state disagree on which exist"
        for webhook_id, outs in self.resources.items():
            for name in FIELDS:
                expected = rpc.unwrap_rpc_secret(outs.get(name))
                actual = live[webhook_id].get(name) or None
                if name == "events":
                    actual = sorted(actual or [])
                assert actual == expected, f"{webhook_id}.{name}"


def run_cell(state: State, operation: str, description: str) -> None:
    engine = state.engine
    if operation == "create":
        inputs = engine.check({**INPUTS, "description": description}).inputs
        state.emulator.fault("POST", "/webhooks", **FAULTS[state.fault])
        webhook_id, outs = engine.create(inputs)
        assert rpc.unwrap_rpc_secret(outs["secret"]).startswith("whsec-")
        state.resources[webhook_id] = outs
        return
    webhook_id = state.make(description)
    outs = state.resources[webhook_id]
    path = f"/webhooks/{webhook_id}"
    if operation == "update":
        news = engine.check({**INPUTS, "description": description, "status": "Disabled"}).inputs
        state.emulator.fault("PUT", path, **FAULTS[state.fault])
        new_outs = engine.update(webhook_id, outs, news)
        assert new_outs["status"] == "Disabled"
        assert new_outs["secret"] == outs["secret"]
        state.resources[webhook_id] = new_outs
    elif operation == "delete":
        state.emulator.fault("DELETE", path, **FAULTS[state.fault])
        engine.delete(webhook_id, outs)
        del state.resources[webhook_id]
    else:
        state.emulator.fault("GET", path, **FAULTS[state.fault])
        read_id, read_outs, _ = engine.read(webhook_id, outs)
        assert read_id == webhook_id
        state.resources[webhook_id] = read_outs


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("operation", ["create", "update", "delete", "refresh"])
def test_fault_matrix(
    engine: ProviderServer, emulator: EmulatorProcess, operation: str, fault: str
) -> None:
    emulator.clear_faults()
    state = State(engine, emulator, fault)
    description = f"{operation}-{fault}"
    expected_error = FAILS.get((operation, fault))
    try:
        if expected_error is None:
            run_cell(state, operation, description)
        else:
            with pytest.raises(EngineError) as caught:
                run_cell(state, operation, description)
            details = caught.value.details
            assert expected_error in details
            assert "Traceback" not in details
            assert details.startswith(ERROR_PREFIX)
            assert details.strip().count("\n") == 0, details
    finally:
        emulator.clear_faults()
    state.assert_true()
    # Leave nothing behind for the next cell.
    for webhook_id, outs in list(state.resources.items()):
        engine.delete(webhook_id, plaintext(outs))


# -- lost creates beside look-alikes (issue 11, item 1 and 5) ----------------------------
# Recovery must act only on a webhook this create made, judged by Dfns's clock: an
# identical webhook of another stack, the old webhook of a secret roll and the webhooks
# of parallel creates in the same provider server are never touched.

LOST = ["500", "drop", "drop_after", "malformed", "slow"]


def identical_webhooks(emulator: EmulatorProcess, inputs: dict[str, Any]) -> set[str]:
    return {
        w["id"]
        for w in emulator.webhooks()
        if w["url"] == inputs["url"]
        and sorted(w["events"]) == sorted(inputs["events"])
        and (w.get("description") or None) == inputs.get("description")
        and w["status"] == inputs["status"]
    }


@pytest.mark.parametrize("fault", LOST)
def test_a_foreign_identical_webhook_survives_a_lost_create(
    engine: ProviderServer, emulator: EmulatorProcess, fault: str
) -> None:
    emulator.clear_faults()
    inputs = engine.check({**INPUTS, "description": f"foreign-{fault}"}).inputs
    # Another stack's webhook on the same receiver, with the very same fields, made
    # just before (within the same second, as blue/green stacks applied together).
    foreign = emulator.client().create_webhook(
        inputs["url"], inputs["events"], status="Enabled", description=inputs["description"]
    )["id"]
    state = State(engine, emulator, fault)
    emulator.fault("POST", "/webhooks", **FAULTS[fault])
    try:
        webhook_id, outs = engine.create(inputs)
    finally:
        emulator.clear_faults()
    state.resources[webhook_id] = outs
    assert identical_webhooks(emulator, inputs) == {foreign, webhook_id}
    state.assert_true()
    engine.delete(webhook_id, plaintext(outs))
    emulator.client().delete_webhook(foreign)


@pytest.mark.parametrize("fault", ["500", "drop_after"])
def test_a_secret_roll_whose_create_answer_is_lost_keeps_the_old_webhook(
    engine: ProviderServer, emulator: EmulatorProcess, fault: str
) -> None:
    emulator.clear_faults()
    state = State(engine, emulator, fault)
    program = {**INPUTS, "description": f"roll-{fault}", "secret_version": "1"}
    old_id, old_outs = engine.create(engine.check(program).inputs)
    state.resources[old_id] = old_outs
    news = engine.check({**program, "secret_version": "2"}).inputs
    assert engine.diff(old_id, plaintext(old_outs), news).replaces == ["secret_version"]
    # Create-before-delete: the replacement is made while the old one is in state.
    emulator.fault("POST", "/webhooks", **FAULTS[fault])
    try:
        new_id, new_outs = engine.create(news)
    finally:
        emulator.clear_faults()
    state.resources[new_id] = new_outs
    assert new_id != old_id
    assert new_outs["secret"] != old_outs["secret"]
    state.assert_true()  # the old webhook is still there, as the state says
    engine.delete(old_id, plaintext(old_outs))  # the engine's delete of the replaced one
    del state.resources[old_id]
    state.assert_true()
    engine.delete(new_id, plaintext(new_outs))


@pytest.mark.parametrize("fault", ["drop", "drop_after", "500"])
def test_identical_creates_in_parallel_through_the_four_workers(
    engine: ProviderServer, emulator: EmulatorProcess, fault: str
) -> None:
    emulator.clear_faults()
    state = State(engine, emulator, fault)
    inputs = engine.check({**INPUTS, "description": f"parallel-{fault}"}).inputs
    # The first POST to arrive loses its answer; the other three go through meanwhile.
    emulator.fault("POST", "/webhooks", **FAULTS[fault])
    try:
        with ThreadPoolExecutor(4) as pool:
            made = list(pool.map(lambda _: engine.create(inputs), range(4)))
    finally:
        emulator.clear_faults()
    for webhook_id, outs in made:
        state.resources[webhook_id] = outs
    assert len(state.resources) == 4
    assert identical_webhooks(emulator, inputs) == set(state.resources)
    state.assert_true()
    for webhook_id, outs in made:
        engine.delete(webhook_id, plaintext(outs))


def test_a_create_dfns_acts_on_late_leaves_no_orphan(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    emulator.clear_faults()
    state = State(engine, emulator, "late")
    inputs = engine.check({**INPUTS, "description": "late"}).inputs
    # The first POST is acted on 2.4 s after it arrived: after the client gave up
    # (1 s) and after recovery's second look (about 2 s). The next create answers
    # slowly (0.9 s), so the late webhook exists when recovery looks once more.
    emulator.fault("POST", "/webhooks", "delay", delay=READ_TIMEOUT * 2.4)
    emulator.fault("POST", "/webhooks", "delay", delay=READ_TIMEOUT * 0.9)
    try:
        webhook_id, outs = engine.create(inputs)
    finally:
        emulator.clear_faults()
    state.resources[webhook_id] = outs
    time.sleep(READ_TIMEOUT)  # let nothing still be in flight
    assert identical_webhooks(emulator, inputs) == {webhook_id}
    state.assert_true()
    engine.delete(webhook_id, plaintext(outs))


def test_a_lost_create_beside_a_look_alike_made_meanwhile_touches_nothing(
    engine: ProviderServer, emulator: EmulatorProcess
) -> None:
    """Another process makes an identical webhook while this create's answer is lost:
    two webhooks could be this create's, so recovery deletes neither and names both."""
    emulator.clear_faults()
    emulator.clear_log()
    inputs = engine.check({**INPUTS, "description": "meanwhile"}).inputs
    emulator.fault("POST", "/webhooks", **FAULTS["drop_after"])
    emulator.fault("GET", "/webhooks", "delay", delay=READ_TIMEOUT * 0.8)  # recovery's list
    made: list[str] = []

    def other_stack() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(e["path"] == "/webhooks" for e in emulator.requests_log()):
                made.append(
                    emulator.client().create_webhook(
                        inputs["url"], inputs["events"], description="meanwhile"
                    )["id"]
                )
                return
            time.sleep(0.02)

    with ThreadPoolExecutor(1) as pool:
        meanwhile = pool.submit(other_stack)
        try:
            with pytest.raises(EngineError) as caught:
                engine.create(inputs)
        finally:
            meanwhile.result()
            emulator.clear_faults()
    details = caught.value.details
    both = identical_webhooks(emulator, inputs)
    assert len(both) == 2 and set(made) < both
    for webhook_id in both:
        assert webhook_id in details
        emulator.client().delete_webhook(webhook_id)
    assert "none was touched" in details and "pulumi up" in details
    assert details.strip().count("\n") == 0
