"""Property tests on hostile bytes: whatever a file holds, reading it either stops with the
project's clean input error (what, where, fix) or accounts for every row it was given:
rows in = valid + quarantined, and rows in = the records the file holds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimguard.errors import InputFileError
from claimguard.io import load_dataset
from claimguard.io.xml130_writer import write_xml130
from tests.io.io_frames import make_dataset

BASE = make_dataset(6, seed=31)
with tempfile.TemporaryDirectory() as _tmp:
    BASE.claims.to_csv(Path(_tmp) / "claims.csv", index=False)
    _lines = (Path(_tmp) / "claims.csv").read_bytes().split(b"\n")
    write_xml130(BASE, Path(_tmp) / "xml", records_per_file=10)
    ENVELOPE = next((Path(_tmp) / "xml").glob("*.xml")).read_bytes()
HEADER, ROWS = _lines[0], [x for x in _lines[1:] if x]
N_FIELDS = HEADER.count(b",") + 1

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# cell text without quotes or line breaks (so one physical line is one record), with NUL,
# commas (a shifted field count), control characters and bytes that are not UTF-8
_piece = st.one_of(
    st.text(st.characters(exclude_characters='"\n\r'), max_size=12).map(str.encode),
    st.sampled_from([b"\x00", b"\xff", b"\xe9", b"\xc3", b"\xfe\xff", b",", b"=1+1", b"\t"]),
)
_cell = st.lists(_piece, max_size=3).map(b"".join)


def _load(folder: Path):
    """The dataset, or None after a clean input error (which must say where and how to fix)."""
    try:
        return load_dataset(folder)
    except InputFileError as exc:
        assert exc.where and exc.fix, exc
        return None


def _accounted(ds, records: int | None) -> None:
    c = ds.counts["claims"]
    assert c["in"] == c["valid"] + c["quarantined"], c
    if records is not None:
        assert c["in"] == records, (c, records)
    q = ds.quarantine[
        (ds.quarantine["table"] == "claims") & (ds.quarantine["action"] == "quarantined")
    ]
    assert len(q[["source_file", "source_row"]].drop_duplicates()) == c["quarantined"]
    assert len(ds.claims) == c["valid"]


def _claims_folder(data: bytes) -> tuple[tempfile.TemporaryDirectory, Path]:
    tmp = tempfile.TemporaryDirectory()
    folder = Path(tmp.name) / "d"
    folder.mkdir()
    (folder / "claims.csv").write_bytes(data)
    return tmp, folder


@SETTINGS
@given(data=st.binary(max_size=2000), with_header=st.booleans())
def test_random_bytes_as_a_csv_file(data: bytes, with_header: bool) -> None:
    content = (HEADER + b"\n" + data) if with_header else data
    tmp, folder = _claims_folder(content)
    with tmp:
        ds = _load(folder)
        if ds is not None:
            _accounted(ds, None)  # quotes in random bytes may join lines: no fixed count


@SETTINGS
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["drop_cell", "dup_cell", "garble", "dup_row", "drop_row"]),
            st.integers(0, 1000),
            st.integers(0, 1000),
            _cell,
        ),
        min_size=1,
        max_size=8,
    )
)
def test_mutated_rows_are_each_valid_or_quarantined(ops: list[tuple[str, int, int, bytes]]) -> None:
    rows = [r.split(b",") for r in ROWS]
    for kind, i, j, value in ops:
        if not rows:
            break
        k = i % len(rows)
        cells = rows[k]
        if kind == "drop_cell" and len(cells) > 1:
            del cells[j % len(cells)]
        elif kind == "dup_cell":
            cells.insert(j % len(cells), cells[j % len(cells)])
        elif kind == "garble":
            cells[j % len(cells)] = value
        elif kind == "dup_row":
            rows.insert(j % (len(rows) + 1), list(cells))
        elif kind == "drop_row":
            del rows[k]
    lines = [b",".join(c) for c in rows]
    tmp, folder = _claims_folder(b"\n".join([HEADER, *lines]) + b"\n")
    with tmp:
        ds = _load(folder)
        if ds is not None:
            _accounted(ds, sum(1 for x in lines if x))  # empty lines are not records


@SETTINGS
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(ENVELOPE) - 1), st.integers(0, 255)), min_size=1, max_size=6
    )
)
def test_flipped_bytes_in_an_xml_envelope(flips: list[tuple[int, int]]) -> None:
    data = bytearray(ENVELOPE)
    for pos, byte in flips:
        data[pos] = byte
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "e.xml"
        p.write_bytes(bytes(data))
        ds = _load(p)
        if ds is not None:
            _accounted(ds, None)
            assert ds.counts["claims"]["in"] <= len(BASE.claims)
