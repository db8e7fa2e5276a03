"""CSV formula injection: every CSV claimguard writes is safe to open in a spreadsheet, and
the CSVs it reads back (labels) give the original values."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from claimguard.cli import run
from claimguard.io.csvsafe import neutralise, restore, write_csv
from claimguard.jobs.labels import read_labels
from tests.io.io_frames import make_dataset, write_folder

HOSTILE = [
    '=HYPERLINK("http://evil.example/x","click")',
    "+1",
    "-2",
    "@x",
    "\tcmd",
    "\r=1",
    "x\r=1",
]
TRICKY = ["'=already", "''-twice", "'plain", "ok", "a=b"]  # escapes must round-trip too


def test_text_cells_are_neutralised_numbers_and_dates_are_not() -> None:
    df = pd.DataFrame(
        {
            "object": pd.Series(HOSTILE + ["ok"], dtype=object),  # last hostile one: no formula
            "string": pd.Series(HOSTILE + [None], dtype="string"),
            "category": pd.Series(HOSTILE + ["ok"], dtype="category"),
            "amount": [-2.0, 1.0, -3.5, 0.0, 4.0, -1.0, 7.0, 8.0],
            "day": pd.to_datetime(["2024-01-01"] * 8),
        }
    )
    out = neutralise(df)
    for c in ("object", "string", "category"):
        assert out[c].iloc[:6].str.startswith("'").all(), c
    assert out["object"].iloc[7] == "ok" and pd.isna(out["string"].iloc[7])
    pd.testing.assert_series_equal(out["amount"], df["amount"])
    pd.testing.assert_series_equal(out["day"], df["day"])


def test_the_escape_is_lossless() -> None:
    df = pd.DataFrame({"v": pd.Series(HOSTILE + TRICKY, dtype="string")})
    pd.testing.assert_frame_equal(restore(neutralise(df)), df)
    assert neutralise(df)["v"].tolist()[-5:] == ["''=already", "'''-twice", "'plain", "ok", "a=b"]


def test_write_csv_cells_do_not_start_a_formula(tmp_path: Path) -> None:
    write_csv(pd.DataFrame({"id": HOSTILE}), tmp_path / "x.csv")
    with (tmp_path / "x.csv").open(newline="", encoding="utf-8") as f:
        cells = [row[0] for row in csv.reader(f)][1:]  # as a spreadsheet splits them
    assert len(cells) == len(HOSTILE)
    assert not any(re.match(r"[=+\-@\t\r]", c) for c in cells)
    assert [c[1:] for c in cells[:-1]] + cells[-1:] == HOSTILE  # "x\r=1" stays one quoted cell


def test_convert_writes_neutralised_labels_that_read_back_exactly(tmp_path: Path) -> None:
    d = tmp_path / "data"
    write_folder(make_dataset(6, seed=4), d, "csv")
    labels = pd.DataFrame(
        {"entity_type": "card", "entity_id": HOSTILE[:4] + ["HS4000"], "scenario": "=1+1"}
    )
    labels.to_csv(d / "labels.csv", index=False)
    assert run(["convert", str(d), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "labels.csv").read_text()
    assert "\ncard,\"'=HYPERLINK(" in text and "\ncard,'-2," in text and ",'=1+1" in text
    back, _ = read_labels(tmp_path / "out" / "labels.csv")
    assert back["entity_id"].tolist() == labels["entity_id"].tolist()
    assert set(back["scenario"]) == {"=1+1"}
