"""Key checks (claimguard.io.keys): parents known, first copies, the fast paths exact."""

from __future__ import annotations

import numpy as np
import pandas as pd

from claimguard.io.keys import first_copy_mask, known_keys


def test_known_keys_grouped_ungrouped_and_null() -> None:
    parent = pd.Series(["a", "b", "c"], dtype="str")
    same_order = pd.Series(["a", "a", "b", "c", "c"], dtype="str")
    assert known_keys(same_order, parent).all()
    mixed = pd.Series(["c", "x", "a", None, "b", "b", "x"], dtype="str")
    assert known_keys(mixed, parent).tolist() == [True, False, True, False, True, True, False]
    assert known_keys(pd.Series([], dtype="str"), parent).tolist() == []


def test_first_copy_mask_keeps_the_first_eligible_copy() -> None:
    keys = pd.Series(["b", "a", "b", "a", "c", "b"], dtype="str")
    eligible = np.array([False, True, True, True, True, True])
    assert first_copy_mask(keys, eligible).tolist() == [False, False, False, True, False, True]
    increasing = pd.Series(["a", "b", "c"], dtype="str")
    assert not first_copy_mask(increasing, np.ones(3, bool)).any()


def test_first_copy_mask_on_keys_of_one_length_matches_a_plain_duplicate_check() -> None:
    # card numbers: one length, so the fast path reads them as 8-byte words; keys that
    # differ only in their second word, and a slice (an Arrow offset), must stay apart
    rng = np.random.default_rng(7)
    base = [f"HS40{i:011d}" for i in rng.integers(0, 400, 3_000)]
    base += ["HS4000000000001", "HS4000000000001", "GD4000000000001"]
    for keys in (
        pd.Series(base, dtype="str"),
        pd.Series(base, dtype="str").iloc[5:],
        pd.Series([k[:7] for k in base], dtype="str"),  # one word, not full
        pd.Series(base + ["short"], dtype="str"),  # mixed lengths: the general path
        # two Arrow chunks, a key in both; and all distinct across chunks
        pd.concat([pd.Series(base[:2000], dtype="str"), pd.Series(base[:10], dtype="str")]),
        pd.concat([pd.Series(["HS4000000000001"], dtype="str")] * 2, ignore_index=True),
        pd.concat(
            [pd.Series([f"GD4{i:012d}" for i in range(n, n + 500)], dtype="str") for n in (0, 500)]
        ),
    ):
        eligible = rng.random(len(keys)) < 0.8
        expected = pd.Series(np.where(eligible, keys.to_numpy(object), None)).duplicated()
        expected &= eligible
        assert first_copy_mask(keys, eligible).tolist() == expected.tolist()
