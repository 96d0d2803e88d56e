"""Shared fixtures: emulator processes on loopback, one per test or per module."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import real_cli
from tests.support.emulator import EmulatorProcess
from tests.support.wheel_project import UserProject, make_user_project


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
    if not any(item.get_closest_marker("realcli") for item in session.items):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            real_cli.install()
    else:
        real_cli.install()


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
