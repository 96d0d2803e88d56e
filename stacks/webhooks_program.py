"""The reference program: one DfnsWebhook per entry of the stack's `webhooks` config.

Stack config (Pulumi.<stack>.yaml):

    dfns-webhooks:webhooks:
      payments:
        url: https://hooks.example.com/dfns/payments
        events: [wallet.transfer.confirmed, wallet.transfer.failed]
        description: Payments service
        status: Enabled          # optional, Enabled by default
        secretVersion: "1"       # optional; change it to roll the secret
        adoptWebhookId: wh-...   # optional; take over an existing webhook
        verifyWithPing: true     # optional; ping the receiver after each change
        deleteBeforeReplace: true  # optional resource option: a secretVersion roll
                                   # deletes the old webhook first (Dfns allows 5)
        adoptSecret: ...         # optional, with adoptWebhookId: its known secret
                                 # (set with `pulumi config set --secret --path ...`)
        trackDeliveries: true    # optional; refresh reads failed deliveries

Exports: webhookIds, webhookSecrets (a secret), and deliveryHealth: per webhook,
failedDeliveries (last 24 hours) and lastDeliveryFailure, read by `pulumi refresh`
for webhooks with trackDeliveries (None otherwise).
"""

from __future__ import annotations

from typing import Any

import pulumi

from pulumi_dfns import DfnsWebhook
from pulumi_dfns.inputs import CONFIG_FIELDS as FIELDS

# Per-webhook resource options the config may carry (camelCase, as config keys go).
DELETE_BEFORE_REPLACE = "deleteBeforeReplace"


def declare(webhooks: dict[str, Any]) -> dict[str, DfnsWebhook]:
    """Declare the webhooks; unknown config fields fail with their name."""
    declared = {}
    for name, spec in sorted(webhooks.items()):
        if not isinstance(spec, dict):
            raise ValueError(f"webhooks.{name}: expected a map with url and events")
        unknown = sorted(set(spec) - set(FIELDS) - {DELETE_BEFORE_REPLACE})
        if unknown:
            raise ValueError(
                f"webhooks.{name}: unknown field(s) {', '.join(unknown)}; "
                f"expected {', '.join((*FIELDS, DELETE_BEFORE_REPLACE))}"
            )
        inputs = {FIELDS[k]: v for k, v in spec.items() if k != DELETE_BEFORE_REPLACE}
        declared[name] = DfnsWebhook(name, **inputs, opts=_options(name, spec))
    return declared


def _options(name: str, spec: dict[str, Any]) -> pulumi.ResourceOptions | None:
    """`deleteBeforeReplace: true` makes a roll (secretVersion) delete the old webhook
    before creating the new one: the way out when in-use + rolled webhooks exceed
    Dfns's 5, at the cost of a gap in deliveries."""
    value = spec.get(DELETE_BEFORE_REPLACE)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ValueError(
            f"webhooks.{name}.{DELETE_BEFORE_REPLACE}: must be true or false, got {value!r}"
        )
    return pulumi.ResourceOptions(delete_before_replace=value)


def main() -> None:
    config = pulumi.Config()
    webhooks = declare(config.require_object("webhooks"))
    pulumi.export("webhookIds", {name: hook.id for name, hook in webhooks.items()})
    pulumi.export(
        "webhookSecrets",
        pulumi.Output.secret({name: hook.secret for name, hook in webhooks.items()}),
    )
    pulumi.export(
        "deliveryHealth",
        {
            name: {
                "failedDeliveries": hook.failed_deliveries,
                "lastDeliveryFailure": hook.last_delivery_failure,
            }
            for name, hook in webhooks.items()
        },
    )
