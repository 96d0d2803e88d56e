"""Manage Dfns webhooks as code with Pulumi.

Names load on first use: the provider process (`python -m pulumi.dynamic`) imports
only what its calls need, which keeps its start-up short.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

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
    from .delivery import DeliveryVerificationError, sign_delivery, verify_delivery
    from .errors import DfnsError
    from .events import ALL_EVENTS, EVENT_KINDS
    from .provider import DfnsWebhookProvider
    from .webhook import DfnsWebhook, DfnsWebhookArgs


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pulumi_dfns' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
