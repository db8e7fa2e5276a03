"""Cases by entity id alone: the queue's search (``q``) and facility filter.

* ``ix_alerts_entity``: ``alerts(entity_id, score)``. The search and the facility filter
  (the facility's own cases and the cards that visited it) match ``entity_id`` without
  the entity type; ``ix_alerts_case`` starts with the type, so PostgreSQL read every
  case for them (docs/triage.md, "Load run").

Revision ID: 0007
Revises: 0006

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index("ix_alerts_entity", "alerts", ["entity_id", "score"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_alerts_entity", table_name="alerts")
