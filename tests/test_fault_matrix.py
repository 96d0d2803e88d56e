"""Every operation x every fault, through the engine protocol against the emulator's
fault injection. After each cell the emulator holds exactly what the state says."""

from __future__ import annotations

from collections.abc import Iterator
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
