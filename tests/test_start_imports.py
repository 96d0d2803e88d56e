"""The provider's start path loads no HTTP stack (cold start; README "Performance").

Which modules a process loads is deterministic, unlike its start-up time: these tests
guard the cause of a slow cold start, and benchmarks/bench.py measures its effect. The
HTTP stack (`requests` and what it brings: urllib3, charset_normalizer, idna, certifi,
http.client) is loaded on the first call that talks to Dfns, never by a preview;
`cryptography` when a key is loaded (the provider's configure), never by the program.
"""

from __future__ import annotations

import subprocess
import sys

from tests.support.emulator import EmulatorProcess
from tests.support.engine import ProviderServer

# Top-level packages of the HTTP stack: `requests` and its dependencies (requests'
# setup.py install_requires). `http` (http.client) comes with urllib3.
HTTP_STACK = frozenset({"requests", "urllib3", "charset_normalizer", "idna", "certifi"})
INPUTS = {"url": "https://receiver.example/start", "events": ["wallet.created"]}


def loaded_http_stack(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HTTP_STACK)


def modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after `statement`, less those it held at
    start-up (site packages' .pth hooks may import things of their own)."""
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(done.stdout.split())


def test_importing_the_provider_loads_no_http_stack() -> None:
    loaded = modules_after("import pulumi_dfns.provider")
    assert "pulumi_dfns.provider" in loaded
    assert loaded_http_stack(loaded) == []


def test_a_program_importing_the_resource_loads_neither_http_nor_cryptography() -> None:
    # The program (`import pulumi_dfns` and a DfnsWebhook) pickles the provider: the
    # same modules, plus the resource class. It never loads a key, so it needs no
    # `cryptography` either (the provider process loads it at configure).
    loaded = modules_after("from pulumi_dfns import DfnsWebhook")
    assert "pulumi_dfns.webhook" in loaded
    assert loaded_http_stack(loaded) == []
    assert sorted(m for m in loaded if m.split(".")[0] == "cryptography") == []


def imported_by_server(emulator: EmulatorProcess, create: bool) -> set[str]:
    """Every module the SDK's provider server (`python -m pulumi.dynamic`, as the engine
    starts it) imported while it unpickled and configured the provider and answered
    Check and Diff (and a Create, if `create`). Python's own import log
    (PYTHONPROFILEIMPORTTIME: one stderr line per first import, written before the
    call returns) is read after the process has exited, so it is complete."""
    server = ProviderServer(env={"PYTHONPROFILEIMPORTTIME": "1"})
    try:
        server.configure(emulator.config())
        inputs = server.check(INPUTS).inputs
        server.diff("wh-start", {**inputs, "secret": "s"}, {**inputs, "description": "d"})
        if create:
            server.create(inputs)
    finally:
        server.close()
    names = set()
    for line in bytes(server.stderr).decode(errors="replace").splitlines():
        if line.startswith("import time:") and "imported package" not in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_the_provider_server_loads_no_http_stack_for_a_preview(
    emulator: EmulatorProcess,
) -> None:
    imported = imported_by_server(emulator, create=False)
    assert "pulumi_dfns.provider" in imported  # the provider was unpickled here
    assert loaded_http_stack(imported) == []


def test_the_provider_server_loads_the_http_stack_on_its_first_request(
    emulator: EmulatorProcess,
) -> None:
    # The same log shows the HTTP stack once a call needs it: the test above could see it.
    imported = imported_by_server(emulator, create=True)
    assert {"requests", "urllib3", "pulumi_dfns.transport"} <= imported


def test_never_sent_still_knows_requests_connect_timeout_without_importing_it() -> None:
    # retry_policy matches requests' and urllib3's exceptions by class name within their
    # packages (no import): the same answers as isinstance, subclasses included.
    import requests
    import urllib3

    from pulumi_dfns.retry_policy import never_sent

    class Custom(requests.exceptions.ConnectTimeout):
        pass

    assert never_sent(requests.exceptions.ConnectTimeout("connect timed out"))
    assert never_sent(Custom())
    assert never_sent(urllib3.exceptions.NameResolutionError("h", None, "no such name"))  # type: ignore[arg-type]
    assert not never_sent(requests.exceptions.ReadTimeout("read timed out"))
    assert not never_sent(requests.exceptions.ConnectionError("reset by peer"))
