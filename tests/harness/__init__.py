"""An offline stand-in for the `pulumi` CLI and engine, for tests (never shipped).

It runs a project's real program as the Python language host does, against a fake
ResourceMonitor and Engine served over gRPC by this process; starts the dynamic
provider as the CLI's plugin shim does (program directory as working directory,
`virtualenv` resolved there); applies the engine's step rules (each cited from
pulumi/pulumi in engine.py, plugin.py, api.py); and keeps a JSON checkpoint with
secrets marked (checkpoint.py).

Python API:

    from tests.harness import Harness
    h = Harness(PROJECT_DIR, STATE_DIR, env={...})     # env: what `pulumi` would inherit
    r = h.up("dev")            # also: preview, refresh, destroy, stack_output
    r.ok, r.output, r.steps, r.checkpoint, r.provider_stderr, r.program_output
    h.checkpoint("dev"), h.checkpoint_path("dev")

CLI front (see cli.py):

    python -m tests.harness.cli --cwd PROJECT_DIR --state-dir DIR up --stack dev --yes

Limits: python projects only; the default `pulumi-python` provider only (no explicit
providers, invokes or `.get`); `secure:` config values are given in plaintext through
PULUMI_HARNESS_SECRETS (JSON: full key -> value); registrations are applied one at a
time; what is printed follows the CLI's plain output in shape, not byte for byte.
"""

from .api import Harness
from .checkpoint import Checkpoint, ResourceState
from .engine import Result, Step

__all__ = ["Checkpoint", "Harness", "ResourceState", "Result", "Step"]
