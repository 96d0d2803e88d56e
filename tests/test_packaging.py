"""What the distribution declares matches what the package imports and what it reports.

Every module of provider/pulumi_dfns counts, the emulator and the quickstart included:
both ship in the wheel and run from it (`dfns-emulator`, `python -m
pulumi_dfns.quickstart`), so what they import is a runtime dependency, not a test one.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import pulumi_dfns

PACKAGE = Path(pulumi_dfns.__file__).resolve().parent
DISTRIBUTION = "pulumi-dfns"


def normalise(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_level_modules(package: Path) -> dict[str, set[str]]:
    """Top-level names of absolute imports (anywhere in a module), with the files using them."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.name)
    return found


def third_party_distributions(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """The distributions providing the non-stdlib, non-self imports, with the importing files."""
    providers = importlib.metadata.packages_distributions()
    wanted: dict[str, set[str]] = {}
    for module, files in modules.items():
        if module in sys.stdlib_module_names or module == "pulumi_dfns":
            continue
        dists = providers.get(module)
        assert dists, f"no installed distribution provides {module!r} (imported by {files})"
        for dist in dists:
            wanted.setdefault(normalise(dist), set()).update(files)
    return wanted


def declared_runtime_dependencies() -> set[str]:
    requires = importlib.metadata.requires(DISTRIBUTION) or []
    runtime = [Requirement(r) for r in requires]
    return {normalise(r.name) for r in runtime if r.marker is None or "extra" not in str(r.marker)}


def test_every_third_party_import_is_a_declared_dependency_and_no_more() -> None:
    imported = third_party_distributions(imported_top_level_modules(PACKAGE))
    declared = declared_runtime_dependencies()
    undeclared = {dist: sorted(files) for dist, files in imported.items() if dist not in declared}
    assert undeclared == {}, f"imported but not in [project] dependencies: {undeclared}"
    assert declared - set(imported) == set(), "declared but never imported"


def test_the_import_scan_sees_imports_inside_functions() -> None:
    """quickstart.py imports yaml inside a function: the scan must see it (the case that
    slipped through before: PyYAML arrived only as a dependency of pulumi)."""
    modules = imported_top_level_modules(PACKAGE)
    assert "quickstart.py" in modules.get("yaml", set())
    assert "pyyaml" in third_party_distributions({"yaml": {"quickstart.py"}})


def test_version_is_the_distribution_metadata() -> None:
    assert pulumi_dfns.__version__ == importlib.metadata.version(DISTRIBUTION)
    from pulumi_dfns.transport import USER_AGENT

    assert USER_AGENT.startswith(f"pulumi-dfns/{pulumi_dfns.__version__} ")


def test_version_follows_the_metadata_not_a_literal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: f"9.9.9+{name}")
    assert pulumi_dfns.__version__ == "9.9.9+pulumi-dfns"


def test_the_build_backend_floor_reads_the_license_expression() -> None:
    """`license = "Apache-2.0"` is a PEP 639 expression: setuptools 76.1 refuses it
    ("`project.license` must be valid exactly by one definition"), 77.0.3 builds; both
    tried on this project. A build environment holding an older setuptools must not be
    allowed to satisfy the floor."""
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert re.search(r'^license = "[^"]+"$', pyproject, re.MULTILINE)
    floor = re.search(r'^requires = \["setuptools>=(\d+)"\]', pyproject, re.MULTILINE)
    assert floor is not None and int(floor.group(1)) >= 77
