"""A local Dfns API (webhooks and User Action Signing): the embedded default and test target.

Run it with `python -m pulumi_dfns.emulator` or `dfns-emulator`.
"""

from __future__ import annotations

from .server import EmulatorConfig, EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorServer"]
