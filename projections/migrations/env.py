"""Alembic environment: the engine is handed over by `projections.database.migrate`."""

from alembic import context

from projections.database import VERSION_TABLE
from projections.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()
