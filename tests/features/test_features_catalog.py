"""The catalogue is complete, consistent with the build, and its markdown is fresh."""

from __future__ import annotations

from pathlib import Path

from claimguard.features.catalog import CATALOG, features_for, render_markdown
from claimguard.schema import SIGNALS

REPO = Path(__file__).resolve().parents[2]


def test_every_spec_has_description_signal_and_unit() -> None:
    for name, spec in CATALOG.items():
        assert spec.name == name
        assert spec.entity in ("card", "facility")
        assert name.startswith(spec.entity + "_")
        assert spec.signal in SIGNALS and spec.signal != "other", name
        assert spec.description.strip() and spec.unit.strip(), name
        assert "{value" in spec.text, name
        spec.text.format(value=1.5)
        for req in spec.requires:
            for alt in req.split("|"):
                table, _, column = alt.partition(".")
                assert table in ("claims", "claim_lines", "cards", "facilities") and column


def test_names_follow_style() -> None:
    suffixes = (
        "_count",
        "_days",
        "_vnd",
        "_ratio",
        "_ratio_to_peers",
        "_ratio_to_colleagues",
        "_share",
        "_z",
    )
    for name in CATALOG:
        last = name.split("_")[-1]
        assert name.endswith(suffixes) or name.split("_")[1] in ("is", "has"), (name, last)


def test_features_for_partitions_catalog() -> None:
    names = [s.name for s in features_for("card")] + [s.name for s in features_for("facility")]
    assert sorted(names) == sorted(CATALOG)


def test_committed_markdown_is_fresh() -> None:
    committed = (REPO / "docs" / "feature_catalog.md").read_text(encoding="utf-8")
    assert committed == render_markdown(), (
        "docs/feature_catalog.md is stale: regenerate with "
        "python -c 'from claimguard.features.catalog import render_markdown as r; "
        'open("docs/feature_catalog.md","w").write(r())\''
    )


def test_used_columns_cover_every_requirement() -> None:
    from claimguard.features.build import USED_COLUMNS
    from claimguard.schema import TABLES

    for spec in CATALOG.values():
        for req in spec.requires:
            for alt in req.split("|"):
                table, _, column = alt.partition(".")
                assert column in USED_COLUMNS[table], alt
    for table, cols in USED_COLUMNS.items():
        assert set(cols) <= set(TABLES[table].names)
