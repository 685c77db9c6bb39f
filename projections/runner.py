"""The projection runner: follows the store's notification log from a tracked
position and writes each batch's view rows with that position in one transaction.

So it resumes exactly where it stopped, never applies an event twice (the
position only moves forward, checked in the same transaction) and never skips
one: a notification id that is missing below a committed one is passed only
once no transaction that could still commit it is running (`GapWatch`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from threading import Event
from typing import Any

from eventsourcing.persistence import Notification, Tracking, TrackingRecorder
from sqlalchemy import Connection, Engine, and_, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from ledger.application import Ledger
from ledger.store import store_environment
from projections import tables
from projections.database import migrate, views_engine
from projections.views import Key, LedgerViews, Row, RowChanges

APPLICATION_NAME = Ledger.name
BATCH_SIZE = 2000
BATCH_SIZE_VARIABLE = "LEDGER_PROJECTION_BATCH"  # notifications a batch, for `ledger project` (default BATCH_SIZE)
APPEND_ONLY = {tables.events.name, tables.marks.name, tables.rejections.name}


class ProjectionConflict(Exception):
    """Another runner moved the tracking position first: this batch is not applied."""


class ViewStore(TrackingRecorder):
    """The view tables and their tracking position, through SQLAlchemy."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name

    # --- TrackingRecorder --------------------------------------------------------------

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.engine.connect() as connection:
            return self._position(connection, application_name)

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.engine.begin() as connection:
            self._advance(connection, tracking)

    # --- rows -----------------------------------------------------------------------------

    def load_row(self, table_name: str, key: Key) -> Row | None:
        table = metadata_table(table_name)
        condition = and_(*(table.c[name] == value for name, value in zip(tables.key_columns(table), key)))
        with self.engine.connect() as connection:
            found = connection.execute(select(table).where(condition)).mappings().first()
        return None if found is None else dict(found)

    def write(self, changes: RowChanges, tracking: Tracking, settled_gaps: list[tuple[int, int]],
              read_after: int) -> None:
        """The batch's rows, the gaps it passed and its position: one transaction, applied
        only if the views still stand where the batch was read from (`read_after`, 0: none)."""
        with self.engine.begin() as connection:
            self._advance(connection, tracking, read_after)
            if settled_gaps:
                connection.execute(insert(tables.settled_gaps), [
                    {"notification_id": gap, "settled_below": below} for gap, below in settled_gaps])
            for table in tables.VIEW_TABLES:
                self._write_table(connection, table, changes.by_table[table.name])

    def clear(self) -> None:
        """Every view row, the tracking position and the recorded gaps, gone in one transaction."""
        with self.engine.begin() as connection:
            for table in (*tables.VIEW_TABLES, tables.settled_gaps, tables.tracking):
                connection.execute(delete(table))

    def _position(self, connection: Connection, application_name: str) -> int | None:
        return connection.execute(select(tables.tracking.c.notification_id).where(
            tables.tracking.c.application_name == application_name)).scalar()

    def _advance(self, connection: Connection, tracking: Tracking, read_after: int | None = None) -> None:
        """Moves the position to `tracking`'s. With `read_after`, only from there (compare and
        set): any other position means another runner wrote meanwhile (ProjectionConflict)."""
        if read_after is not None:
            self._move_from(connection, tracking, read_after)
            return
        current = self._position(connection, tracking.application_name)
        if current is None:
            connection.execute(insert(tables.tracking).values(
                application_name=tracking.application_name, notification_id=tracking.notification_id))
            return
        if tracking.notification_id <= current:
            raise ProjectionConflict(f"views are at notification {current}, not before {tracking.notification_id}")
        moved = connection.execute(update(tables.tracking).where(
            tables.tracking.c.application_name == tracking.application_name,
            tables.tracking.c.notification_id == current).values(notification_id=tracking.notification_id))
        if moved.rowcount != 1:
            raise ProjectionConflict(f"views moved past notification {current} meanwhile")

    def _move_from(self, connection: Connection, tracking: Tracking, read_after: int) -> None:
        if read_after == 0:  # no position yet: the first writer inserts it, any other finds it there
            first = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(tables.tracking).values(
                application_name=tracking.application_name, notification_id=tracking.notification_id)
            statement: Any = first.on_conflict_do_nothing(index_elements=["application_name"])
        else:
            statement = update(tables.tracking).where(
                tables.tracking.c.application_name == tracking.application_name,
                tables.tracking.c.notification_id == read_after).values(notification_id=tracking.notification_id)
        # RETURNING, not rowcount: psycopg reports no rowcount for INSERT ... ON CONFLICT DO NOTHING here.
        moved = connection.execute(statement.returning(tables.tracking.c.notification_id)).first()
        if moved is None:
            current = self._position(connection, tracking.application_name)
            raise ProjectionConflict(f"views are at notification {current}, not {read_after} where this batch "
                                     "was read from: another runner wrote meanwhile")

    def _write_table(self, connection: Connection, table: Any, rows: dict[Key, Row | None]) -> None:
        if not rows:
            return
        keys = tables.key_columns(table)
        gone = [dict(zip(keys, key)) for key, row in rows.items() if row is None]
        if gone:
            condition = and_(*(table.c[name] == bindparam(f"k_{name}") for name in keys))
            connection.execute(delete(table).where(condition),
                               [{f"k_{name}": row[name] for name in keys} for row in gone])
        present = [row for row in rows.values() if row is not None]
        if not present:
            return
        if table.name in APPEND_ONLY:
            connection.execute(insert(table), present)
            return
        upsert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)
        upsert = upsert.on_conflict_do_update(
            index_elements=list(keys),
            set_={column.name: upsert.excluded[column.name] for column in table.columns if column.name not in keys})
        connection.execute(upsert, present)


def metadata_table(name: str) -> Any:
    return tables.metadata.tables[name]


class GapWatch:
    """Decides whether notification ids missing below a committed one can be passed.

    On PostgreSQL an id is taken from a sequence when an insert starts, so a
    transaction can still commit a lower id after a higher one is visible (the
    library's table lock prevents that for its own writers; this guards against
    any other). Ids missing when the batch was read belong to transactions that
    were running then: once every transaction running now has ended, whatever of
    those ids is still missing never committed. On SQLite, writers are serialized
    and a missing id was rolled back.
    """

    def __init__(self, app: Ledger, engine: Engine, wait_seconds: float):
        self.app = app
        self.engine = engine
        self.wait_seconds = wait_seconds

    def settled(self, missing: range) -> bool:
        if self.engine.dialect.name != "postgresql":
            return True
        with self.engine.connect() as connection:
            running = [row[0] for row in connection.execute(
                text("SELECT pg_snapshot_xip(pg_current_snapshot())::text::bigint"))]
            deadline = time.monotonic() + self.wait_seconds
            while running:
                running = [xid for xid in running if connection.execute(
                    text("SELECT pg_xact_status(CAST(:xid AS text)::xid8)"), {"xid": xid}).scalar() == "in progress"]
                if running and time.monotonic() >= deadline:
                    return False
                if running:
                    time.sleep(0.05)
                connection.rollback()
            committed = connection.execute(text(
                f"SELECT count(*) FROM {self.app.recorder.events_table_name} "  # type: ignore[attr-defined]
                "WHERE notification_id BETWEEN :first AND :last"), {"first": missing.start, "last": missing.stop - 1})
            return committed.scalar() == 0


@dataclass
class Batch:
    notifications: list[Notification] = field(default_factory=list)
    settled_gaps: list[tuple[int, int]] = field(default_factory=list)
    held_at_gap: bool = False  # stopped before a gap that may still fill


class ProjectionRunner:
    """`ledger project`: catch up (`run_once`), follow (`run_forever`), or `rebuild`."""

    def __init__(self, app: Ledger, store: ViewStore, batch_size: int = BATCH_SIZE, gap_wait_seconds: float = 2.0):
        self.app = app
        self.store = store
        self.batch_size = batch_size
        self.gaps = GapWatch(app, store.engine, gap_wait_seconds)
        self.views = LedgerViews(load_row=store.load_row, load_aggregate=self._aggregate_at)
        # The position what `views` holds in memory is as of: what this runner last wrote.
        self.held_through: int | None = None

    def position(self) -> int:
        return self.store.max_tracking_id(APPLICATION_NAME) or 0

    def last_notification_id(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def run_once(self, on_batch: Callable[[int, int], None] | None = None) -> int:
        """Projects every committed event after the tracked position; returns how many.
        Stops early before a gap that a running transaction may still fill."""
        position = self.position()
        if position != self.held_through:
            self.views.forget()  # another runner moved the views: what this one holds is stale
        projected = 0
        while True:
            batch = self._read(position)
            if batch.notifications:
                position = self._project(batch, position)
                projected += len(batch.notifications)
                if on_batch is not None:
                    on_batch(projected, position)
            if batch.held_at_gap or len(batch.notifications) < self.batch_size and not batch.settled_gaps:
                return projected

    def run_forever(self, stop: Event, poll_seconds: float = 0.5) -> None:
        while not stop.is_set():
            if self.run_once() == 0:
                stop.wait(poll_seconds)

    def rebuild(self, on_batch: Callable[[int, int], None] | None = None) -> int:
        """Empties every view and projects from event 1. Interrupted, it resumes like any run."""
        self.store.clear()
        self.views.forget()
        with self._tables_known_empty():
            return self.run_once(on_batch)

    @contextmanager
    def _tables_known_empty(self) -> Iterator[None]:
        """While the views are rebuilt from nothing, every row is in memory: no need to look."""
        load_row, cache_limit = self.views.load_row, self.views.cache_limit
        self.views.load_row, self.views.cache_limit = None, 10**12
        try:
            yield
        finally:
            self.views.load_row, self.views.cache_limit = load_row, cache_limit
            self.views.forget()

    def _read(self, position: int) -> Batch:
        batch = Batch()
        expected = position + 1
        for notification in self.app.recorder.select_notifications(start=expected, limit=self.batch_size):
            if notification.id != expected:
                missing = range(expected, notification.id)
                if not self.gaps.settled(missing):
                    batch.held_at_gap = True
                    break
                batch.settled_gaps.extend((gap, notification.id) for gap in missing)
            batch.notifications.append(notification)
            expected = notification.id + 1
        return batch

    def _project(self, batch: Batch, read_after: int) -> int:
        try:
            for notification in batch.notifications:
                self.views.process(notification.id, self.app.mapper.to_domain_event(notification))
            last = batch.notifications[-1].id
            self.store.write(self.views.take_changes(), Tracking(APPLICATION_NAME, last), batch.settled_gaps,
                             read_after)
        except BaseException:
            self.views.forget()  # what it held may include the unwritten batch
            self.held_through = None
            raise
        self.held_through = last
        return last

    def _aggregate_at(self, aggregate_id: uuid.UUID, version: int) -> Any:
        return self.app.repository.get(aggregate_id, version=version)


def configured_batch_size() -> int:
    """$LEDGER_PROJECTION_BATCH, or BATCH_SIZE."""
    value = os.environ.get(BATCH_SIZE_VARIABLE, "").strip()
    if not value:
        return BATCH_SIZE
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"${BATCH_SIZE_VARIABLE} must be a positive whole number, not {value!r}")
    return int(value)


class StoreViews:
    """A store's views, migrated, with a runner to bring them up to date.

    The runner reads through an application of its own, without the aggregate
    cache of `ledger run`: the states it loads are its to follow.
    """

    def __init__(self, store_url: str):
        self.engine = views_engine(store_url)
        migrate(self.engine)
        self.app = Ledger(store_environment(store_url))
        self.runner = ProjectionRunner(self.app, ViewStore(self.engine), batch_size=configured_batch_size())

    def report(self) -> dict[str, Any]:
        from projections.report import read_report

        self.runner.run_once()
        return read_report(self.engine)

    def close(self) -> None:
        self.app.close()
        self.engine.dispose()

    def __enter__(self) -> StoreViews:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
