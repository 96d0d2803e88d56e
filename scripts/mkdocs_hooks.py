"""MkDocs hooks for the docs site (mkdocs.yml `hooks:`).

- `docs/_index.md` is the overview page the Pulumi Registry reads; on the site it is the
  home page (`index.html`), so the site's root is not empty.
- A docs page links the repository's own files as `../path` (right on GitHub, and
  checked by tests/test_doc_links.py). MkDocs would report such a link as not found, since
  it is outside `docs/`. Here each one is checked instead (the file must exist, and an
  anchor into a Markdown file must name one of its headings): a missing one is a warning,
  which `mkdocs build --strict` turns into a failure. The link then points at the file
  in the repository (`repo_url`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: tests/test_doc_links.py loads this without MkDocs
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

log = logging.getLogger("mkdocs.hooks.repo_links")

# An inline link whose target leaves docs/: [text](../path#anchor)
_REPO_LINK = re.compile(r"\]\((\.\./[^)\s#]*)(#[^)\s]*)?\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^#{1,6} +(.+?) *#*$")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as '-'.

    Python-Markdown's toc (the site) gives the same for every heading these docs use;
    a difference would show as a broken anchor in one of the two checks.
    """
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def heading_anchors(markdown: str) -> set[str]:
    """Anchors of a Markdown file's headings, outside code fences."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            slug = github_slug(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def on_files(files: Files, config: MkDocsConfig) -> Files:
    index = files.get_file_from_path("_index.md")
    if index is not None:
        index.dest_uri = "index.html"
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    docs_dir = Path(config.docs_dir).resolve()
    repo = docs_dir.parent
    page_dir = (docs_dir / page.file.src_uri).parent
    base = (config.repo_url or "").rstrip("/")

    def rewrite(match: re.Match[str]) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        path = (page_dir / target).resolve()
        where = f"Doc file '{page.file.src_uri}' links '{target}{anchor}'"
        if not path.is_relative_to(repo) or path.is_relative_to(docs_dir):
            log.warning(f"{where}: not a repository file outside docs/")
            return match.group(0)
        if not path.exists():
            log.warning(f"{where}, which does not exist")
            return match.group(0)
        if anchor and (path.suffix != ".md" or anchor[1:] not in heading_anchors(path.read_text())):
            log.warning(f"{where}: no heading has that anchor")
            return match.group(0)
        kind = "tree" if path.is_dir() else "blob"
        return f"]({base}/{kind}/main/{path.relative_to(repo).as_posix()}{anchor})"

    return _REPO_LINK.sub(rewrite, markdown)
