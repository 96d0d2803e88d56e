"""Emulator processes forked from one warm process, for tests (README "Test tiers").

Starting `python -m pulumi_dfns.emulator` costs about half a second of CPU, nearly all
of it imports; the suite starts hundreds. This process imports the emulator once, then
forks one child per request, and the child runs the very `main()` that
`python -m pulumi_dfns.emulator` runs, in its own process with its own data dir and
port. Each test still owns its emulator; only the interpreter's start is shared.

Protocol (a Unix socket): the client sends one JSON line, the emulator's arguments; the
answer on the same connection is `pid N` and then whatever the child prints (its
stdout and stderr are the connection), the ready line among it. The zygote ignores
SIGCHLD, so the kernel reaps children: a child is gone once `kill(pid, 0)` fails.
Nothing here starts a thread before forking.

    python -m tests.support.zygote SOCKET_PATH
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys


def serve(path: str) -> None:
    from pulumi_dfns.emulator.__main__ import main  # the import every child shares

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("zygote ready", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            line = conn.makefile("r", encoding="utf-8").readline()
            if not line:
                continue
            args = [str(a) for a in json.loads(line)]
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.dup2(conn.fileno(), 1)
                os.dup2(conn.fileno(), 2)
                code = 1
                try:
                    code = main(args)
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            conn.sendall(f"pid {pid}\n".encode())


if __name__ == "__main__":
    serve(sys.argv[1])
