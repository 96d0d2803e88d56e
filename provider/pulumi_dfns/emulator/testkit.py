"""The `/_emulator/` test facilities: request log, latency and fault injection.

Real Dfns has no `/_emulator/` prefix, so none of this can be mistaken for its API.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import asdict, dataclass
from typing import Any

from .errors import ApiFailure

FAULT_ACTIONS = ("status", "delay", "drop", "drop_after", "malformed")


@dataclass
class Fault:
    """What to do to the next `times` requests matching method and path (a glob).

    - status: answer `status` (with Retry-After when `retry_after` is set) without acting;
      202 answers as a policy holding the change for approval.
    - delay: wait `delay` seconds, then act and answer normally.
    - drop: close the connection before acting.
    - drop_after: act, then close the connection without answering.
    - malformed: act, then answer 200 with a body that is not JSON.
    """

    method: str
    path: str
    action: str
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)


def parse_fault(body: Any) -> Fault:
    if not isinstance(body, dict):
        raise ApiFailure(400, "fault: body must be a JSON object")
    known = {"method", "path", "action", "status", "retryAfter", "delay", "times"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ApiFailure(400, f"fault: unrecognized key(s): {', '.join(unknown)}")
    action = body.get("action")
    if action not in FAULT_ACTIONS:
        raise ApiFailure(400, f"fault.action: expected one of {', '.join(FAULT_ACTIONS)}")
    try:
        fault = Fault(
            method=str(body.get("method", "*")).upper(),
            path=str(body.get("path", "*")),
            action=action,
            status=int(body.get("status", 500)),
            retry_after=None if body.get("retryAfter") is None else float(body["retryAfter"]),
            delay=float(body.get("delay", 0)),
            times=int(body.get("times", 1)),
        )
    except (TypeError, ValueError):
        raise ApiFailure(400, "fault: status, retryAfter, delay and times are numbers") from None
    if fault.times < 1:
        raise ApiFailure(400, "fault.times: at least 1")
    return fault


class TestKit:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._log: list[dict[str, Any]] = []
        self.latency = 0.0
        self.connections_opened = 0

    def connection_opened(self) -> None:
        with self._lock:
            self.connections_opened += 1

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first armed fault for this request, spending one of its uses."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            entry["seq"] = len(self._log) + 1
            self._log.append(entry)

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
