"""The `dfns` package schema, built from the package's own constants.

Property names come from inputs.py (through names.camel), the settings from
settings.ALL_SETTINGS, the event catalogue's size from events.py: a property or setting
added there appears here without a second list to keep in step (a test checks that
every input and setting has a description). The shape follows Pulumi's metaschema
(pulumi/pulumi pkg/codegen/schema/pulumi.json), which tests/test_plugin_schema.py
validates it against.
"""

from __future__ import annotations

import json
from typing import Any

from ..events import ALL_EVENTS, EVENT_KINDS
from ..health import DeliveryFailure
from ..inputs import (
    ADOPT_SECRET,
    ADOPT_WEBHOOK_ID,
    DATE_CREATED,
    DATE_UPDATED,
    DEFAULT_STATUS,
    DESCRIPTION,
    DESCRIPTION_MAX,
    EVENTS,
    FAILED_DELIVERIES,
    INPUTS,
    LAST_DELIVERY_FAILURE,
    OUTPUTS,
    SECRET,
    SECRET_PROPERTIES,
    SECRET_VERSION,
    STATUS,
    STATUSES,
    TRACK_DELIVERIES,
    URL,
    VERIFY_WITH_PING,
)
from ..settings import (
    ALL_SETTINGS,
    API_URL,
    AUTH_TOKEN,
    CONNECT_TIMEOUT,
    CREDENTIAL_ID,
    DEFAULT_API_URL,
    EXTRA_EVENT_KINDS,
    MAX_ATTEMPTS,
    PRIVATE_KEY,
    PRIVATE_KEY_FILE,
    PRIVATE_KEY_PASSPHRASE,
    READ_TIMEOUT,
    RETRY_TIMEOUT,
    Setting,
)
from .names import DYNAMIC_TYPE, RESOURCE_TOKEN, camel

PACKAGE = "dfns"
# The generated Python SDK's package: `pulumi_dfns` is this distribution's own name.
PYTHON_SDK_PACKAGE = "pulumi_dfns_sdk"
LAST_FAILURE_TYPE = "dfns:index:DeliveryFailure"

_DESCRIPTIONS: dict[str, str] = {
    URL: "Where Dfns POSTs events: an absolute http(s) URL.",
    EVENTS: (
        f'The event kinds to deliver, or ["{ALL_EVENTS}"] for all. Kept sorted. '
        f"pulumi-dfns knows {len(EVENT_KINDS)} kinds; a near miss of one is refused as a "
        "typo, an unheard-of kind is passed on with a warning."
    ),
    DESCRIPTION: f"At most {DESCRIPTION_MAX} characters.",
    STATUS: f"{' or '.join(STATUSES)} (default {DEFAULT_STATUS}).",
    SECRET_VERSION: (
        "Any text; changing it replaces the webhook (create the new one, then delete the "
        "old), which is how Dfns rolls a webhook secret."
    ),
    ADOPT_WEBHOOK_ID: (
        "Take over an existing webhook (wh-...) instead of creating one. Its secret cannot "
        "be read back from Dfns."
    ),
    VERIFY_WITH_PING: (
        "After create and update, have Dfns ping the url; a receiver that does not answer "
        "200 fails the step and the change is undone."
    ),
    ADOPT_SECRET: (
        "With adoptWebhookId, the adopted webhook's secret if you know it; it becomes the "
        "`secret` output (Dfns cannot confirm it)."
    ),
    TRACK_DELIVERIES: (
        "A refresh also reads the webhook's failed deliveries (one more GET) into "
        "failedDeliveries and lastDeliveryFailure."
    ),
    SECRET: (
        "The key receivers verify deliveries with. Dfns returns it only when it creates "
        "the webhook: empty for an adopted or imported webhook unless adoptSecret gives it."
    ),
    DATE_CREATED: "When Dfns created the webhook (ISO 8601).",
    DATE_UPDATED: "When Dfns last changed the webhook (ISO 8601).",
    FAILED_DELIVERIES: (
        "Failed deliveries in the last 24 hours, read by a refresh with trackDeliveries "
        "(unset: unknown)."
    ),
    LAST_DELIVERY_FAILURE: "The newest failed delivery, read by a refresh with trackDeliveries.",
}

_SETTING_DESCRIPTIONS: dict[Setting, str] = {
    API_URL: f"The Dfns API URL (default {DEFAULT_API_URL}).",
    AUTH_TOKEN: "The service account's auth token.",
    CREDENTIAL_ID: "The id of the service account's signing credential.",
    PRIVATE_KEY: "The credential's private key (PEM).",
    PRIVATE_KEY_FILE: "A PEM file holding the credential's private key (instead of privateKey).",
    PRIVATE_KEY_PASSPHRASE: "The passphrase of an encrypted private key.",
    CONNECT_TIMEOUT: "Seconds to wait for a connection to Dfns (default 5).",
    READ_TIMEOUT: "Seconds to wait for an answer from Dfns (default 30).",
    MAX_ATTEMPTS: "Attempts per call to Dfns (default 4).",
    RETRY_TIMEOUT: (
        "Seconds one call may spend retrying (default 60); a resource's customTimeouts "
        "bound it further."
    ),
    EXTRA_EVENT_KINDS: "Comma-separated event kinds Dfns added since pulumi-dfns's catalogue.",
}

_NUMBER_SETTINGS = (CONNECT_TIMEOUT, READ_TIMEOUT, MAX_ATTEMPTS, RETRY_TIMEOUT)
_BOOLEANS = (VERIFY_WITH_PING, TRACK_DELIVERIES)


def _property(name: str) -> dict[str, Any]:
    spec: dict[str, Any]
    if name == EVENTS:
        spec = {"type": "array", "items": {"type": "string"}}
    elif name in _BOOLEANS:
        spec = {"type": "boolean"}
    elif name == FAILED_DELIVERIES:
        spec = {"type": "integer"}
    elif name == LAST_DELIVERY_FAILURE:
        spec = {"$ref": f"#/types/{LAST_FAILURE_TYPE}"}
    else:
        spec = {"type": "string"}
    spec["description"] = _DESCRIPTIONS[name]
    if name in SECRET_PROPERTIES:
        spec["secret"] = True
    if name == SECRET_VERSION:
        spec["replaceOnChanges"] = True
    return spec


def _setting(setting: Setting) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "number" if setting in _NUMBER_SETTINGS else "string",
        "description": f"{_SETTING_DESCRIPTIONS[setting]} Env: {setting.env}.",
    }
    if setting.secret:
        spec["secret"] = True
    return spec


def schema(version: str) -> dict[str, Any]:
    settings = {s.key: _setting(s) for s in ALL_SETTINGS}
    return {
        "name": PACKAGE,
        "displayName": "Dfns",
        "version": version,
        "description": "Dfns webhooks as code (pulumi-dfns).",
        "keywords": ["pulumi", "dfns", "webhooks", "category/infrastructure"],
        "license": "Apache-2.0",
        "config": {"variables": settings},
        "provider": {
            "description": (
                "One Dfns organisation's service account. Settings not given fall back to "
                "the DFNS_* environment variables of the `pulumi` process."
            ),
            "inputProperties": settings,
        },
        "types": {
            LAST_FAILURE_TYPE: {
                "type": "object",
                "description": "A failed delivery.",
                "properties": {key: {"type": "string"} for key in DeliveryFailure.__annotations__},
            }
        },
        "resources": {
            RESOURCE_TOKEN: {
                "description": "One Dfns webhook. The resource id is the webhook id (wh-...).",
                "inputProperties": {camel(n): _property(n) for n in INPUTS},
                "requiredInputs": [URL, EVENTS],
                "properties": {camel(n): _property(n) for n in OUTPUTS},
                "required": [URL, EVENTS, STATUS, camel(DATE_CREATED), camel(DATE_UPDATED)],
                # A DfnsWebhook (the dynamic resource) moves here in place: README
                # "Moving a stack to the plugin".
                "aliases": [{"type": DYNAMIC_TYPE}],
            }
        },
        "language": {
            "python": {"packageName": PYTHON_SDK_PACKAGE},
            "nodejs": {"packageName": "@pulumi-dfns/dfns"},
        },
    }


def schema_json(version: str) -> str:
    return json.dumps(schema(version), indent=2, sort_keys=True)
