"""The declarative contract of a validated table (pandera), checked on small tables.

Why a second statement of the contract: the row checks of claimguard.io.validation are
hand-vectorised for 10M-row speed; this schema restates what a validated canonical frame
is, independently, so a bug in the fast checks cannot pass silently.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from claimguard.schema import TABLES, Table


def canonical_schema(table: str | Table) -> Any:
    """The pandera schema every validated canonical frame satisfies (absent optional columns allowed)."""
    import pandera.pandas as pa_

    from claimguard.io.coerce import canonical_dtype
    from claimguard.io.compact import DICTIONARY_COLUMNS

    t = TABLES[table] if isinstance(table, str) else table
    encoded = DICTIONARY_COLUMNS.get(t.name, ())
    columns = {}
    for col in t.columns:
        checks = []
        if col.kind == "float" and col.strictly_positive:
            checks.append(pa_.Check.gt(0))
        elif col.kind == "float" and col.min_value is not None:
            checks.append(pa_.Check.ge(col.min_value))
        if col.kind == "float" and col.max_value is not None:
            checks.append(pa_.Check.le(col.max_value))
        # repetitive codes are stored as categoricals of str (claimguard.io.compact)
        dtype = "category" if col.name in encoded else canonical_dtype(col)
        columns[col.name] = pa_.Column(
            dtype, checks=checks, nullable=not col.required, required=col.required
        )
    return pa_.DataFrameSchema(
        columns, strict=True, unique=[t.key] if t.key else None, ordered=False
    )


CONTRACT_CHECK_MAX_ROWS = 200_000


def check_contract(
    frames: dict[str, pd.DataFrame], max_rows: int = CONTRACT_CHECK_MAX_ROWS
) -> None:
    """Run the pandera contract on validated tables small enough for it to cost nothing.

    Why: the row checks above are hand-vectorised for 10M-row speed; the declarative
    pandera schema re-states the contract independently. A failure here is a bug in
    claimguard (not in the data), so it raises pandera's SchemaError.
    """
    for name, frame in frames.items():
        if frame is not None and len(frame) <= max_rows:
            canonical_schema(name).validate(frame)
