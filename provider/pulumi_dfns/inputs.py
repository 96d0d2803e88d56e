"""DfnsWebhook inputs: names, defaults, normalisation and validation (no network).

`check_inputs` collects EVERY problem at once, each naming its property, so one
`pulumi preview` shows the user all there is to fix. Values not yet known at preview
(Pulumi `Unknown`s) are passed through untouched: they are checked when known.

No reason shows the value it is about where that value may be a secret (a url, the
adopted secret, a webhook id that may be a secret pasted in the wrong place), and
`reported` keeps the engine from printing it (see there).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pulumi.output import Unknown

from .events import ALL_EVENTS, closest_known, example_only_note, is_known

URL = "url"
EVENTS = "events"
DESCRIPTION = "description"
STATUS = "status"
SECRET_VERSION = "secret_version"
ADOPT_WEBHOOK_ID = "adopt_webhook_id"
VERIFY_WITH_PING = "verify_with_ping"
# The known secret of an adopted webhook (a Pulumi secret; Dfns cannot confirm it).
ADOPT_SECRET = "adopt_secret"
# Opt-in: a refresh also reads the webhook's failed deliveries.
TRACK_DELIVERIES = "track_deliveries"

# Outputs that Dfns sets; never inputs.
SECRET = "secret"
DATE_CREATED = "date_created"
DATE_UPDATED = "date_updated"
# Delivery health, read by a refresh when track_deliveries is on.
FAILED_DELIVERIES = "failed_deliveries"
LAST_DELIVERY_FAILURE = "last_delivery_failure"

# The four fields Dfns stores, in the order Dfns documents them.
WEBHOOK_FIELDS = (URL, EVENTS, DESCRIPTION, STATUS)
INPUTS = (
    *WEBHOOK_FIELDS,
    SECRET_VERSION,
    ADOPT_WEBHOOK_ID,
    VERIFY_WITH_PING,
    ADOPT_SECRET,
    TRACK_DELIVERIES,
)
# Outputs only Dfns or the provider sets: refused as inputs.
SET_BY_PROVIDER = (SECRET, DATE_CREATED, DATE_UPDATED, FAILED_DELIVERIES, LAST_DELIVERY_FAILURE)
OUTPUTS = (*INPUTS, *SET_BY_PROVIDER)
# Inputs and outputs kept as Pulumi secrets.
SECRET_PROPERTIES = (SECRET, ADOPT_SECRET)

# Stack-config spelling (camelCase, as Pulumi config keys go) of each input, as the
# reference program and the quickstart read webhooks from stack config.
CONFIG_FIELDS = {
    "url": URL,
    "events": EVENTS,
    "description": DESCRIPTION,
    "status": STATUS,
    "secretVersion": SECRET_VERSION,
    "adoptWebhookId": ADOPT_WEBHOOK_ID,
    "verifyWithPing": VERIFY_WITH_PING,
    "adoptSecret": ADOPT_SECRET,
    "trackDeliveries": TRACK_DELIVERIES,
}

STATUSES = ("Enabled", "Disabled")
DEFAULT_STATUS = "Enabled"
DESCRIPTION_MAX = 256
# Assumed: no Dfns source states a url length limit; 2048 is the common browser and
# proxy bound. The emulator refuses longer urls at the same value, so a url check lets
# through is one the emulator takes. If Dfns allows longer, a longer url is refused here
# needlessly; if it allows less, Dfns's own 400 names `url` at `pulumi up`.
URL_MAX = 2048


def is_unknown(value: Any) -> bool:
    """A value the engine does not know yet (preview of a dependent resource)."""
    return isinstance(value, Unknown)


def whole_number_text(value: Any) -> str | None:
    """The text of a whole number given where text is asked, else None.

    Every number crosses the engine's gRPC as a double (protobuf Struct `number_value`),
    so `secretVersion: 1` (unquoted YAML) or `secret_version=1` reaches `check` as 1.0
    under the CLI, while a program run in-process passes 1: both mean "1".
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def holds_unknown(value: Any) -> bool:
    """Is the value, or anything inside it (a list item, a map value), not known yet?"""
    if is_unknown(value):
        return True
    if isinstance(value, list | tuple):
        return any(holds_unknown(item) for item in value)
    if isinstance(value, dict):
        return any(holds_unknown(item) for item in value.values())
    return False


@dataclass
class Checked:
    """Normalised inputs, and failures as (property, reason): each reason reads as a
    sentence after the property's name ("url" + " must be a string, got int")."""

    inputs: dict[str, Any]
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def fail(self, prop: str, reason: str) -> None:
        self.failures.append((prop, reason))


def reported(prop: str, reason: str) -> tuple[str, str]:
    """The (property, reason) a CheckFailure carries to the engine for an input failure.

    The engine prints the failing property's VALUE beside the reason, secret or not
    (pulumi/pulumi pkg/resource/deploy/step_generator.go, issueCheckFailures:
    `GetResourcePropertyInvalidValueError(...), failure.Property, inputs[failure.Property]`,
    and a secret PropertyValue formats with %v as `{&{{value}}}`), and the provider
    cannot tell which inputs were secrets: the dynamic provider does not accept secrets,
    so the engine sends them as plain values. With an empty property the engine uses
    `GetResourceInvalidError(urn), new.Type, urn.Name(), failure.Reason` instead, which
    prints no value: so every input failure goes that way, its reason starting with the
    property's name. (Read at pulumi/pulumi commit 00285a9b6248.)
    """
    if reason.startswith(f"{prop}["):  # "events[1] ..." names its property already
        return "", reason
    return "", f"{prop} {reason}"


def check_inputs(news: dict[str, Any], extra_kinds: Collection[str] = ()) -> Checked:
    """Normalise and validate a DfnsWebhook's inputs (the `__provider` key excluded).

    `extra_kinds` are event kinds to take as known (the dfns:extraEventKinds setting).
    """
    checked = Checked(inputs={})
    for name in sorted(set(news) - set(OUTPUTS)):
        checked.fail(name, f"is an unknown property; DfnsWebhook takes: {', '.join(INPUTS)}")
    for name in SET_BY_PROVIDER:
        if news.get(name) is not None and not is_unknown(news.get(name)):
            checked.fail(name, "is set by Dfns and cannot be given as an input")
    inputs = checked.inputs
    for name in INPUTS:
        value = news.get(name)
        if value is not None:
            inputs[name] = value
    not_unicode = {name for name in INPUTS if _holds_lone_surrogate(inputs.get(name))}
    for name in sorted(not_unicode):
        # Not echoed, and no other check sees it: each would repeat or encode the text.
        checked.fail(
            name,
            "holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape): it is "
            "not Unicode text, and no request to Dfns can carry it; remove it",
        )
    if URL not in not_unicode:
        _check_url(checked)
    if EVENTS not in not_unicode:
        _check_events(checked, frozenset(extra_kinds))
    if DESCRIPTION not in not_unicode:
        _check_description(checked)
    if STATUS not in not_unicode:
        _check_status(checked)
    if SECRET_VERSION not in not_unicode:
        _check_optional_text(checked, SECRET_VERSION, "any text; change it to roll the secret")
    if ADOPT_WEBHOOK_ID not in not_unicode:
        _check_optional_text(checked, ADOPT_WEBHOOK_ID, "the id of an existing webhook (wh-...)")
    adopt = checked.inputs.get(ADOPT_WEBHOOK_ID)
    if (
        ADOPT_WEBHOOK_ID not in not_unicode
        and isinstance(adopt, str)
        and adopt.strip()
        and not adopt.startswith("wh-")
    ):
        # Not echoed: a value in the wrong place may be a secret pasted there.
        checked.fail(ADOPT_WEBHOOK_ID, "is not a Dfns webhook id: a webhook id starts with 'wh-'")
    for flag in (VERIFY_WITH_PING, TRACK_DELIVERIES):
        value = inputs.get(flag)
        if value is not None and not is_unknown(value) and not isinstance(value, bool):
            checked.fail(flag, f"must be true or false, got {_echo(value)}")
    if ADOPT_SECRET not in not_unicode:
        _check_adopt_secret(checked)
    return checked


def _holds_lone_surrogate(value: Any) -> bool:
    """Text (or a list item) holding a code point of U+D800-U+DFFF: what Python keeps of
    an unpaired `\\ud800` escape. The engine's gRPC cannot carry it (protobuf strings are
    UTF-8), so only an in-process caller can hand it over."""
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, list | tuple):
        return any(_holds_lone_surrogate(item) for item in value)
    return False


def _check_adopt_secret(checked: Checked) -> None:
    """adopt_secret is a secret: no reason here shows its value, and `reported` keeps the
    engine from printing it beside the reason."""
    value = checked.inputs.get(ADOPT_SECRET)
    if value is None or is_unknown(value):
        return
    if not isinstance(value, str):
        kind = type(value).__name__
        checked.fail(ADOPT_SECRET, f"must be text (the adopted webhook's secret), got {kind}")
    elif not value.strip():
        checked.fail(
            ADOPT_SECRET, "must not be blank: give the adopted webhook's secret, or omit it"
        )
    elif value != value.strip():
        checked.fail(ADOPT_SECRET, "has leading or trailing whitespace; a Dfns secret has none")
    if checked.inputs.get(ADOPT_WEBHOOK_ID) is None:
        checked.fail(
            ADOPT_SECRET,
            "is given without adopt_webhook_id: it is the secret of the webhook you adopt; "
            "set adopt_webhook_id too, or remove adopt_secret",
        )


def _check_url(checked: Checked) -> None:
    url = checked.inputs.get(URL)
    if url is None:
        checked.fail(URL, "is required: the https URL Dfns should POST events to")
        return
    if is_unknown(url):
        return
    if not isinstance(url, str):
        checked.fail(URL, f"must be a string, got {type(url).__name__}")
        return
    stripped = url.strip()
    # No reason shows the url: it may be a Pulumi secret (a path or query holding a
    # token), which reaches the provider as plain text. Each says what is wrong instead.
    if len(stripped) > URL_MAX:
        checked.fail(
            URL,
            f"is {len(stripped)} characters; at most {URL_MAX} are accepted (assumed Dfns limit)",
        )
        return
    example = "e.g. https://hooks.example.com/dfns"
    try:
        parts = urlsplit(stripped)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number 0-65535
    except ValueError:
        # urlsplit refuses a malformed IPv6 host ("https://[::1/x"), .port a bad port.
        # The exception's text is not shown: it quotes the url's parts.
        checked.fail(
            URL,
            f"is not a valid URL: its host or port cannot be read (a port is 0-65535); {example}",
        )
        return
    problem = _url_problem(stripped, parts.scheme, host)
    if problem:
        checked.fail(URL, f"is not an absolute http(s) URL with a host: {problem}; {example}")
        return
    checked.inputs[URL] = stripped


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,15}")


def _url_problem(url: str, scheme: str, host: str | None) -> str | None:
    """What is wrong with a url, in words that do not repeat it (None: nothing)."""
    if not scheme or "://" not in url:
        return "it has no scheme (it must start with https://)"
    if scheme not in ("http", "https"):
        # A scheme is a short word of letters: showing it shows no secret.
        shown = f"'{scheme}'" if _SCHEME.fullmatch(scheme) else "not http or https"
        return f"its scheme is {shown}; use https"
    if not host:
        return "it has no host"
    if any(c.isspace() for c in url):
        return "it holds a space or other whitespace"
    return None


def _check_events(checked: Checked, extra_kinds: frozenset[str]) -> None:
    events = checked.inputs.get(EVENTS)
    if events is None:
        checked.fail(EVENTS, f"is required: at least one event kind, or '{ALL_EVENTS}' for all")
        return
    if is_unknown(events):
        return
    if isinstance(events, str) or not isinstance(events, list | tuple):
        checked.fail(EVENTS, f"must be a list of event kinds, got {type(events).__name__}")
        return
    if not events:
        checked.fail(EVENTS, f"must hold at least one event kind, or '{ALL_EVENTS}' for all")
        return
    if any(is_unknown(e) for e in events):
        return
    problems = []
    for index, kind in enumerate(events):
        if not isinstance(kind, str):
            problems.append(f"events[{index}] must be a string, got {type(kind).__name__}")
            continue
        if not kind.strip():
            problems.append(f"events[{index}] is blank; name an event kind, or '{ALL_EVENTS}'")
            continue
        if is_known(kind, extra_kinds):
            continue
        example = example_only_note(kind)
        near = closest_known(kind, extra_kinds)
        if example is not None and near is not None:
            problems.append(
                f"events[{index}] {example} (if Dfns added '{kind}' since, list it in "
                "dfns:extraEventKinds)"
            )
        elif near is not None:
            problems.append(
                f"events[{index}] '{kind}' is not a Dfns event kind; did you mean '{near}'? "
                f"(if Dfns added '{kind}' since, list it in dfns:extraEventKinds)"
            )
        else:
            checked.warnings.append(
                f"events[{index}] '{kind}' is not in pulumi-dfns's catalogue of Dfns event kinds; "
                "passing it on in case Dfns added it since (Dfns will refuse it if not; "
                "list it in dfns:extraEventKinds to silence this warning)"
                + (f"; {example}" if example is not None else "")
            )
    for problem in problems:
        checked.fail(EVENTS, problem)
    if not problems:
        checked.inputs[EVENTS] = sorted(set(events))


def _check_description(checked: Checked) -> None:
    description = checked.inputs.get(DESCRIPTION)
    if description is None or is_unknown(description):
        return
    number = whole_number_text(description)
    if number is not None:
        checked.inputs[DESCRIPTION] = description = number
    if not isinstance(description, str):
        checked.fail(DESCRIPTION, _not_text(description))
    elif len(description) > DESCRIPTION_MAX:
        checked.fail(
            DESCRIPTION,
            f"is {len(description)} characters; Dfns allows at most {DESCRIPTION_MAX}",
        )
    elif description == "":
        # Dfns stores no empty description: absent and empty mean the same.
        del checked.inputs[DESCRIPTION]


def _check_status(checked: Checked) -> None:
    status = checked.inputs.get(STATUS)
    if status is None:
        checked.inputs[STATUS] = DEFAULT_STATUS
        return
    if is_unknown(status):
        return
    if status not in STATUSES:
        checked.fail(STATUS, f"must be {' or '.join(STATUSES)}, got {_echo(status)}")


# Longest text a reason repeats: "yes", "enabled", "On" are worth showing; a longer
# value in the wrong place may be a secret pasted there.
ECHO_MAX = 12


def _echo(value: Any) -> str:
    """A refused value as a reason may show it: numbers and short words, else its type."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str) and len(value) <= ECHO_MAX and value.isprintable():
        return repr(value)
    return f"a {type(value).__name__}" if not isinstance(value, str) else "other text"


def _not_text(value: Any) -> str:
    if isinstance(value, float):
        return f"must be text or a whole number, got {value!r}"
    return f"must be a string, got {type(value).__name__}"


def _check_optional_text(checked: Checked, name: str, meaning: str) -> None:
    value = checked.inputs.get(name)
    if value is None or is_unknown(value):
        return
    number = whole_number_text(value)
    if number is not None:
        checked.inputs[name] = number
    elif isinstance(value, float):
        checked.fail(name, f"must be text or a whole number ({meaning}), got {value!r}")
    elif not isinstance(value, str):
        checked.fail(name, f"must be text ({meaning}), got {type(value).__name__}")
    elif not value.strip():
        checked.fail(name, f"must not be blank ({meaning})")
