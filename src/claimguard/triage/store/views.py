"""What the store's queries take and give: the queue filter, cursors, pages, facets.

Why plain dataclasses: the app and the tests build and read them without a database.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from claimguard.schema import DECISIONS

STATUSES = ("open", *DECISIONS)
# The actor of decisions copied from an earlier run's alert (Store.carry_forward).
CARRY_FORWARD_ACTOR = "claimguard:carry-forward"
CHUNK = 500  # values per IN (...) list: every driver accepts that many parameters
COUNTS_CACHE_SIZE = 512  # filters whose tab counts one server process keeps
CASES_COUNTER = "cases"  # Counter row raised by every change of a case's counts
CASE_STATES = ("new", "assigned", "in_review", "decided", "reopened")
SORTS = ("score", "amount")


@dataclass(frozen=True)
class QueueFilter:
    """What the reviewer narrowed the queue to (None = no restriction)."""

    entity_type: str | None = None
    signal: str | None = None
    province: str | None = None
    tier: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    status: str | None = None
    state: str | None = None
    assignee: str | None = None
    search: str | None = None  # a card or facility id, exactly
    facility: str | None = None  # the facility's own cases and cards that visited it
    run_id: int | None = None
    model_version: str | None = None
    amount_min: float | None = None
    amount_max: float | None = None


@dataclass(frozen=True)
class Cursor:
    """A keyset position in the queue: the sort value and alert id of a row.

    Why keyset, not OFFSET: page 2,000 of a 100,000-case queue costs the same as page 1,
    and a case decided meanwhile does not shift every later page by one row.
    """

    value: float
    alert_id: str

    def encode(self) -> str:
        return f"{self.value!r}:{self.alert_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor of :meth:`encode`; ValueError for anything else."""
        value, sep, alert_id = text.partition(":")
        number = float(value)
        if not sep or not alert_id or number != number or abs(number) == float("inf"):
            raise ValueError(f"not a queue cursor: {text!r}")
        return cls(number, alert_id)


@dataclass
class QueuePage:
    rows: list[dict[str, Any]]
    total: int
    status_counts: dict[str, int]
    state_counts: dict[str, int]
    page_size: int
    sort: str = "score"
    next_cursor: Cursor | None = None  # None: this is the last page
    prev_cursor: Cursor | None = None  # None: this is the first page


@dataclass
class Facets:
    entity_types: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    provinces: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    latest_run: dict[str, Any] | None = None


@dataclass
class BulkResult:
    """What a bulk action did to each case it was given."""

    done: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # changed since the page was loaded
    missing: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # assigned to someone else


SCENARIO_TAG = re.compile(r"(?<![\w&])#([a-z][a-z0-9_]{1,60})\b")


def note_scenario(note: str) -> str | None:
    """The scenario a reviewer tagged in a note with ``#name`` (first tag wins)."""
    m = SCENARIO_TAG.search(note or "")
    return m.group(1) if m else None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def as_dict(r: Any) -> dict[str, Any]:
    return dict(r._mapping)
