"""Small views of a generated dataset shared by the synth tests."""

from __future__ import annotations

import pandas as pd

from claimguard.synth.generate import SyntheticData


def normal_claims(d: SyntheticData) -> pd.DataFrame:
    """Claims that carry nothing planted."""
    return d.claims[~d.claims["claim_id"].isin(d.truth_claims["claim_id"])]


def with_cards(c: pd.DataFrame, d: SyntheticData) -> pd.DataFrame:
    """Claims joined with the card registry, plus the holder's age at admission."""
    m = c.merge(d.cards, on="card_id", suffixes=("", "_card"))
    m["age"] = (m["admit_time"] - m["birth_date"]).dt.days / 365.25
    return m
