"""Whether a store can serve: reachable, holding a ledger, its views at the code's
migration head. Read without writing or creating anything (the API's `/health`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ledger.store import StoreURLError, redacted, store_exists
from projections.database import VERSION_TABLE, alembic_config


@dataclass(frozen=True)
class StoreStatus:
    store: str  # the URL, password redacted
    migration: str | None  # the views' revision, None when they have none
    head: str  # the code's latest migration
    problems: list[str] = field(default_factory=list)  # empty when the store can serve

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.healthy else "unavailable",
            "store": self.store,
            "migration": self.migration,
            "head": self.head,
            "problems": self.problems,
        }


def migration_head(engine: Engine) -> str:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert head is not None, "the migrations have one head"
    return head


def store_status(url: str, engine: Engine) -> StoreStatus:
    """What stands between the store and serving, each named; no problem when it can serve.
    A missing store is not created (a SQLite file is not made by looking at it)."""
    shown = redacted(url)
    head = migration_head(engine)
    try:
        if not store_exists(url):
            return StoreStatus(shown, None, head, [f"no ledger at {shown}: run `ledger migrate`"])
        with engine.connect() as connection:
            migration = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE}
            ).get_current_revision()
    except (StoreURLError, psycopg.Error, SQLAlchemyError) as error:
        return StoreStatus(shown, None, head, [f"the store is unreachable: {_first_line(error)}"])
    if migration != head:
        return StoreStatus(
            shown,
            migration,
            head,
            [f"the views are at migration {migration}, the code's head is {head}: run `ledger migrate`"],
        )
    return StoreStatus(shown, migration, head)


def _first_line(error: Exception) -> str:
    # The store's own messages name it by its redacted URL; psycopg's name host and port only.
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
