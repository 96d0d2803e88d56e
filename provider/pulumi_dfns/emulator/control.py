"""The emulator's control routes, `/_emulator/<name>`: the request log, faults, latency,
chaos, the clock, emitted events, further tokens and the assumed values. For tests and
demos; Dfns has none of them. The HTTP layer (server.py) routes here any path under
CONTROL_PREFIX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .errors import ApiFailure
from .testkit import parse_chaos, parse_fault

if TYPE_CHECKING:
    from .server import EmulatorServer


def _requests(server: EmulatorServer, body: Any) -> Any:
    return {"items": server.kit.log()}


def _clear_requests(server: EmulatorServer, body: Any) -> Any:
    server.kit.clear_log()
    return {"cleared": True}


def _faults(server: EmulatorServer, body: Any) -> Any:
    return {"items": server.kit.faults()}


def _add_fault(server: EmulatorServer, body: Any) -> Any:
    server.kit.add_fault(parse_fault(body))
    return {"items": server.kit.faults()}


def _clear_faults(server: EmulatorServer, body: Any) -> Any:
    server.kit.clear_faults()
    return {"items": []}


def _latency(server: EmulatorServer, body: Any) -> Any:
    return {"seconds": server.kit.latency}


def _set_latency(server: EmulatorServer, body: Any) -> Any:
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if not isinstance(seconds, int | float) or not 0 <= seconds <= 60:
        raise ApiFailure(400, "latency.seconds: a number from 0 to 60")
    server.kit.latency = float(seconds)
    return {"seconds": server.kit.latency}


def _stats(server: EmulatorServer, body: Any) -> Any:
    kit = server.kit
    return {
        "connectionsOpened": kit.connections_opened,
        "chaos": kit.chaos_stats(),
        "pendingRetries": server.deliverer.pending_retries(),
    }


def _set_chaos(server: EmulatorServer, body: Any) -> Any:
    server.kit.set_chaos(parse_chaos(body))
    return server.kit.chaos_stats()


def _clear_chaos(server: EmulatorServer, body: Any) -> Any:
    stats = server.kit.chaos_stats()
    server.kit.set_chaos(None)
    return stats


def _advance_clock(server: EmulatorServer, body: Any) -> Any:
    advance = body.get("advanceSeconds") if isinstance(body, dict) else None
    if not isinstance(advance, int | float) or advance < 0:
        raise ApiFailure(400, "clock.advanceSeconds: a number >= 0")
    server.clock.offset += float(advance)
    server.deliverer.wake()  # retries due on the moved clock run now
    return {"offsetSeconds": server.clock.offset}


def _emit_events(server: EmulatorServer, body: Any) -> Any:
    return {"deliveries": _emit(server, body)}


def _new_token(server: EmulatorServer, body: Any) -> Any:
    return {"token": _issue_token(server, body)}


def _assumptions(server: EmulatorServer, body: Any) -> Any:
    """The values this emulator assumed where Dfns's sources are silent."""
    assumed = asdict(server.config.assumed)
    assumed["extra_event_kinds"] = sorted(assumed["extra_event_kinds"])
    return assumed


def _emit(server: EmulatorServer, body: Any) -> list[dict[str, Any]]:
    """Emit an event of a kind to every subscribed, Enabled webhook (as Dfns would)."""
    if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
        raise ApiFailure(400, "events: body must be an object with a kind")
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise ApiFailure(400, "events.data: an object")
    scale = body.get("timeScale")
    if scale is not None and (not isinstance(scale, int | float) or scale < 0):
        raise ApiFailure(400, "events.timeScale: a number >= 0")
    org_id = server.store.get_meta("org_id")
    if org_id is None:
        raise ApiFailure(500, "the emulator has no organisation yet")
    return server.deliverer.emit(
        org_id, body["kind"], data, None if scale is None else float(scale)
    )


def _issue_token(server: EmulatorServer, body: Any) -> str:
    """A further token for the same service account: other permissions or user kind."""
    if not isinstance(body, dict):
        raise ApiFailure(400, "tokens: body must be an object")
    kind = body.get("kind", "ServiceAccount")
    if kind not in ("ServiceAccount", "CustomerEmployee", "EndUser"):
        raise ApiFailure(400, "tokens.kind: ServiceAccount, CustomerEmployee or EndUser")
    permissions = body.get("permissions")
    store = server.store
    org_id, user_id = store.get_meta("org_id"), store.get_meta("user_id")
    if org_id is None or user_id is None:
        raise ApiFailure(500, "the emulator has no service account yet")
    if permissions is None:
        return server.authority.issue_token(org_id, user_id, kind=kind)
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise ApiFailure(400, "tokens.permissions: a list of permission names")
    return server.authority.issue_token(org_id, user_id, kind=kind, permissions=tuple(permissions))


ControlAction = Callable[["EmulatorServer", Any], Any]

# `/_emulator/<name>` facilities for tests and demos, by method and name.
CONTROL_ROUTES: dict[tuple[str, str], ControlAction] = {
    ("GET", "requests"): _requests,
    ("DELETE", "requests"): _clear_requests,
    ("GET", "faults"): _faults,
    ("POST", "faults"): _add_fault,
    ("DELETE", "faults"): _clear_faults,
    ("GET", "latency"): _latency,
    ("POST", "latency"): _set_latency,
    ("GET", "stats"): _stats,
    ("POST", "chaos"): _set_chaos,
    ("DELETE", "chaos"): _clear_chaos,
    ("POST", "clock"): _advance_clock,
    ("POST", "events"): _emit_events,
    ("POST", "tokens"): _new_token,
    ("GET", "assumptions"): _assumptions,
}
