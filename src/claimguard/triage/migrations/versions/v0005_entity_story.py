"""Entity story: every entity's display info, the peers' feature distributions, item names.

``entities`` keeps entity_info for every entity of a run (also facilities that only appear
in evidence), ``feature_peers`` the training distribution of each feature the reasons
compare against, and ``claim_lines.item_name`` a drug's or service's name where the
dataset has one.

Revision ID: 0005
Revises: 0004

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "entities",
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("province", sa.String(length=200), nullable=True),
        sa.Column("tier", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("label", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("entity_type", "entity_id"),
    )
    op.create_table(
        "feature_peers",
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("feature", sa.String(length=120), nullable=False),
        sa.Column("median", sa.Float(), nullable=True),
        sa.Column("p90", sa.Float(), nullable=True),
        sa.Column("p99", sa.Float(), nullable=True),
        sa.Column("bin_edges", sa.Text(), nullable=False),
        sa.Column("bin_shares", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("entity_type", "feature"),
    )
    with op.batch_alter_table("claim_lines") as b:
        b.add_column(sa.Column("item_name", sa.String(length=300), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("claim_lines") as b:
        b.drop_column("item_name")
    op.drop_table("feature_peers")
    op.drop_table("entities")
