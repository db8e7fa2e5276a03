"""Repetitive codes stored as categoricals: same values, order-independent dtype, reversible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from claimguard.io import load_dataset
from claimguard.io.compact import (
    DICTIONARY_COLUMNS,
    decode_repetitive,
    dictionary_encode,
    encode_repetitive,
)
from tests.io.io_frames import make_dataset, write_folder


def test_encoding_keeps_values_missing_and_index() -> None:
    s = pd.Series(["b", None, "a", "b", ""], dtype="str", index=[5, 6, 7, 8, 9], name="x")
    out = dictionary_encode(s)
    assert isinstance(out.dtype, pd.CategoricalDtype)
    assert list(out.cat.categories) == ["", "a", "b"]  # sorted, not first-seen
    assert str(out.cat.categories.dtype) == "str"
    assert out.index.tolist() == [5, 6, 7, 8, 9] and out.name == "x"
    assert out.isna().tolist() == [False, True, False, False, False]
    pd.testing.assert_series_equal(out.astype("str"), s)


def test_same_values_in_another_order_give_the_same_dtype() -> None:
    a = dictionary_encode(pd.Series(["z", "m", "a"], dtype="str"))
    b = dictionary_encode(pd.Series(["a", "z", "m", "m"], dtype="str"))
    assert a.dtype == b.dtype


def test_empty_and_all_missing_columns() -> None:
    assert len(dictionary_encode(pd.Series([], dtype="str"))) == 0
    out = dictionary_encode(pd.Series([None, None], dtype="str"))
    assert out.isna().all() and len(out.cat.categories) == 0


def test_encode_leaves_keys_and_input_alone_and_decode_inverts() -> None:
    claims = make_dataset(20, seed=3).claims
    plain = decode_repetitive(claims, "claims")
    before = plain.copy()
    enc = encode_repetitive(plain, "claims")
    pd.testing.assert_frame_equal(plain, before)  # input not modified
    for c in DICTIONARY_COLUMNS["claims"]:
        assert isinstance(enc[c].dtype, pd.CategoricalDtype), c
    assert str(enc["claim_id"].dtype) == "str" and str(enc["card_id"].dtype) == "str"
    pd.testing.assert_frame_equal(decode_repetitive(enc, "claims"), plain)


def test_loaded_dataset_stores_repetitive_codes_compactly(tmp_path: Path) -> None:
    n = 3000
    ds = make_dataset(n, seed=4)
    write_folder(ds, tmp_path / "d", "parquet")
    back = load_dataset(tmp_path / "d")
    lines = back.claim_lines
    assert isinstance(lines["item_code"].dtype, pd.CategoricalDtype)
    plain = decode_repetitive(lines, "claim_lines")
    assert (
        lines.memory_usage(deep=True)["item_code"] < plain.memory_usage(deep=True)["item_code"] / 2
    )
    np.testing.assert_array_equal(
        plain["item_code"].to_numpy(), ds.claim_lines["item_code"].astype("str").to_numpy()
    )


def test_dictionary_read_codes_are_coerced_and_checked_like_strings(tmp_path: Path) -> None:
    """Parquet string columns read as dictionaries: empty text is missing, an over-long
    code is quarantined with its reason, the categories end sorted as ``str``."""
    ds = make_dataset(12, seed=8)
    claims = decode_repetitive(ds.claims, "claims")
    claims.loc[0, "registered_facility_id"] = ""
    claims.loc[1, "facility_id"] = "F" * 200
    ds.claims = claims
    write_folder(ds, tmp_path / "d", "parquet")
    back = load_dataset(tmp_path / "d")
    got = back.claims.set_index("claim_id")
    assert pd.isna(got.loc[claims.loc[0, "claim_id"], "registered_facility_id"])
    assert claims.loc[1, "claim_id"] not in got.index
    q = back.quarantine
    assert (q["reason"].str.contains("longer than") & (q["column"] == "facility_id")).any()
    cats = back.claims["facility_id"].cat.categories
    assert str(cats.dtype) == "str" and cats.is_monotonic_increasing
