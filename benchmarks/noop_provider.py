"""A dynamic provider that does nothing: the baseline for the benchmarks (bench.py's cold
start, bench_cli.py's preview and up). Its answers have the shape of ours (a diff that
compares, an id, the inputs as outputs) so the engine does the same work for both."""

from __future__ import annotations

import os
from typing import Any

from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

PROVIDER_KEY = "__provider"


class NoopProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(news, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        names = (set(olds) | set(news)) - {PROVIDER_KEY}
        changes = any(olds.get(name) != news.get(name) for name in names)
        return DiffResult(changes=changes, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"noop-{os.urandom(8).hex()}", props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        pass
