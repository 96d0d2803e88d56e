"""Relative links in README.md and docs/*.md point at files that exist, and anchors at
headings that exist.

In process, no MkDocs needed: README.md is read on GitHub and PyPI, never built by MkDocs,
so this is its only check. CI's `mkdocs build --strict` checks docs/ again as the site
renders it; the anchors are computed by the same function its hook uses
(scripts/mkdocs_hooks.py, loaded here without MkDocs).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
_INLINE_LINK = re.compile(r"\[(?:[^\]]*)\]\(([^)\s]+)\)")
_CODE_SPAN = re.compile(r"`[^`]*`")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "scripts/mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOKS = _hooks()


def relative_links(markdown: str) -> list[tuple[int, str]]:
    """(line number, target) of each inline link that is not a URL, outside code."""
    found: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(markdown.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        for target in _INLINE_LINK.findall(_CODE_SPAN.sub("", line)):
            if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                found.append((number, target))
    return found


def broken_links(doc: Path, root: Path = ROOT) -> list[str]:
    """One line per link of `doc` whose file or anchor does not exist."""
    text = doc.read_text(encoding="utf-8")
    broken: list[str] = []
    for number, target in relative_links(text):
        path_part, _, anchor = target.partition("#")
        where = f"{doc.relative_to(root)}:{number}: {target}"
        path = (doc.parent / path_part).resolve() if path_part else doc
        if not path.is_relative_to(root):
            broken.append(f"{where}: outside the repository")
        elif not path.exists():
            broken.append(f"{where}: no such file")
        elif anchor:
            if path.suffix != ".md":
                broken.append(f"{where}: an anchor into a file that is not Markdown")
            elif anchor not in HOOKS.heading_anchors(path.read_text(encoding="utf-8")):
                broken.append(f"{where}: no heading has that anchor")
    return broken


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(ROOT).as_posix() for d in DOCS])
def test_relative_links_resolve(doc: Path) -> None:
    assert broken_links(doc) == []


def test_readme_links_into_the_docs() -> None:
    """README keeps the newcomer's part and sends the rest to docs/: its links go there."""
    targets = [t for _, t in relative_links((ROOT / "README.md").read_text(encoding="utf-8"))]
    assert any(t.startswith("docs/installation-configuration.md#") for t in targets)
    assert len([t for t in targets if t.startswith("docs/")]) >= 10


def test_a_broken_link_or_anchor_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## Its section\n", encoding="utf-8")
    (tmp_path / "code.py").write_text("", encoding="utf-8")
    doc = tmp_path / "README.md"
    doc.write_text(
        "# Top\n"
        "[ok](docs/page.md#its-section) [ok](#top) [ok](code.py) [url](https://example.com/x)\n"
        "`[in code](nope.md)`\n"
        "```\n[in a fence](nope.md)\n```\n"
        "[gone](docs/nope.md) [bad anchor](docs/page.md#nope) [self](#nope)\n"
        "[code anchor](code.py#L1) [out](../elsewhere.md)\n",
        encoding="utf-8",
    )
    assert broken_links(doc, tmp_path) == [
        "README.md:7: docs/nope.md: no such file",
        "README.md:7: docs/page.md#nope: no heading has that anchor",
        "README.md:7: #nope: no heading has that anchor",
        "README.md:8: code.py#L1: an anchor into a file that is not Markdown",
        "README.md:8: ../elsewhere.md: outside the repository",
    ]


def test_anchors_follow_github_and_mkdocs() -> None:
    """GitHub's anchors (and Python-Markdown toc's, for these headings): lower case,
    punctuation dropped, spaces as hyphens; a repeated heading gets -1, -2."""
    anchors = HOOKS.heading_anchors(
        "# pulumi-dfns\n"
        "## Quickstart in this repository (the two commands above)\n"
        "### Test facilities (`/_emulator/`, a prefix real Dfns does not use)\n"
        "## User's guide\n"
        "```bash\n# not a heading\n```\n"
        "## Notes\n## Notes\n"
    )
    assert anchors == {
        "pulumi-dfns",
        "quickstart-in-this-repository-the-two-commands-above",
        "test-facilities-_emulator-a-prefix-real-dfns-does-not-use",
        "users-guide",
        "notes",
        "notes-1",
    }


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_merge_conflict_is_left_in_a_page(doc: Path) -> None:
    """A page that kept git's conflict markers still builds and its links resolve: only
    this notices (one did, after parallel branches merged)."""
    markers = [
        number
        for number, line in enumerate(doc.read_text().splitlines(), 1)
        if line.startswith(("<<<<<<< ", ">>>>>>> ")) or line == "======="
    ]
    assert markers == [], f"{doc.name}: conflict markers on lines {markers}"
