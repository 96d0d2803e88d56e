"""Which text encoding a file's byte order mark announces: the one table for every file
pulumi-dfns reads that a user may have written on Windows (PowerShell's `>` writes
UTF-16 LE with a mark): key files (signing.py) and the audit's state and config files
(audit_inputs.py)."""

from __future__ import annotations

import codecs

# Longest first: UTF-32 LE's mark begins with UTF-16 LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def marked_encoding(raw: bytes) -> str | None:
    """The codec that decodes `raw` (mark included) when it opens with a byte order
    mark; None without one."""
    return next((name for bom, name in _BOMS if raw.startswith(bom)), None)
