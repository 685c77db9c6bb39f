"""Snapshots of a driver's indexes (`ledger.processes.indexes`), kept in the event store,
so that a short `ledger run` on a large store starts without loading every account.

A snapshot is stored with the notification id it reflects (every event through it was
observed), the format of this module (`FORMAT`), the driver's index classes with their
`snapshot_version`s, and the id and version of the event at its position (a store
rebuilt or restored from a backup, whose log differs there, does not use it). Its state
is msgpack of plain data (`DriverIndex`'s docstring): nothing is unpickled.

Starting (`started_indexes`): the newest usable snapshot (of the same format and index
classes, at or below the store's last notification, its event still there, its state
restoring without a fault) is restored, then told every event recorded after it, read
from the notification log in pages, each page's accounts read in one go (current state:
every index keeps what an account's latest state says). Otherwise, or when anything
about a snapshot fails, the indexes are loaded from every account, as before: a
snapshot can make a start slower, never the store unusable.

The dispatcher (`service_index`) restores its indexes likewise, from the newest snapshot
of the same index classes (`ledger run`'s or its own), and reads each account when an
event or a reaction first names it, instead of holding every account from the start;
it takes a snapshot every `SNAPSHOT_EVERY` events it reads.

Taking one (`take_snapshot_if_due`): at the end of `ledger run`, when every recorded
event was observed and `SNAPSHOT_EVERY` events were recorded since the snapshot the
indexes came from (or since the store began, when they were loaded: a snapshot of
other index classes, after an upgrade, is replaced at the end of the first run).
Catching up costs an observation per event and a read per account changed (in bulk, a
page at a time: the same cost per account as loading, most of it the library's
projection of the events); loading costs a read of every account. Measured on 20,000
accounts, 125,000 events (bench/index_snapshot_benchmark.py, a machine at load 13:
indicative): loading every account 35 to 48 s (SQLite, PostgreSQL); from a snapshot
(2.6 MB, 0.25 s to write) 0.1 to 0.4 s; catching up 4,000 events that changed 4,000
accounts 9 to 10 s. A snapshot is taken at the end of a run only, so a run pays for one
at most, and a start then catches up fewer than 10,000 events: at worst as many
account reads (runs touch far fewer accounts than they record events), at best none,
while a snapshot costs little next to the run that recorded 10,000 events, even where
the indexes hold a million accounts (a snapshot of about 130 MB then). A threshold
growing with the store (a quarter of its accounts, say) would balance both better on
small stores; stores under 10,000 events are never snapshotted: loading them is quick.
The table keeps the newest `SNAPSHOTS_KEPT` of each driver.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg import sql

from ledger.application import Ledger
from ledger.domain.identity import account_id
from ledger.processes.indexes import (
    Driver,
    DriverIndex,
    Observers,
    ServiceIndex,
    distinct,
    loaded_accounts,
    new_indexes,
)
from ledger.unit_of_work import UnitOfWork

FORMAT = 1  # of the stored snapshot: raised when this module changes what it stores
TABLE = "ledger_driver_snapshots"
SNAPSHOT_EVERY = 10_000  # events recorded since the indexes' snapshot (or load) before another is taken
SNAPSHOTS_KEPT = 2  # per driver: the newest, and one before it should the newest not restore
CATCH_UP_PAGE = 1000  # notifications read at a time when catching up

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexStart:
    """How a driver's indexes were made as it started."""

    source: str  # "snapshot" or "store"
    position: int  # the snapshot's notification id (0: loaded from the store)
    events_caught_up: int
    aggregates_read: int  # by the unit of work that loaded or caught up the indexes
    faults: tuple[str, ...] = ()  # why snapshots found were not used


@dataclass(frozen=True)
class StoredSnapshot:
    id: int
    position: int
    header: dict[str, Any]


# --- the table ---------------------------------------------------------------------------


class SnapshotTable:
    """The snapshots table beside the events, on SQLite and PostgreSQL (created when the
    first snapshot is written; a store without it simply has none)."""

    def __init__(self, recorder: SQLiteApplicationRecorder | PostgresApplicationRecorder):
        self.recorder = recorder
        self.postgres = isinstance(recorder, PostgresApplicationRecorder)

    @classmethod
    def of(cls, app: Ledger) -> SnapshotTable | None:
        """None for a store in memory (a scratch ledger), which keeps no snapshots."""
        recorder = app.recorder
        if isinstance(recorder, SQLiteApplicationRecorder | PostgresApplicationRecorder):
            return cls(recorder)
        return None

    def _schema(self) -> str:
        datastore = self.recorder.datastore
        return datastore.schema if isinstance(datastore, PostgresDatastore) else ""

    def _name(self) -> Any:
        if self.postgres:
            return sql.SQL("{}.{}").format(sql.Identifier(self._schema()), sql.Identifier(TABLE))
        return TABLE

    def _statement(self, text: str) -> Any:
        """`text` with `{table}` and `?` placeholders, for this database."""
        if self.postgres:
            return sql.SQL(text.replace("?", "%s")).format(table=self._name())
        return text.format(table=TABLE)

    @contextmanager
    def _cursor(self, commit: bool) -> Iterator[Any]:
        with self.recorder.datastore.transaction(commit=commit) as cursor:
            yield cursor

    def exists(self) -> bool:
        with self._cursor(commit=False) as cursor:
            if self.postgres:
                cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (f"{self._schema()}.{TABLE}",))
            else:
                cursor.execute(
                    "SELECT count(*) > 0 AS found FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
                )
            row = cursor.fetchone()
            return bool(row and row["found"])

    def _create(self, cursor: Any) -> None:
        if self.postgres:
            columns = "id BIGSERIAL PRIMARY KEY, driver TEXT NOT NULL, position BIGINT NOT NULL, "
            columns += "header TEXT NOT NULL, state BYTEA NOT NULL"
        else:
            columns = "id INTEGER PRIMARY KEY AUTOINCREMENT, driver TEXT NOT NULL, position INTEGER NOT NULL, "
            columns += "header TEXT NOT NULL, state BLOB NOT NULL"
        cursor.execute(self._statement("CREATE TABLE IF NOT EXISTS {table} (" + columns + ")"))

    def newest(self, driver: Driver | None, limit: int = SNAPSHOTS_KEPT) -> list[StoredSnapshot]:
        """The driver's snapshots (None: every driver's), newest first, without their state."""
        if not self.exists():
            return []
        chosen = "" if driver is None else "WHERE driver = ? "
        statement = "SELECT id, position, header FROM {table} " + chosen + "ORDER BY id DESC LIMIT ?"
        with self._cursor(commit=False) as cursor:
            cursor.execute(self._statement(statement), (limit,) if driver is None else (str(driver), limit))
            rows = cursor.fetchall()
        found = []
        for row in rows:
            try:
                header = json.loads(row["header"])
            except ValueError:
                header = {}
            found.append(
                StoredSnapshot(int(row["id"]), int(row["position"]), header if isinstance(header, dict) else {})
            )
        return found

    def state(self, snapshot_id: int) -> bytes:
        with self._cursor(commit=False) as cursor:
            cursor.execute(self._statement("SELECT state FROM {table} WHERE id = ?"), (snapshot_id,))
            row = cursor.fetchone()
        return bytes(row["state"]) if row else b""

    def write(self, driver: Driver, position: int, header: dict[str, Any], state: bytes) -> None:
        """Adds a snapshot and keeps the driver's newest `SNAPSHOTS_KEPT`, in one transaction."""
        with self._cursor(commit=True) as cursor:
            self._create(cursor)
            cursor.execute(
                self._statement("INSERT INTO {table} (driver, position, header, state) VALUES (?, ?, ?, ?)"),
                (str(driver), position, json.dumps(header, sort_keys=True), state),
            )
            cursor.execute(
                self._statement(
                    "DELETE FROM {table} WHERE driver = ? AND id NOT IN "
                    "(SELECT id FROM {table} WHERE driver = ? ORDER BY id DESC LIMIT ?)"
                ),
                (str(driver), str(driver), SNAPSHOTS_KEPT),
            )


# --- what a snapshot must match ------------------------------------------------------------


def index_classes(indexes: list[DriverIndex]) -> list[str] | None:
    """Each index's class and snapshot version, in order; None when one is not snapshotted."""
    classes = []
    for index in indexes:
        version = type(index).snapshot_version
        if version is None:
            return None
        classes.append(f"{type(index).__module__}.{type(index).__qualname__}:{version}")
    return classes


def event_at(recorder: ApplicationRecorder, position: int) -> str | None:
    """The id and version of the event recorded at `position` (None at 0 or where none is)."""
    if position <= 0:
        return None
    found = recorder.select_notifications(start=position, limit=1, stop=position)
    if not found or found[0].id != position:
        return None
    return f"{found[0].originator_id}:{found[0].originator_version}"


# --- starting -------------------------------------------------------------------------------


def started_indexes(
    app: Ledger, driver: Driver, use_snapshot: bool = True
) -> tuple[dict[type, DriverIndex], IndexStart]:
    """The driver's indexes as the store stands: from the newest usable snapshot, caught up,
    or else loaded from every account."""
    restored, faults = restored_indexes(app, driver) if use_snapshot else (None, ())
    return restored or _loaded(app, driver, faults)


def restored_indexes(
    app: Ledger, driver: Driver
) -> tuple[tuple[dict[type, DriverIndex], IndexStart] | None, tuple[str, ...]]:
    """The driver's indexes from the newest usable snapshot (of any driver keeping the same
    index classes), caught up; or None, and why each snapshot found was not used."""
    faults: list[str] = []
    table = SnapshotTable.of(app)
    if table is None:
        return None, ()
    try:
        candidates = table.newest(None, limit=2 * SNAPSHOTS_KEPT)
    except Exception as error:  # an unreadable table: as if it held none
        return None, (f"the snapshots could not be read: {type(error).__name__}: {error}",)
    for candidate in candidates:
        try:
            return _restored(app, driver, table, candidate), tuple(faults)
        except Exception as error:  # any fault of a snapshot: the next, or loading
            faults.append(f"snapshot {candidate.id} at {candidate.position}: {type(error).__name__}: {error}")
            logger.warning("ignoring an index snapshot for the %s driver: %s", driver, faults[-1])
    return None, tuple(faults)


def service_index(app: Ledger, use_snapshot: bool = True) -> tuple[ServiceIndex, IndexStart]:
    """The dispatcher's index: its indexes restored from a snapshot and caught up, each
    account read when first named (`FollowedAccounts`); or else loaded, every account held."""
    restored, faults = restored_indexes(app, Driver.SERVICE) if use_snapshot else (None, ())
    if restored is None:
        loaded = ServiceIndex.load(app)
        return loaded, IndexStart("store", 0, 0, len(loaded.accounts), faults)
    indexes, start = restored
    return ServiceIndex(indexes, lambda name: _account_now(app, name)), start


def _account_now(app: Ledger, name: str) -> Any | None:
    try:
        return app.repository.get(account_id(name))
    except AggregateNotFoundError:
        return None


def _loaded(app: Ledger, driver: Driver, faults: tuple[str, ...]) -> tuple[dict[type, DriverIndex], IndexStart]:
    indexes = new_indexes(driver)
    with UnitOfWork(app) as uow:
        accounts = loaded_accounts(uow)
        for index in distinct(indexes):
            index.load(uow, accounts)
        read = len(uow.aggregates)
    return indexes, IndexStart("store", 0, 0, read, faults)


def _restored(
    app: Ledger, driver: Driver, table: SnapshotTable, candidate: StoredSnapshot
) -> tuple[dict[type, DriverIndex], IndexStart]:
    indexes = new_indexes(driver)
    each_index = distinct(indexes)
    header = candidate.header
    if header.get("format") != FORMAT:
        raise ValueError(f"format {header.get('format')!r}, not {FORMAT}")
    if header.get("classes") != index_classes(each_index):
        raise ValueError(f"taken with the index classes {header.get('classes')!r}")
    last = app.recorder.max_notification_id() or 0
    if candidate.position > last:
        raise ValueError(f"beyond the store's last notification ({last})")
    if header.get("event") != event_at(app.recorder, candidate.position):
        raise ValueError("the store's log differs at its position")
    state = msgspec.msgpack.decode(table.state(candidate.id))
    if not isinstance(state, list) or len(state) != len(each_index):
        raise ValueError("a state that is not one per index")
    for index, index_state in zip(each_index, state):
        index.restore(index_state)
    with UnitOfWork(app) as uow:
        caught_up = _catch_up(app, uow, each_index, candidate.position, last)
        read = len(uow.aggregates)
    return indexes, IndexStart("snapshot", candidate.position, caught_up, read)


def _catch_up(app: Ledger, uow: UnitOfWork, each_index: list[DriverIndex], position: int, last: int) -> int:
    """Tells the indexes every event after `position` through `last`; how many."""
    told = 0
    start = position + 1
    observers = Observers(each_index)
    while start <= last:
        notifications = app.recorder.select_notifications(start=start, limit=CATCH_UP_PAGE, stop=last)
        if not notifications:
            break
        events = [app.mapper.to_domain_event(notification) for notification in notifications]
        uow.preload(
            account_id(name) for name in {getattr(event, "account", None) for event in events} if isinstance(name, str)
        )
        for event in events:
            observers.tell(event, uow.account)
        told += len(events)
        start = notifications[-1].id + 1
    return told


# --- taking one -----------------------------------------------------------------------------


def take_snapshot(app: Ledger, driver: Driver, each_index: list[DriverIndex], position: int) -> bool:
    """Stores the indexes as they reflect every event through `position`; False when the
    store keeps none (in memory) or an index is not snapshotted."""
    table = SnapshotTable.of(app)
    classes = index_classes(each_index)
    if table is None or classes is None:
        return False
    header = {
        "format": FORMAT,
        "classes": classes,
        "event": event_at(app.recorder, position),
        "taken_at": datetime.now(UTC).isoformat(),
    }
    state = msgspec.msgpack.encode([index.snapshot() for index in each_index])
    table.write(driver, position, header, state)
    return True


def take_snapshot_if_due(
    app: Ledger,
    driver: Driver,
    each_index: list[DriverIndex],
    position: int,
    since: int,
    every: int = SNAPSHOT_EVERY,
    at_the_end: bool = True,
) -> bool:
    """A snapshot at `position` when `every` events were recorded since `since` (the position
    of the snapshot the indexes were restored from or last saved to, 0 when they were
    loaded: a start that had to load a large store is followed by a snapshot) and,
    `at_the_end`, `position` is the store's last notification; never a fault that fails the
    caller. Every event through `position` must have been observed."""
    if position - since < every:
        return False
    try:
        if at_the_end and position != (app.recorder.max_notification_id() or 0):
            return False
        return take_snapshot(app, driver, each_index, position)
    except Exception as error:  # a snapshot not taken costs the next start time, nothing else
        logger.warning("no snapshot of the %s driver's indexes: %s: %s", driver, type(error).__name__, error)
        return False
