"""Reader for Vietnam's XML 130 (and 4210) claim files: GIAMDINHHS envelopes.

Why streamed: a month of a province's claims is tens of thousands of files. Files
are read one at a time with ``iterparse`` (one HOSO in memory at a time), and the
flat rows are gathered in chunks of plain text columns. Each HOSO (visit record)
becomes one flat claims row of XML1 element names plus its XML2/XML3 lines; the
shared :data:`~claimguard.io.xml130_names.XML130_MAPPING` then makes them canonical.

A HOSO that cannot be decoded (bad base64, malformed inner XML, no XML1) is one
quarantined claims row and produces no lines; the rest of the file is read. A file
that is not XML, is truncated, or is not a GIAMDINHHS envelope stops the command.

Why defusedxml: the files come from outside (thousands of facilities' systems). Both the
envelope and every embedded table are parsed with DTDs, entity declarations and external
references refused, so no file can make the reader open a local file or URL (XXE) or
expand entities exponentially (billion laughs); the size and depth caps of
:class:`~claimguard.settings.IoSettings` bound what one record may make it hold.

Why a fast path: defusedxml parses in pure Python, which more than halves the visit records
read per second. Entities and external references can only be declared in a DTD, and a DTD
only by ``<!DOCTYPE``. A document in an ASCII-compatible encoding (UTF-8, ASCII, Latin-1:
nothing else is accepted as such) whose bytes nowhere hold ``<!DOCTYPE`` has no DTD, so the
standard library's C parser reads it with nothing to expand or fetch. Every other document
(one that holds ``<!DOCTYPE`` anywhere, even in a comment, or is in UTF-16 or any other
declared encoding) goes to defusedxml, which refuses the DTD.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import io
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as SafeET
import numpy as np
import pandas as pd
from defusedxml.ElementTree import DefusedXMLParser

from claimguard.errors import InputFileError
from claimguard.io.rawtable import RawTable, sha256_file
from claimguard.io.validation import SourceFiles, empty_frame, quarantine_frame
from claimguard.io.xml130_names import EXAM_GROUP, XML130_MAPPING
from claimguard.settings import IoSettings

log = logging.getLogger(__name__)

USED_TABLES = ("XML1", "XML2", "XML3", "XML11")
_CLAIM_TAGS = {
    s
    for c in XML130_MAPPING.table("claims").columns.values()
    for s in ([c] if isinstance(c, str) else c)
} | {"MA_CSKCB"}
_LINE_TAGS = {
    s
    for c in XML130_MAPPING.table("claim_lines").columns.values()
    for s in ([c] if isinstance(c, str) else c)
} | {"MA_NHOM"}
_CHUNK = 50_000
# Caps that keep hostile or broken files in bounded memory: nesting depth (real envelopes
# nest about ten levels) and the decoded size of one embedded table are settings
# (IoSettings); elements of one visit record outside its base64 payloads are capped here.
# Beyond a cap the record is quarantined; outside any record the file is refused.
MAX_DEPTH = IoSettings().max_xml_depth
MAX_HOSO_ELEMENTS = 10_000
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


def _no_dtd_file(path: Path) -> bool:
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


def _safe_parser() -> DefusedXMLParser:
    """defusedxml's parser with everything above refused, building the C ElementTree's nodes
    (measured 25% faster to parse embedded tables than its default tree builder)."""
    return DefusedXMLParser(target=ET.TreeBuilder(), **_SAFE)


def find_xml_files(path: Path) -> list[Path]:
    """The XML files under a folder (recursive, sorted) or the file itself.

    ``rglob`` does not descend into linked folders, so a link loop (``sub -> ..``) cannot make
    the search endless; a link to a file is read like the file."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".xml")


class _BadRecord(Exception):
    """A HOSO that cannot be decoded (its own problem, not the file's)."""


def _refused(exc: defusedxml.DefusedXmlException) -> str:
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
                raise _BadRecord(f"{kind}: inner XML is malformed ({exc})") from None
            if _deeper_than(tree, max_depth):
                raise _BadRecord(f"{kind}: inner XML is nested deeper than {max_depth} levels")
            return tree
    # anything else: defusedxml, stopping at once at a DTD, the depth or the element cap
    root: ET.Element | None = None
    depth = elements = 0
    try:
        for event, elem in SafeET.iterparse(io.BytesIO(data), ("start", "end"), _safe_parser()):
            if event == "end":
                depth -= 1
                continue
            depth += 1
            elements += 1
            if root is None:
                root = elem
            if depth > max_depth:
                raise _BadRecord(f"{kind}: inner XML is nested deeper than {max_depth} levels")
            if elements > MAX_PART_ELEMENTS:
                raise _BadRecord(f"{kind}: inner XML has more than {MAX_PART_ELEMENTS:,} elements")
    except ET.ParseError as exc:
        raise _BadRecord(f"{kind}: inner XML is malformed ({exc})") from None
    except defusedxml.DefusedXmlException as exc:
        raise _BadRecord(f"{kind}: inner XML {_refused(exc)}") from None
    except (LookupError, ValueError) as exc:  # expat: an unknown or multi-byte declared encoding
        raise _BadRecord(f"{kind}: inner XML declares an unsupported encoding ({exc})") from None
    if root is None:
        raise _BadRecord(f"{kind}: inner XML is empty")
    return root


def _decode(content: str | None, kind: str, limits: IoSettings) -> ET.Element:
    cap = limits.max_xml_part_bytes
    # the decoded size follows from the text's length (3 bytes per 4 characters): an
    # oversized table is rejected before a byte of it is decoded or copied
    most_chars = (cap // 3 + 1) * 4
    if content is not None and len(content) > most_chars:
        spaces = sum(content.count(c) for c in " \t\r\n")  # line breaks are allowed
        if len(content) - spaces > most_chars:
            raise _BadRecord(f"{kind}: NOIDUNGFILE decodes to more than {cap:,} bytes")
    text = "".join((content or "").split())
    if not text:
        raise _BadRecord(f"{kind}: NOIDUNGFILE is empty")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _BadRecord(f"{kind}: NOIDUNGFILE is not valid base64") from None
    del text
    if len(data) > cap:
        raise _BadRecord(f"{kind}: NOIDUNGFILE decodes to more than {cap:,} bytes")
    return _parse_part(data, kind, limits.max_xml_depth)


def _fields(elem: ET.Element, wanted: set[str]) -> dict[str, str]:
    return {c.tag: (c.text or "").strip() for c in elem if c.tag in wanted}


def _parse_hoso(
    hoso: ET.Element, limits: IoSettings
) -> tuple[dict[str, str], list[dict[str, str]], Counter[str]]:
    """One visit record -> (flat XML1 row, flat line rows, skipped table kinds)."""
    claim: dict[str, str] | None = None
    lines: list[dict[str, str]] = []
    skipped: Counter[str] = Counter()
    sick_leave = None
    for fh in hoso.iter("FILEHOSO"):
        kind = (fh.findtext("LOAIHOSO") or "").strip().upper()
        if kind not in USED_TABLES:
            skipped[kind or "(no LOAIHOSO)"] += 1
            continue
        inner = _decode(fh.findtext("NOIDUNGFILE"), kind, limits)
        if kind == "XML1":
            root = inner if inner.tag == "TONG_HOP" else inner.find(".//TONG_HOP")
            if root is None:
                raise _BadRecord(f"XML1: no TONG_HOP element (root is {inner.tag})")
            claim = _fields(root, _CLAIM_TAGS)
        elif kind == "XML2":
            lines.extend(_fields(r, _LINE_TAGS) for r in inner.iter("CHI_TIET_THUOC"))
        elif kind == "XML3":
            lines.extend(_fields(r, _LINE_TAGS) for r in inner.iter("CHI_TIET_DVKT"))
        else:
            sick_leave = inner.findtext(".//SO_NGAY_NGHI")
    if claim is None:
        raise _BadRecord("no XML1 (TONG_HOP) table in the record")
    link = claim.get("MA_LK", "")
    doctor = None
    for line in lines:
        line.setdefault("MA_LK", link)
        if not line["MA_LK"]:
            line["MA_LK"] = link
        if doctor is None and line.get("MA_NHOM") == EXAM_GROUP and line.get("MA_BAC_SI"):
            doctor = line["MA_BAC_SI"]
    if doctor is not None:
        claim.setdefault("MA_BAC_SI", doctor)
    if sick_leave is not None:
        claim["SO_NGAY_NGHI"] = sick_leave.strip()
    return claim, lines, skipped


@dataclass
class _Collector:
    """Gathers flat rows in chunks of text columns (bounded Python-object memory)."""

    rows: list[dict[str, str]] = field(default_factory=list)
    file_codes: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    names: dict[str, int] = field(default_factory=dict)
    chunks: list[pd.DataFrame] = field(default_factory=list)
    chunk_files: list[np.ndarray] = field(default_factory=list)
    chunk_rows: list[np.ndarray] = field(default_factory=list)

    def add(self, row: dict[str, str], file: str, position: int) -> None:
        self.rows.append(row)
        self.file_codes.append(self.names.setdefault(file, len(self.names)))
        self.positions.append(position)
        if len(self.rows) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        frame = pd.DataFrame.from_records(self.rows)
        self.chunks.append(frame.replace("", None).astype("str"))
        self.chunk_files.append(np.array(self.file_codes, dtype=np.int32))
        self.chunk_rows.append(np.array(self.positions, dtype=np.int64))
        self.rows, self.file_codes, self.positions = [], [], []

    def table(self, name: str) -> RawTable:
        self.flush()
        files = SourceFiles(list(self.names), np.array([], dtype=np.int32))
        if not self.chunks:
            return RawTable(name, pd.DataFrame(), files, np.array([], dtype=np.int64))
        frame = (
            pd.concat(self.chunks, ignore_index=True) if len(self.chunks) > 1 else self.chunks[0]
        )
        files.codes = np.concatenate(self.chunk_files)
        return RawTable(name, frame, files, np.concatenate(self.chunk_rows))


def _bad_file(path: Path, what: str) -> InputFileError:
    return InputFileError(
        f"the XML file {what}",
        where=str(path),
        fix="re-export the file from the facility's system (a GIAMDINHHS envelope per "
        "Decision 130/QĐ-BYT), or move it out of the input folder",
    )


def _read_file(
    path: Path,
    claims: _Collector,
    lines: _Collector,
    bad: list[pd.DataFrame],
    skipped: Counter[str],
    bad_lines: list[pd.DataFrame],
    limits: IoSettings,
) -> int:
    """Stream one envelope into the collectors; return its number of HOSO."""
    if path.stat().st_size == 0:
        raise _bad_file(path, "is empty (0 bytes)")
    file = str(path)
    envelope_facility = ""
    position = 0
    decoded = 0
    first_error = ""
    bad_positions: list[int] = []
    bad_reasons: list[str] = []
    bad_raw: list[str] = []
    lost_positions: list[int] = []
    lost_raw: list[str] = []

    def quarantine(reason: str, record: ET.Element | None = None) -> None:
        nonlocal first_error
        # the record's drug/service tables are lost with it: one lines row each, so they
        # are counted (rows in = valid + quarantined holds for claim_lines too)
        for fh in record.iter("FILEHOSO") if record is not None else ():
            kind = (fh.findtext("LOAIHOSO") or "").strip().upper()
            if kind in ("XML2", "XML3"):
                lost_positions.append(position)
                lost_raw.append(
                    json.dumps(
                        {"file": file, "hoso": position, "table": kind, "error": reason},
                        ensure_ascii=False,
                    )
                )
        bad_positions.append(position)
        bad_reasons.append(f"undecodable HOSO: {reason}")
        bad_raw.append(
            json.dumps({"file": file, "hoso": position, "error": reason}, ensure_ascii=False)
        )
        first_error = first_error or reason

    try:
        max_depth = limits.max_xml_depth
        if _no_dtd_file(path):  # nothing to expand or fetch: the C parser (module docstring)
            context = ET.iterparse(path, events=("start", "end"))
        else:
            context = SafeET.iterparse(path, events=("start", "end"), parser=_safe_parser())
        _, root = next(context)
        if root.tag != "GIAMDINHHS":
            raise _bad_file(
                path,
                f"is not an XML 130 envelope (root element <{root.tag}>, expected <GIAMDINHHS>)",
            )
        # the open elements: a finished one is detached from its parent at once, so neither
        # a very wide envelope nor a deeply nested one accumulates (only the open HOSO does)
        stack: list[ET.Element] = [root]
        hoso: ET.Element | None = None
        hoso_size = 0
        hoso_problem = ""
        for event, elem in context:
            if event == "start":
                stack.append(elem)
                if len(stack) > max_depth and hoso is None:
                    raise _bad_file(path, f"nests elements deeper than {max_depth} levels")
                if hoso is None and elem.tag == "HOSO":
                    hoso, hoso_size, hoso_problem = elem, 0, ""
                elif hoso is not None:
                    hoso_size += 1
                    if len(stack) > max_depth and not hoso_problem:
                        hoso_problem = f"nested deeper than {max_depth} levels"
                    elif hoso_size > MAX_HOSO_ELEMENTS and not hoso_problem:
                        hoso_problem = f"more than {MAX_HOSO_ELEMENTS:,} elements"
                continue
            stack.pop()
            parent = stack[-1] if stack else None
            if hoso is not None and elem is hoso:
                hoso = None
                position += 1
                if hoso_problem:
                    quarantine(hoso_problem)
                else:
                    try:
                        claim, rows, skip = _parse_hoso(elem, limits)
                    except _BadRecord as exc:
                        quarantine(str(exc), elem)
                    else:
                        decoded += 1
                        skipped.update(skip)
                        if not claim.get("MA_CSKCB"):
                            claim["MA_CSKCB"] = envelope_facility
                        claims.add(claim, file, position)
                        for r in rows:
                            lines.add(r, file, position)
            elif hoso is not None and not hoso_problem:
                continue  # inside a record being read: kept until the record ends
            elif elem.tag == "MACSKCB":
                envelope_facility = (elem.text or "").strip()
            elem.clear()
            if parent is not None:
                parent.remove(elem)
    except ET.ParseError as exc:
        raise _bad_file(path, f"cannot be parsed as XML ({exc}; truncated or not XML)") from None
    except StopIteration:
        raise _bad_file(path, "has no XML content") from None
    except defusedxml.DefusedXmlException as exc:
        raise _bad_file(path, _refused(exc)) from None
    except (LookupError, ValueError) as exc:  # expat: an unknown or multi-byte declared encoding
        raise _bad_file(path, f"declares an encoding that cannot be read ({exc})") from None
    if position == 0:
        raise _bad_file(path, "holds no HOSO visit records")
    if decoded == 0:
        raise _bad_file(
            path,
            f"has {position} HOSO record(s) and none can be decoded (first problem: {first_error})",
        )
    if lost_positions:
        bad_lines.append(
            quarantine_frame(
                "claim_lines",
                file,
                np.array(lost_positions, dtype=np.int64),
                None,
                ["lines of an undecodable HOSO (one row per XML2/XML3 table)"]
                * len(lost_positions),
                "quarantined",
                lost_raw,
            )
        )
    if bad_positions:
        bad.append(
            quarantine_frame(
                "claims",
                file,
                np.array(bad_positions, dtype=np.int64),
                None,
                bad_reasons,
                "quarantined",
                bad_raw,
            )
        )
    return position


def read_xml(
    paths: Iterable[Path], limits: IoSettings | None = None
) -> tuple[RawTable, RawTable, dict[str, str]]:
    """Read envelope files into raw claims and lines (XML element names) plus file hashes."""
    limits = limits or IoSettings()
    claims, lines = _Collector(), _Collector()
    bad: list[pd.DataFrame] = []
    bad_lines: list[pd.DataFrame] = []
    skipped: Counter[str] = Counter()
    sources: dict[str, str] = {}
    n_files = 0
    for path in paths:
        n_files += 1
        sources[str(path)] = sha256_file(path)
        _read_file(path, claims, lines, bad, skipped, bad_lines, limits)
    if n_files == 0:
        raise InputFileError(
            "the folder holds no .xml files and no claims table",
            fix="point DATA at a dataset folder with claims.parquet/claims.csv, or at XML 130 files",
        )
    if skipped:
        log.info(
            "XML: skipped tables not used by claimguard: %s",
            ", ".join(f"{k} x{v}" for k, v in sorted(skipped.items())),
        )
    claims_raw = claims.table("claims")
    if bad:
        claims_raw.pre_quarantine = pd.concat(bad, ignore_index=True)
    else:
        claims_raw.pre_quarantine = empty_frame()
    lines_raw = lines.table("claim_lines")
    lines_raw.pre_quarantine = (
        pd.concat(bad_lines, ignore_index=True) if bad_lines else empty_frame()
    )
    return claims_raw, lines_raw, sources
