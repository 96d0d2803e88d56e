"""A dynamic provider that does nothing: the cold-start baseline for the benchmark."""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import CheckResult, ResourceProvider


class NoopProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(news, [])
