"""A small in-memory synthetic dataset shared by this area's tests."""

from __future__ import annotations

import pytest

from claimguard.synth.generate import SyntheticData, generate


@pytest.fixture(scope="session")
def synth_data() -> SyntheticData:
    """30k claims over two months, seed 11."""
    return generate(30_000, seed=11, start="2024-03-01", months=2)
