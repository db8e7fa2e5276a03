"""``load_dataset``: any supported input -> a validated :class:`~claimguard.tables.Dataset`.

DATA is a dataset folder (``claims`` plus optional ``claim_lines``, ``facilities``,
``cards`` as .parquet or .csv, optional ``labels.csv``), a single claims file, or
an XML 130 file or folder. The steps are the same for every input: read raw
columns -> apply the mapping -> coerce to canonical kinds -> validate and quarantine.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from claimguard.errors import InputFileError
from claimguard.io.coerce import coerce_table
from claimguard.io.compact import encode_repetitive
from claimguard.io.contract import check_contract
from claimguard.io.mapping import Mapping, TableMapping, apply_mapping, load_mapping
from claimguard.io.problems import Problem
from claimguard.io.rawtable import RawTable, sha256_file
from claimguard.io.readers import TABLE_SUFFIXES, read_labels, read_table_file
from claimguard.io.validation import Checked, empty_frame, validate_table
from claimguard.io.xml130 import find_xml_files, read_xml
from claimguard.io.xml130_names import XML130_MAPPING
from claimguard.memory import release_memory
from claimguard.progress import step
from claimguard.schema import LOCAL_TIMEZONE, TABLES
from claimguard.settings import IoSettings
from claimguard.tables import Dataset

log = logging.getLogger(__name__)

OPTIONAL_TABLES = ("claim_lines", "facilities", "cards")


@dataclass
class Inputs:
    """What DATA points at: table files by name, or XML files."""

    tables: dict[str, Path]
    xml: list[Path]
    labels: Path | None = None


def _dead_link(path: Path) -> InputFileError:
    return InputFileError(
        "the input is a symbolic link that leads nowhere (its target is missing, or the "
        "link points back at itself: a loop)",
        where=str(path),
        fix="replace the link with the file itself, or point it at an existing file",
    )


def _table_file(folder: Path, name: str) -> Path | None:
    for suffix in TABLE_SUFFIXES:
        candidate = folder / f"{name}{suffix}"
        if candidate.is_symlink() and not candidate.exists():
            raise _dead_link(candidate)
    found = [folder / f"{name}{s}" for s in TABLE_SUFFIXES if (folder / f"{name}{s}").is_file()]
    if len(found) > 1:
        log.warning("%s: both %s found; reading %s", folder, [f.name for f in found], found[0].name)
    return found[0] if found else None


def discover(path: Path) -> Inputs:
    """Decide what kind of input ``path`` is, or fail naming what was expected.

    Links to folders are not followed inside a folder (a link loop cannot make the search
    endless); a link that leads nowhere where a table is expected is named as such.
    """
    if path.is_symlink() and not path.exists():
        raise _dead_link(path)
    if not path.exists():
        raise InputFileError(
            "the input does not exist",
            where=str(path),
            fix="pass a dataset folder (claims.parquet or claims.csv inside), a claims "
            ".parquet/.csv file, or an XML 130 file or folder",
        )
    if path.is_file():
        if path.suffix.lower() == ".xml":
            return Inputs({}, [path])
        return Inputs({"claims": path}, [])
    claims = _table_file(path, "claims")
    if claims is None:
        xml = find_xml_files(path)
        if xml:
            return Inputs({}, xml)
        raise InputFileError(
            "the folder has no claims table (claims.parquet or claims.csv) and no .xml files",
            where=str(path),
            fix="put the claims table in the folder as claims.parquet or claims.csv, or point "
            "DATA at the claims file itself",
        )
    tables = {"claims": claims}
    for name in OPTIONAL_TABLES:
        f = _table_file(path, name)
        if f is not None:
            tables[name] = f
    labels = path / "labels.csv"
    return Inputs(tables, [], labels if labels.is_file() else None)


def dataset_folders(path: Path) -> list[Path]:
    """Subfolders of ``path`` that are datasets (a claims table inside), in name order.

    Why: a fund delivers one extract per month (``2024-01/``, ``2024-02/``, ...); a job
    over a year reads them one at a time instead of holding a year in memory. Empty when
    ``path`` is itself a dataset (or not a folder).
    """
    if not path.is_dir() or _table_file(path, "claims") is not None:
        return []
    return sorted(
        (d for d in path.iterdir() if d.is_dir() and _table_file(d, "claims") is not None),
        key=lambda d: d.name,
    )


def _canonical(
    raw: RawTable,
    tm: TableMapping,
    *,
    parent: Checked | None = None,
    timezone: str = LOCAL_TIMEZONE,
) -> Checked:
    """Map, coerce and validate one raw table."""
    table = TABLES[raw.name]
    mapped = apply_mapping(raw.frame, raw.name, tm)
    missing = [c for c in table.required if c not in mapped.columns]
    if missing:
        where = ", ".join(raw.source_file.names[:3]) or raw.name
        have = ", ".join(map(str, list(raw.frame.columns)[:12]))
        raise InputFileError(
            f"the {raw.name} table lacks required column(s) {', '.join(missing)} "
            f"(found: {have or 'no columns'})",
            where=where,
            fix="rename the columns to the canonical names of docs/contract.md section 1, or pass "
            "--mapping with a YAML that maps your column names (see configs/mappings/)",
        )
    formats = {c: tm.formats(c) for c in tm.date_formats}
    coerced, problems = coerce_table(mapped, table, tm.values, formats, timezone)
    for col in table.columns:  # a list or structure where one value belongs
        rows = [raw.nested[src] for src in tm.sources(col.name) if src in raw.nested]
        if rows:
            mask = np.logical_or.reduce(rows)
            problems.append(Problem(col.name, mask, "a list or structure, not a single value"))
    del mapped
    parent_keys = parent_q = None
    if parent is not None:
        parent_keys = parent.valid["claim_id"]
        parent_q = parent.keys_quarantined
    checked = validate_table(
        coerced,
        table,
        raw=raw.frame,
        source_file=raw.source_file,
        source_row=raw.source_row,
        problems=problems,
        parent_keys=parent_keys,
        parent_quarantined=parent_q,
    )
    pa.default_memory_pool().release_unused()  # temporaries of 10M-row checks back to the OS
    if len(raw.pre_quarantine):
        checked.quarantine = pd.concat([raw.pre_quarantine, checked.quarantine], ignore_index=True)
        checked.rows_quarantined += len(raw.pre_quarantine)
        checked.rows_in += len(raw.pre_quarantine)
    return checked


def _log_absent(checked: dict[str, Checked]) -> None:
    parts = []
    absent_tables = [t for t in OPTIONAL_TABLES if t not in checked]
    if absent_tables:
        parts.append("tables " + ", ".join(absent_tables))
    for name, c in checked.items():
        cols = [col for col in TABLES[name].names if col not in c.valid.columns]
        if cols:
            parts.append(f"{name} columns " + ", ".join(cols))
    if parts:
        log.info(
            "Absent optional inputs (features that need them are switched off): %s",
            "; ".join(parts),
        )


def load_dataset(
    path: str | Path,
    mapping: str | Path | Mapping | None = None,
    limits: IoSettings | None = None,
) -> Dataset:
    """Read, coerce and validate any supported input into a :class:`Dataset`.

    ``limits`` bound what one hostile file may make the readers hold (defaults:
    :class:`~claimguard.settings.IoSettings`). Raises :class:`~claimguard.errors.InputFileError` for whole-file problems and
    :class:`~claimguard.errors.ConfigError` for a bad mapping file.
    """
    p = Path(path)
    m = mapping if isinstance(mapping, Mapping) else (load_mapping(mapping) if mapping else None)
    inputs = discover(p)
    raws: dict[str, RawTable] = {}
    sources: dict[str, str] = {}
    hashes: dict[str, Future[str]] = {}
    checked: dict[str, Checked] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        if inputs.xml:
            m = m or XML130_MAPPING
            with step(f"Reading {len(inputs.xml)} XML file(s)"):
                claims_raw, lines_raw, sources = read_xml(inputs.xml, limits)
            raws["claims"] = claims_raw
            if len(lines_raw.frame.columns):
                raws["claim_lines"] = lines_raw
        else:
            m = m or Mapping()
        # One table at a time, claims first (lines are checked against them): read,
        # validate, then store its repetitive codes compactly before the next table is
        # read, so a 10M-claim month never holds two tables' raw strings at once.
        for name in ("claims", *OPTIONAL_TABLES):
            if name in inputs.tables:
                f = inputs.tables[name]
                with step(f"Reading {name} ({f.name})"):
                    raws[name] = read_table_file(f, name)
            if name not in raws:
                continue
            if name in inputs.tables:  # hash while validating: reads use both cores, checks one
                f = inputs.tables[name]
                hashes[str(f)] = pool.submit(sha256_file, f)
            parent = checked["claims"] if name == "claim_lines" else None
            with step(f"Validating {name}"):
                table = _canonical(
                    raws.pop(name), m.table(name), parent=parent, timezone=m.timezone
                )
                table.valid = encode_repetitive(table.valid, name)
                checked[name] = table
            release_memory()  # the raw strings just freed, before the next table is read
        for fname, fut in hashes.items():
            sources[fname] = fut.result()
    labels = read_labels(inputs.labels) if inputs.labels is not None else None
    if labels is not None:
        sources[str(inputs.labels)] = sha256_file(inputs.labels)  # type: ignore[arg-type]
    _log_absent(checked)
    return _dataset(checked, labels, sources)


def _dataset(
    checked: dict[str, Checked], labels: pd.DataFrame | None, sources: dict[str, str]
) -> Dataset:
    """The validated tables as a :class:`Dataset`, with the quarantine and the row counts
    (rows in = valid + quarantined, checked here)."""
    check_contract({name: c.valid for name, c in checked.items()})
    parts = [c.quarantine for c in checked.values() if len(c.quarantine)]
    quarantine = pd.concat(parts, ignore_index=True) if parts else empty_frame()
    counts = {
        name: {
            "in": c.rows_in,
            "valid": len(c.valid),
            "quarantined": c.rows_quarantined,
        }
        for name, c in checked.items()
    }
    for name, c in counts.items():
        # rows in = valid + quarantined (docs/contract.md section 2); a bug if broken
        if c["in"] != c["valid"] + c["quarantined"]:
            raise AssertionError(f"{name}: rows in {c} do not add up")
    return Dataset(
        claims=checked["claims"].valid,
        claim_lines=checked["claim_lines"].valid if "claim_lines" in checked else None,
        facilities=checked["facilities"].valid if "facilities" in checked else None,
        cards=checked["cards"].valid if "cards" in checked else None,
        quarantine=quarantine,
        counts=counts,
        sources=sources,
        labels=labels,
    )
