"""One line instead of a traceback for this provider's own errors, and for nothing else.

How the user gets to read a failed provider call depends on the `pulumi` SDK that serves
the provider (`python -m pulumi.dynamic`, pulumi/pulumi `sdk/python/lib/pulumi/dynamic/
__main__.py`):

- SDK 3.260 and later wrap every call in `_abort_with_traceback`, which aborts the gRPC
  call with `traceback.format_exc()`: the user reads the whole Python traceback, frames of
  the SDK's server included, above our one-sentence message.
- SDK 3.259 and earlier let the exception reach grpcio, which answers
  `Exception calling application: <message>` (grpc/_server.py, `_call_behavior`) for every
  provider: one line, never a frame, and nothing a provider can change.

One provider process serves every Python dynamic resource of a stack, whatever library
defines it (the server caches one provider per pickled `__provider` string), so nothing
process-wide (`sys.tracebacklimit`) may change. Instead the server module's own
`traceback` name is given a stand-in whose `format_exc` formats a `OneLineError` as its
last line only and hands every other exception to the real `traceback.format_exc`.
Where the server is not the one described above (an SDK that formats errors some other
way), nothing is touched: the user then reads the full traceback, still ending with our
message.
"""

from __future__ import annotations

import sys
import traceback
from types import ModuleType
from typing import Any

# The module `python -m pulumi.dynamic` runs: it is `__main__` in the provider process.
SERVER_MODULE = "pulumi.dynamic.__main__"


class OneLineError(Exception):
    """An error whose message says everything: the user reads it without frames."""


class _OneLineForOurs:
    """The `traceback` module as the SDK's server sees it, but for our own errors."""

    def __init__(self, real: ModuleType) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def format_exc(self, limit: int | None = None, chain: bool = True) -> str:
        error = sys.exc_info()[1]
        if isinstance(error, OneLineError):
            return "".join(self._real.format_exception_only(type(error), error))
        text: str = self._real.format_exc(limit, chain)
        return text


def _server_module() -> ModuleType | None:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return main if spec is not None and spec.name == SERVER_MODULE else None


def install_one_line_errors() -> bool:
    """Make the SDK's provider server report `OneLineError`s as one line.

    Returns whether it is in place (False outside the SDK's server, or where the server
    does not format errors with `traceback.format_exc`).
    """
    server = _server_module()
    if server is None:
        return False
    current = getattr(server, "traceback", None)
    if isinstance(current, _OneLineForOurs):
        return True
    if current is not traceback:
        return False
    server.traceback = _OneLineForOurs(traceback)  # type: ignore[attr-defined]
    return True
