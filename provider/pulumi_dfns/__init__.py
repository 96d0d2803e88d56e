"""Manage Dfns webhooks as code with Pulumi."""

from __future__ import annotations

__version__ = "0.1.0"
