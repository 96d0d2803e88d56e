"""The program the pulumi CLI runs for this project (Pulumi.yaml sets no `main`).

It lives at the project root on purpose: the CLI starts the dynamic provider in the
program's directory and resolves the `virtualenv` option there (pkg/engine/project.go
getPwdMain, sdk/python/dist/pulumi-resource-pulumi-python), so program and provider
must share the directory that holds Pulumi.yaml and .venv. The declarations themselves
are in stacks/webhooks_program.py, next to the stack configs.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "stacks"))

from webhooks_program import main

main()
