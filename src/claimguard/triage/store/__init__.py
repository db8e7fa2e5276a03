"""The alert store: SQL tables for alerts, their evidence and the reviewers' decisions.

Why SQL: reviewers work at the same time and their decisions are the labels data
scientists learn from, so every decision is an appended row written in a transaction,
never an edit of a file. SQLite (one file, no set-up) by default; PostgreSQL by URL.
The schema is owned by Alembic (``triage/migrations``) and brought up to date by
:meth:`Store.open`; the models (``models.py``) must match the migrations (a test checks it).

The package: ``engine`` (connecting, migrating, errors), ``models`` (tables), ``views``
(filters, cursors, pages), ``base`` (connection and shared state), then one module per
kind of work: ``queue``, ``reads`` (one alert and its entity), ``cases`` (writes, audit),
``labels`` (carry-forward and exports). :class:`Store` is all of them.
"""

from __future__ import annotations

from claimguard.schema import DECISIONS
from claimguard.triage.store.engine import (
    DEFAULT_LOCK_TIMEOUT_S,
    MIGRATIONS,
    Conflict,
    StoreUnavailable,
    describe_db_error,
    is_locked,
    locked_error,
    make_store_engine,
    migrate,
    normalise_url,
)
from claimguard.triage.store.labels import LabelQueries
from claimguard.triage.store.models import (
    Alert,
    AlertSignal,
    AuditEntry,
    Base,
    CardFacility,
    CaseRun,
    Claim,
    ClaimLine,
    Counter,
    Decision,
    DoctorDay,
    Entity,
    FeaturePeers,
    Meta,
    Note,
    Run,
    SignInFailure,
    User,
)
from claimguard.triage.store.queue import QueueQueries
from claimguard.triage.store.reads import EvidenceReads
from claimguard.triage.store.views import (
    CARRY_FORWARD_ACTOR,
    CASE_STATES,
    CASES_COUNTER,
    COUNTS_CACHE_SIZE,
    SORTS,
    STATUSES,
    BulkResult,
    Cursor,
    Facets,
    QueueFilter,
    QueuePage,
    note_scenario,
)


class Store(QueueQueries, EvidenceReads, LabelQueries):
    """Queries and writes of the triage app; one instance per process, thread-safe."""


__all__ = [
    "CARRY_FORWARD_ACTOR",
    "CASES_COUNTER",
    "CASE_STATES",
    "COUNTS_CACHE_SIZE",
    "DECISIONS",
    "DEFAULT_LOCK_TIMEOUT_S",
    "MIGRATIONS",
    "SORTS",
    "STATUSES",
    "Alert",
    "AlertSignal",
    "AuditEntry",
    "Base",
    "BulkResult",
    "CardFacility",
    "CaseRun",
    "Claim",
    "ClaimLine",
    "Conflict",
    "Counter",
    "Cursor",
    "Decision",
    "DoctorDay",
    "Entity",
    "Facets",
    "FeaturePeers",
    "Meta",
    "Note",
    "QueueFilter",
    "QueuePage",
    "Run",
    "SignInFailure",
    "Store",
    "StoreUnavailable",
    "User",
    "describe_db_error",
    "is_locked",
    "locked_error",
    "make_store_engine",
    "migrate",
    "normalise_url",
    "note_scenario",
]
