"""Cases and audit: workflow state, assignee, due date and version on alerts; notes; audit_log.

The audit log is append-only in the database itself: triggers refuse UPDATE and
DELETE on it (SQLite and PostgreSQL), so no code path of the app can rewrite it.

Revision ID: 0003
Revises: 0002

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("alerts") as b:
        b.add_column(sa.Column("state", sa.String(length=20), server_default="new", nullable=False))
        b.add_column(sa.Column("assignee", sa.String(length=80), nullable=True))
        b.add_column(sa.Column("due_at", sa.DateTime(), nullable=True))
        b.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
    op.create_index("ix_alerts_assignee", "alerts", ["assignee", "state"])
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(length=128), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.alert_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notes_alert", "notes", ["alert_id", "id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("alert_id", sa.String(length=128), nullable=True),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_alert", "audit_log", ["alert_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_index("ix_audit_log_alert", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_notes_alert", table_name="notes")
    op.drop_table("notes")
    op.drop_index("ix_alerts_assignee", table_name="alerts")
    with op.batch_alter_table("alerts") as b:
        for col in ("version", "due_at", "assignee", "state"):
            b.drop_column(col)
