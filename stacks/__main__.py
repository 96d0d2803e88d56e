"""Entry point Pulumi runs for this project (see Pulumi.yaml: main: stacks/)."""

import sys
from pathlib import Path

# Pulumi runs this directory as a script; make its sibling module importable however
# the language host sets sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhooks_program import main

main()
