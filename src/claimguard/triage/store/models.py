"""The triage store's tables (SQLAlchemy models); the Alembic migrations must match them.

Why one module: the tables are the store's schema, read together with
``triage/migrations`` (a test compares the two).
"""

from __future__ import annotations

import datetime as dt

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
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from claimguard.schema import MAX_CODE_BYTES


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
        # the queue's search and facility filter match the entity id without its type
        Index("ix_alerts_entity", "entity_id", "score"),
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
