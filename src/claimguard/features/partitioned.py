"""The feature build for months larger than memory: card-hash and facility partitions.

Why: the feature arithmetic on ten million claims at once needs several gigabytes of
temporaries on top of the data. Every card's claims (and every facility's) are put in
one partition, so each partition's features are exactly those of a single pass; only
the temporaries shrink. Peers must be given (fitted on the training data and kept in
the model bundle), as for any scoring run: a partition cannot fit them on its own.
The functions stay pure over frames; between partitions freed memory is handed back
to the OS.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from claimguard.features.build import USED_COLUMNS, FeatureSet, build_features
from claimguard.features.lookup import member, positions
from claimguard.features.peers import PeerTables
from claimguard.memory import release_memory
from claimguard.settings import FeatureSettings, ScoringSettings

log = logging.getLogger(__name__)

# Claims per partition (bounds the feature arithmetic's temporaries): the default of the
# one setting, scoring.partition_claims.
PARTITION_ROWS: int = ScoringSettings().partition_claims

# on_flags(entity_type, claim_flags of a partition, positions of its claims in ``claims``)
FlagsSink = Callable[[str, pd.DataFrame, np.ndarray], None]


def partition_ids(keys: pd.Series, n: int) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Partition number of each key (same key -> same partition), each key's code, and the
    distinct keys.

    Key number i (in order of first appearance) goes to partition i mod n, so another
    table's rows follow by looking their key up among the distinct keys.
    """
    codes, uniques = pd.factorize(keys)
    return (codes % n).astype("int16"), codes, pd.Series(uniques, dtype="string")


def registry_codes(cards: pd.DataFrame, distinct: pd.Series) -> np.ndarray:
    """Code (position in ``distinct``, the claims' card ids) of each registry row, -1 for
    cards without claims: one string join, then partitions pick their cards by integers."""
    return positions(cards["card_id"], distinct)


def cards_in_claims(cards: pd.DataFrame | None, claims: pd.DataFrame) -> pd.DataFrame | None:
    """The registry rows of cards that have claims (a national registry is far larger)."""
    if cards is None:
        return None
    keep = member(cards["card_id"], claims["card_id"])
    return cards if bool(keep.all()) else cards.loc[keep]


def used_columns(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Only the columns ``build_features`` reads (a lazy copy): partitions copy their
    rows, and the lines' doctor_id/order_time/quantity alone are half of a 50M-line table."""
    return frame[[c for c in frame.columns if c in USED_COLUMNS[table]]]


def as_dtype(table: pd.DataFrame, dtype: type[np.floating]) -> pd.DataFrame:
    """A float feature table as ``dtype`` (other tables unchanged)."""
    if len(table.columns) and all(dt.kind == "f" for dt in table.dtypes):
        return table.astype(dtype)
    return table


def stack(frames: list[pd.DataFrame], dtype: type[np.floating] = np.float64) -> pd.DataFrame:
    """``pd.concat(frames)`` of float feature tables as ``dtype``, freeing each part once
    copied: concat would hold every part and the result at once (2 x 1.5 GB at 8M cards).
    Empties ``frames``."""
    columns = list(frames[0].columns) if frames else []
    same = all(list(f.columns) == columns for f in frames)
    floats = all(dt.kind == "f" for f in frames for dt in f.dtypes)
    if len(frames) < 2 or not same or not floats:
        out = pd.concat(frames)
        frames.clear()
        return as_dtype(out, dtype)
    index = frames[0].index.append([f.index for f in frames[1:]])
    values = np.empty((len(columns), len(index)), dtype=dtype)
    start = 0
    while frames:  # a handful of partitions
        part = frames.pop(0)
        values[:, start : start + len(part)] = part.to_numpy().T
        start += len(part)
        del part
        release_memory()  # a part's columns are heap blocks, kept by malloc unless trimmed
    # (features x entities) C-order -> one pandas block without a copy
    return pd.DataFrame(values.T, index=index, columns=columns, copy=False)


@dataclass(frozen=True)
class _Build:
    """What every partition's build shares: the facilities, the peers, settings, period."""

    facilities: pd.DataFrame | None
    peers: PeerTables
    settings: FeatureSettings
    period: tuple[pd.Timestamp, pd.Timestamp]

    def __call__(
        self,
        sub: pd.DataFrame,
        sub_lines: pd.DataFrame | None,
        sub_cards: pd.DataFrame | None,
        entities: tuple[str, ...],
        sub_line_rows: np.ndarray | None = None,
    ) -> FeatureSet:
        return build_features(
            sub,
            sub_lines,
            sub_cards,
            self.facilities,
            peers=self.peers,
            settings=self.settings,
            period=self.period,
            entities=entities,
            line_rows=sub_line_rows,
        )


def _whole(
    build: _Build,
    claims: pd.DataFrame,
    lines: pd.DataFrame | None,
    cards: pd.DataFrame | None,
    dtype: type[np.floating],
    on_flags: FlagsSink | None,
) -> FeatureSet:
    """One partition: the plain build, tables as ``dtype``, flags handed to ``on_flags``."""
    fs = build(claims, lines, cards_in_claims(cards, claims), ("card", "facility"))
    if on_flags is not None and fs.claim_flags is not None:
        rows = np.arange(len(claims))
        on_flags("card", fs.claim_flags, rows)
        on_flags("facility", fs.claim_flags, rows)
    return dataclasses.replace(
        fs, card=as_dtype(fs.card, dtype), facility=as_dtype(fs.facility, dtype), claim_flags=None
    )


def _partition_lines(
    lines: pd.DataFrame, line_pos: np.ndarray, in_part: np.ndarray, rows: np.ndarray, n: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """The lines of a partition and each line's claim as a row of the partition's claims
    (``line_pos``: each line's claim row among all ``n`` claims, joined once)."""
    local = np.full(n + 1, -1, dtype=np.int32)
    local[rows] = np.arange(len(rows), dtype=np.int32)
    at = line_pos[in_part]
    return lines.loc[in_part], local[np.where(at >= 0, at, n)]


def _cards_seen(
    cards: pd.DataFrame, reg: np.ndarray, rows: np.ndarray, card_code: np.ndarray
) -> pd.DataFrame:
    """The registry rows (card code ``reg``) of the cards the claims ``rows`` of a facility
    partition saw."""
    seen = np.zeros(int(card_code.max()) + 1, dtype=bool)
    at = card_code[rows]
    seen[at[at >= 0]] = True
    return cast("pd.DataFrame", cards.loc[seen[reg]])


def build_partitioned(
    claims: pd.DataFrame,
    claim_lines: pd.DataFrame | None,
    cards: pd.DataFrame | None,
    facilities: pd.DataFrame | None,
    *,
    peers: PeerTables,
    settings: FeatureSettings,
    period: tuple[pd.Timestamp, pd.Timestamp],
    partition_rows: int = PARTITION_ROWS,
    dtype: type[np.floating] = np.float64,
    on_flags: FlagsSink | None = None,
) -> FeatureSet:
    """The features of :func:`build_features`, built in partitions of ~``partition_rows``
    claims; tables as ``dtype``. ``claim_flags`` of the result is None: each partition's
    flags go to ``on_flags`` (with the positions of its claims in ``claims``) instead, as
    the whole month's flags would cost gigabytes.
    """
    claims = used_columns(claims, "claims")
    lines = None if claim_lines is None else used_columns(claim_lines, "claim_lines")
    n_parts = max(1, math.ceil(len(claims) / max(partition_rows, 1)))
    build = _Build(facilities, peers, settings, period)
    if n_parts == 1:
        return _whole(build, claims, lines, cards, dtype, on_flags)
    log.info("Building features in %d card and %d facility partitions", n_parts, n_parts)
    # Lines follow their claim: look each line's claim up once, not once per partition.
    line_pos = None if lines is None else positions(lines["claim_id"], claims["claim_id"])
    frames: dict[str, list[pd.DataFrame]] = {"card": [], "facility": []}
    first: FeatureSet | None = None
    # registry rows by card code, joined once (cards without claims dropped here)
    card_part_of, card_code, card_distinct = partition_ids(claims["card_id"], n_parts)
    reg = None
    if cards is not None:
        reg = registry_codes(cards, card_distinct)
        if not bool((reg >= 0).all()):
            cards, reg = cards.loc[reg >= 0], reg[reg >= 0]
    del card_distinct
    for entity, key in (("card", "card_id"), ("facility", "facility_id")):
        part_of = card_part_of if entity == "card" else partition_ids(claims[key], n_parts)[0]
        line_part = None if line_pos is None else np.where(line_pos >= 0, part_of[line_pos], -1)
        for p in range(n_parts):  # loop over a handful of partitions
            rows = np.flatnonzero(part_of == p)
            sub = claims.iloc[rows]
            if sub.empty:
                continue
            sub_lines = sub_line_rows = None
            if lines is not None and line_part is not None and line_pos is not None:
                sub_lines, sub_line_rows = _partition_lines(
                    lines, line_pos, line_part == p, rows, len(claims)
                )
            sub_cards: pd.DataFrame | None = None
            if cards is not None and reg is not None:
                if entity == "card":
                    sub_cards = cards.loc[reg % n_parts == p]
                else:
                    sub_cards = _cards_seen(cards, reg, rows, card_code)
            fs = build(sub, sub_lines, sub_cards, (entity,), sub_line_rows)
            frames[entity].append(as_dtype(getattr(fs, entity), dtype))
            if on_flags is not None and fs.claim_flags is not None:
                on_flags(entity, fs.claim_flags, rows)
            if first is None:  # its period and switched-off list (tables are stacked below)
                first = dataclasses.replace(
                    fs, card=fs.card.iloc[:0], facility=fs.facility.iloc[:0], claim_flags=None
                )
            del fs, sub, sub_lines, sub_line_rows, sub_cards, rows
            release_memory()
    assert first is not None  # claims is not empty: some partition had rows
    return dataclasses.replace(
        first,
        card=stack(frames["card"], dtype),
        facility=stack(frames["facility"], dtype),
        claim_flags=None,
    )
