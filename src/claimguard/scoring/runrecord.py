"""What run.json records about the run itself, beyond its figures.

Why: an operator reading a month's run.json half a year later must be able to tell which
model (URI, alias and the version it meant then), which effective settings and which command
line produced it, when it ran and how it ended — without the scheduler's logs.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from claimguard.settings import Settings

STATUS_OK = "ok"
STATUS_DRIFTED = "drifted"
STATUS_QUARANTINE = "quarantine_limit_exceeded"


def now() -> str:
    """UTC time to the second, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def final_status(run: dict[str, Any]) -> str:
    """How the run ends: the quarantine limit first (the data are broken), then drift
    (which exits 3 only with ``--fail-on-drift``)."""
    if (run.get("quarantine") or {}).get("exceeded"):
        return STATUS_QUARANTINE
    if (run.get("drift") or {}).get("drifted"):
        return STATUS_DRIFTED
    return STATUS_OK


def provenance(
    model: dict[str, Any], settings: Settings, started_at: str, status: str
) -> dict[str, Any]:
    """Model identity, effective settings, command line, start/end time and final status."""
    return {
        "model": model,
        "settings": settings.model_dump(mode="json"),
        "command_line": list(sys.argv),
        "started_at": started_at,
        "finished_at": now(),
        "status": status,
    }
