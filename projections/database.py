"""Store URL -> SQLAlchemy engine for the read models, and the Alembic migrations.

The views live beside the event store: in the same SQLite file, or in the same
PostgreSQL database and schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL

from ledger.store import POSTGRES_SCHEMES, StoreURLError, parse_postgres

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "view_alembic_version"


def views_engine(store_url: str) -> Engine:
    if store_url.startswith("sqlite:///"):
        engine = create_engine(store_url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_exact_and_patient)
        return engine
    if store_url.startswith(POSTGRES_SCHEMES):
        target = parse_postgres(store_url)
        url = URL.create(
            "postgresql+psycopg",
            username=target.user,
            password=target.password or None,
            host=target.host,
            port=int(target.port),
            database=target.dbname,
        )
        return create_engine(url, connect_args={"options": f"-c search_path={target.schema}"}, pool_pre_ping=True)
    raise StoreURLError(f"store URL {store_url!r} is neither sqlite:///PATH nor postgresql://USER@HOST:PORT/DB")


def _sqlite_exact_and_patient(connection, _record) -> None:  # type: ignore[no-untyped-def]
    connection.execute("PRAGMA busy_timeout = 30000")


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
