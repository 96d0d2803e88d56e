"""The emulator's request log (`/_emulator/requests`), which many tests read as "what
the provider sent since I cleared it"."""

from __future__ import annotations

import threading
import time

import requests

from tests.support.emulator import EmulatorProcess

HELD = 1.0  # seconds a delay fault holds the request (the clear must come within)


def test_a_request_held_across_a_clear_stays_out_of_the_new_log(emulator: EmulatorProcess) -> None:
    # A request that arrived before the clear but is answered after it (held by a delay
    # fault, as a previous test's timed-out request may still be) belongs to the old log:
    # recorded in the new one, it would read as sent by whatever ran after the clear.
    emulator.clear_faults()
    emulator.fault("GET", "/webhooks", "delay", delay=HELD)
    url = f"{emulator.url}/webhooks"
    held = threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 10})
    held.start()
    deadline = time.monotonic() + 10
    while emulator.control("GET", "faults")["items"]:  # taken: the request is being held
        assert time.monotonic() < deadline, "the delayed request never reached the emulator"
        time.sleep(0.01)
    emulator.clear_log()
    requests.get(f"{url}?limit=1", timeout=10)  # arrives after the clear
    held.join()
    assert [(e["path"], e["query"]) for e in emulator.requests_log()] == [
        ("/webhooks", {"limit": "1"})
    ]
