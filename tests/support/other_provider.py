"""A second library's dynamic provider, for tests only: it fails every create.

It lives in an importable module, so `dill` pickles it by reference and the provider
server that serves DfnsWebhook imports and serves it in the same process, as it does for
every Python dynamic resource of a stack.
"""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import CreateResult, ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider

FAILURE = "the other library's create failed"


class FailingProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        raise RuntimeError(FAILURE)


def serialized() -> str:
    """What a program sends in `__provider` for a resource of this provider."""
    value: str = serialize_provider(FailingProvider())
    return value
