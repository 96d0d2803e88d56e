"""Create recovery over several lost answers, the boundary instant of a candidate's
`dateCreated`, and a delete Dfns answers 404 while it still lists the webhook
(recovery.py; README "Lost creates").

A lost answer whose request Dfns acted on late is played by making the identical
webhook in the emulator right after a recovery listing has come back without it: it is
dated after the first lost attempt began and before the next attempt's moment, which
is exactly where the rounds' start times must be combined (the earliest counts)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from pulumi_dfns.client import DfnsClient
from pulumi_dfns.gone import get_unless_gone
from pulumi_dfns.recovery import CreateFailed, ExactlyOnceCreator, Look
from pulumi_dfns.transport import Transport
from tests.support.emulator import EmulatorProcess
from tests.support.engine import EngineError, ProviderServer

INPUTS: dict[str, Any] = {
    "url": "https://receiver.example/rounds",
    "events": ["wallet.created"],
    "description": "rounds",
    "status": "Enabled",
}
SIGNING = {("POST", "/auth/action/init"), ("POST", "/auth/action")}


def lose_next_create(emulator: EmulatorProcess) -> None:
    """The next POST /webhooks is answered 500 and not acted on: its answer is lost."""
    emulator.fault("POST", "/webhooks", "status", status=500)


class LateLanding(Transport):
    """After the `after`-th recovery listing has come back, the identical webhook
    appears in Dfns (the late act of a lost request), and the next create is lost
    too while `lost` rounds remain."""

    def __init__(self, emulator: EmulatorProcess, after: int, lost: int) -> None:
        super().__init__(emulator.url)
        self.emulator = emulator
        self.after = after
        self.lost = lost
        self.listings = 0
        self.landed: str | None = None

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        response = super().request(method, url, **kwargs)
        if method == "GET" and url.split("?")[0].endswith("/webhooks"):
            self.listings += 1
            if self.listings == self.after:
                late = self.emulator.client().create_webhook(
                    INPUTS["url"],
                    INPUTS["events"],
                    status=INPUTS["status"],
                    description=INPUTS["description"],
                )
                self.landed = str(late["id"])
            if self.listings < self.lost:
                lose_next_create(self.emulator)
        return response


def creates(emulator: EmulatorProcess) -> int:
    return sum((e["method"], e["path"]) == ("POST", "/webhooks") for e in emulator.requests_log())


@pytest.mark.parametrize("lost", [2, 3])
def test_a_late_copy_after_several_lost_answers_is_named_not_duplicated(
    emulator: EmulatorProcess, lost: int
) -> None:
    """`lost` answers lost in a row; the copy lands after the last listing but one, so
    it is dated before the last attempt began but after the first: only the earliest
    start of the lost rounds finds it."""
    transport = LateLanding(emulator, after=lost - 1, lost=lost)
    creator = ExactlyOnceCreator(
        DfnsClient(emulator.settings(), transport=transport), sleep=lambda _: None
    )
    lose_next_create(emulator)
    with pytest.raises(CreateFailed) as caught:
        creator.create(INPUTS)
    assert transport.landed is not None
    assert transport.landed in str(caught.value), caught.value
    assert "made since this create began" in str(caught.value)
    assert [w["id"] for w in emulator.webhooks()] == [transport.landed]  # no duplicate
    assert creates(emulator) == lost + 1  # the lost ones, and the copy's own


@pytest.mark.parametrize("lost", [2, 3])
def test_after_several_lost_answers_that_dfns_never_acted_on_one_webhook_is_made(
    emulator: EmulatorProcess, lost: int
) -> None:
    waits: list[float] = []
    creator = ExactlyOnceCreator(emulator.client(), sleep=waits.append)
    emulator.fault("POST", "/webhooks", "status", status=500, times=lost)
    made = creator.create(INPUTS)
    assert [w["id"] for w in emulator.webhooks()] == [made["id"]]
    assert creates(emulator) == lost + 1
    assert waits == [0.25, 0.5, 1.0][:lost]  # retry_policy.round_pause, round by round
    assert creator.warnings == []


def dated(webhook_id: str, moment: float) -> dict[str, Any]:
    when = datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds")
    return {**INPUTS, "id": webhook_id, "dateCreated": when.replace("+00:00", "Z")}


def test_a_candidate_dated_exactly_at_the_boundary_counts() -> None:
    """Made at or after the attempt's moment: could be its own. Before: made earlier."""
    moment = 1_790_000_000.0
    listed = [
        dated("wh-before", moment - 0.001),
        dated("wh-at", moment),
        dated("wh-after", moment + 0.001),
        {**dated("wh-other", moment), "url": "https://receiver.example/other"},
    ]
    look = Look(listed, INPUTS, moment)
    assert look.candidates == ["wh-at", "wh-after"]
    assert look.undatable == []
    assert look.named() == ["wh-at", "wh-after"]


def test_without_a_moment_every_look_alike_is_named_undatable() -> None:
    listed = [dated("wh-a", 1.0), {**INPUTS, "id": "wh-b"}]
    look = Look(listed, INPUTS, None)
    assert look.candidates == [] and look.undatable == ["wh-a", "wh-b"]
    assert Look([{**INPUTS, "id": "wh-c"}], INPUTS, 5.0).undatable == ["wh-c"]


@pytest.mark.processes
def test_a_delete_answered_404_while_dfns_still_lists_it_fails_and_keeps_it(
    emulator: EmulatorProcess,
) -> None:
    engine = ProviderServer()
    try:
        engine.configure(emulator.config())
        webhook_id, outs = engine.create(engine.check(INPUTS).inputs)
        emulator.clear_log()
        emulator.fault("DELETE", f"/webhooks/{webhook_id}", "status", status=404, times=2)
        with pytest.raises(EngineError) as caught:
            engine.delete(webhook_id, outs)
        details = caught.value.details
        assert f"deleting webhook {webhook_id}: Dfns answered 404 to DELETE but still" in details
        assert details.strip().count("\n") == 0, details
        # The engine keeps a resource whose delete failed: the next destroy retries.
        assert [w["id"] for w in emulator.webhooks()] == [webhook_id]
        calls = [(e["method"], e["path"]) for e in emulator.requests_log()]
        path = f"/webhooks/{webhook_id}"
        assert [c for c in calls if c not in SIGNING] == [
            ("DELETE", path),
            ("GET", path),
            ("DELETE", path),
            ("GET", path),
            ("GET", "/webhooks"),  # emulator.webhooks() above
        ]
        engine.delete(webhook_id, outs)
        assert emulator.webhooks() == []
    finally:
        engine.close()


def test_a_webhook_counts_as_gone_after_three_404s_half_a_second_then_a_second_apart(
    emulator: EmulatorProcess,
) -> None:
    pauses: list[float] = []
    gone = "wh-00000-00000-0000000000000000"
    assert get_unless_gone(emulator.client(), gone, sleep=pauses.append) is None
    assert pauses == [0.5, 1.0]  # retry_policy.CONFIRM_PAUSES: 1.5 s in all
    assert [(e["path"], e["status"]) for e in emulator.requests_log()] == [
        (f"/webhooks/{gone}", 404)
    ] * 3


def test_a_failed_listing_after_a_lost_answer_is_tried_again(emulator: EmulatorProcess) -> None:
    """LISTING_ROUNDS: one failed listing does not end recovery; the next one decides."""
    client = DfnsClient(emulator.settings(max_attempts=1))
    creator = ExactlyOnceCreator(client, sleep=lambda _: None)
    lose_next_create(emulator)
    emulator.fault("GET", "/webhooks", "status", status=503)
    with pytest.raises(CreateFailed) as caught:
        creator.create(INPUTS)
    # Dfns was asked twice and holds nothing: the one allowed attempt is spent.
    assert "did not confirm the create after 1 attempt(s)" in str(caught.value), caught.value
    listings = [e["status"] for e in emulator.requests_log() if e["path"] == "/webhooks"]
    assert listings == [500, 503, 200]  # the POST, the failed listing, the next
    assert emulator.webhooks() == []
