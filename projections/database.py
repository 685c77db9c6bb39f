"""The read models' schema (Alembic migrations) and its guard against two writers.

The views live beside the event store: in the same SQLite file, or in the same
PostgreSQL database and schema, reached through `ledger.store.sql_engine`.

Every command that opens a store's views migrates them first, and nearly always finds
them at the latest migration: that is answered from the version table and the scripts'
`revision` lines, without importing Alembic (a sixth of the start-up time of a `ledger`
command, which tests and users start many times). Anything else goes to Alembic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "view_alembic_version"

# A script's identity as the scripts under migrations/versions write it; a script
# written otherwise (a merge's tuple of parents) makes `head_revision` leave it to Alembic.
_REVISION_LINE = re.compile(r"^(down_revision|revision) = (?:None|'([0-9A-Za-z_]+)'|\"([0-9A-Za-z_]+)\")\s*$", re.M)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config  # here, not above: see the module's docstring

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Creates or upgrades the view tables to the latest migration (idempotent)."""
    if _at_head(engine):
        return  # Alembic's upgrade would find nothing to do
    from alembic import command  # here, not above: see the module's docstring

    command.upgrade(alembic_config(engine), "head")


@cache  # the scripts do not change while a process runs; every opening of views asks
def head_revision() -> str | None:
    """The one head of the migration scripts, as Alembic's `ScriptDirectory` finds it,
    read from their `revision` and `down_revision` lines; None when a script is written
    otherwise or there is not exactly one head (Alembic then decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted((MIGRATIONS / "versions").glob("*.py")):
        if script.name == "__init__.py":
            continue
        found = _REVISION_LINE.findall(script.read_text())
        lines = {name: single or double for name, single, double in found}
        if len(found) != 2 or set(lines) != {"revision", "down_revision"} or not lines["revision"]:
            return None
        revisions.add(lines["revision"])
        if lines["down_revision"]:
            parents.add(lines["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def _at_head(engine: Engine) -> bool:
    """Whether the views stand at the head revision already (one row in the version table, the head)."""
    head = head_revision()
    if head is None:
        return False
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return False
        found = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return found == [head]


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
