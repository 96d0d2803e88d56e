"""Shared fixtures (emulator processes on loopback, one per test or per module) and the
test tiers (README "Development").

Tiers: the fast tier (`-m "not processes"`) is every test that runs in the pytest
process or starts one process (typically its emulator). A test that starts more is
marked `processes`: by the rules below (its file, its fixtures), or by hand. The rule
is enforced, not trusted: a test not marked `processes` that starts a second process
fails, saying so, so a new test lands in the right tier the first time it runs.
`long` marks the full-size soak and rotation proofs: they are moved to the front so
parallel workers (xdist) overlap them with everything else.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import real_cli
from tests.support.emulator import EmulatorProcess
from tests.support.engine import ProviderServer
from tests.support.plugin_cli import install_yaml_host
from tests.support.wheel_project import UserProject, make_user_project
from tests.support.zygotes import FORK, ROOT, Zygote


@pytest.fixture
def start_emulator(tmp_path: Path) -> Iterator[Callable[..., EmulatorProcess]]:
    """Start emulators with chosen flags; every one is stopped after the test."""
    started: list[EmulatorProcess] = []

    def start(*args: str, data_dir: Path | None = None, port: int = 0) -> EmulatorProcess:
        directory = data_dir or tmp_path / f"emulator-{len(started)}"
        emulator = EmulatorProcess(directory, *args).start(port)
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(start_emulator: Callable[..., EmulatorProcess]) -> EmulatorProcess:
    return start_emulator()


@pytest.fixture(scope="session")
def user_project(tmp_path_factory: pytest.TempPathFactory) -> UserProject:
    """The sdist and wheel built once per session, and a project from the template whose
    virtualenv has the wheel installed alone (about a minute: build, venv, pip)."""
    workdir = tmp_path_factory.mktemp("package-user")
    return make_user_project(workdir, "my-webhooks", "Webhooks of my service")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Find or build the real `pulumi` CLI once, before any test marked `realcli` runs
    (scripts/install-pulumi-cli: a `pulumi` on PATH, else a build from its Go module,
    minutes the first time, seconds after). Here, not in a fixture, so a first build is
    not charged to one test's timeout; its progress lines are shown as they come."""
    realcli = [item for item in session.items if item.get_closest_marker("realcli")]
    if not realcli:
        return
    # The plugin's YAML programs need the YAML language host too (tests/support/
    # plugin_cli.py): built here as well, for the same reason.
    yaml_host = any(item.path.name.startswith("test_plugin_cli") for item in realcli)

    def install() -> None:
        real_cli.install()
        if yaml_host:
            install_yaml_host(timeout=None)

    capture = session.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            install()
    else:
        install()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def pulumi_cli() -> Path:
    """The real CLI's binary. Missing, it fails the test in CI (CI=true) and skips it
    elsewhere, naming the install step."""
    binary = real_cli.INSTALLED.binary
    if binary is None or not binary.exists():
        reason = (
            f"no pulumi CLI: {real_cli.INSTALLED.problem or 'not installed'}; run "
            "scripts/install-pulumi-cli (needs Go and its module proxy) or install the CLI "
            "(https://www.pulumi.com/docs/install/)"
        )
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


# -- tiers -----------------------------------------------------------------------------

# Files whose tests start several processes: the harness runs the program and the
# provider (test_cli_*), the real CLI (test_realcli_*), pip, build and mypy (wheel,
# typing), the quickstart (emulator and engine), the audit command, the receiver and
# the SDK's provider server (deliveries, engine protocol).
PROCESS_FILES = (
    "test_cli_",
    "test_realcli_",
    "test_wheel_",
    "test_typing",
    "test_quickstart",
    "test_audit",
    "test_deliveries",
    "test_engine_protocol",
    # the receiver, the audit and the quickstart as processes beside the emulator
    "test_delivery_fidelity",
    "test_second_review",
    # the SDK's provider server or the plugin, run to read what they import
    "test_start_imports",
    # the real CLI and the plugin (also marked realcli)
    "test_plugin_cli",
    "test_plugin_migration",
)
# Fixtures that start a process beside the emulator: the SDK's provider server.
PROCESS_FIXTURES = frozenset({"engine", "user_project"})


# Tests that need the wheel's project (the session fixture `user_project`): run in one
# xdist worker, so it is built once, and never two at a time (one of them hides
# py.typed in the project's virtualenv for a moment).
WHEEL_FILES = (
    "tests/test_typing.py",
    "tests/test_wheel_template.py",
    "tests/test_realcli_template.py",
)


# Tests that keep the CPU busy (each starts `pulumi` or the harness's program and
# provider processes): one xdist scope per test, so they spread over every worker. Every
# other file is one scope: its tests mostly wait (retry pauses, read timeouts, the
# emulator's answers) and share module fixtures, so a worker runs the file while the
# others compute, and its module emulator starts once rather than once per worker.
PER_TEST_FILES = (
    "tests/test_realcli_",
    "tests/test_plugin_cli.py",
    "tests/test_plugin_migration.py",
    "tests/test_cli_",
)


def scope_of(nodeid: str) -> str:
    """The xdist scope a test is scheduled in (see WHEEL_FILES and PER_TEST_FILES)."""
    if nodeid.startswith(WHEEL_FILES):
        return "wheel"
    if nodeid.startswith(PER_TEST_FILES):
        return nodeid
    return nodeid.split("::", 1)[0]


class Scopes:
    """A plugin for xdist (registered only where xdist is loaded: its hook is unknown
    otherwise): xdist's scope scheduling with the scopes of `scope_of`. xdist's own
    `loadgroup` groups nothing under pytest 9 here: the nodeid suffix it relies on is
    not applied. It replaces xdist's scheduler whatever `--dist` says."""

    @staticmethod
    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
        from xdist.scheduler import LoadScopeScheduling

        class Scheduling(LoadScopeScheduling):  # type: ignore[misc]
            def _split_scope(self, nodeid: str) -> str:
                return scope_of(nodeid)

        # The order comes from pytest_collection_modifyitems, not from unit sizes.
        config.option.loadscopereorder = False
        return Scheduling(config, log)


# Go's garbage collector at a fifth of its default pace in the run's Go processes (the
# `pulumi` CLI, the YAML language host; about 550 starts, each a few tenths of a second):
# no behaviour changes, only how often the collector runs. test_realcli_lifecycle.py,
# serial: 57 to 60 s of CPU against 63 to 64 s, the largest process 117 MB against
# 110 MB. A GOGC the caller set is kept.
os.environ.setdefault("GOGC", "400")

# The project's own modules that processes of the run import: the package, and the test
# support code that runs as processes (zygotes, the harness's CLI front, the inline host).
COMPILED = ("provider", "tests/support", "tests/harness")
COMPILE_VARIABLE = "PULUMI_DFNS_TEST_COMPILE"


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(Scopes(), "pulumi-dfns-scopes")
    # Once, in the controller; tests/mutation.py turns it off (COMPILE_VARIABLE=0).
    if not hasattr(config, "workerinput") and os.environ.get(COMPILE_VARIABLE) != "0":
        _compile_sources()


def _compile_sources() -> None:
    """Write the bytecode of the project's modules before any process imports them.

    With PYTHONDONTWRITEBYTECODE set (as on this machine) Python reads `__pycache__` but
    never writes it, so each of the run's ~500 Python processes (providers the real CLI
    starts, the plugin, inline hosts, the audit, receivers) compiled `pulumi_dfns` from
    source again: about 6% of the run's CPU (measured on test_realcli_lifecycle.py: 55 s
    against 58 s). `compileall` rewrites a `.pyc` whose recorded source mtime (whole
    seconds) differs from the source's, ~1 s from a fresh clone, ~0.1 s after; the
    import system checks the size too, so a source edited within the second is compiled
    again in memory. Only a same-size rewrite within the second would run stale code,
    as with Python's own caches: the mutation tool, which makes exactly such edits,
    turns this off (PULUMI_DFNS_TEST_COMPILE=0) and keeps PYTHONDONTWRITEBYTECODE."""
    import compileall

    for directory in COMPILED:
        compileall.compile_dir(ROOT / directory, quiet=2)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark by the rules as each test is collected, before `-m` selects."""
    fixtures = set(getattr(item, "fixturenames", ()))
    if (
        item.path.name.startswith(PROCESS_FILES)
        or fixtures & PROCESS_FIXTURES
        or item.get_closest_marker("wheel")
        or item.get_closest_marker("long")
        or item.get_closest_marker("realcli")
    ):
        item.add_marker(pytest.mark.processes)


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The order xdist hands out its units in (scope_of): the order in which each unit's
    first test appears here, since the `Scopes` scheduler turns xdist's reordering off
    (the controller has no markers, the workers do). The random order is kept within
    each group, and a unit's tests stay together:

    1. the units that hold a `long` test, and the wheel's: started at once;
    2. then, taking turns, one file that mostly waits (the most tests first: the fault
       matrix among the first) and one test that computes (the real CLI's first, then
       the harness's), so that some workers wait while the others keep both cores busy
       (all waiting files first left the cores a third busy for half a minute);
    3. the computing tests left over: short units, so the workers finish together.
    """
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(scope_of(item.nodeid), []).append(item)
    first = [u for u, its in units.items() if u == "wheel" or any(_is_long(i) for i in its)]
    rest = [u for u in units if u not in first]
    waiting = sorted((u for u in rest if len(units[u]) > 1), key=lambda u: -len(units[u]))
    computing = sorted(
        (u for u in rest if len(units[u]) == 1),
        key=lambda u: units[u][0].get_closest_marker("realcli") is None,
    )
    order = list(first)
    for index in range(max(len(waiting), len(computing))):
        order += waiting[index : index + 1] + computing[index : index + 1]
    items[:] = [item for unit in order for item in units[unit]]


def _is_long(item: pytest.Item) -> bool:
    return item.get_closest_marker("long") is not None


@pytest.fixture(scope="session", autouse=True)
def _zygote() -> None:
    """The warm processes emulators and provider servers are forked from
    (tests/support/zygote.py), started before any test so that no test is charged with
    them."""
    if FORK:
        Zygote.get("emulator")
        Zygote.get("provider")


@pytest.fixture(autouse=True)
def _processes_started(request: pytest.FixtureRequest) -> Iterator[None]:
    """Count the processes this test starts (emulators and provider servers forked from
    the zygotes too); more than one needs `processes`."""
    started: list[str] = []
    emulators, servers = EmulatorProcess.forked, ProviderServer.forked
    original = subprocess.Popen.__init__

    def counting(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        started.append(str(args if isinstance(args, str) else list(args)[:3]))
        original(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = counting  # type: ignore[method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]
    started += ["emulator"] * (EmulatorProcess.forked - emulators)
    started += ["provider server"] * (ProviderServer.forked - servers)
    if len(started) > 1 and request.node.get_closest_marker("processes") is None:
        pytest.fail(
            f"this test started {len(started)} processes ({'; '.join(started[:4])}): mark it "
            "@pytest.mark.processes (or add a rule in tests/conftest.py) so the fast tier "
            "stays in-process and single-process",
            pytrace=False,
        )
