"""A language host for one project, run as `python -I inline_host.py PROJECT_DIR`.

The Python language host `pulumi-language-python` cannot be had on this machine kind
(the Go module proxy refuses its module, docs/cli.md), so the real CLI
is given the Python Automation API's own language server instead: the one an inline
program (`Stack.up(program=...)`) runs, here in a process of its own, serving the
project's `__main__.py`. The CLI is then run with `--client=127.0.0.1:PORT --exec-kind
auto.inline`, exactly as the Automation API runs it (sdk/python/lib/pulumi/automation/
_stack.py `up`, `_server.py` `LanguageServer`; the CLI uses that connection for About,
GetRequiredPackages and Run: pkg/cmd/pulumi/operations/io.go, pkg/engine/plugin_host.go).

It runs under the project's own interpreter (`.venv/bin/python`, or a template project's
`venv`), in isolated mode so nothing of this checkout is on its path: what the program
imports comes from that virtualenv, as with the real language host. The program is run
as `pulumi-language-python-exec` runs it: `runpy.run_path(<program dir>, run_name=
"__main__")` after a chdir to the project (sdk/python/cmd/pulumi-language-python-exec),
the program dir being Pulumi.yaml's `main` if it names one.
Prints the port on one line, serves until stdin closes.
"""

import os
import runpy
import sys
from concurrent import futures

import grpc
import yaml
from pulumi.automation._server import LanguageServer
from pulumi.runtime.proto import language_pb2_grpc

# As the Automation API sizes its server (automation/_stack.py _GRPC_CHANNEL_OPTIONS).
_OPTIONS = [("grpc.max_receive_message_length", 1 << 30)]


def main() -> None:
    project = os.path.abspath(sys.argv[1])
    os.chdir(project)
    with open("Pulumi.yaml") as settings:
        main_dir = os.path.join(project, yaml.safe_load(settings).get("main") or ".")

    def program() -> None:
        runpy.run_path(main_dir, run_name="__main__")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_OPTIONS)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageServer(program), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
