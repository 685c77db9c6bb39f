"""Store URL -> eventsourcing environment.

URLs follow SQLAlchemy's form: `sqlite:///relative.db`, `sqlite:////absolute.db`,
`postgresql://user[:password]@host:port/db` (no password means an empty one).
A PostgreSQL URL may add `?schema=NAME` to keep a store in its own schema.
A missing store (file, database or schema) is created.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlparse

import psycopg
from psycopg import sql

DEFAULT_STORE = "sqlite:///ledger.db"
POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
# `ledger run` is the one writer of its store: cached aggregates need no re-reading.
SINGLE_WRITER_SETTINGS = {
    "AGGREGATE_CACHE_MAXSIZE": "1000000",
    "AGGREGATE_CACHE_FASTFORWARD": "n",
    "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
}


class StoreURLError(ValueError):
    pass


@dataclass(frozen=True)
class PostgresTarget:
    host: str
    port: str
    user: str
    password: str
    dbname: str
    schema: str

    def conninfo(self, dbname: str | None = None) -> str:
        return psycopg.conninfo.make_conninfo(host=self.host, port=self.port, user=self.user,
                                              password=self.password, dbname=dbname or self.dbname)


def store_url(explicit: str | None) -> str:
    return explicit or os.environ.get("LEDGER_STORE") or DEFAULT_STORE


def parse_postgres(url: str) -> PostgresTarget:
    parts = urlparse(url)
    dbname = parts.path.lstrip("/")
    if not dbname:
        raise StoreURLError(f"store URL {url!r} names no database")
    schema = parse_qs(parts.query).get("schema", ["public"])[0]
    return PostgresTarget(host=parts.hostname or "127.0.0.1", port=str(parts.port or 5432),
                          user=unquote(parts.username or "postgres"), password=unquote(parts.password or ""),
                          dbname=dbname, schema=schema)


def store_environment(url: str) -> dict[str, str]:
    """The eventsourcing settings of a store, creating the store if it is missing."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if not path:
            raise StoreURLError(f"store URL {url!r} names no file")
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path, "SQLITE_LOCK_TIMEOUT": "30"}
    if url.startswith(POSTGRES_SCHEMES):
        target = parse_postgres(url)
        ensure_postgres_store(target)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": target.dbname,
            "POSTGRES_HOST": target.host,
            "POSTGRES_PORT": target.port,
            "POSTGRES_USER": target.user,
            "POSTGRES_PASSWORD": target.password,
            "POSTGRES_SCHEMA": target.schema,
            "POSTGRES_LOCK_TIMEOUT": "10",
        }
    raise StoreURLError(f"store URL {url!r} is neither sqlite:///PATH nor postgresql://USER@HOST:PORT/DB")


def store_exists(url: str) -> bool:
    """Whether the store already holds a ledger (without creating anything)."""
    if url.startswith("sqlite:///"):
        return os.path.exists(url[len("sqlite:///"):])
    if not url.startswith(POSTGRES_SCHEMES):
        raise StoreURLError(f"store URL {url!r} is neither sqlite:///PATH nor postgresql://USER@HOST:PORT/DB")
    target = parse_postgres(url)
    with psycopg.connect(target.conninfo("postgres"), autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)).fetchone():
            return False
    with psycopg.connect(target.conninfo(), autocommit=True) as connection:
        found = connection.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'ledger_events'",
            (target.schema,)).fetchone()
        return found is not None


def ensure_postgres_store(target: PostgresTarget) -> None:
    with psycopg.connect(target.conninfo("postgres"), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.dbname)))
    if target.schema != "public":
        with psycopg.connect(target.conninfo(), autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(target.schema)))
