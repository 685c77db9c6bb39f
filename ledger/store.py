"""Store URL -> eventsourcing environment (and SQLAlchemy engine), and the writer lease of a store.

URLs follow SQLAlchemy's form: `sqlite:///relative.db`, `sqlite:////absolute.db`,
`postgresql://user[:password]@host:port/db` (no password means an empty one).
A PostgreSQL URL may add `?schema=NAME` to keep a store in its own schema.
A missing store (file, database or schema) is created; a missing directory is not.

Every fault of a URL is a StoreURLError whose message names it (a server that
cannot be reached: StoreUnavailable). No message shows a password: URLs are
shown `redacted`.

Database and schema names are lower-case letters, digits and underscores, not
starting with a digit, at most 63 characters: PostgreSQL folds unquoted names to
lower case, so `Ledger` here would be a store that `psql ... -c 'SELECT ... FROM
Ledger.x'` never finds; refusing such names keeps one name for one store.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL

DEFAULT_STORE = "sqlite:///ledger.db"
SQLITE_SCHEME = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
# `ledger run` is the one writer of its store: cached aggregates need no re-reading.
SINGLE_WRITER_SETTINGS = {
    "AGGREGATE_CACHE_MAXSIZE": "1000000",
    "AGGREGATE_CACHE_FASTFORWARD": "n",
    "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
}
# The exit code of a command refused because another process is writing its store.
EXIT_STORE_BUSY = 3

UNKNOWN_KIND = "is neither sqlite:///PATH nor postgresql://USER@HOST:PORT/DB"
SQLITE_HEADER = b"SQLite format 3\x00"
POSTGRES_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
NAME_RULE = (
    "use lower-case letters, digits and underscores, not starting with a digit, at most 63 "
    "characters (PostgreSQL folds unquoted names to lower case)"
)
# Created databases and the writer lease live beside this one, which every server has.
MAINTENANCE_DATABASE = "postgres"
CONNECT_TIMEOUT_SECONDS = 10
LEASE_APPLICATION_PREFIX = "ledger writer pid="
LEASE_GRACE_SECONDS = 0.5  # how long a lease held by a session that is ending may take to free


class StoreURLError(ValueError):
    pass


class StoreUnavailable(StoreURLError):
    """The URL is well formed, but its server refused or could not be reached."""


class StoreBusy(Exception):
    """Another process holds the store's writer lease."""

    def __init__(self, url: str, pid: int | None):
        self.url = redacted(url)
        self.pid = pid
        holder = f" (pid {pid})" if pid is not None else ""
        super().__init__(
            f"store {self.url} is being written by another ledger process{holder}; try again when it has finished"
        )


def redacted(url: str) -> str:
    """The URL with its password (if any) shown as `***`. Never raises: it serves error messages,
    malformed URLs included. The user part ends at the last `@`, as urlsplit reads it, so a
    password with an unescaped `@` is hidden whole."""
    scheme, separator, rest = url.partition("://")
    if not separator or rest.startswith("/") or "@" not in rest:
        return url  # no user part: sqlite:///PATH, or a URL without credentials
    user_part, _, after = rest.rpartition("@")
    user, colon, _password = user_part.partition(":")
    if not colon:
        return url
    return f"{scheme}://{user}:***@{after}"


def _refuse(url: str, fault: str) -> StoreURLError:
    return StoreURLError(f"store URL {redacted(url)!r}: {fault}")


def _unknown_kind(url: str) -> StoreURLError:
    hint = (
        " (a SQLite URL has three slashes: sqlite:///relative.db, sqlite:////absolute.db)"
        if url.startswith("sqlite:")
        else ""
    )
    return StoreURLError(f"store URL {redacted(url)!r} {UNKNOWN_KIND}{hint}")


def store_url(explicit: str | None) -> str:
    return explicit or os.environ.get("LEDGER_STORE") or DEFAULT_STORE


# --- SQLite -------------------------------------------------------------------------------


def sqlite_path(url: str) -> str:
    """The file a sqlite:/// URL names, decoded as SQLAlchemy (the views) decodes it, so that
    the events and the views are always in the same file."""
    rest = url[len(SQLITE_SCHEME) :]
    if "?" in rest:
        raise _refuse(
            url, f"a SQLite store takes no query parameter ({rest.partition('?')[2]!r}); ?schema=NAME is for PostgreSQL"
        )
    path = unquote(rest)
    if not path:
        raise _refuse(url, "names no file")
    if any(ord(character) < 32 or ord(character) == 127 for character in path):
        raise _refuse(url, f"the file name {path!r} holds a control character")
    if ":memory:" in path:
        # eventsourcing would keep the events in memory, SQLAlchemy the views in a file
        raise _refuse(url, "an in-memory store ends with its process: name a file")
    return path


def checked_sqlite_file(url: str) -> str:
    """The store's file, refused unless it is missing from an existing directory (a new
    store) or a readable SQLite database (or an empty file, which SQLite takes as one).
    Nothing is written: a file of another kind is refused before anything touches it."""
    path = sqlite_path(url)
    try:
        status = os.stat(path)
    except FileNotFoundError:
        _check_directory_of_new_file(url, path)
        return path
    except NotADirectoryError:
        raise _refuse(url, f"{_first_non_directory(path)} is not a directory") from None
    except OSError as error:
        raise _refuse(url, f"{path}: {error.strerror}") from None
    if stat.S_ISDIR(status.st_mode):
        raise _refuse(url, f"{path} is a directory, not a store file")
    if not stat.S_ISREG(status.st_mode):
        # a device or a pipe: opening a pipe would hang, and /dev/null reads as empty
        raise _refuse(url, f"{path} is not a regular file, so it is not a ledger store")
    if _header(url, path) not in (b"", SQLITE_HEADER):
        raise _refuse(url, f"{path} is not a ledger store (it is not an SQLite database)")
    return path


def _check_directory_of_new_file(url: str, path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        if os.path.exists(directory):
            raise _refuse(url, f"{_first_non_directory(path)} is not a directory")
        raise _refuse(
            url, f"directory {directory} does not exist (a missing store file is created, a missing directory is not)"
        )


def _first_non_directory(path: str) -> str:
    """The ancestor of the path, nearest the root, that exists and is not a directory."""
    for ancestor in reversed(Path(os.path.abspath(path)).parents):
        if os.path.lexists(ancestor) and not ancestor.is_dir():
            return str(ancestor)
    return os.path.dirname(os.path.abspath(path))


def _header(url: str, path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read(len(SQLITE_HEADER))
    except OSError as error:
        raise _refuse(url, f"{path} cannot be read: {error.strerror}") from None


# --- PostgreSQL ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresTarget:
    host: str
    port: str
    user: str
    password: str = field(repr=False)  # a target in a traceback or a log must not show it
    dbname: str
    schema: str
    shown_url: str = ""  # the URL for messages, password redacted

    def conninfo(self, dbname: str | None = None) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=dbname or self.dbname
        )


def parse_postgres(url: str) -> PostgresTarget:
    if not url.startswith(POSTGRES_SCHEMES):
        raise _unknown_kind(url)
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise _refuse(url, f"is not a valid URL ({error})") from None
    if parts.fragment:
        raise _refuse(url, f"a '#{parts.fragment}' part is not understood")
    dbname = unquote(parts.path.removeprefix("/"))
    if not dbname:
        raise _refuse(url, "names no database")
    _check_postgres_name(url, "database", dbname)
    schema = _schema(url, parts.query)
    return PostgresTarget(
        host=parts.hostname or "127.0.0.1",
        port=_port(url, parts),
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=dbname,
        schema=schema,
        shown_url=redacted(url),
    )


def sql_engine(url: str) -> Engine:
    """A SQLAlchemy engine on the store's database: the SQLite file, or the PostgreSQL
    database with the store's schema first on the search path."""
    if url.startswith(SQLITE_SCHEME):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_exact_and_patient)
        return engine
    if url.startswith(POSTGRES_SCHEMES):
        target = parse_postgres(url)
        engine_url = URL.create(
            "postgresql+psycopg",
            username=target.user,
            password=target.password or None,
            host=target.host,
            port=int(target.port),
            database=target.dbname,
        )
        return create_engine(
            engine_url, connect_args={"options": f"-c search_path={target.schema}"}, pool_pre_ping=True
        )
    raise StoreURLError(f"store URL {url!r} is neither sqlite:///PATH nor postgresql://USER@HOST:PORT/DB")


def _sqlite_exact_and_patient(connection, _record) -> None:  # type: ignore[no-untyped-def]
    connection.execute("PRAGMA busy_timeout = 30000")


def _port(url: str, parts: SplitResult) -> str:
    try:
        port = parts.port
    except ValueError:
        port = 0  # not a number, or out of range: named below as it was written
    if port is None:
        return "5432"
    if not 1 <= port <= 65535:
        raise _refuse(url, f"port {_written_port(parts)!r} is not a number from 1 to 65535")
    return str(port)


def _written_port(parts: SplitResult) -> str:
    host_and_port = parts.netloc.rpartition("@")[2]
    if host_and_port.startswith("["):  # [IPv6]:port
        return host_and_port.partition("]")[2].removeprefix(":")
    return host_and_port.partition(":")[2]


def _schema(url: str, query: str) -> str:
    parameters = parse_qsl(query, keep_blank_values=True)
    unknown = sorted({name for name, _ in parameters if name != "schema"})
    if unknown:
        raise _refuse(url, f"unknown query parameter {', '.join(unknown)}: only ?schema=NAME is understood")
    schemas = [value for _, value in parameters]
    if len(schemas) > 1:
        raise _refuse(url, "schema given more than once")
    if not schemas:
        return "public"
    if not schemas[0]:
        raise _refuse(url, "?schema= names no schema")
    _check_postgres_name(url, "schema", schemas[0])
    if schemas[0].startswith("pg_"):
        raise _refuse(url, f"schema {schemas[0]!r}: names starting with pg_ are reserved by PostgreSQL")
    return schemas[0]


def _check_postgres_name(url: str, kind: str, name: str) -> None:
    if not POSTGRES_NAME.fullmatch(name):
        raise _refuse(url, f"{kind} name {name!r} is not allowed: {NAME_RULE}")


def _connect(target: PostgresTarget, dbname: str, **options: str) -> psycopg.Connection:
    """An autocommit connection; a server that cannot be reached or refuses the login is a
    StoreUnavailable naming the URL, not a traceback."""
    try:
        return psycopg.connect(
            target.conninfo(dbname), autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS, **options
        )
    except psycopg.Error as error:
        raise _unavailable(target, error) from None


@contextmanager
def _connected(target: PostgresTarget, dbname: str) -> Iterator[psycopg.Connection]:
    """A connection for the store's own few statements: one the server refuses (CREATE
    DATABASE without the right, ...) is a StoreUnavailable too. Only for blocks that run
    nothing but those statements, or other errors would be named after the store."""
    with _connect(target, dbname) as connection:
        try:
            yield connection
        except psycopg.Error as error:
            raise _unavailable(target, error) from None


def _unavailable(target: PostgresTarget, error: psycopg.Error) -> StoreUnavailable:
    reason = " ".join(str(error).split())  # libpq's messages span lines; ours keep to one
    if target.password:
        reason = reason.replace(target.password, "***")  # libpq does not echo it; in case one day it does
    return StoreUnavailable(f"store {target.shown_url!r} cannot be used: {reason}")


# --- the store ----------------------------------------------------------------------------


def store_environment(url: str) -> dict[str, str]:
    """The eventsourcing settings of a store, creating the store if it is missing."""
    if url.startswith(SQLITE_SCHEME):
        path = checked_sqlite_file(url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
            # The inputs applied kept in a table of their own (`ledger.recorders`).
            "PROCESS_RECORDER_TOPIC": "ledger.recorders:SQLiteLedgerRecorder",
        }
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
            # Events inserted as binary arrays (`ledger.recorders`), the library's semantics kept.
            "PROCESS_RECORDER_TOPIC": "ledger.recorders:PostgresBulkRecorder",
        }
    raise _unknown_kind(url)


def store_exists(url: str) -> bool:
    """Whether the store already holds a ledger (without creating anything)."""
    if url.startswith(SQLITE_SCHEME):
        path = checked_sqlite_file(url)
        return os.path.exists(path) and os.path.getsize(path) > 0  # an empty file is a new store
    target = parse_postgres(url)  # refuses a URL of another kind
    with _connected(target, MAINTENANCE_DATABASE) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)).fetchone():
            return False
    with _connected(target, target.dbname) as connection:
        found = connection.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'ledger_events'",
            (target.schema,),
        ).fetchone()
        return found is not None


def ensure_postgres_store(target: PostgresTarget) -> None:
    with _connected(target, MAINTENANCE_DATABASE) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)).fetchone()
        if not exists:
            try:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.dbname)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it between our look and our create
    if target.schema != "public":
        with _connected(target, target.dbname) as connection:
            try:
                connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(target.schema)))
            except psycopg.errors.UniqueViolation:
                pass  # IF NOT EXISTS is not atomic: a concurrent creator won


# --- the writer lease ---------------------------------------------------------------------


@contextmanager
def writer_lease(url: str) -> Iterator[None]:
    """Held by the one process that writes the store, for as long as it writes.

    Raises StoreBusy at once if another process holds it; StoreURLError for a bad URL.
    The operating system (SQLite) or the server (PostgreSQL) ends the lease with the
    process, however it ends: a killed writer never leaves the store locked.
    Nothing of the store is created: it may be taken before a scenario is validated.
    """
    if url.startswith(SQLITE_SCHEME):
        with _sqlite_lease(url, checked_sqlite_file(url)):
            yield
        return
    with _postgres_lease(parse_postgres(url)):
        yield


@contextmanager
def _sqlite_lease(url: str, path: str) -> Iterator[None]:
    """flock on `<db>.lock`, beside the store. The file stays after the lease: removing it
    would let a newcomer lock a fresh file while a waiter holds the old, unlinked one."""
    # One lock whatever the spelling of the path (a symbolic link, `./`): beside the real file.
    lock_path = f"{os.path.realpath(path)}.lock"
    try:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise _refuse(url, f"cannot open the lock file {lock_path}: {error.strerror}") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreBusy(url, _pid_written_in(descriptor)) from None
        _write_pid(descriptor, os.getpid())
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)  # still locked: no newcomer can have written its pid yet
    finally:
        os.close(descriptor)  # releases the lock


def _write_pid(descriptor: int, pid: int) -> None:
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{pid}\n".encode(), 0)


def _pid_written_in(descriptor: int) -> int | None:
    """The holder's pid, unless it has not written it yet (or the file holds something else)."""
    text = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


@contextmanager
def _postgres_lease(target: PostgresTarget) -> Iterator[None]:
    """A session advisory lock on a connection of its own, held open for the lease.

    The store's database may not exist yet (it is created once the scenario is valid), so
    the lock is taken in the maintenance database; advisory locks are per database, so the
    key names the store's database and schema. The holder's pid is in its application name.
    """
    key = lease_key(target)
    connection = _connect(target, MAINTENANCE_DATABASE, application_name=f"{LEASE_APPLICATION_PREFIX}{os.getpid()}")
    try:
        if not _advisory_lock_within_grace(target, connection, key):
            raise StoreBusy(target.shown_url, _postgres_holder_pid(connection, key))
        yield  # the writer's own errors pass through as they are
    finally:
        # Closing the connection ends the lock: no unlock needed, and none could fail on
        # a connection that broke meanwhile.
        connection.close()


def _advisory_lock_within_grace(target: PostgresTarget, connection: psycopg.Connection, key: int) -> bool:
    """The lock, if it is free or freed within LEASE_GRACE_SECONDS. PostgreSQL frees a
    closed session's advisory locks only when its backend exits, a moment after the client
    has gone: a writer that starts as the last one ends must not be refused for that. A
    live holder is still refused, half a second later."""
    deadline = time.monotonic() + LEASE_GRACE_SECONDS
    while not _try_advisory_lock(target, connection, key):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _try_advisory_lock(target: PostgresTarget, connection: psycopg.Connection, key: int) -> bool:
    try:
        row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    except psycopg.Error as error:
        raise _unavailable(target, error) from None
    return bool(row and row[0])


def lease_key(target: PostgresTarget) -> int:
    """A stable advisory-lock key per store: the first 8 bytes of a SHA-256, as a signed bigint."""
    digest = hashlib.sha256(f"ledger-writer:{target.dbname}/{target.schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _postgres_holder_pid(connection: psycopg.Connection, key: int) -> int | None:
    """The pid the holding ledger process wrote into its application name, if it is visible."""
    # pg_locks shows a bigint key as its high and low 32 bits (classid, objid), objsubid 1.
    row = connection.execute(
        "SELECT activity.application_name FROM pg_locks AS lock "
        "JOIN pg_stat_activity AS activity ON activity.pid = lock.pid "
        "WHERE lock.locktype = 'advisory' AND lock.granted AND lock.objsubid = 1 "
        "AND lock.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND lock.classid::bigint = %s AND lock.objid::bigint = %s",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchone()
    name = (row[0] if row else None) or ""
    pid = name.removeprefix(LEASE_APPLICATION_PREFIX)
    return int(pid) if name.startswith(LEASE_APPLICATION_PREFIX) and pid.isdigit() else None
