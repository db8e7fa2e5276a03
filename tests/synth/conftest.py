"""A small in-memory synthetic dataset shared by this area's tests.

``SYNTH_TEST_SEED`` / ``SYNTH_TEST_CLAIMS`` / ``SYNTH_TEST_MONTHS`` re-run the
whole area on another dataset (robustness checks); defaults: 30k claims over
two months, seed 11.
"""

from __future__ import annotations

import os

import pytest

from claimguard.synth.generate import SyntheticData, generate

SEED = int(os.environ.get("SYNTH_TEST_SEED", "11"))
CLAIMS = int(os.environ.get("SYNTH_TEST_CLAIMS", "30000"))
MONTHS = int(os.environ.get("SYNTH_TEST_MONTHS", "2"))


@pytest.fixture(scope="session")
def synth_data() -> SyntheticData:
    return generate(CLAIMS, seed=SEED, start="2024-03-01", months=MONTHS)
