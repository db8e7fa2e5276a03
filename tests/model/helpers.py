"""Small seeded feature tables as a claimguard.features FeatureSet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from claimguard.features.build import FeatureSet


def tiny_features(n_cards: int = 3000, n_fac: int = 200, seed: int = 0) -> FeatureSet:
    """Cards 0..29 have planted high usage; card 40 has a claim after death (rule only)."""
    rng = np.random.default_rng(seed)
    card = pd.DataFrame(
        {
            "card_visits_count": rng.poisson(2, n_cards).astype(float),
            "card_distinct_facilities_count": rng.poisson(1, n_cards).astype(float),
            "card_cost_ratio_to_peers": rng.lognormal(0, 0.3, n_cards),
            "card_after_death_claims_count": np.zeros(n_cards),
        },
        index=pd.Index([f"C{i:05d}" for i in range(n_cards)], name="card_id"),
    )
    card.iloc[:30, 0] += 25
    card.iloc[:30, 1] += 6
    card.iloc[40, 3] = 2.0
    card.iloc[::7, 2] = np.nan
    facility = pd.DataFrame(
        {
            "facility_visits_per_doctor_day": rng.gamma(4, 5, n_fac),
            "facility_tests_per_visit_ratio_to_peers": rng.lognormal(0, 0.2, n_fac),
        },
        index=pd.Index([f"F{i:04d}" for i in range(n_fac)], name="facility_id"),
    )
    facility.iloc[:5, 1] *= 4
    return FeatureSet(
        card=card,
        facility=facility,
        period_start=pd.Timestamp("2024-01-01"),
        period_end=pd.Timestamp("2024-01-31"),
        claim_flags=None,
    )


def tiny_labels() -> pd.DataFrame:
    ids = [f"C{i:05d}" for i in range(30)] + ["C00040"]
    scen = ["medicine_hoarding"] * 30 + ["post_death"]
    fac = [f"F{i:04d}" for i in range(5)]
    return pd.DataFrame(
        {
            "entity_type": ["card"] * len(ids) + ["facility"] * len(fac),
            "entity_id": ids + fac,
            "scenario": scen + ["overbilling"] * len(fac),
        }
    )
