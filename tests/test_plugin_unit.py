"""The plugin's edges, without the CLI: names, engine values, start-up imports."""

from __future__ import annotations

import subprocess
import sys

from pulumi.output import Unknown
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.runtime.rpc import UNKNOWN

from pulumi_dfns.plugin.names import from_engine, in_schema_terms, to_engine
from pulumi_dfns.plugin.provider import plain, wire
from pulumi_dfns.plugin.server import parse


def test_neither_front_door_imports_the_http_stack_at_start() -> None:
    """`requests` costs the provider's cold start and no preview needs it (BRIEF)."""
    code = (
        "import sys, pulumi_dfns.provider, pulumi_dfns.plugin.server; "
        "print('requests' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_dynamic_state_is_read_with_the_schema_names_winning() -> None:
    state = {
        "__provider": "pickled",
        "secret_version": "old",
        "secretVersion": "new",
        "date_created": "2026-01-01",
        "url": "https://x.example",
    }
    read, was_dynamic = from_engine(state)
    assert was_dynamic
    assert read == {
        "secret_version": "new",
        "date_created": "2026-01-01",
        "url": "https://x.example",
    }
    # In a program's inputs a snake_case name is not the schema's: not taken.
    news, _ = from_engine({"secret_version": "1", "url": "u"}, legacy=False)
    assert news == {"url": "u"}
    assert to_engine({"secret_version": "1", "track_deliveries": True}) == {
        "secretVersion": "1",
        "trackDeliveries": True,
    }


def test_messages_speak_the_schema_names() -> None:
    text = "adopt_secret is given without adopt_webhook_id; DfnsWebhook takes: url"
    assert in_schema_terms(text) == (
        "adoptSecret is given without adoptWebhookId; dfns:index:Webhook takes: url"
    )


def test_engine_values_round_trip() -> None:
    assert isinstance(plain(PropertyValue(UNKNOWN)), Unknown)
    assert wire(Unknown()).value == UNKNOWN  # type: ignore[no-untyped-call]
    assert wire(3).value == 3.0 and isinstance(wire(3).value, float)
    assert wire("s", secret=True).is_secret and not wire(None, secret=True).is_secret
    nested = wire({"date": "d", "status": None})
    assert plain(nested) == {"date": "d", "status": None}
    assert plain(wire(["a", "b"])) == ["a", "b"]


def test_the_engine_address_survives_a_tracing_flag() -> None:
    """The CLI puts `--tracing ENDPOINT` before the engine's address when tracing is on."""
    assert parse(["--logtostderr", "-v=9", "--tracing", "http://t:1", "127.0.0.1:5"]).engine == (
        "127.0.0.1:5"
    )


def _token(org: str) -> str:
    import base64
    import json
    from collections.abc import Mapping

    def part(data: Mapping[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"https://custom/app_metadata": {"orgId": org}}
    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


def test_which_changes_move_a_provider_to_another_organisation() -> None:
    from pulumi_dfns.organisation import moved_keys, org_id

    a, a2, b = _token("or-a"), _token("or-a") + "x", _token("or-b")
    assert org_id(a) == "or-a" and org_id("not a jwt") is None
    url = "https://api.dfns.io"
    assert moved_keys({"apiUrl": url}, {"apiUrl": "https://api.uae.dfns.io"}) == ["apiUrl"]
    assert moved_keys({"authToken": a}, {"authToken": b}) == ["authToken"]
    # A rotated token of the same organisation, or one that names none: no move.
    assert moved_keys({"authToken": a}, {"authToken": a2}) == []
    assert moved_keys({"authToken": a}, {"authToken": "opaque"}) == []
    # A dynamic stack's default provider stores the stack config namespaced (the engine
    # diffs against it when a stack moves to the plugin): the same organisation.
    assert (
        moved_keys({"dfns:apiUrl": url, "dfns:authToken": a}, {"apiUrl": url, "authToken": a}) == []
    )
    # A side that does not give the property (DFNS_* in the environment): no evidence.
    assert moved_keys({}, {"apiUrl": "https://api.uae.dfns.io", "authToken": b}) == []
