"""Hostile tables: every input row ends valid or quarantined with a reason, or the command
stops with exit 2 and one paragraph (what, where, fix) — never a traceback."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from claimguard.cli import run
from claimguard.errors import InputFileError
from claimguard.io import load_dataset
from tests.io.io_frames import make_dataset, write_folder
from tests.io.test_io_xml import _envelope, _file, _xml1


def _folder(tmp: Path, fmt: str = "csv") -> Path:
    d = tmp / "data"
    write_folder(make_dataset(8, seed=4), d, fmt)
    return d


def _balanced(ds) -> None:
    """rows in = valid + quarantined, and each quarantined row is in the quarantine."""
    for name, c in ds.counts.items():
        assert c["in"] == c["valid"] + c["quarantined"], (name, c)
        q = ds.quarantine[(ds.quarantine["table"] == name)]
        removed = q[q["action"] == "quarantined"][["source_file", "source_row"]]
        assert len(removed.drop_duplicates()) == c["quarantined"], (name, c)


def _refused(
    data: Path, capsys: pytest.CaptureFixture[str], *problem: str, where: Path | None = None
) -> None:
    """`claimguard validate` exits 2 with what, where and fix, and no traceback."""
    assert run(["validate", str(data), "--out", str(data.parent / "out")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    for text in problem:
        assert text in err, err
    assert f"Where: {where or data}" in err and "Fix:" in err and "Traceback" not in err


def _reason(ds, table: str, row: int) -> pd.Series:
    q = ds.quarantine
    return q[(q["table"] == table) & (q["source_row"] == row)].iloc[0]


def _edit_line(path: Path, line: int, old: bytes, new: bytes) -> None:
    """Replace ``old`` by ``new`` in physical line ``line`` (1 = header)."""
    lines = path.read_bytes().split(b"\n")
    assert old in lines[line - 1], (old, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_bytes(b"\n".join(lines))


# -- bytes that are not clean UTF-8 text ------------------------------------------------------


def test_a_nul_byte_in_a_cell_quarantines_its_row(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    _edit_line(d / "claims.csv", 3, b"LK", b"L\x00K")  # data row 2's claim_id
    _edit_line(d / "claim_lines.csv", 5, b"BS00", b"BS\x0000")  # a line's doctor (optional)
    ds = load_dataset(d)
    _balanced(ds)
    assert ds.counts["claims"]["quarantined"] == 1
    row = _reason(ds, "claims", 2)
    assert row["column"] == "claim_id" and "NUL" in row["reason"]
    assert not ds.claims["claim_id"].str.contains("\x00").any()
    assert "NUL" in _reason(ds, "claim_lines", 4)["reason"]


def test_a_file_in_utf16_exits_2_naming_the_encoding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _folder(tmp_path)
    text = (d / "claims.csv").read_text()
    for encoding in ("utf-16", "utf-16-le"):  # with and without a byte-order mark
        (d / "claims.csv").write_bytes(text.encode(encoding))
        with pytest.raises(InputFileError, match="UTF-16 text, not UTF-8"):
            load_dataset(d)
    _refused(d, capsys, "UTF-16", "iconv -f UTF-16", where=d / "claims.csv")


def test_a_few_latin1_bytes_quarantine_their_rows_and_keep_the_rest(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    _edit_line(d / "claims.csv", 3, b"BS00", "Bé".encode("latin-1") + b"S00")  # data row 2
    _edit_line(d / "claims.csv", 6, b",K0", ",Kü".encode("latin-1"))  # data row 5
    _edit_line(d / "facilities.csv", 2, b"hospital", "hôpital".encode("latin-1"))
    ds = load_dataset(d)
    _balanced(ds)
    assert ds.counts["claims"] == {"in": 8, "valid": 6, "quarantined": 2}
    for row, column in ((2, "doctor_id"), (5, "department_id")):
        r = _reason(ds, "claims", row)
        assert r["column"] == column and r["reason"].startswith("not UTF-8 text"), r
        assert r["source_file"] == str(d / "claims.csv")
        assert "\ufffd" in r["raw"]  # the foreign byte shown, never passed on
    assert sorted(ds.claims["claim_id"]) == [f"LK{i:07d}" for i in (0, 2, 3, 5, 6, 7)]
    assert ds.counts["facilities"]["quarantined"] == 1
    assert _reason(ds, "facilities", 1)["column"] == "kind"


def test_a_latin1_byte_in_a_line_that_cannot_be_split_is_quarantined(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    _edit_line(d / "claims.csv", 4, b",", b",\xe9\xff,extra,")  # too many fields, foreign bytes
    ds = load_dataset(d)
    _balanced(ds)
    r = _reason(ds, "claims", 3)
    assert "cannot be split" in r["reason"] and "\ufffd" in r["raw"]


def test_a_file_mostly_in_another_encoding_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _folder(tmp_path)
    text = (d / "claims.csv").read_text().replace("BS00", "Bác Sơn ")
    (d / "claims.csv").write_bytes(text.encode("cp1258"))  # Windows Vietnamese, every row
    with pytest.raises(InputFileError, match="not UTF-8 text"):
        load_dataset(d)
    _refused(d, capsys, "not UTF-8", "iconv", where=d / "claims.csv")


# -- values at the edges ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "9999-12-31 23:59:59"])
def test_dates_outside_the_representable_range_csv(tmp_path: Path, value: str) -> None:
    d = _folder(tmp_path)
    df = pd.read_csv(d / "claims.csv", dtype=str, keep_default_na=False)
    df.loc[1, "admit_time"] = value  # required: the row goes
    df.loc[2, "patient_birth_date"] = value  # optional: the field is emptied
    df.to_csv(d / "claims.csv", index=False)
    ds = load_dataset(d)
    _balanced(ds)
    assert ds.counts["claims"]["quarantined"] == 1
    assert _reason(ds, "claims", 2)["reason"] == "unreadable date"
    nulled = _reason(ds, "claims", 3)
    assert nulled["column"] == "patient_birth_date" and nulled["action"] == "nulled"


def test_dates_outside_the_representable_range_parquet(tmp_path: Path) -> None:
    d = _folder(tmp_path, "parquet")
    t = pq.read_table(d / "claims.parquet")
    n = t.num_rows
    far = [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59)]
    admit = pa.array(far + [dt.datetime(2024, 1, 5, 8)] * (n - 2), pa.timestamp("us"))
    birth = pa.array([dt.date(1980, 1, 1)] * (n - 2) + [dt.date(1, 1, 1), dt.date(9999, 12, 31)])
    for name, col in (("admit_time", admit), ("patient_birth_date", birth)):
        t = t.set_column(t.schema.get_field_index(name), name, col)
    pq.write_table(t, d / "claims.parquet")
    ds = load_dataset(d)
    _balanced(ds)
    assert ds.counts["claims"]["quarantined"] == 2
    assert {_reason(ds, "claims", r)["column"] for r in (1, 2)} == {"admit_time"}
    assert {_reason(ds, "claims", r)["action"] for r in (n - 1, n)} == {"nulled"}


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "NaN", "nan", "1e309"])
def test_non_finite_amounts_csv(tmp_path: Path, value: str) -> None:
    d = _folder(tmp_path)
    df = pd.read_csv(d / "claims.csv", dtype=str, keep_default_na=False)
    df.loc[1, "total_cost"] = value  # required
    df.loc[2, "drug_cost"] = value  # optional
    df.to_csv(d / "claims.csv", index=False)
    ds = load_dataset(d)
    _balanced(ds)
    assert ds.counts["claims"]["quarantined"] == 1
    assert _reason(ds, "claims", 2)["reason"] == "not a number"
    assert _reason(ds, "claims", 3)["action"] == "nulled"
    assert np.isfinite(ds.claims["total_cost"]).all()


def test_non_finite_amounts_parquet(tmp_path: Path) -> None:
    d = _folder(tmp_path, "parquet")
    claims = pd.read_parquet(d / "claims.parquet")
    claims.loc[0, "total_cost"] = np.inf
    claims.loc[1, "total_cost"] = -np.inf
    claims.loc[2, "total_cost"] = np.nan
    claims.loc[3, "drug_cost"] = np.inf
    claims.to_parquet(d / "claims.parquet", index=False)
    ds = load_dataset(d)
    _balanced(ds)
    assert ds.counts["claims"]["quarantined"] == 3
    assert _reason(ds, "claims", 4)["action"] == "nulled"
    assert np.isfinite(ds.claims["total_cost"]).all()


# -- folders ----------------------------------------------------------------------------------


def test_ten_thousand_tiny_xml_files_load_in_bounded_time(tmp_path: Path) -> None:
    d = tmp_path / "xml"
    d.mkdir()
    for i in range(10_000):  # one visit per file, as many facilities export
        (d / f"{i:05d}.xml").write_text(
            _envelope([f"<HOSO>{_file('XML1', _xml1(f'L{i}'))}</HOSO>"])
        )
    start = time.perf_counter()
    ds = load_dataset(d)
    assert time.perf_counter() - start < 30
    _balanced(ds)
    assert ds.counts["claims"] == {"in": 10_000, "valid": 10_000, "quarantined": 0}
    assert len(ds.sources) == 10_000


def test_ten_thousand_tiny_files_beside_the_tables_are_ignored(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    for i in range(10_000):
        (d / f"junk{i:05d}.csv").write_text("x\n")
    ds = load_dataset(d)
    _balanced(ds)
    assert ds.counts["claims"] == {"in": 8, "valid": 8, "quarantined": 0}


def test_one_broken_file_among_many_tiny_xml_files_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "xml"
    d.mkdir()
    for i in range(200):
        (d / f"{i:05d}.xml").write_text(
            _envelope([f"<HOSO>{_file('XML1', _xml1(f'L{i}'))}</HOSO>"])
        )
    (d / "00100.xml").write_text("<GIAMDINHHS><HOSO>")
    _refused(d, capsys, "cannot be parsed as XML", where=d / "00100.xml")


def test_symlink_loops_in_the_data_folder_are_not_followed(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    os.symlink(".", d / "here")  # a folder loop
    os.symlink("..", d / "up")
    os.symlink("a", d / "b")  # a file loop of two links
    os.symlink("b", d / "a")
    ds = load_dataset(d)
    _balanced(ds)
    assert ds.counts["claims"]["in"] == 8
    x = tmp_path / "xml"
    x.mkdir()
    (x / "one.xml").write_text(_envelope([f"<HOSO>{_file('XML1', _xml1('A1'))}</HOSO>"]))
    os.symlink(".", x / "loop")
    os.symlink("self.xml", x / "self.xml")  # a link to itself, named like an XML file
    assert load_dataset(x).counts["claims"] == {"in": 1, "valid": 1, "quarantined": 0}


def test_a_looping_link_where_the_claims_table_belongs_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _folder(tmp_path)
    (d / "claims.csv").unlink()
    os.symlink("claims.csv", d / "claims.csv")
    _refused(d, capsys, "symbolic link that leads nowhere", where=d / "claims.csv")
    _refused(d / "claims.csv", capsys, "symbolic link that leads nowhere")
