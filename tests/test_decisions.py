"""Reviewer decisions mean the same thing to triage, evaluation and feedback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from claimguard.jobs.labels import read_labels
from claimguard.model.decisions import feedback_labels
from claimguard.schema import DECISION_COLUMNS, DECISIONS, NEGATIVE_DECISIONS, POSITIVE_DECISIONS


def test_triage_decisions_are_understood_everywhere(tmp_path: Path) -> None:
    confirmed, dismissed, needs_info = DECISIONS
    assert confirmed in POSITIVE_DECISIONS and dismissed in NEGATIVE_DECISIONS
    assert needs_info not in POSITIVE_DECISIONS | NEGATIVE_DECISIONS
    rows = [
        ("card", "C1", "borrowed_card", confirmed, "an", "2024-03-01T10:00:00Z"),
        ("card", "C2", "cost", dismissed, "an", "2024-03-01T10:01:00Z"),
        ("card", "C3", "cost", needs_info, "binh", "2024-03-01T10:02:00Z"),
    ]
    path = tmp_path / "decisions.csv"
    pd.DataFrame(rows, columns=list(DECISION_COLUMNS)).to_csv(path, index=False)

    labels, kind = read_labels(path)
    assert kind == "reviewer"
    by_id = dict(zip(labels["entity_id"], labels["label"], strict=True))
    assert by_id["C1"] == 1 and by_id["C2"] == 0 and by_id["C3"] == -1

    fb = feedback_labels(pd.read_csv(path))
    assert dict(zip(fb["entity_id"], fb["y"], strict=True)) == {"C1": 1.0, "C2": 0.0}
