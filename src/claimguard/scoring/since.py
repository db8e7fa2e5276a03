"""Incremental scoring: ``claimguard score --since LAST_RUN_DIR``.

Why: a job that runs more often than the extract is cut (or catches up after an outage)
must score only what is new, with the model the last run used (pinned to the version it
resolved then, not whatever the alias means today), and keep the link to what reviewers
already saw: entities alerted again are listed with the previous alert's id so their
decisions can be carried forward.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from claimguard.errors import UserError


def read_last_run(folder: Path) -> dict[str, Any]:
    """run.json of an earlier ``claimguard score`` folder."""
    path = Path(folder) / "run.json"
    try:
        run: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(
            "The last run's run.json cannot be read",
            where=str(path),
            fix="pass --since with an output folder of `claimguard score`",
        ) from exc
    if not run.get("period_end"):
        raise UserError(
            "The last run's run.json records no period",
            where=str(path),
            fix="pass --since with an output folder of `claimguard score`",
        )
    return run


def pinned_model(run: dict[str, Any]) -> str:
    """The model the last run used: ``models:/NAME/VERSION`` if registered, else its path."""
    model = run.get("model") or {}
    if model.get("name") and model.get("version"):
        return f"models:/{model['name']}/{model['version']}"
    if model.get("uri"):
        return str(model["uri"])
    raise UserError(
        "The last run does not record which model it used",
        where="run.json",
        fix="pass --model explicitly (runs written by this claimguard record it)",
    )


def new_period(run: dict[str, Any], claims: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """From the day after the last run's period to the newest admission in ``claims``."""
    start = pd.Timestamp(run["period_end"]) + pd.Timedelta(days=1)
    newest = claims["admit_time"].max() if len(claims) else pd.NaT
    if pd.isna(newest) or newest.normalize() < start:
        raise UserError(
            f"There are no claims after the last run's period (it ended {run['period_end']})",
            where="--since",
            fix="wait for the next extract, or score a period explicitly with --period",
        )
    return start.normalize(), newest.normalize()


def carried_forward(last_folder: Path, alerts: pd.DataFrame) -> list[dict[str, str]]:
    """Entities alerted again, with the id of their alert in the last run."""
    path = Path(last_folder) / "alerts.parquet"
    if not path.is_file() or alerts.empty:
        return []
    before = pd.read_parquet(path, columns=["entity_type", "entity_id", "alert_id"])
    again = alerts[["entity_type", "entity_id", "alert_id"]].merge(
        before, on=["entity_type", "entity_id"], suffixes=("", "_previous")
    )
    return [
        {"entity_type": str(r.entity_type), "entity_id": str(r.entity_id),
         "alert_id": str(r.alert_id), "previous_alert_id": str(r.alert_id_previous)}
        for r in again.itertuples(index=False)
    ]  # fmt: skip
