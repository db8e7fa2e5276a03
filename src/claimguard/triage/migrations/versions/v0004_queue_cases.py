"""Queue for a review team: amount at stake, keyset indexes, one case per entity and period.

* ``alerts.amount_at_stake``: insurance paid on the alert's evidence claims (0 when the
  scored folder carries no ``insurance_paid``), a sort key of the queue.
* Indexes serving the queue's keyset pagination: each sort key with ``alert_id`` as tie
  break, alone and behind the most used equality filters (state, assignee).
* ``case_runs``: every run (and so model) that flagged a case. A second model flagging
  the same entity in the same period joins the existing case instead of opening another
  one (:func:`claimguard.triage.load.load_folder`); existing alerts get one link each.

Revision ID: 0004
Revises: 0003

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DESC = sa.literal_column


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("alerts") as b:
        b.add_column(sa.Column("amount_at_stake", sa.Float(), server_default="0", nullable=False))
    op.drop_index("ix_alerts_entity", table_name="alerts")
    op.create_index(
        "ix_alerts_case", "alerts", ["entity_type", "entity_id", "period_start", "period_end"]
    )
    op.create_index("ix_alerts_amount", "alerts", [_DESC("amount_at_stake DESC"), "alert_id"])
    op.create_index("ix_alerts_state_score", "alerts", ["state", _DESC("score DESC"), "alert_id"])
    op.create_index(
        "ix_alerts_state_amount", "alerts", ["state", _DESC("amount_at_stake DESC"), "alert_id"]
    )
    op.create_index("ix_alerts_state_status", "alerts", ["state", "status"])
    op.drop_index("ix_alerts_assignee", table_name="alerts")
    op.create_index("ix_alerts_assignee", "alerts", ["assignee", "state", "status"])
    op.create_index(
        "ix_alerts_assignee_score", "alerts", ["assignee", _DESC("score DESC"), "alert_id"]
    )
    op.create_index("ix_card_facilities_facility", "card_facilities", ["facility_id", "card_id"])
    op.create_table(
        "case_runs",
        sa.Column("alert_id", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("source_alert_id", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("top_signal", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.alert_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("alert_id", "run_id"),
    )
    op.create_index("ix_case_runs_run", "case_runs", ["run_id", "alert_id"])
    op.create_index("ix_case_runs_model", "case_runs", ["model_version", "alert_id"])
    op.create_index("ix_case_runs_source", "case_runs", ["source_alert_id"])
    op.execute(
        "INSERT INTO case_runs (alert_id, run_id, source_alert_id, model_version, score, "
        "top_signal) SELECT alert_id, run_id, alert_id, model_version, score, top_signal "
        "FROM alerts"
    )


def downgrade() -> None:
    """Downgrade schema."""
    for ix in ("ix_case_runs_source", "ix_case_runs_model", "ix_case_runs_run"):
        op.drop_index(ix, table_name="case_runs")
    op.drop_table("case_runs")
    op.drop_index("ix_card_facilities_facility", table_name="card_facilities")
    for ix in (
        "ix_alerts_assignee_score",
        "ix_alerts_state_status",
        "ix_alerts_state_amount",
        "ix_alerts_state_score",
        "ix_alerts_amount",
        "ix_alerts_case",
    ):
        op.drop_index(ix, table_name="alerts")
    op.create_index("ix_alerts_entity", "alerts", ["entity_type", "entity_id"])
    op.drop_index("ix_alerts_assignee", table_name="alerts")
    op.create_index("ix_alerts_assignee", "alerts", ["assignee", "state"])
    with op.batch_alter_table("alerts") as b:
        b.drop_column("amount_at_stake")
