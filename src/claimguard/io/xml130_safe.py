"""Parsing XML that comes from outside: no DTD, no entity, no external reference, bounded.

Why apart from the envelope reader (claimguard.io.xml130): this is the security boundary.
An envelope and each embedded table (the base64 ``NOIDUNGFILE`` of a ``FILEHOSO``) are
parsed with DTDs, entity declarations and external references refused (defusedxml), so no
file can make the reader open a local file or URL (XXE) or expand entities (billion
laughs). The fast path: a document in an ASCII-compatible encoding whose bytes nowhere hold
``<!DOCTYPE`` has no DTD, and the standard library's C parser reads it with nothing to
expand or fetch. Size, depth and element caps bound what one table may make it hold.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as SafeET
from defusedxml.ElementTree import DefusedXMLParser

from claimguard.settings import IoSettings

# elements of one embedded table: thousands of drug lines of ~25 fields are ~100k; the byte
# cap alone would let 50 MB of "<a/>" become 12M elements (GBs of tree)
MAX_PART_ELEMENTS = 1_000_000
# what the parser refuses, whoever wrote the file: no DTD at all, so no entity and no
# external reference can be declared
_SAFE = {"forbid_dtd": True, "forbid_entities": True, "forbid_external": True}


_DOCTYPE = b"<!DOCTYPE"
_ASCII_COMPATIBLE = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "iso8859-1", "latin-1", "latin1"}
)
_DECLARED = re.compile(rb"<\?xml\s[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")


def _ascii_compatible(head: bytes) -> bool:
    """Whether a document starting with ``head`` is read by expat as UTF-8, ASCII or Latin-1
    (so ``<!DOCTYPE`` could only be written as those very bytes)."""
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head[:4]:
        return False  # UTF-16 or UTF-32, with or without a byte-order mark
    declared = _DECLARED.match(head)
    return declared is None or declared.group(1).decode("ascii", "replace").lower() in (
        _ASCII_COMPATIBLE
    )


def no_dtd_file(path: Path) -> bool:
    """Whether the file is ASCII-compatible and nowhere holds ``<!DOCTYPE`` (one streamed
    pass at memory speed; the file was just hashed, so it is in the page cache)."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
        if not _ascii_compatible(head) or _DOCTYPE in head:
            return False
        tail = head[-len(_DOCTYPE) :]
        while block := f.read(1 << 20):  # small blocks: the parse's memory stays the peak
            if _DOCTYPE in tail + block[: len(_DOCTYPE)] or _DOCTYPE in block:
                return False
            tail = block[-len(_DOCTYPE) :]
    return True


def _deeper_than(root: ET.Element, max_depth: int) -> bool:
    """Whether the tree nests deeper than ``max_depth`` (root = 1), level by level: a real
    table of three or four levels costs one visit per element."""
    level = [root]
    for _ in range(max_depth):
        level = [child for elem in level for child in elem]
        if not level:
            return False
    return True


def safe_parser() -> DefusedXMLParser:
    """defusedxml's parser with everything above refused, building the C ElementTree's nodes
    (measured 25% faster to parse embedded tables than its default tree builder)."""
    return DefusedXMLParser(target=ET.TreeBuilder(), **_SAFE)


class BadRecord(Exception):
    """A HOSO that cannot be decoded (its own problem, not the file's)."""


def refused(exc: defusedxml.DefusedXmlException) -> str:
    """What a refused construct was, for a quarantine reason or a file error."""
    if isinstance(exc, defusedxml.DTDForbidden):
        return (
            "declares a DTD (<!DOCTYPE>), which is refused "
            "(it can define entities and external references)"
        )
    if isinstance(exc, defusedxml.EntitiesForbidden):
        return f"declares the entity {exc.name!r}, which is refused"
    if isinstance(exc, defusedxml.ExternalReferenceForbidden):
        return "refers to an external resource, which is refused"
    return f"uses a refused XML construct ({exc})"


def _parse_part(data: bytes, kind: str, max_depth: int) -> ET.Element:
    """The root of one embedded table, parsed safely, never deeper than ``max_depth`` nor of
    more than MAX_PART_ELEMENTS elements (the count of ``<`` bounds the elements)."""
    if _DOCTYPE not in data and _ascii_compatible(data[:1024]):
        if data.count(b"<") <= MAX_PART_ELEMENTS:
            try:
                tree = ET.fromstring(data)  # no DTD: nothing to expand or fetch (see above)
            except ET.ParseError as exc:
                raise BadRecord(f"{kind}: inner XML is malformed ({exc})") from None
            if _deeper_than(tree, max_depth):
                raise BadRecord(f"{kind}: inner XML is nested deeper than {max_depth} levels")
            return tree
    # anything else: defusedxml, stopping at once at a DTD, the depth or the element cap
    root: ET.Element | None = None
    depth = elements = 0
    try:
        for event, elem in SafeET.iterparse(io.BytesIO(data), ("start", "end"), safe_parser()):
            if event == "end":
                depth -= 1
                continue
            depth += 1
            elements += 1
            if root is None:
                root = elem
            if depth > max_depth:
                raise BadRecord(f"{kind}: inner XML is nested deeper than {max_depth} levels")
            if elements > MAX_PART_ELEMENTS:
                raise BadRecord(f"{kind}: inner XML has more than {MAX_PART_ELEMENTS:,} elements")
    except ET.ParseError as exc:
        raise BadRecord(f"{kind}: inner XML is malformed ({exc})") from None
    except defusedxml.DefusedXmlException as exc:
        raise BadRecord(f"{kind}: inner XML {refused(exc)}") from None
    except (LookupError, ValueError) as exc:  # expat: an unknown or multi-byte declared encoding
        raise BadRecord(f"{kind}: inner XML declares an unsupported encoding ({exc})") from None
    if root is None:
        raise BadRecord(f"{kind}: inner XML is empty")
    return root


def decode_part(content: str | None, kind: str, limits: IoSettings) -> ET.Element:
    cap = limits.max_xml_part_bytes
    # the decoded size follows from the text's length (3 bytes per 4 characters): an
    # oversized table is rejected before a byte of it is decoded or copied
    most_chars = (cap // 3 + 1) * 4
    if content is not None and len(content) > most_chars:
        spaces = sum(content.count(c) for c in " \t\r\n")  # line breaks are allowed
        if len(content) - spaces > most_chars:
            raise BadRecord(f"{kind}: NOIDUNGFILE decodes to more than {cap:,} bytes")
    text = "".join((content or "").split())
    if not text:
        raise BadRecord(f"{kind}: NOIDUNGFILE is empty")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRecord(f"{kind}: NOIDUNGFILE is not valid base64") from None
    del text
    if len(data) > cap:
        raise BadRecord(f"{kind}: NOIDUNGFILE decodes to more than {cap:,} bytes")
    return _parse_part(data, kind, limits.max_xml_depth)
