"""Claim lines folded onto their claims: counts by item class, the treatment amount and
the drug dispensings (one per claim and drug class).

Why: line tables are the largest input (five lines a claim); joining them to the claims
once and classifying them in chunks of ``LINE_CHUNK`` keeps a national month's
temporaries small (docs/contract.md section 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from claimguard.features import items
from claimguard.features.encode import codes_in, enum_codes, factorize, release_arrow_memory

LINE_CHUNK = 5_000_000  # lines classified per step: bounds the temporaries of 50M lines


@dataclass(frozen=True)
class Dispensings:
    """One drug dispensing per (claim, drug class): the longest line of that class."""

    claim_pos: np.ndarray  # int64 sorted-claim position
    drug_class: np.ndarray  # int32 drug class code
    days_supply: np.ndarray  # float32 days supplied


@dataclass(frozen=True)
class LineAgg:
    """Per-claim line aggregates (sorted claim order) and the drug dispensings."""

    counts: np.ndarray  # (n_claims, len(items.CLASSES)) float32 line counts per class
    treatment_vnd: np.ndarray  # float64 amount of lines other than exam and bed day
    drug_pos: np.ndarray | None  # int64 sorted-claim position of each (claim, drug class)
    drug_class: np.ndarray | None  # int32 drug class code
    drug_days: np.ndarray | None  # float32 days supplied (max within claim and class)


def _line_positions(
    lines: pd.DataFrame, claim_ids: pd.Series, srt: np.ndarray, line_rows: np.ndarray | None
) -> np.ndarray:
    """Sorted-claim position of each line; lines of unknown claims go to a dummy bin n."""
    n = len(claim_ids)
    inv = np.empty(n + 1, dtype=np.int32)
    inv[srt] = np.arange(n, dtype=np.int32)
    inv[n] = n
    if line_rows is None:
        raw = codes_in(lines["claim_id"], claim_ids)
        release_arrow_memory()
    else:
        raw = np.asarray(line_rows, dtype=np.int32)
    return np.asarray(inv[np.where(raw >= 0, raw, n)])


def _item_classes(sub: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item class per line, code index per line, distinct codes) of one chunk of lines."""
    line_type = enum_codes(sub["line_type"], ("drug", "service", "supply"))
    code_idx, code_vocab = factorize(sub["item_code"])
    # service class per code (missing code -> other service), then drug/supply by type
    svc_table = np.append(items.classify_service_codes(code_vocab), items.OTHER_SERVICE)
    cls = svc_table.astype(np.int8)[code_idx]
    cls[line_type == 0] = items.DRUG
    cls[line_type == 2] = items.SUPPLY
    return cls, code_idx, np.asarray(code_vocab, dtype=object)


class _DrugCollector:
    """Drug lines with days supplied, gathered chunk by chunk.

    The class of a drug is its ATC group when the code is ATC, else the claim's diagnosis
    (items doc); diagnosis classes are coded ``-1 - dx3`` until the ATC count is known.
    """

    def __init__(self, dx3: np.ndarray) -> None:
        self.dx3 = dx3
        self.atc_ids: dict[str, int] = {}
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(
        self,
        sub: pd.DataFrame,
        pos: np.ndarray,
        cls: np.ndarray,
        code_idx: np.ndarray,
        code_vocab: np.ndarray,
    ) -> None:
        supply = sub["days_supply"].to_numpy(dtype=np.float32, na_value=np.nan)
        n = len(self.dx3)
        dm = (pos < n) & (cls == items.DRUG) & (supply > 0) & (code_idx >= 0)
        if not dm.any():
            return
        labels = items.drug_classes(code_vocab)
        atc_of_code = np.array(
            [self.atc_ids.setdefault(lb, len(self.atc_ids)) if lb else -1 for lb in labels],
            dtype=np.int64,
        )  # one entry per distinct code
        dp = pos[dm].astype(np.int64)
        atc = atc_of_code[code_idx[dm]]
        dc = np.where(atc >= 0, atc, -1 - self.dx3[dp].astype(np.int64))
        self.parts.append((dp, dc, supply[dm]))

    def dispensings(self) -> Dispensings | None:
        """One dispensing per (claim, class): the longest line (two drugs of one class
        taken together do not last twice as long)."""
        if not self.parts:
            return None
        dp = np.concatenate([x[0] for x in self.parts])
        dc = np.concatenate([x[1] for x in self.parts])
        dd = np.concatenate([x[2] for x in self.parts])
        dc = np.where(dc >= 0, dc, len(self.atc_ids) + (-1 - dc))
        key = dp * (int(dc.max()) + 1) + dc
        order = np.argsort(key)
        key = key[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        sel = order[first]
        return Dispensings(dp[sel], dc[sel].astype(np.int32), np.maximum.reduceat(dd[order], first))


def aggregate_lines(
    lines: pd.DataFrame,
    claim_ids: pd.Series,
    srt: np.ndarray,
    dx3: np.ndarray,
    available: set[str],
    line_rows: np.ndarray | None = None,
    dispensings: bool = True,
) -> LineAgg:
    """Per-claim counts by item class, treatment amount, and drug dispensings.

    The claim join runs once over all lines; classification runs in chunks of
    LINE_CHUNK lines so temporaries stay small on a month of a national fund.
    """
    n = len(claim_ids)
    pos_all = _line_positions(lines, claim_ids, srt, line_rows)
    counts = np.zeros((n, len(items.CLASSES)), dtype=np.float32)
    treatment = np.zeros(n + 1, dtype=np.float64)
    drugs = _DrugCollector(dx3) if dispensings and "claim_lines.days_supply" in available else None
    for start in range(0, len(lines), LINE_CHUNK):  # a few chunks, not rows
        sub = lines.iloc[start : start + LINE_CHUNK]
        pos = pos_all[start : start + LINE_CHUNK]
        cls, code_idx, code_vocab = _item_classes(sub)
        for k in range(len(items.CLASSES)):  # a handful of classes, not rows
            counts[:, k] += np.bincount(pos[cls == k], minlength=n + 1)[:n]
        amount = sub["amount"].to_numpy(dtype=np.float64, na_value=np.nan)
        treat = (cls != items.EXAM) & (cls != items.BED_DAY) & ~np.isnan(amount)
        treatment += np.bincount(pos, weights=np.where(treat, amount, 0.0), minlength=n + 1)
        del treat, amount
        if drugs is not None:
            drugs.add(sub, pos, cls, code_idx, code_vocab)
    found = drugs.dispensings() if drugs is not None else None
    if found is None:
        return LineAgg(counts, treatment[:n], None, None, None)
    return LineAgg(counts, treatment[:n], found.claim_pos, found.drug_class, found.days_supply)
