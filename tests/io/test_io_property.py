"""Property tests: corrupt valid data in many ways; the invariant holds and nothing escapes.

Every corrupted input must either load (rows in = valid + quarantined for every table,
valid frames satisfy the canonical schema) or stop with an InputFileError; no other
exception may escape.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimguard.errors import InputFileError
from claimguard.io import load_dataset
from claimguard.io.compact import decode_repetitive
from claimguard.io.contract import canonical_schema
from claimguard.schema import TABLES
from tests.io.io_frames import make_dataset, write_folder

BASE = make_dataset(8, seed=21)

BAD_VALUES = [
    "",
    "abc",
    "-1",
    "-0.5",
    "0",
    "1e400",
    "NaN",
    "inf",
    "9999-99-99",
    "1850-01-01",
    "2999-01-01",
    "24/13/2024",
    "X",
    "outpatient ",
    "  J06  ",
    "x" * 5000,
    "12.5.3",
    "\t",
    "Ω≈ç√",
]


def _check(ds) -> None:
    for name, c in ds.counts.items():
        assert c["in"] == c["valid"] + c["quarantined"], (name, c)
        frame = ds.table(name)
        assert len(frame) == c["valid"]
        canonical_schema(name).validate(frame)
        q = ds.quarantine[ds.quarantine["table"] == name]
        removed = q[q["action"] == "quarantined"][["source_file", "source_row"]].drop_duplicates()
        assert len(removed) == c["quarantined"], (name, c)
    if ds.claim_lines is not None:
        assert ds.claim_lines["claim_id"].isin(ds.claims["claim_id"]).all()
    assert ds.claims["claim_id"].is_unique


op = st.one_of(
    st.tuples(st.just("cell"), st.integers(0, 50), st.integers(0, 30), st.sampled_from(BAD_VALUES)),
    st.tuples(st.just("dup"), st.integers(0, 50), st.just(0), st.just("")),
    st.tuples(st.just("truncate"), st.integers(0, 50), st.integers(0, 200), st.just("")),
    st.tuples(
        st.just("insert"),
        st.integers(0, 50),
        st.integers(0, 200),
        st.sampled_from(['"', ",", '""', "\r", ";"]),
    ),
    st.tuples(st.just("bytes"), st.integers(0, 50), st.integers(0, 200), st.just("")),
)


def _corrupt(data: bytes, ops: list[tuple[str, int, int, str]]) -> bytes:
    lines = data.split(b"\n")
    header, body = lines[0], [x for x in lines[1:] if x]
    for kind, i, j, value in ops:
        if not body:
            break
        k = i % len(body)
        line = body[k]
        if kind == "cell":
            cells = line.split(b",")
            cells[j % len(cells)] = value.encode()
            body[k] = b",".join(cells)
        elif kind == "dup":
            body.insert((i * 7) % (len(body) + 1), line)
        elif kind == "truncate":
            body[k] = line[: j % (len(line) + 1)]
        elif kind == "insert":
            p = j % (len(line) + 1)
            body[k] = line[:p] + value.encode() + line[p:]
        else:
            p = j % (len(line) + 1)
            body[k] = line[:p] + b"\xff\xfe" + line[p:]
    return b"\n".join([header, *body]) + b"\n"


@pytest.mark.slow
@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    claims_ops=st.lists(op, min_size=1, max_size=6),
    lines_ops=st.lists(op, max_size=4),
    other_ops=st.lists(op, max_size=2),
)
def test_corrupted_csv_keeps_the_invariant(claims_ops, lines_ops, other_ops) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "d"
        write_folder(BASE, d, "csv")
        for name, ops in (
            ("claims", claims_ops),
            ("claim_lines", lines_ops),
            ("cards", other_ops),
            ("facilities", other_ops),
        ):
            f = d / f"{name}.csv"
            f.write_bytes(_corrupt(f.read_bytes(), ops))
        try:
            ds = load_dataset(d)
        except InputFileError as exc:
            assert exc.where and exc.fix  # a whole-file problem, explained
            return
        _check(ds)


@st.composite
def typed_corruption(draw):
    """Column-typed damage for a Parquet claims file: nulls, negatives, duplicates, dates."""
    claims = decode_repetitive(BASE.claims, "claims").copy()  # room for any damaged value
    n = len(claims)
    for _ in range(draw(st.integers(1, 8))):
        row = draw(st.integers(0, n - 1))
        col = draw(st.sampled_from(list(claims.columns)))
        kind = TABLES["claims"].column(col).kind
        if kind == "float":
            val = draw(st.sampled_from([np.nan, -1.0, -1e12, 0.0, 1e300]))
        elif kind in ("datetime", "date"):
            val = draw(
                st.sampled_from(
                    [
                        pd.NaT,
                        pd.Timestamp("1800-01-01"),
                        pd.Timestamp("2100-01-01"),
                        pd.Timestamp("1990-01-01"),
                    ]
                )
            )
        elif kind == "enum":
            val = np.nan
        else:
            val = draw(st.sampled_from([np.nan, "", claims.iloc[0]["claim_id"], "y" * 300]))
        claims.loc[row, col] = val
    if draw(st.booleans()):
        claims = pd.concat([claims, claims.iloc[[0, 0]]], ignore_index=True)
    return claims


@pytest.mark.slow
@settings(
    max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(claims=typed_corruption())
def test_corrupted_parquet_keeps_the_invariant(claims) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "d"
        ds0 = make_dataset(8, seed=21)
        ds0.claims = claims
        write_folder(ds0, d, "parquet")
        ds = load_dataset(d)
        _check(ds)
        assert ds.counts["claims"]["in"] == len(claims)
