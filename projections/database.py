"""The read models' schema (Alembic migrations) and its guard against two writers.

The views live beside the event store: in the same SQLite file, or in the same
PostgreSQL database and schema, reached through `ledger.store.sql_engine`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "view_alembic_version"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Creates or upgrades the view tables to the latest migration (idempotent)."""
    command.upgrade(alembic_config(engine), "head")


@contextmanager
def one_process_at_a_time(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, a session advisory lock per schema, held on a connection of its own."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = text("SELECT hashtext('ledger store setup ' || current_schema())")
    with engine.connect() as connection:
        lock = connection.execute(key).scalar()
        connection.execute(text("SELECT pg_advisory_lock(:lock)"), {"lock": lock})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:lock)"), {"lock": lock})
            connection.commit()
