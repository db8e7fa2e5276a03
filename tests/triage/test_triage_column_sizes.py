"""Whatever passes validation fits the triage database: one byte limit per column."""

from __future__ import annotations

from sqlalchemy import String

from claimguard.schema import TABLES
from claimguard.triage.store import Base


def test_every_validated_id_and_code_fits_its_triage_column() -> None:
    limits = {
        c.name: c.byte_limit for t in TABLES.values() for c in t.columns if c.kind in ("id", "str")
    }
    limits["facility_province"] = limits["province"]
    checked = 0
    for table in Base.metadata.tables.values():
        for column in table.columns:
            if column.name in limits and isinstance(column.type, String) and column.type.length:
                assert limits[column.name] <= column.type.length, (table.name, column.name)
                checked += 1
    assert checked >= 8
