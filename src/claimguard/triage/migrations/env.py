"""Alembic environment: migrations run on the connection the store hands over.

Run programmatically by :func:`claimguard.triage.store.migrate`; to write a new
revision, point ``script_location`` here and call ``alembic.command.revision``
with ``autogenerate=True`` against a migrated database.
"""

from __future__ import annotations

from alembic import context

from claimguard.triage.store import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the store runs these migrations
    raise RuntimeError("claimguard triage migrations run through Store.open(), not the CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
