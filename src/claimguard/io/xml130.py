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
declared encoding) goes to defusedxml, which refuses the DTD. Both are in
claimguard.io.xml130_safe.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as SafeET
import numpy as np
import pandas as pd

from claimguard.errors import InputFileError
from claimguard.io.rawtable import RawTable, sha256_file
from claimguard.io.validation import SourceFiles, empty_frame, quarantine_frame
from claimguard.io.xml130_names import EXAM_GROUP, XML130_MAPPING
from claimguard.io.xml130_safe import BadRecord, decode_part, no_dtd_file, refused, safe_parser
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


def find_xml_files(path: Path) -> list[Path]:
    """The XML files under a folder (recursive, sorted) or the file itself.

    ``rglob`` does not descend into linked folders, so a link loop (``sub -> ..``) cannot make
    the search endless; a link to a file is read like the file."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".xml")


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
        inner = decode_part(fh.findtext("NOIDUNGFILE"), kind, limits)
        if kind == "XML1":
            root = inner if inner.tag == "TONG_HOP" else inner.find(".//TONG_HOP")
            if root is None:
                raise BadRecord(f"XML1: no TONG_HOP element (root is {inner.tag})")
            claim = _fields(root, _CLAIM_TAGS)
        elif kind == "XML2":
            lines.extend(_fields(r, _LINE_TAGS) for r in inner.iter("CHI_TIET_THUOC"))
        elif kind == "XML3":
            lines.extend(_fields(r, _LINE_TAGS) for r in inner.iter("CHI_TIET_DVKT"))
        else:
            sick_leave = inner.findtext(".//SO_NGAY_NGHI")
    if claim is None:
        raise BadRecord("no XML1 (TONG_HOP) table in the record")
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


@dataclass
class _Rejected:
    """One envelope's records that cannot be read, and the drug/service tables lost with them."""

    file: str
    positions: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    lost_positions: list[int] = field(default_factory=list)
    lost_raw: list[str] = field(default_factory=list)
    first_error: str = ""

    def add(self, position: int, reason: str, record: ET.Element | None = None) -> None:
        # the record's drug/service tables are lost with it: one lines row each, so they
        # are counted (rows in = valid + quarantined holds for claim_lines too)
        for fh in record.iter("FILEHOSO") if record is not None else ():
            kind = (fh.findtext("LOAIHOSO") or "").strip().upper()
            if kind in ("XML2", "XML3"):
                self.lost_positions.append(position)
                self.lost_raw.append(
                    json.dumps(
                        {"file": self.file, "hoso": position, "table": kind, "error": reason},
                        ensure_ascii=False,
                    )
                )
        self.positions.append(position)
        self.reasons.append(f"undecodable HOSO: {reason}")
        self.raw.append(
            json.dumps({"file": self.file, "hoso": position, "error": reason}, ensure_ascii=False)
        )
        self.first_error = self.first_error or reason

    def claims_frame(self) -> pd.DataFrame | None:
        if not self.positions:
            return None
        rows = np.array(self.positions, dtype=np.int64)
        return quarantine_frame(
            "claims", self.file, rows, None, self.reasons, "quarantined", self.raw
        )

    def lines_frame(self) -> pd.DataFrame | None:
        if not self.lost_positions:
            return None
        n = len(self.lost_positions)
        return quarantine_frame(
            "claim_lines",
            self.file,
            np.array(self.lost_positions, dtype=np.int64),
            None,
            ["lines of an undecodable HOSO (one row per XML2/XML3 table)"] * n,
            "quarantined",
            self.lost_raw,
        )


@dataclass
class _Envelope:
    """Where one envelope's records go: the collectors, skipped tables, rejected records."""

    path: Path
    claims: _Collector
    lines: _Collector
    skipped: Counter[str]
    rejected: _Rejected
    limits: IoSettings
    facility: str = ""  # the envelope's MACSKCB, for records that do not name theirs
    position: int = 0  # HOSO records seen
    decoded: int = 0

    def record(self, elem: ET.Element, problem: str) -> None:
        """A finished HOSO: its claim and lines collected, or the record quarantined."""
        self.position += 1
        if problem:
            self.rejected.add(self.position, problem)
            return
        try:
            claim, rows, skip = _parse_hoso(elem, self.limits)
        except BadRecord as exc:
            self.rejected.add(self.position, str(exc), elem)
            return
        self.decoded += 1
        self.skipped.update(skip)
        if not claim.get("MA_CSKCB"):
            claim["MA_CSKCB"] = self.facility
        file = str(self.path)
        self.claims.add(claim, file, self.position)
        for r in rows:
            self.lines.add(r, file, self.position)


def _stream(env: _Envelope) -> None:
    """Parse the envelope element by element into ``env``.

    The open elements are kept on a stack and a finished one is detached from its parent
    at once, so neither a very wide envelope nor a deeply nested one accumulates (only the
    open HOSO does); a HOSO too deep or too large is quarantined, not parsed.
    """
    path, max_depth = env.path, env.limits.max_xml_depth
    if no_dtd_file(path):  # nothing to expand or fetch: the C parser (module docstring)
        context = ET.iterparse(path, events=("start", "end"))
    else:
        context = SafeET.iterparse(path, events=("start", "end"), parser=safe_parser())
    _, root = next(context)
    if root.tag != "GIAMDINHHS":
        raise _bad_file(
            path, f"is not an XML 130 envelope (root element <{root.tag}>, expected <GIAMDINHHS>)"
        )
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
            env.record(elem, hoso_problem)
        elif hoso is not None and not hoso_problem:
            continue  # inside a record being read: kept until the record ends
        elif elem.tag == "MACSKCB":
            env.facility = (elem.text or "").strip()
        elem.clear()
        if parent is not None:
            parent.remove(elem)


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
    env = _Envelope(path, claims, lines, skipped, _Rejected(str(path)), limits)
    try:
        _stream(env)
    except ET.ParseError as exc:
        raise _bad_file(path, f"cannot be parsed as XML ({exc}; truncated or not XML)") from None
    except StopIteration:
        raise _bad_file(path, "has no XML content") from None
    except defusedxml.DefusedXmlException as exc:
        raise _bad_file(path, refused(exc)) from None
    except (LookupError, ValueError) as exc:  # expat: an unknown or multi-byte declared encoding
        raise _bad_file(path, f"declares an encoding that cannot be read ({exc})") from None
    if env.position == 0:
        raise _bad_file(path, "holds no HOSO visit records")
    if env.decoded == 0:
        raise _bad_file(
            path,
            f"has {env.position} HOSO record(s) and none can be decoded "
            f"(first problem: {env.rejected.first_error})",
        )
    for frame, into in (
        (env.rejected.lines_frame(), bad_lines),
        (env.rejected.claims_frame(), bad),
    ):
        if frame is not None:
            into.append(frame)
    return env.position


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
