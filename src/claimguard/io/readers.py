"""Reading one table file (Parquet or CSV) into raw columns, or failing with a clear error.

Why a separate step: whole-file problems (missing, empty, not a table, not UTF-8)
must stop the command with one paragraph naming the file, the problem and the fix,
while row-level problems (a line with too many fields, a stray quote) must reach the
quarantine with their row number. CSV is read with every column as text so that ids
never turn into floats; Parquet keeps its own types and is coerced later.

A CSV with a few bytes of another encoding (a Latin-1 name pasted into a UTF-8 export)
keeps its other rows: the rows holding them are quarantined, named by row and column. A
file mostly in another encoding (or in UTF-16) is refused whole, with the command that
re-saves it, since quarantining all of it would only hide the cause.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from claimguard.errors import InputFileError
from claimguard.io.compact import DICTIONARY_COLUMNS
from claimguard.io.csvsafe import restore
from claimguard.io.validation import SourceFiles, empty_frame, quarantine_frame

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".parquet", ".csv")


@dataclass
class RawTable:
    """Raw rows of one canonical table, with where each row came from.

    ``pre_quarantine`` holds rows rejected before they had columns (a CSV line that
    cannot be split into the header's fields, an undecodable XML record); they count
    as rows in and rows quarantined.
    """

    name: str
    frame: pd.DataFrame
    source_file: SourceFiles  # which file each row came from
    source_row: np.ndarray  # int64, 1-based
    pre_quarantine: pd.DataFrame = field(default_factory=empty_frame)
    # source column -> rows that held a list, map or structure instead of one value (Parquet
    # nested types); the column is emptied here and the rows reported by validation
    nested: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def rows_in(self) -> int:
        return len(self.frame) + len(self.pre_quarantine)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 8 MiB blocks (hashlib releases the GIL: thread-friendly)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InputFileError(
            f"the {what} file does not exist",
            where=str(path),
            fix="check the path; DATA is a dataset folder, a claims .parquet/.csv file, "
            "or an XML 130 file or folder",
        )
    if path.is_file() and path.stat().st_size == 0:
        raise InputFileError(
            f"the {what} file is empty (0 bytes)",
            where=str(path),
            fix="re-export the table with a header row and data rows",
        )


PARQUET_GROUP_BYTES = 2 << 30  # decode at most this much (uncompressed) at a time


def _column_groups(pf: pq.ParquetFile) -> list[list[str]]:
    """Top-level columns in groups of bounded uncompressed size.

    Why: decoding a 30M-row table at once needs its decode buffers on top of the
    result; a group at a time keeps the peak near the result's own size while each
    group still decodes on all cores.
    """
    md = pf.metadata
    sizes: dict[str, int] = {}
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        for j in range(rg.num_columns):
            col = rg.column(j)
            top = col.path_in_schema.split(".")[0]
            sizes[top] = sizes.get(top, 0) + col.total_uncompressed_size
    groups: list[list[str]] = [[]]
    used = 0
    for name in pf.schema_arrow.names:
        size = sizes.get(name, 0)
        if groups[-1] and used + size > PARQUET_GROUP_BYTES:
            groups.append([])
            used = 0
        groups[-1].append(name)
        used += size
    return [g for g in groups if g]


def read_parquet(path: Path, table: str) -> RawTable:
    """Read a Parquet file with its own types (coercion to canonical kinds comes later)."""
    _check_file(path, table)
    pool = pa.default_memory_pool()
    columns: dict[str, pd.Series] = {}
    try:
        # repetitive codes decoded straight into dictionaries (no string per row)
        schema = pq.read_schema(path)
        wanted = set(DICTIONARY_COLUMNS.get(table, ()))
        dictionary = [
            f.name
            for f in schema
            if f.name in wanted and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        ]
        pf = pq.ParquetFile(path, read_dictionary=dictionary)
        n = pf.metadata.num_rows
        nested_types = {f.name for f in schema if pa.types.is_nested(f.type)}
        nested: dict[str, np.ndarray] = {}
        for group in _column_groups(pf):
            tbl = pf.read(columns=group)
            for name in set(group) & nested_types:  # never stringified as "[1 2]"
                col = tbl.column(name)
                nested[name] = np.asarray(
                    pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool
                )
                tbl = tbl.set_column(
                    tbl.schema.get_field_index(name), name, pa.nulls(len(col), pa.string())
                )
            part = tbl.to_pandas(ignore_metadata=True, split_blocks=True, self_destruct=True)
            del tbl
            pool.release_unused()  # hand decode buffers back to the OS
            for name in group:
                columns[name] = part[name]
            del part
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(
            f"the {table} file is not a readable Parquet table ({type(exc).__name__}: {exc})",
            where=str(path),
            fix="re-export it as Parquet, or save it as UTF-8 CSV with a header row "
            "and a .csv name",
        ) from None
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n), copy=False)
    raw = RawTable(table, frame, SourceFiles([str(path)]), np.arange(1, n + 1))
    raw.nested = nested
    return raw


def _first_bad_utf8_line(path: Path) -> int:
    """Line number of the first byte that is not UTF-8 (0 when the file is valid UTF-8).

    Streamed in blocks with an incremental decoder: memory stays flat for large files.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    with path.open("rb") as f:
        while True:
            block = f.read(16 << 20)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return lines_before + block.count(b"\n", 0, max(exc.start, 0)) + 1
            if not block:
                return 0
            lines_before += block.count(b"\n")


def _not_utf8(path: Path, table: str, line: int = 0) -> InputFileError:
    at = f" (first invalid byte on line {line})" if line else ""
    return InputFileError(
        f"the {table} file is not UTF-8 text{at}",
        where=str(path),
        fix="re-save it as UTF-8, e.g. `iconv -f WINDOWS-1258 -t UTF-8 in.csv > out.csv`",
    )


# A Unicode noncharacter (never in interchanged text) stands for each byte sequence that is
# not UTF-8 while a file with stray bytes is read; the rows holding it are quarantined.
_MARK = "\ufdd0"
_MARK_ERRORS = "claimguard-mark-not-utf8"


def _mark(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return _MARK, exc.end


codecs.register_error(_MARK_ERRORS, _mark)
# more lines than this share with foreign bytes: the file is in another encoding, not stray
MOSTLY_NOT_UTF8 = 0.5
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _utf16(path: Path, table: str) -> InputFileError:
    return InputFileError(
        f"the {table} file is UTF-16 text, not UTF-8",
        where=str(path),
        fix="re-save it as UTF-8 (in Excel: CSV UTF-8), e.g. "
        "`iconv -f UTF-16 -t UTF-8 in.csv > out.csv`",
    )


def _header(path: Path, table: str) -> list[str]:
    with path.open("rb") as f:
        first = f.readline(1 << 20)
    if first.startswith(_UTF16_BOMS) or first[:2].count(b"\x00") == 1:
        raise _utf16(path, table)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _not_utf8(path, table) from None
    names = next(csv.reader(io.StringIO(text)), [])
    names = [n.strip() for n in names]
    if not names or all(n == "" for n in names) or "\x00" in text:
        raise InputFileError(
            f"the {table} file has no header row (not a CSV table)",
            where=str(path),
            fix="the first line must name the columns, e.g. claim_id,card_id,facility_id,...",
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputFileError(
            f"the {table} file's header repeats column name(s) {dupes}",
            where=str(path),
            fix="give every column a distinct name",
        )
    return names


def _record_numbers(
    n_valid: int, bad: list[tuple[int | None, str]]
) -> tuple[np.ndarray, np.ndarray]:
    """1-based data-record numbers of the parsed rows and of the rejected ones.

    A rejected record may span several physical lines (an unclosed quote); valid
    records are one line each (newlines inside values are not allowed).
    """
    bad_numbers = []
    extra_lines = 0
    for number, text in bad:
        line = (number or 0) - 1  # physical data line (header excluded)
        bad_numbers.append(line - extra_lines)
        extra_lines += text.count("\n")
    bad_arr = np.array(bad_numbers, dtype=np.int64)
    total = n_valid + len(bad_arr)
    keep = np.ones(total + 1, dtype=bool)
    keep[0] = False
    inside = bad_arr[(bad_arr >= 1) & (bad_arr <= total)]
    keep[inside] = False
    valid_rows = np.flatnonzero(keep)
    if len(valid_rows) != n_valid:  # numbering not recoverable: fall back to order of reading
        valid_rows = np.arange(1, n_valid + 1)
    return valid_rows.astype(np.int64), bad_arr


def _read_csv_arrow(path: Path, names: list[str], threads: bool) -> tuple[pa.Table, list[Any]]:
    bad: list[tuple[int | None, str]] = []

    def on_bad(row: pcsv.InvalidRow) -> str:
        bad.append((row.number, row.text))
        return "skip"

    tbl = pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(
            use_threads=threads, block_size=16 << 20, column_names=names, skip_rows=1
        ),
        parse_options=pcsv.ParseOptions(invalid_row_handler=on_bad),
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )
    return tbl, bad


def _marked_copy(path: Path, dest: Path, table: str) -> None:
    """Copy ``path`` to ``dest`` as UTF-8, each sequence that is not UTF-8 replaced by _MARK.

    Refuses a file mostly in another encoding (more than MOSTLY_NOT_UTF8 of its lines).
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors=_MARK_ERRORS)
    lines = marked = 0
    first = 0
    with path.open("rb") as src, dest.open("w", encoding="utf-8", newline="") as out:
        while True:
            block = src.read(16 << 20)
            if "\ufdd0".encode() in block:  # the marker itself in the data: cannot tell apart
                raise _not_utf8(path, table)
            text = decoder.decode(block, final=not block)
            if _MARK in text:
                for i, line in enumerate(text.split("\n")):
                    if _MARK in line:
                        marked += 1
                        first = first or lines + i + 1
            lines += text.count("\n")
            out.write(text)
            if not block:
                break
    if marked > MOSTLY_NOT_UTF8 * max(lines, 1):
        raise _not_utf8(path, table, first)


def _split_marked(
    tbl: pa.Table, rows: np.ndarray, table: str, path: Path
) -> tuple[pa.Table, np.ndarray, pd.DataFrame]:
    """Rows holding a foreign byte out of the table, into quarantine rows naming the column."""
    hits = {
        name: _flags(pc.match_substring(col, _MARK))
        for name, col in zip(tbl.column_names, tbl.columns, strict=True)
    }
    any_hit = np.logical_or.reduce(list(hits.values())) if hits else np.zeros(0, dtype=bool)
    where = np.flatnonzero(any_hit)
    if not len(where):
        return tbl, rows, empty_frame()
    first_col: list[str | None] = []
    raw: list[str] = []
    for i in where:
        cols = [name for name, h in hits.items() if h[i]]
        first_col.append(cols[0])
        cells = {c: str(tbl.column(c)[int(i)].as_py()).replace(_MARK, "\ufffd") for c in cols}
        raw.append(json.dumps({c: v[:200] for c, v in cells.items()}, ensure_ascii=False))
    q = quarantine_frame(
        table,
        str(path),
        rows[where],
        first_col,
        "not UTF-8 text (bytes of another encoding, e.g. Latin-1 or Windows-1258)",
        "quarantined",
        raw,
    )
    keep = ~any_hit
    return tbl.filter(pa.array(keep)), rows[keep], q


def _flags(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def read_csv(path: Path, table: str) -> RawTable:
    """Read a UTF-8 CSV with every column as text; malformed lines go to the quarantine."""
    _check_file(path, table)
    names = _header(path, table)
    if _first_bad_utf8_line(path):  # rare: stray bytes of another encoding
        with tempfile.TemporaryDirectory(prefix="claimguard-csv-") as tmp:
            copy = Path(tmp) / path.name
            _marked_copy(path, copy, table)
            return _read_utf8_csv(copy, table, names, report_as=path, marked=True)
    return _read_utf8_csv(path, table, names, report_as=path, marked=False)


def _read_utf8_csv(
    path: Path, table: str, names: list[str], *, report_as: Path, marked: bool
) -> RawTable:
    """Parse a file known to be UTF-8 (``report_as`` is the file the user gave)."""
    try:
        tbl, bad = _read_csv_arrow(path, names, threads=True)
        if bad and any(b[0] is None for b in bad):
            tbl, bad = _read_csv_arrow(path, names, threads=False)
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "utf8" in str(exc).lower():
            raise _not_utf8(report_as, table) from None
        raise InputFileError(
            f"the {table} file is not a readable CSV table ({exc})",
            where=str(report_as),
            fix="save it as comma-separated UTF-8 text with one header row",
        ) from None
    cols = {}
    for name, col in zip(tbl.column_names, tbl.columns, strict=True):
        cols[name.strip().lstrip("\ufeff")] = pc.utf8_trim_whitespace(col)
    tbl = pa.table(cols)
    rows, bad_rows = _record_numbers(tbl.num_rows, bad)
    foreign = empty_frame()
    if marked:
        tbl, rows, foreign = _split_marked(tbl, rows, table, report_as)
    frame = tbl.to_pandas(ignore_metadata=True)
    pre = empty_frame()
    if bad:
        pre = quarantine_frame(
            table,
            str(report_as),
            bad_rows,
            None,
            [f"line cannot be split into the header's {len(names)} fields" for _ in bad],
            "quarantined",
            [
                json.dumps({"line": t[:200].replace(_MARK, "\ufffd")}, ensure_ascii=False)
                for _, t in bad
            ],
        )
    if len(foreign):
        pre = pd.concat([pre, foreign], ignore_index=True) if len(pre) else foreign
    return RawTable(table, frame, SourceFiles([str(report_as)]), rows, pre)


def read_table_file(path: Path, table: str) -> RawTable:
    """Read ``path`` by its suffix (``.parquet`` or ``.csv``)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return read_parquet(path, table)
    if suffix in (".csv", ".txt"):
        return read_csv(path, table)
    raise InputFileError(
        f"the {table} file has an unsupported type '{suffix}'",
        where=str(path),
        fix="use .parquet or .csv (UTF-8, header row), or an XML 130 .xml file",
    )


def read_labels(path: Path) -> pd.DataFrame:
    """labels.csv as text columns (extra columns kept)."""
    _check_file(path, "labels")
    try:
        # labels written by claimguard are neutralised against spreadsheet formulas
        return restore(pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""]))
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputFileError(
            f"labels.csv cannot be read ({type(exc).__name__}: {exc})",
            where=str(path),
            fix="save it as UTF-8 CSV with columns entity_type, entity_id, scenario",
        ) from None
