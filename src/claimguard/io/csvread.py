"""Reading a CSV table: every column as text, malformed lines and foreign bytes quarantined.

Why its own module: CSV exports fail in more ways than Parquet files. A line that cannot be
split into the header's fields, or a few bytes of another encoding (a Latin-1 name pasted
into a UTF-8 export), must reach the quarantine with its row number while the rest of the
file is read; a file mostly in another encoding (or in UTF-16) is refused whole, with the
command that re-saves it. Every column is read as text so that ids never turn into floats.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from claimguard.errors import InputFileError
from claimguard.io.rawtable import RawTable, check_file
from claimguard.io.validation import SourceFiles, empty_frame, quarantine_frame

log = logging.getLogger(__name__)


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
    check_file(path, table)
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
