"""Which check failures name a property.

Input failures reach the engine with an empty property and the property's name at the
start of the reason (pulumi_dfns.inputs.reported: the engine would print the value
beside a named property, secrets included). A setting's failure still names the setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def names(prop: str, failure: tuple[str, str]) -> bool:
    """Does this (property, reason) failure name `prop`?"""
    given, reason = failure
    if given:
        return given == prop
    return re.match(rf"{re.escape(prop)}[\s\[:]", reason) is not None


def reasons_for(prop: str, failures: Iterable[tuple[str, str]]) -> list[str]:
    """The reasons of the failures naming `prop`."""
    return [reason for failure in failures for reason in [failure[1]] if names(prop, failure)]


def named(failures: Iterable[tuple[str, str]]) -> list[str]:
    """The property (or setting) each failure names, in order."""
    out = []
    for given, reason in failures:
        out.append(given or re.split(r"[\s\[:]", reason, maxsplit=1)[0])
    return out
