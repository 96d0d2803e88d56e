"""`python -m pulumi_dfns.plugin ENGINE`: the same server as `pulumi-resource-dfns`."""

from .server import main

main()
