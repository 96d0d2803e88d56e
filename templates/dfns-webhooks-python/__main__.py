"""One Dfns webhook, declared from this stack's config. The `dfns:*` settings (API url,
token, signing credential) are read by the provider, never by this program: set them
with `pulumi config set [--secret] dfns:...`, from a Pulumi ESC environment, or as
DFNS_* environment variables.
"""

import pulumi

from pulumi_dfns import DfnsWebhook

config = pulumi.Config()
events = [kind.strip() for kind in config.require("webhookEvents").split(",") if kind.strip()]

webhook = DfnsWebhook(
    "webhook",
    url=config.require("webhookUrl"),
    events=events,
    description=pulumi.get_project(),
)

pulumi.export("webhookId", webhook.id)
pulumi.export("webhookSecret", webhook.secret)  # a Pulumi secret: receivers verify with it
