"""`dfns`: a Pulumi provider plugin serving `dfns:index:Webhook` on the same core as the
dynamic resource `DfnsWebhook` (core.py). Run as `pulumi-resource-dfns` (server.py).

Nothing is imported here: the CLI starts the plugin through server.main, and the rest
of pulumi_dfns never loads it.
"""
