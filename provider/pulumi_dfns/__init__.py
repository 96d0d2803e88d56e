"""Manage Dfns webhooks as code with Pulumi.

Names load on first use: the provider process (`python -m pulumi.dynamic`) imports
only what its calls need, which keeps its start-up short. `__version__` is read from
the installed distribution's metadata on first use, so it cannot drift from it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DfnsWebhook": "webhook",
    "DfnsWebhookArgs": "webhook",
    "DfnsWebhookProvider": "provider",
    "EVENT_KINDS": "events",
    "ALL_EVENTS": "events",
    "verify_delivery": "delivery",
    "sign_delivery": "delivery",
    "DeliveryVerificationError": "delivery",
    "DfnsError": "errors",
}

__all__ = [
    "ALL_EVENTS",
    "EVENT_KINDS",
    "DeliveryVerificationError",
    "DfnsError",
    "DfnsWebhook",
    "DfnsWebhookArgs",
    "DfnsWebhookProvider",
    "sign_delivery",
    "verify_delivery",
]

if TYPE_CHECKING:
    __version__: str

    from .delivery import DeliveryVerificationError, sign_delivery, verify_delivery
    from .errors import DfnsError
    from .events import ALL_EVENTS, EVENT_KINDS
    from .provider import DfnsWebhookProvider
    from .webhook import DfnsWebhook, DfnsWebhookArgs

else:
    # Hidden from type checkers: a module-level __getattr__ would make every name,
    # misspelt ones included, importable as Any in users' type-checked programs.

    def __getattr__(name: str) -> Any:
        if name == "__version__":
            return _distribution_version()
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'pulumi_dfns' has no attribute {name!r}")
        return getattr(import_module(f".{module}", __name__), name)


DISTRIBUTION = "pulumi-dfns"


def _distribution_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"
