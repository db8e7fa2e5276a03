"""Initial triage schema: runs, alerts, signals, decisions and evidence context.

Revision ID: 0001
Revises: (none)

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "card_facilities",
        sa.Column("card_id", sa.String(length=200), nullable=False),
        sa.Column("facility_id", sa.String(length=200), nullable=False),
        sa.Column("visits", sa.Float(), nullable=True),
        sa.Column("total_cost", sa.Float(), nullable=True),
        sa.Column("first_visit", sa.DateTime(), nullable=True),
        sa.Column("last_visit", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("card_id", "facility_id"),
    )
    op.create_table(
        "claim_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.String(length=200), nullable=False),
        sa.Column("line_type", sa.String(length=20), nullable=True),
        sa.Column("item_code", sa.String(length=200), nullable=True),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("days_supply", sa.Float(), nullable=True),
        sa.Column("doctor_id", sa.String(length=200), nullable=True),
        sa.Column("order_time", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("claim_lines", schema=None) as batch_op:
        batch_op.create_index("ix_claim_lines_claim", ["claim_id"], unique=False)

    op.create_table(
        "claims",
        sa.Column("claim_id", sa.String(length=200), nullable=False),
        sa.Column("card_id", sa.String(length=200), nullable=False),
        sa.Column("facility_id", sa.String(length=200), nullable=False),
        sa.Column("admit_time", sa.DateTime(), nullable=True),
        sa.Column("discharge_time", sa.DateTime(), nullable=True),
        sa.Column("visit_type", sa.String(length=20), nullable=True),
        sa.Column("primary_dx", sa.String(length=200), nullable=True),
        sa.Column("secondary_dx", sa.Text(), nullable=True),
        sa.Column("total_cost", sa.Float(), nullable=True),
        sa.Column("drug_cost", sa.Float(), nullable=True),
        sa.Column("doctor_id", sa.String(length=200), nullable=True),
        sa.Column("sick_leave_days", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("facility_province", sa.String(length=200), nullable=True),
        sa.Column("facility_tier", sa.String(length=40), nullable=True),
        sa.Column("extra", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("claim_id"),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index("ix_claims_card", ["card_id"], unique=False)
        batch_op.create_index("ix_claims_facility", ["facility_id"], unique=False)

    op.create_table(
        "doctor_days",
        sa.Column("facility_id", sa.String(length=200), nullable=False),
        sa.Column("doctor_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("examinations", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("facility_id", "doctor_id", "day"),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=True),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.Column("n_alerts", sa.Integer(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(length=128), nullable=False),
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("top_signal", sa.String(length=40), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("evidence_claim_ids", sa.Text(), nullable=False),
        sa.Column("n_evidence", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=True),
        sa.Column("province", sa.String(length=200), nullable=True),
        sa.Column("tier", sa.String(length=40), nullable=True),
        sa.Column("label", sa.String(length=300), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), server_default="open", nullable=False),
        sa.Column("status_at", sa.DateTime(), nullable=True),
        sa.Column("status_reviewer", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
        ),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_entity", ["entity_type", "entity_id"], unique=False)
        batch_op.create_index(
            "ix_alerts_province_score",
            ["province", sa.literal_column("score DESC"), "alert_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_alerts_score", [sa.literal_column("score DESC"), "alert_id"], unique=False
        )
        batch_op.create_index(
            "ix_alerts_status_score",
            ["status", sa.literal_column("score DESC"), "alert_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_alerts_tier_score",
            ["tier", sa.literal_column("score DESC"), "alert_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_alerts_type_score",
            ["entity_type", sa.literal_column("score DESC"), "alert_id"],
            unique=False,
        )

    op.create_table(
        "alert_signals",
        sa.Column("alert_id", sa.String(length=128), nullable=False),
        sa.Column("signal", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.alert_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id", "signal"),
    )
    with op.batch_alter_table("alert_signals", schema=None) as batch_op:
        batch_op.create_index("ix_alert_signals_signal", ["signal", "alert_id"], unique=False)

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(length=128), nullable=False),
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("scenario", sa.String(length=80), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(length=120), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.alert_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index("ix_decisions_alert", ["alert_id", "id"], unique=False)
        batch_op.create_index("ix_decisions_entity", ["entity_type", "entity_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_entity")
        batch_op.drop_index("ix_decisions_alert")

    op.drop_table("decisions")
    with op.batch_alter_table("alert_signals", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_signals_signal")

    op.drop_table("alert_signals")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_type_score")
        batch_op.drop_index("ix_alerts_tier_score")
        batch_op.drop_index("ix_alerts_status_score")
        batch_op.drop_index("ix_alerts_score")
        batch_op.drop_index("ix_alerts_province_score")
        batch_op.drop_index("ix_alerts_entity")

    op.drop_table("alerts")
    op.drop_table("runs")
    op.drop_table("meta")
    op.drop_table("doctor_days")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index("ix_claims_facility")
        batch_op.drop_index("ix_claims_card")

    op.drop_table("claims")
    with op.batch_alter_table("claim_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_claim_lines_claim")

    op.drop_table("claim_lines")
    op.drop_table("card_facilities")
