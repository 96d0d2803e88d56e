"""Test processes forked from one warm process each (README "Test tiers").

Starting `python -m pulumi_dfns.emulator` costs about half a second of CPU, and
`python -u -m pulumi.dynamic` (the SDK's provider server, tests/support/engine.py) about
a fifth; nearly all of it imports, and the suite starts hundreds of each. A zygote
imports once, then forks one child per request, and the child runs what the command
runs, in its own process with its own environment, data dir and port:

- `emulator`: the very `main()` that `python -m pulumi_dfns.emulator` runs;
- `provider`: `runpy.run_module("pulumi.dynamic", run_name="__main__")`, which is what
  `python -m pulumi.dynamic` does. The zygote imports only what the SDK's
  `pulumi/dynamic/__main__.py` imports (never `pulumi_dfns`: the pickled provider is
  unpickled, and this package imported, in the child as in a fresh server). The zygote
  runs with `-u`, as the engine starts the server, so the port line is not buffered.

Each test still owns its process; only the interpreter's start is shared.

Protocol (a Unix socket): the client sends one JSON line. For `emulator`, the
emulator's arguments; the answer on the same connection is `pid N` and then whatever
the child prints (its stdout and stderr are the connection), the ready line among it.
For `provider`, `{"env": {...}}` with two file descriptors (SCM_RIGHTS): the child's
stdout and stderr; the answer is `pid N`, and the child prints its port on its stdout
as the server does. The zygote ignores SIGCHLD, so the kernel reaps children: a child
is gone once `kill(pid, 0)` fails. Nothing here starts a thread before forking (gRPC
is imported, never initialised, in the zygote). What stays shared by every child of
one zygote: the interpreter's hash seed (set order does not vary between them) and
what a module computed at import from the environment (tests/support/engine.py gives
a test that changes such variables a fresh interpreter).

    python [-u] -m tests.support.zygote SOCKET_PATH {emulator|provider}
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import sys
from collections.abc import Callable

ROLES = ("emulator", "provider")


def _emulator() -> Callable[[socket.socket, str], int]:
    from pulumi_dfns.emulator.__main__ import main  # the import every child shares

    def child(conn: socket.socket, line: str) -> int:
        os.dup2(conn.fileno(), 1)
        os.dup2(conn.fileno(), 2)
        return main([str(a) for a in json.loads(line)])

    return child


def _fresh_path() -> list[str]:
    """sys.path as a fresh interpreter of this executable has it, less its first entry
    (the script's directory, or the cwd for `-m`): no PYTHONPATH entry of this zygote's."""
    import subprocess

    listed = subprocess.run(
        [sys.executable, "-E", "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
        capture_output=True,
        text=True,
        check=True,
    )
    path: list[str] = json.loads(listed.stdout)
    return path


def _provider() -> Callable[[socket.socket, str], int]:
    # What pulumi/dynamic/__main__.py imports (it runs its server at import, so it is
    # run in the child, not imported here). A module missing from this list is simply
    # imported by the child: slower, never different.
    import dill  # noqa: F401
    import grpc  # noqa: F401
    from google.protobuf import empty_pb2  # noqa: F401
    from pulumi.dynamic import Config, ConfigureRequest, ResourceProvider  # noqa: F401
    from pulumi.metadata import get_project  # noqa: F401
    from pulumi.runtime import Settings, configure, proto, rpc  # noqa: F401
    from pulumi.runtime._serialization import _deserialize  # noqa: F401
    from pulumi.runtime.proto import ResourceProviderServicer, provider_pb2_grpc  # noqa: F401

    base = _fresh_path()

    def child(conn: socket.socket, line: str) -> int:
        conn.close()
        request = json.loads(line)
        os.environ.clear()
        os.environ.update(request["env"])
        out, err = request["fds"]
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.close(out)
        os.close(err)
        # As `python -u -m pulumi.dynamic` would have them: the cwd, the test's
        # PYTHONPATH, the interpreter's own; none of the zygote's modules (tests.*).
        extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[:] = [os.getcwd(), *extra, *base]
        for name in [n for n in sys.modules if n == "tests" or n.startswith("tests.")]:
            del sys.modules[name]
        sys.argv = ["-m"]  # as `python -m` leaves it until runpy sets the module's path
        runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)
        return 0

    return child


def _die_with_parent() -> None:
    """SIGTERM when the pytest process that started this zygote dies, even by a crash
    that runs no atexit hook (Linux prctl PR_SET_PDEATHSIG; forked children do not
    inherit it)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before the call
        sys.exit(0)


def serve(path: str, role: str) -> None:
    _die_with_parent()
    child = _emulator() if role == "emulator" else _provider()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("zygote ready", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            line, fds = _receive(conn)
            if not line:
                continue
            if fds:
                line = json.dumps({**json.loads(line), "fds": fds})
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                code = 1
                try:
                    code = child(conn, line)
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            for fd in fds:
                os.close(fd)
            conn.sendall(f"pid {pid}\n".encode())


def _receive(conn: socket.socket) -> tuple[str, list[int]]:
    """One JSON line and the descriptors sent with it (none for an emulator)."""
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 2)
    while data and not data.endswith(b"\n"):
        more = conn.recv(1 << 16)
        if not more:
            break
        data += more
    return data.decode(), list(fds)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "emulator")
