"""The alert store: SQL tables for alerts, their evidence and the reviewers' decisions.

Why SQL: reviewers work at the same time and their decisions are the labels data
scientists learn from, so every decision is an appended row written in a transaction,
never an edit of a file. SQLite (one file, no set-up) by default; PostgreSQL by URL.
The schema is owned by Alembic (``triage/migrations``) and brought up to date by
:meth:`Store.open`; the models below must match the migrations (a test checks it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    create_engine,
    delete,
    event,
    false,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import ColumnElement

from claimguard.errors import ConfigError, UserError
from claimguard.schema import DECISIONS, MAX_CODE_BYTES
from claimguard.settings import TriageSettings

log = logging.getLogger(__name__)

STATUSES = ("open", *DECISIONS)
MIGRATIONS = Path(__file__).with_name("migrations")
_CHUNK = 500
DEFAULT_LOCK_TIMEOUT_S = float(TriageSettings().db_lock_timeout_seconds)


# The actor of decisions copied from an earlier run's alert (Store.carry_forward).
CARRY_FORWARD_ACTOR = "claimguard:carry-forward"


class Conflict(Exception):
    """Someone else changed the case since the page was loaded (optimistic locking)."""


class StoreUnavailable(Exception):
    """The store cannot be trusted with a write (its database file is gone or replaced)."""


def describe_db_error(exc: BaseException) -> str:
    """A short text of a database error that is safe to log: no SQL, no parameters.

    SQLAlchemy's own message carries the statement and its parameters (claim data,
    reviewers' notes), so it is never used. SQLite's messages name tables and columns
    only; PostgreSQL's may quote values, so only the SQLSTATE code is kept.
    """
    if isinstance(exc, StoreUnavailable):
        return str(exc)
    orig = getattr(exc, "orig", None) or exc
    kind = type(orig).__name__
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code:
        return f"{kind} (SQLSTATE {code})"
    if type(orig).__module__.startswith("sqlite3"):
        first = (str(orig).strip().splitlines() or [""])[0][:200]
        return f"{kind}: {first}" if first else kind
    return kind


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (another connection holds the lock
    longer than the busy timeout)."""
    orig = getattr(exc, "orig", None) or exc
    return isinstance(exc, OperationalError) and "locked" in str(orig).lower()


def locked_error(where: str, timeout_s: float) -> UserError:
    return UserError(
        f"The triage database is locked by another process (waited {timeout_s:g} s for it)",
        where=where,
        fix="wait until the other claimguard command or server writing it is done (or stop "
        "it) and run again, or raise triage.db_lock_timeout_seconds "
        "(CLAIMGUARD_TRIAGE__DB_LOCK_TIMEOUT_SECONDS)",
    )


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One load of a scored folder."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    folder: Mapped[str] = mapped_column(Text)
    model_version: Mapped[str | None] = mapped_column(String(200))
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime)
    n_alerts: Mapped[int] = mapped_column(Integer)
    context: Mapped[str] = mapped_column(Text)  # JSON: context file -> rows, or null if absent


class Alert(Base):
    """An alert of docs/contract.md section 3, plus its entity's display info and latest decision."""

    __tablename__ = "alerts"
    alert_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(MAX_CODE_BYTES))
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    period_end: Mapped[dt.date | None] = mapped_column(Date)
    score: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    top_signal: Mapped[str | None] = mapped_column(String(40))
    reasons: Mapped[str] = mapped_column(
        Text
    )  # JSON list of {signal, feature, value, typical, text}
    evidence_claim_ids: Mapped[str] = mapped_column(Text)  # JSON list
    n_evidence: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(200))
    province: Mapped[str | None] = mapped_column(String(MAX_CODE_BYTES))
    tier: Mapped[str | None] = mapped_column(String(40))
    label: Mapped[str | None] = mapped_column(String(300))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    status: Mapped[str] = mapped_column(String(32), default="open", server_default="open")
    status_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status_reviewer: Mapped[str | None] = mapped_column(String(120))
    # the case: workflow state, who works it, by when, and a version for optimistic locking
    state: Mapped[str] = mapped_column(String(20), default="new", server_default="new")
    assignee: Mapped[str | None] = mapped_column(String(80))
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # insurance paid on the evidence claims: what the fund stands to lose (a queue sort key)
    amount_at_stake: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")

    __table_args__ = (
        Index("ix_alerts_assignee", "assignee", "state", "status"),  # "my cases" and its counts
        # keyset pagination of the queue: (sort key DESC, alert_id), alone or behind a filter
        Index("ix_alerts_amount", amount_at_stake.desc(), "alert_id"),
        Index("ix_alerts_state_score", "state", score.desc(), "alert_id"),
        Index("ix_alerts_state_amount", "state", amount_at_stake.desc(), "alert_id"),
        Index("ix_alerts_state_status", "state", "status"),  # the queue's tab counts
        Index("ix_alerts_assignee_score", "assignee", score.desc(), "alert_id"),
        Index("ix_alerts_score", score.desc(), "alert_id"),
        Index("ix_alerts_status_score", "status", score.desc(), "alert_id"),
        Index("ix_alerts_type_score", "entity_type", score.desc(), "alert_id"),
        Index("ix_alerts_province_score", "province", score.desc(), "alert_id"),
        Index("ix_alerts_tier_score", "tier", score.desc(), "alert_id"),
        # one case per entity and period: the loader looks the case up by these
        Index("ix_alerts_case", "entity_type", "entity_id", "period_start", "period_end"),
    )


class CaseRun(Base):
    """A run (and so a model) that flagged a case, with that run's own alert id and score.

    Why: two models flagging the same entity in the same period make one case for the
    reviewers (one decision), and the case page can still say who flagged it.
    """

    __tablename__ = "case_runs"
    alert_id: Mapped[str] = mapped_column(
        ForeignKey("alerts.alert_id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    source_alert_id: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str | None] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    top_signal: Mapped[str | None] = mapped_column(String(40))
    __table_args__ = (
        Index("ix_case_runs_run", "run_id", "alert_id"),
        Index("ix_case_runs_model", "model_version", "alert_id"),
        Index("ix_case_runs_source", "source_alert_id"),
    )


class AlertSignal(Base):
    """Every signal named by an alert's reasons, so the queue can filter on any of them."""

    __tablename__ = "alert_signals"
    alert_id: Mapped[str] = mapped_column(
        ForeignKey("alerts.alert_id", ondelete="CASCADE"), primary_key=True
    )
    signal: Mapped[str] = mapped_column(String(40), primary_key=True)
    __table_args__ = (Index("ix_alert_signals_signal", "signal", "alert_id"),)


class Decision(Base):
    """A reviewer's decision; appended, never updated (the history is the record)."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.alert_id"))
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(MAX_CODE_BYTES))
    decision: Mapped[str] = mapped_column(String(32))
    scenario: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(120))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime)
    __table_args__ = (
        Index("ix_decisions_alert", "alert_id", "id"),
        Index("ix_decisions_entity", "entity_type", "entity_id"),
    )


# Columns holding ids and codes from the claims tables are sized by the schema's limit
# (claimguard.schema.MAX_CODE_BYTES, at least every validated id or code), so whatever passes
# validation fits the database.


class Claim(Base):
    """An evidence claim (canonical claims columns; the rarely shown ones in ``extra``)."""

    __tablename__ = "claims"
    claim_id: Mapped[str] = mapped_column(String(MAX_CODE_BYTES), primary_key=True)
    card_id: Mapped[str] = mapped_column(String(MAX_CODE_BYTES))
    facility_id: Mapped[str] = mapped_column(String(MAX_CODE_BYTES))
    admit_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    discharge_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    visit_type: Mapped[str | None] = mapped_column(String(20))
    primary_dx: Mapped[str | None] = mapped_column(String(MAX_CODE_BYTES))
    secondary_dx: Mapped[str | None] = mapped_column(Text)
    total_cost: Mapped[float | None] = mapped_column(Float)
    drug_cost: Mapped[float | None] = mapped_column(Float)
    doctor_id: Mapped[str | None] = mapped_column(String(MAX_CODE_BYTES))
    sick_leave_days: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(20))
    facility_province: Mapped[str | None] = mapped_column(String(MAX_CODE_BYTES))
    facility_tier: Mapped[str | None] = mapped_column(String(40))
    extra: Mapped[str] = mapped_column(Text)  # JSON of the other columns
    __table_args__ = (
        Index("ix_claims_card", "card_id"),
        Index("ix_claims_facility", "facility_id"),
    )


class ClaimLine(Base):
    """A drug / service / supply line of an evidence claim."""

    __tablename__ = "claim_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(String(MAX_CODE_BYTES))
    line_type: Mapped[str | None] = mapped_column(String(20))
    item_code: Mapped[str | None] = mapped_column(String(MAX_CODE_BYTES))
    quantity: Mapped[float | None] = mapped_column(Float)
    amount: Mapped[float | None] = mapped_column(Float)
    days_supply: Mapped[float | None] = mapped_column(Float)
    doctor_id: Mapped[str | None] = mapped_column(String(MAX_CODE_BYTES))
    order_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    item_name: Mapped[str | None] = mapped_column(String(300))  # where the dataset has one
    __table_args__ = (Index("ix_claim_lines_claim", "claim_id"),)


class Entity(Base):
    """Display info of every card and facility a run mentions (its ``entity_info``)."""

    __tablename__ = "entities"
    entity_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(MAX_CODE_BYTES), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(300))
    province: Mapped[str | None] = mapped_column(String(MAX_CODE_BYTES))
    tier: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str | None] = mapped_column(String(40))
    label: Mapped[str | None] = mapped_column(String(300))


class FeaturePeers(Base):
    """The training distribution of a feature (median, p90, p99, quantile histogram).

    Why: a reason says "value vs typical"; the chart beside it shows where the entity
    sits in the whole peer distribution the model was trained on.
    """

    __tablename__ = "feature_peers"
    entity_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    feature: Mapped[str] = mapped_column(String(120), primary_key=True)
    median: Mapped[float | None] = mapped_column(Float)
    p90: Mapped[float | None] = mapped_column(Float)
    p99: Mapped[float | None] = mapped_column(Float)
    bin_edges: Mapped[str] = mapped_column(Text)  # JSON list
    bin_shares: Mapped[str] = mapped_column(Text)  # JSON list


class CardFacility(Base):
    """For an alerted card: each facility it visited."""

    __tablename__ = "card_facilities"
    card_id: Mapped[str] = mapped_column(String(MAX_CODE_BYTES), primary_key=True)
    facility_id: Mapped[str] = mapped_column(String(MAX_CODE_BYTES), primary_key=True)
    visits: Mapped[float | None] = mapped_column(Float)
    total_cost: Mapped[float | None] = mapped_column(Float)
    first_visit: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_visit: Mapped[dt.datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("ix_card_facilities_facility", "facility_id", "card_id"),)


class DoctorDay(Base):
    """For an alerted facility: examinations per doctor per day."""

    __tablename__ = "doctor_days"
    facility_id: Mapped[str] = mapped_column(String(MAX_CODE_BYTES), primary_key=True)
    doctor_id: Mapped[str] = mapped_column(String(MAX_CODE_BYTES), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    examinations: Mapped[float | None] = mapped_column(Float)


class Meta(Base):
    """Small key/value facts of the store (the CSRF signing secret)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Note(Base):
    """A reviewer's note on a case; appended, never edited."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.alert_id"))
    author: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    __table_args__ = (Index("ix_notes_alert", "alert_id", "id"),)


class AuditEntry(Base):
    """Who did what, when, before/after (JSON); database triggers refuse UPDATE/DELETE."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    alert_id: Mapped[str | None] = mapped_column(String(128))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_audit_log_alert", "alert_id", "id"),)


class User(Base):
    """A person who may sign in; the password only as an argon2 hash (triage/auth.py)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Counter(Base):
    """A named integer; ``cases`` counts the transactions that changed a case's tab counts.

    Why in the database: several server processes serve one store, and each caches its
    queue counts until any of them changes a case (:meth:`Store.counts`).
    """

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class SignInFailure(Base):
    """A failed sign-in for a throttling key (``u:<name>`` or ``ip:<address>``), wall clock.

    Why in the database: a lockout must hold in every server process, not only the one
    that saw the failures (triage/auth.py).
    """

    __tablename__ = "sign_in_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_sign_in_failures_key", "key", "at"),)


# --------------------------------------------------------------------------- engine


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` (uses psycopg 3, the driver we ship) and plain SQLite paths."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:  # a bare file path
        return f"sqlite:///{url}"
    return url


def make_store_engine(url: str, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Engine:
    """Engine with the per-dialect settings the store relies on (SQLite: WAL, FKs, busy wait).

    ``lock_timeout_s`` bounds how long a statement waits for another connection's SQLite
    lock, so a write under a held lock fails fast instead of hanging the request.
    Parameters are hidden from SQLAlchemy's error messages (they hold claim data).
    """
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError as exc:
        raise ConfigError(
            f"Not a database URL: {url!r}",
            where="--db / triage.db_url",
            fix="use sqlite:///path/to/triage.db or postgresql://user:pass@host:5432/dbname",
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # a file's pool as large as a server's busiest moment: an overflow connection would
        # be closed on return and reopened (with its pragmas) by the next request
        on_file = bool(parsed.database) and parsed.database != ":memory:"
        pool: dict[str, Any] = {"pool_size": 20, "max_overflow": 20} if on_file else {}
        engine = create_engine(
            parsed, connect_args={"timeout": lock_timeout_s}, hide_parameters=True, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if parsed.database and parsed.database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"Unsupported database {parsed.get_backend_name()!r} for the triage store",
            where="--db / triage.db_url",
            fix="use a sqlite:/// or postgresql:// URL",
        )
    return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # two servers starting at once: one migrates
            conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


# --------------------------------------------------------------------------- views


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


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


class Store:
    """Queries and writes of the triage app; one instance per process, thread-safe."""

    def __init__(self, engine: Engine, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        self.engine = engine
        self.lock_timeout_s = lock_timeout_s
        self._facets: tuple[tuple[int | None, int | None], Facets] | None = None
        self._counts_cache: OrderedDict[
            QueueFilter, tuple[tuple[int | None, int | None], dict[tuple[str, str], int]]
        ] = OrderedDict()
        self._counts_lock = threading.Lock()
        db = engine.url.database
        self._file: Path | None = None
        self._file_id: tuple[int, int] | None = None
        if engine.dialect.name == "sqlite" and db and db != ":memory:":
            self._file = Path(db).expanduser()
            self._file_id = self._stat_id()

    @classmethod
    def open(cls, url: str, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Store:
        """Connect and migrate; a clear error if the database cannot be reached."""
        engine = make_store_engine(url, lock_timeout_s)
        try:
            migrate(engine)
        except OperationalError as exc:
            if is_locked(exc):
                where = engine.url.render_as_string(hide_password=True)
                raise locked_error(where, lock_timeout_s) from exc
            raise ConfigError(
                f"Cannot open the triage database ({str(exc.orig).strip().splitlines()[0]})",
                where=engine.url.render_as_string(hide_password=True),
                fix="check the --db URL, that the server runs and the user may connect",
            ) from exc
        return cls(engine, lock_timeout_s)

    @contextmanager
    def lock_guard(self) -> Iterator[None]:
        """Commands: a lock held past the busy timeout becomes a UserError (exit 2)."""
        try:
            yield
        except OperationalError as exc:
            if not is_locked(exc):
                raise
            where = self.engine.url.render_as_string(hide_password=True)
            raise locked_error(where, self.lock_timeout_s) from exc

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # ------------------------------------------------------------------ health

    def _stat_id(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._file) if self._file is not None else None
        except OSError:
            return None
        return (st.st_dev, st.st_ino) if st is not None else None

    def file_problem(self) -> str | None:
        """For a SQLite file store: why the open connections no longer see the file."""
        if self._file is None:
            return None
        now = self._stat_id()
        if now is None:
            return "the SQLite database file is missing"
        if self._file_id is not None and now != self._file_id:
            return "the SQLite database file was replaced while the app ran"
        return None

    def health(self) -> tuple[str | None, int]:
        """(None, number of alerts) when the store answers, else (short reason, 0)."""
        problem = self.file_problem()
        if problem:
            return problem, 0
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1")).scalar_one()
                if not inspect(conn).has_table(Alert.__tablename__):
                    return "the alerts table is missing", 0
                n = conn.scalar(select(func.count()).select_from(Alert))
        except SQLAlchemyError as exc:
            return f"database error: {describe_db_error(exc)}", 0
        return None, int(n or 0)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ meta

    def secret(self) -> str:
        """The store's signing secret, made once and shared by every server on this store."""
        with self.engine.begin() as conn:
            value = conn.scalar(select(Meta.value).where(Meta.key == "csrf_secret"))
            if value is None:
                value = secrets.token_urlsafe(32)
                conn.execute(
                    self.upsert(Meta.__table__, ["key"], do_nothing=True),
                    [{"key": "csrf_secret", "value": value}],
                )
                value = conn.scalar(select(Meta.value).where(Meta.key == "csrf_secret"))
        return str(value)

    def upsert(
        self,
        table: Any,
        keys: list[str],
        do_nothing: bool = False,
        exclude: set[str] | frozenset[str] = frozenset(),
    ) -> Any:
        """INSERT ... ON CONFLICT for both dialects (updates every non-key, non-excluded column)."""
        from sqlalchemy.dialects import postgresql, sqlite

        pg = self.dialect == "postgresql"
        stmt: Any = postgresql.insert(table) if pg else sqlite.insert(table)
        if do_nothing:
            return stmt.on_conflict_do_nothing(index_elements=keys)
        cols = {
            c.name: stmt.excluded[c.name]
            for c in table.columns
            if c.name not in keys and c.name not in exclude
        }
        return stmt.on_conflict_do_update(index_elements=keys, set_=cols)

    # ------------------------------------------------------------------ queue

    def _where(
        self, f: QueueFilter, without: frozenset[str] = frozenset()
    ) -> list[ColumnElement[bool]]:
        """SQL conditions of the filter, leaving out the fields named in ``without``."""
        a = Alert.__table__.c
        cr = CaseRun.__table__.c
        conds: list[ColumnElement[bool]] = []
        if f.entity_type:
            conds.append(a.entity_type == f.entity_type)
        # signal, run and model as EXISTS: the page then walks the sort index and probes
        # the link table's primary key per row, instead of sorting every matching case
        sg = AlertSignal.__table__.c
        if f.signal:
            conds.append(
                select(sg.alert_id).where(sg.alert_id == a.alert_id, sg.signal == f.signal).exists()
            )
        if f.province:
            conds.append(a.province == f.province)
        if f.tier:
            conds.append(a.tier == f.tier)
        if f.score_min is not None:
            conds.append(a.score >= f.score_min)
        if f.score_max is not None:
            conds.append(a.score <= f.score_max)
        if f.amount_min is not None:
            conds.append(a.amount_at_stake >= f.amount_min)
        if f.amount_max is not None:
            conds.append(a.amount_at_stake <= f.amount_max)
        if f.status and "status" not in without:
            conds.append(a.status == f.status)
        if f.state and "state" not in without:
            conds.append(a.state == f.state)
        if f.assignee:
            conds.append(a.assignee == f.assignee)
        if f.search:
            conds.append(a.entity_id == f.search)
        if f.facility:
            visited = select(CardFacility.card_id).where(CardFacility.facility_id == f.facility)
            conds.append(
                or_(
                    and_(a.entity_type == "facility", a.entity_id == f.facility),
                    and_(a.entity_type == "card", a.entity_id.in_(visited)),
                )
            )
        if f.run_id is not None:
            conds.append(
                select(cr.alert_id).where(cr.alert_id == a.alert_id, cr.run_id == f.run_id).exists()
            )
        if f.model_version:
            model = select(cr.alert_id).where(
                cr.alert_id == a.alert_id, cr.model_version == f.model_version
            )
            conds.append(model.exists())
        return conds

    def _versions(self, conn: Connection) -> tuple[int | None, int | None]:
        """(newest run id, case-change counter): what the cached counts depend on.

        A load adds a run; every change of a case's state, status or assignee raises the
        counter in its own transaction (:meth:`_audit`), in whichever process made it.
        """
        run = select(func.max(Run.id)).scalar_subquery()
        gen = select(Counter.value).where(Counter.name == CASES_COUNTER).scalar_subquery()
        row = conn.execute(select(run, gen)).one()
        return row[0], row[1]

    def counts(self, f: QueueFilter) -> tuple[dict[str, int], dict[str, int]]:
        """Cases per decision status and per case state, each under the other filters.

        One grouped query of (state, status) under every filter but those two gives both.
        Why cached: on 100,000 cases a count under a filter reads every matching row, and
        a team pages through the same few filters all day. An entry is used only while the
        store's versions (:meth:`_versions`, one primary-key read) are those it was counted
        at, so a decision in any server process shows in every process's next count.
        """
        a = Alert.__table__.c
        base = replace(f, status=None, state=None)
        with self.engine.connect() as conn:
            versions = self._versions(conn)
            with self._counts_lock:
                hit = self._counts_cache.get(base)
                if hit is not None:
                    self._counts_cache.move_to_end(base)
            if hit is not None and hit[0] == versions:
                matrix = hit[1]
            else:
                q = (
                    select(a.state, a.status, func.count())
                    .where(and_(true(), *self._where(base)))
                    .group_by(a.state, a.status)
                )
                matrix = {(str(st), str(su)): int(n) for st, su, n in conn.execute(q)}
                with self._counts_lock:
                    self._counts_cache[base] = (versions, matrix)
                    while len(self._counts_cache) > COUNTS_CACHE_SIZE:
                        self._counts_cache.popitem(last=False)
        status_counts = {s: 0 for s in STATUSES}
        state_counts = {s: 0 for s in CASE_STATES}
        for (st, su), n in matrix.items():
            if not f.state or st == f.state:
                status_counts[su] = status_counts.get(su, 0) + n
            if not f.status or su == f.status:
                state_counts[st] = state_counts.get(st, 0) + n
        return status_counts, state_counts

    def forget_counts(self) -> None:
        """Drop the cached queue counts and facets (they are also checked on every use)."""
        with self._counts_lock:
            self._counts_cache.clear()
            self._facets = None

    def queue(
        self,
        f: QueueFilter,
        *,
        sort: str = "score",
        after: Cursor | None = None,
        before: Cursor | None = None,
        page_size: int = 50,
    ) -> QueuePage:
        """One keyset page of the queue, highest ``sort`` first, ties by alert id.

        ``after`` gives the page after that row, ``before`` the page before it. Counts per
        decision status and per case state are under the other filters, so the tabs say
        how many a click would show.
        """
        if sort not in SORTS:
            raise ValueError(f"unknown sort {sort!r}")
        a = Alert.__table__.c
        key = a.score if sort == "score" else a.amount_at_stake
        status_counts, state_counts = self.counts(f)
        total = state_counts.get(f.state, 0) if f.state else sum(state_counts.values())
        with self.engine.connect() as conn:
            cols = [
                a.alert_id,
                a.entity_type,
                a.entity_id,
                a.label,
                a.period_start,
                a.period_end,
                a.score,
                a.amount_at_stake,
                a.rank,
                a.top_signal,
                a.reasons,
                a.n_evidence,
                a.province,
                a.tier,
                a.status,
                a.status_at,
                a.status_reviewer,
                a.state,
                a.assignee,
                a.version,
            ]
            q = select(*cols).where(and_(true(), *self._where(f)))
            if before is not None:  # walk backwards, then put the page in queue order
                q = q.where(
                    or_(key > before.value, and_(key == before.value, a.alert_id < before.alert_id))
                ).order_by(key.asc(), a.alert_id.desc())
            else:
                if after is not None:
                    q = q.where(
                        or_(
                            key < after.value, and_(key == after.value, a.alert_id > after.alert_id)
                        )
                    )
                q = q.order_by(key.desc(), a.alert_id)
            rows = [_row(r) for r in conn.execute(q.limit(page_size + 1))]
        more = len(rows) > page_size
        rows = rows[:page_size]
        if before is not None:
            rows.reverse()
        value = "score" if sort == "score" else "amount_at_stake"

        def at(r: dict[str, Any]) -> Cursor:
            return Cursor(float(r[value]), str(r["alert_id"]))

        next_cursor = prev_cursor = None
        if rows:
            if before is not None:
                next_cursor = at(rows[-1])
                prev_cursor = at(rows[0]) if more else None
            else:
                next_cursor = at(rows[-1]) if more else None
                prev_cursor = at(rows[0]) if after is not None else None
        for r in rows:  # one page: show the reason that matches the signal filter, if any
            reasons = json.loads(r.pop("reasons") or "[]")
            match = [x for x in reasons if f.signal and x.get("signal") == f.signal]
            shown = (match or reasons or [{}])[0]
            r["first_reason"] = shown.get("text") or shown.get("feature") or ""
            r["more_reasons"] = max(0, len(reasons) - 1)
        return QueuePage(
            rows, total, status_counts, state_counts, page_size, sort, next_cursor, prev_cursor
        )

    def next_open(self, f: QueueFilter, score: float, alert_id: str) -> str | None:
        """The next open alert after (score, alert_id) in queue order under filters ``f``."""
        a = Alert.__table__.c
        after = or_(a.score < score, and_(a.score == score, a.alert_id > alert_id))
        q = (
            select(a.alert_id)
            .where(
                and_(true(), *self._where(f, without=frozenset({"status"}))),
                a.status == "open",
                after,
            )
            .order_by(a.score.desc(), a.alert_id)
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.scalar(q)

    def facets(self) -> Facets:
        """Filter choices; cached until another run is loaded or a case changes."""
        with self.engine.connect() as conn:
            versions = self._versions(conn)
            cached = self._facets
            if cached is not None and cached[0] == versions:
                return cached[1]
            a = Alert.__table__.c

            def distinct(col: Any) -> list[str]:
                return [v for v in conn.scalars(select(col).distinct().order_by(col)) if v]

            runs = [
                _row(r)
                for r in conn.execute(
                    select(Run.id, Run.folder, Run.model_version, Run.loaded_at, Run.n_alerts)
                    .order_by(Run.id.desc())
                    .limit(50)
                )
            ]
            facets = Facets(
                entity_types=distinct(a.entity_type),
                signals=[
                    v
                    for v in conn.scalars(select(AlertSignal.signal).distinct().order_by("signal"))
                ],
                provinces=distinct(a.province),
                tiers=distinct(a.tier),
                assignees=distinct(a.assignee),
                models=distinct(Run.model_version),
                runs=runs,
                total=int(conn.scalar(select(func.count()).select_from(Alert)) or 0),
            )
            facets.latest_run = runs[0] if runs else None
        self._facets = (versions, facets)
        return facets

    def case_runs(self, alert_id: str) -> list[dict[str, Any]]:
        """The runs (and models) that flagged a case, newest first."""
        cr = CaseRun.__table__.c
        q = (
            select(cr.run_id, cr.source_alert_id, cr.model_version, cr.score, cr.top_signal,
                   Run.folder, Run.loaded_at)
            .join(Run, Run.id == cr.run_id)
            .where(cr.alert_id == alert_id)
            .order_by(cr.run_id.desc())
        )  # fmt: skip
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    # ------------------------------------------------------------------ one alert

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        """The alert with parsed reasons/evidence and the context its run had."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(Alert.__table__, Run.context, Run.folder, Run.loaded_at.label("run_loaded"))
                .join(Run, Run.id == Alert.run_id)
                .where(Alert.alert_id == alert_id)
            ).first()
        if r is None:
            return None
        out = _row(r)
        out["reasons"] = json.loads(out["reasons"] or "[]")
        out["evidence_claim_ids"] = json.loads(out["evidence_claim_ids"] or "[]")
        out["context"] = json.loads(out["context"] or "{}")
        return out

    def claims(self, claim_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Evidence claims in time order, each with how many lines it has."""
        if not claim_ids:
            return []
        n_lines = (
            select(ClaimLine.claim_id, func.count().label("n_lines"))
            .where(ClaimLine.claim_id.in_(list(claim_ids)))
            .group_by(ClaimLine.claim_id)
            .subquery()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Claim.__table__, func.coalesce(n_lines.c.n_lines, 0).label("n_lines"))
                .outerjoin(n_lines, n_lines.c.claim_id == Claim.claim_id)
                .where(Claim.claim_id.in_(list(claim_ids)))
                .order_by(Claim.admit_time, Claim.claim_id)
            ).all()
        out = []
        for r in rows:
            d = _row(r)
            d["extra"] = json.loads(d["extra"] or "{}")
            out.append(d)
        return out

    def claim(self, claim_id: str) -> dict[str, Any] | None:
        rows = self.claims([claim_id])
        return rows[0] if rows else None

    def lines(self, claim_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                _row(r)
                for r in conn.execute(
                    select(ClaimLine.__table__)
                    .where(ClaimLine.claim_id == claim_id)
                    .order_by(ClaimLine.line_type, ClaimLine.id)
                )
            ]

    def card_facilities(self, card_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                _row(r)
                for r in conn.execute(
                    select(CardFacility.__table__)
                    .where(CardFacility.card_id == card_id)
                    .order_by(CardFacility.visits.desc(), CardFacility.facility_id)
                )
            ]

    def doctor_days(self, facility_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                _row(r)
                for r in conn.execute(
                    select(DoctorDay.__table__)
                    .where(DoctorDay.facility_id == facility_id)
                    .order_by(DoctorDay.doctor_id, DoctorDay.day)
                )
            ]

    def entities(self, entity_type: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Display info (name, province, tier, kind, label) of the given entities, by id."""
        wanted = sorted({str(i) for i in ids if i is not None})
        out: dict[str, dict[str, Any]] = {}
        e = Entity.__table__.c
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                q = select(Entity.__table__).where(
                    e.entity_type == entity_type, e.entity_id.in_(wanted[i : i + _CHUNK])
                )
                out.update({r.entity_id: _row(r) for r in conn.execute(q)})
        return out

    def feature_peers(self, entity_type: str, features: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Peer distributions of ``features`` (bin edges and shares parsed), by feature."""
        f = FeaturePeers.__table__.c
        names = sorted(set(features))
        if not names:
            return {}
        q = select(FeaturePeers.__table__).where(f.entity_type == entity_type, f.feature.in_(names))
        with self.engine.connect() as conn:
            rows = [_row(r) for r in conn.execute(q)]
        for r in rows:
            r["bin_edges"] = json.loads(r["bin_edges"] or "[]")
            r["bin_shares"] = json.loads(r["bin_shares"] or "[]")
        return {r["feature"]: r for r in rows}

    def entity_alerts(self, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
        """Every alert of one entity, newest period first (the card and facility pages)."""
        a = Alert.__table__.c
        q = (
            select(a.alert_id, a.period_start, a.period_end, a.score, a.rank, a.status,
                   a.state, a.assignee, a.model_version, a.reasons, a.evidence_claim_ids,
                   a.label, a.province, a.tier)
            .where(a.entity_type == entity_type, a.entity_id == entity_id)
            .order_by(a.period_end.desc(), a.score.desc(), a.alert_id)
        )  # fmt: skip
        with self.engine.connect() as conn:
            rows = [_row(r) for r in conn.execute(q)]
        for r in rows:
            r["reasons"] = json.loads(r["reasons"] or "[]")
            r["evidence_claim_ids"] = json.loads(r["evidence_claim_ids"] or "[]")
        return rows

    def card_visits(
        self, card_id: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[dict[str, Any]]:
        """Every stored claim of a card (optionally admitted within [start, end]), in time order."""
        c = Claim.__table__.c
        q = select(Claim.__table__).where(c.card_id == card_id)
        if start is not None:
            q = q.where(c.admit_time >= dt.datetime.combine(start, dt.time()))
        if end is not None:
            q = q.where(c.admit_time < dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
        with self.engine.connect() as conn:
            rows = [_row(r) for r in conn.execute(q.order_by(c.admit_time, c.claim_id).limit(2000))]
        for r in rows:
            r["extra"] = json.loads(r["extra"] or "{}")
        return rows

    def facility_diagnoses(self, facility_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The facility's most frequent main diagnoses among its stored claims."""
        c = Claim.__table__.c
        n = func.count().label("claims")
        q = (
            select(c.primary_dx, n, func.sum(c.total_cost).label("cost"))
            .where(c.facility_id == facility_id, c.primary_dx.is_not(None))
            .group_by(c.primary_dx)
            .order_by(n.desc(), c.primary_dx)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def facility_card_alerts(self, facility_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """Alerts on cards that visited the facility (from the cards' facility visits)."""
        a = Alert.__table__.c
        cf = CardFacility.__table__.c
        q = (
            select(a.alert_id, a.entity_id, a.label, a.score, a.status, a.top_signal,
                   a.period_start, a.period_end, cf.visits, cf.total_cost)
            .select_from(Alert.__table__)
            .join(CardFacility.__table__, and_(cf.card_id == a.entity_id, a.entity_type == "card"))
            .where(cf.facility_id == facility_id)
            .order_by(a.score.desc(), a.alert_id)
            .limit(limit)
        )  # fmt: skip
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    # ------------------------------------------------------------------ decisions

    def _audit(
        self,
        conn: Connection,
        actor: str,
        action: str,
        alert_id: str | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        """Append an audit entry inside the caller's transaction (both or neither).

        A change of a case (``before`` and ``after`` given) also raises the cases counter,
        in the same transaction, so cached counts everywhere see it (:meth:`counts`).
        """
        if before is not None and after is not None:
            bump = update(Counter).where(Counter.name == CASES_COUNTER)
            if conn.execute(bump.values(value=Counter.value + 1)).rowcount == 0:
                conn.execute(insert(Counter), [{"name": CASES_COUNTER, "value": 1}])
        conn.execute(
            insert(AuditEntry),
            [
                {
                    "at": _utcnow(),
                    "actor": actor,
                    "action": action,
                    "alert_id": alert_id,
                    "before": None if before is None else json.dumps(before, default=str),
                    "after": None if after is None else json.dumps(after, default=str),
                }
            ],
        )

    def _case(self, conn: Connection, alert_id: str) -> dict[str, Any] | None:
        a = Alert.__table__.c
        row = conn.execute(
            select(a.state, a.assignee, a.status, a.version, a.due_at).where(a.alert_id == alert_id)
        ).first()
        return None if row is None else _row(row)

    def change_case(
        self,
        alert_id: str,
        actor: str,
        action: str,
        expected_version: int | None = None,
        **values: Any,
    ) -> dict[str, Any] | None:
        """Set case columns (state, assignee) if the version still matches; audited.

        Returns the case after the change, None for an unknown alert; raises
        :class:`Conflict` when someone else changed it since ``expected_version``.
        """
        with self.engine.begin() as conn:
            before = self._case(conn, alert_id)
            if before is None:
                return None
            q = update(Alert).where(Alert.alert_id == alert_id)
            if expected_version is not None:
                q = q.where(Alert.version == expected_version)
            res = conn.execute(q.values(version=Alert.version + 1, **values))
            if res.rowcount == 0:
                raise Conflict("someone else changed this case; reload it to see their change")
            after = self._case(conn, alert_id)
            self._audit(conn, actor, action, alert_id, before, after)
        self.forget_counts()
        return after

    def case_of(self, conn: Connection, alert_id: str) -> str | None:
        """The case an alert id belongs to: its own row, or the case it joined when loaded."""
        if conn.scalar(select(Alert.alert_id).where(Alert.alert_id == alert_id)) is not None:
            return alert_id
        cr = CaseRun.__table__.c
        return conn.scalar(
            select(cr.alert_id).where(cr.source_alert_id == alert_id).order_by(cr.run_id).limit(1)
        )

    def bulk_assign(
        self, items: Sequence[tuple[str, int]], actor: str, assignee: str
    ) -> BulkResult:
        """Assign each ``(alert_id, version)`` as :meth:`change_case` does one: audited, checked."""
        out = BulkResult()
        for alert_id, version in items:
            try:
                changed = self.change_case(
                    alert_id, actor, "assign", version, assignee=assignee, state="assigned"
                )
            except Conflict:
                out.conflicts.append(alert_id)
                continue
            (out.done if changed is not None else out.missing).append(alert_id)
        return out

    def bulk_decide(
        self,
        items: Sequence[tuple[str, int]],
        decision: str,
        reviewer: str,
        note: str,
        *,
        any_assignee: bool = False,
    ) -> BulkResult:
        """Decide each ``(alert_id, version)`` as :meth:`record_decision` does one.

        A case assigned to someone else is refused unless ``any_assignee`` (a supervisor),
        as on the case page; the version check makes the assignee check race-free.
        """
        out = BulkResult()
        for alert_id, version in items:
            with self.engine.connect() as conn:
                case = self._case(conn, alert_id)
            if case is None:
                out.missing.append(alert_id)
                continue
            if case["version"] != version:
                out.conflicts.append(alert_id)
                continue
            if case["assignee"] not in (None, reviewer) and not any_assignee:
                out.refused.append(alert_id)
                continue
            try:
                saved = self.record_decision(alert_id, decision, reviewer, note, version)
            except Conflict:
                out.conflicts.append(alert_id)
                continue
            (out.done if saved is not None else out.missing).append(alert_id)
        return out

    def add_note(self, alert_id: str, author: str, body: str) -> bool:
        """Append a note (never edited); audited in the same transaction."""
        with self.engine.begin() as conn:
            if self._case(conn, alert_id) is None:
                return False
            conn.execute(
                insert(Note),
                [{"alert_id": alert_id, "author": author, "body": body, "created_at": _utcnow()}],
            )
            self._audit(conn, author, "note", alert_id, None, {"note": body})
        return True

    def notes(self, alert_id: str) -> list[dict[str, Any]]:
        q = select(Note.author, Note.body, Note.created_at).where(Note.alert_id == alert_id)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q.order_by(Note.id))]

    def audit(self, alert_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """The newest audit entries (of one case, or all)."""
        q = select(AuditEntry.__table__)
        if alert_id is not None:
            q = q.where(AuditEntry.alert_id == alert_id)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q.order_by(AuditEntry.id.desc()).limit(limit))]

    def record_decision(
        self,
        alert_id: str,
        decision: str,
        reviewer: str,
        note: str = "",
        expected_version: int | None = None,
    ) -> dict[str, Any] | None:
        """Append a decision and make it the alert's status, in one transaction.

        The UPDATE of the alert row comes first: it takes the row lock (PostgreSQL) or the
        write lock (SQLite), so concurrent reviewers of one alert are serialised and the
        decision with the highest id is always the one shown. Returns None for an
        unknown alert.
        """
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}")
        problem = self.file_problem()
        if problem:  # the write would land in a file nobody will ever read again
            raise StoreUnavailable(problem)
        now = _utcnow()
        with self.engine.begin() as conn:
            before = self._case(conn, alert_id)
            if before is None:
                return None
            q = update(Alert).where(Alert.alert_id == alert_id)
            if expected_version is not None:  # optimistic locking: the page's version
                q = q.where(Alert.version == expected_version)
            res = conn.execute(
                q.values(
                    status=decision,
                    status_at=now,
                    status_reviewer=reviewer,
                    state="decided",
                    version=Alert.version + 1,
                )
            )
            if res.rowcount == 0:
                raise Conflict("someone else decided or changed this case since you opened it")
            ent = conn.execute(
                select(Alert.entity_type, Alert.entity_id, Alert.top_signal).where(
                    Alert.alert_id == alert_id
                )
            ).one()
            row = {
                "alert_id": alert_id,
                "entity_type": ent.entity_type,
                "entity_id": ent.entity_id,
                "decision": decision,
                "scenario": note_scenario(note) or ent.top_signal or "other",
                "note": note,
                "reviewer": reviewer,
                "decided_at": now,
            }
            new_id = conn.execute(insert(Decision).returning(Decision.id), [row]).scalar_one()
            self._audit(conn, reviewer, "decide", alert_id, before, self._case(conn, alert_id))
        self.forget_counts()
        return {"id": new_id, **row}

    def history(self, alert_id: str) -> list[dict[str, Any]]:
        """Every decision on an alert, newest first."""
        with self.engine.connect() as conn:
            return [
                _row(r)
                for r in conn.execute(
                    select(Decision.__table__)
                    .where(Decision.alert_id == alert_id)
                    .order_by(Decision.id.desc())
                )
            ]

    def entity_history(
        self, entity_type: str, entity_id: str, exclude_alert: str
    ) -> list[dict[str, Any]]:
        """Decisions on the same entity in other alerts (earlier periods or runs)."""
        with self.engine.connect() as conn:
            return [
                _row(r)
                for r in conn.execute(
                    select(Decision.__table__)
                    .where(
                        Decision.entity_type == entity_type,
                        Decision.entity_id == entity_id,
                        Decision.alert_id != exclude_alert,
                    )
                    .order_by(Decision.id.desc())
                    .limit(50)
                )
            ]

    def decision_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            n_decisions = conn.scalar(select(func.count()).select_from(Decision)) or 0
            n_alerts = conn.scalar(select(func.count(func.distinct(Decision.alert_id)))) or 0
        return {"decisions": int(n_decisions), "decided_alerts": int(n_alerts)}

    def carry_forward(self, conn: Connection, pairs: Sequence[tuple[str, str]]) -> int:
        """Copy the latest decision of each ``(previous_alert_id, alert_id)`` pair onto the new alert.

        Why: an incremental run (``score --since``) alerts some entities again; reviewers must
        see what a colleague already decided instead of starting over. Only alerts with no
        decision of their own are touched; the copy is a decision by :data:`CARRY_FORWARD_ACTOR`
        naming the original (so an inspector sees it was not a fresh review), audited in the
        caller's transaction, and left out of :meth:`labels` (it is not a look at the new
        period). Returns how many decisions were carried.
        """
        d = Decision.__table__.c
        carried = 0
        for previous, alert_id in pairs:
            if conn.scalar(select(func.count()).where(d.alert_id == alert_id)):
                continue
            prev = conn.execute(
                select(Decision.__table__)
                .where(d.alert_id == previous)
                .order_by(d.id.desc())
                .limit(1)
            ).first()
            before = self._case(conn, alert_id)
            if prev is None or before is None:
                continue
            now = _utcnow()
            conn.execute(
                update(Alert)
                .where(Alert.alert_id == alert_id)
                .values(
                    status=prev.decision,
                    status_at=now,
                    status_reviewer=prev.reviewer,
                    state="decided",
                    version=Alert.version + 1,
                )
            )
            note = (
                f"Carried forward from alert {previous}: {prev.decision} by {prev.reviewer} "
                f"on {prev.decided_at:%Y-%m-%d}."
                + (f" Their note: {prev.note}" if prev.note else "")
            )
            conn.execute(
                insert(Decision),
                [
                    {
                        "alert_id": alert_id,
                        "entity_type": prev.entity_type,
                        "entity_id": prev.entity_id,
                        "decision": prev.decision,
                        "scenario": prev.scenario,
                        "note": note,
                        "reviewer": CARRY_FORWARD_ACTOR,
                        "decided_at": now,
                    }
                ],
            )
            self._audit(
                conn, CARRY_FORWARD_ACTOR, "carry_forward", alert_id, before,
                {**(self._case(conn, alert_id) or {}), "from_alert": previous},
            )  # fmt: skip
            carried += 1
        return carried

    def labels(self, history: bool = False) -> list[dict[str, Any]]:
        """Decisions in the layout of docs/contract.md section 4: the latest per alert, or every one.

        Carried-forward copies are left out: a label is a reviewer's look at one period.
        """
        d = Decision.__table__.c
        q = select(d.entity_type, d.entity_id, d.scenario, d.decision, d.reviewer, d.decided_at)
        q = q.where(d.reviewer != CARRY_FORWARD_ACTOR)
        if not history:
            latest = select(func.max(d.id)).group_by(d.alert_id)
            q = q.where(d.id.in_(latest))
        q = q.order_by(d.decided_at, d.id)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def cases(self) -> list[dict[str, Any]]:
        """Every case someone worked (decided, noted, assigned or moved on), with its history.

        Each case carries ``decisions`` and ``notes`` (oldest first): the supervisor's
        export is the whole record of the review, not only the latest label.
        """
        a, d, n = Alert.__table__.c, Decision.__table__.c, Note.__table__.c
        touched = or_(
            a.alert_id.in_(select(d.alert_id)),
            a.alert_id.in_(select(n.alert_id)),
            a.assignee.is_not(None),
            a.state != "new",
        )
        q = (
            select(a.alert_id, a.entity_type, a.entity_id, a.period_start, a.period_end,
                   a.model_version, a.score, a.rank, a.state, a.status, a.assignee, a.due_at,
                   a.status_reviewer, a.status_at)
            .where(touched)
            .order_by(a.entity_type, a.score.desc(), a.alert_id)
        )  # fmt: skip
        with self.engine.connect() as conn:
            rows = [_row(r) for r in conn.execute(q)]
            by_id = {r["alert_id"]: {**r, "decisions": [], "notes": []} for r in rows}
            ids = list(by_id)
            for i in range(0, len(ids), _CHUNK):
                part = ids[i : i + _CHUNK]
                for r in conn.execute(
                    select(d.alert_id, d.decision, d.scenario, d.note, d.reviewer, d.decided_at)
                    .where(d.alert_id.in_(part))
                    .order_by(d.id)
                ):
                    by_id[r.alert_id]["decisions"].append(_row(r))
                for nr in conn.execute(
                    select(n.alert_id, n.author, n.body, n.created_at)
                    .where(n.alert_id.in_(part))
                    .order_by(n.id)
                ):
                    by_id[nr.alert_id]["notes"].append(_row(nr))
        return list(by_id.values())

    # ------------------------------------------------------------------ loading helpers

    def delete_in(self, conn: Connection, column: Any, values: Iterable[Any]) -> None:
        """DELETE ... WHERE column IN (values), in chunks the drivers accept."""
        vals = list(values)
        for i in range(0, len(vals), _CHUNK):
            conn.execute(delete(column.table).where(column.in_(vals[i : i + _CHUNK])))

    def add_run(
        self,
        conn: Connection,
        folder: str,
        model_version: str | None,
        n: int,
        context: dict[str, Any],
    ) -> int:
        res = conn.execute(
            insert(Run).returning(Run.id),
            [
                {
                    "folder": folder,
                    "model_version": model_version,
                    "loaded_at": _utcnow(),
                    "n_alerts": n,
                    "context": json.dumps(context),
                }
            ],
        )
        return int(res.scalar_one())
