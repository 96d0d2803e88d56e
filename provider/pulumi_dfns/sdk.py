"""`dfns:index:Webhook` for Python programs: the plugin's resource and provider classes.

What `pulumi package gen-sdk --language python` would generate from the plugin's schema,
written by hand: the generator runs only through the Python language host
(`pulumi-language-python`), which cannot be had here (README "The provider plugin"). Like
a generated SDK it takes snake_case names and sends the schema's camelCase ones, marks
`secret` and `adopt_secret` secret, and carries the schema's alias from the dynamic
resource's type, so a `DfnsWebhook` turned into a `Webhook` of the same name keeps its
webhook (README "Moving a stack to the plugin").

    from pulumi_dfns.sdk import Provider, Webhook

    org_b = Provider("org-b", api_url=..., auth_token=config.require_secret("tokenB"), ...)
    Webhook("payments", url=..., events=["wallet.transfer.confirmed"],
            opts=pulumi.ResourceOptions(provider=org_b))

It needs the plugin (`pulumi-resource-dfns`, installed with this package) on the CLI's
plugin path.
"""

from __future__ import annotations

from typing import Any

import pulumi

from .inputs import OUTPUTS, SECRET_PROPERTIES
from .plugin.names import CAMEL_OF, DYNAMIC_TYPE, RESOURCE_TOKEN, SNAKE_OF
from .settings import ALL_SETTINGS
from .webhook import EventsInput

_SETTING_OF = {
    "".join(("_" + c.lower()) if c.isupper() else c for c in s.key): s.key for s in ALL_SETTINGS
}


class Provider(pulumi.ProviderResource):
    """One Dfns organisation: its settings are the `dfns:*` keys in snake_case
    (api_url, auth_token, credential_id, private_key, private_key_file, ...). Unset
    ones fall back to the DFNS_* variables of the `pulumi` process."""

    def __init__(
        self, resource_name: str, opts: pulumi.ResourceOptions | None = None, **settings: Any
    ) -> None:
        unknown = sorted(set(settings) - set(_SETTING_OF))
        if unknown:
            raise TypeError(f"dfns Provider: unknown setting(s) {', '.join(unknown)}")
        secrets = {s.key for s in ALL_SETTINGS if s.secret}
        props = {
            _SETTING_OF[k]: pulumi.Output.secret(v) if _SETTING_OF[k] in secrets else v
            for k, v in settings.items()
            if v is not None
        }
        super().__init__("dfns", resource_name, props, opts)


class Webhook(pulumi.CustomResource):
    """One Dfns webhook, managed by the `dfns` plugin; the id is the webhook id."""

    url: pulumi.Output[str]
    events: pulumi.Output[list[str]]
    description: pulumi.Output[str | None]
    status: pulumi.Output[str]
    secret: pulumi.Output[str | None]
    date_created: pulumi.Output[str]
    date_updated: pulumi.Output[str]
    secret_version: pulumi.Output[str | None]
    adopt_webhook_id: pulumi.Output[str | None]
    verify_with_ping: pulumi.Output[bool | None]
    adopt_secret: pulumi.Output[str | None]
    track_deliveries: pulumi.Output[bool | None]
    failed_deliveries: pulumi.Output[int | None]
    last_delivery_failure: pulumi.Output[dict[str, str | None] | None]

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        *,
        url: pulumi.Input[str] | None = None,
        events: EventsInput | None = None,
        description: pulumi.Input[str] | None = None,
        status: pulumi.Input[str] | None = None,
        secret_version: pulumi.Input[str] | None = None,
        adopt_webhook_id: pulumi.Input[str] | None = None,
        verify_with_ping: pulumi.Input[bool] | None = None,
        adopt_secret: pulumi.Input[str] | None = None,
        track_deliveries: pulumi.Input[bool] | None = None,
    ) -> None:
        given = {
            "url": url,
            "events": events,
            "description": description,
            "status": status,
            "secret_version": secret_version,
            "adopt_webhook_id": adopt_webhook_id,
            "verify_with_ping": verify_with_ping,
            "adopt_secret": None if adopt_secret is None else pulumi.Output.secret(adopt_secret),
            "track_deliveries": track_deliveries,
        }
        # Every output seeded (None until the engine fills it), as generated SDKs do.
        props: dict[str, Any] = {name: given.get(name) for name in OUTPUTS}
        defaults = pulumi.ResourceOptions(
            additional_secret_outputs=[CAMEL_OF[name] for name in SECRET_PROPERTIES],
            aliases=[pulumi.Alias(type_=DYNAMIC_TYPE)],
        )
        super().__init__(
            RESOURCE_TOKEN, resource_name, props, pulumi.ResourceOptions.merge(defaults, opts)
        )

    @staticmethod
    def get(
        resource_name: str, id: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None
    ) -> Webhook:
        """Read a webhook managed elsewhere by its id (wh-...); never changed or deleted."""
        return Webhook(
            resource_name, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(id=id))
        )

    def translate_output_property(self, prop: str) -> str:
        return SNAKE_OF.get(prop, prop)

    def translate_input_property(self, prop: str) -> str:
        return CAMEL_OF.get(prop, prop)
