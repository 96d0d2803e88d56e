"""Shared fixtures: emulator processes on loopback, one per test or per module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
