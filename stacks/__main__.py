"""Entry point Pulumi runs for this project (see Pulumi.yaml: main: stacks/)."""

from webhooks_program import main

main()
