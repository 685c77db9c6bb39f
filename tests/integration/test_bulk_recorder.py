"""The PostgreSQL recorder that inserts a save's events as binary arrays (`ledger.recorders`)
keeps the library's semantics: notification ids in the order of the events, the tracking
record in the same transaction, IntegrityError (and nothing written) on a version or
tracking conflict, and the table lock that makes the notification order the commit order."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from psycopg import sql

from ledger.application import Ledger
from ledger.bootstrap import open_ledger, open_service_ledger
from ledger.recorders import MORE_TRACKING, PostgresBulkRecorder, PostgresMultiTrackingRecorder
from ledger.store import store_environment

TOPIC = "tests:Event"


@pytest.fixture
def url(postgres_database: str) -> str:
    return f"{postgres_database}?schema=t_write_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def app(url: str) -> Iterator[Ledger]:
    ledger = open_ledger(url)
    yield ledger
    ledger.close()


def events_of(*streams: tuple[uuid.UUID, int, int]) -> list[StoredEvent]:
    """(id, first version, count) per stream, interleaved as one save may hold them."""
    return [
        StoredEvent(originator_id=stream, originator_version=first + number, topic=TOPIC, state=bytes([number]) * 40)
        for stream, first, count in streams
        for number in range(count)
    ]


def test_events_come_back_in_order_with_their_notification_ids(app: Ledger) -> None:
    recorder = app.recorder
    assert isinstance(recorder, PostgresBulkRecorder)
    assert recorder.insert_function_exists  # created with the tables: a save is one statement
    before = recorder.max_notification_id() or 0
    saved = events_of((uuid.uuid4(), 1, 3), (uuid.uuid4(), 1, 2), (uuid.uuid4(), 7, 4))
    ids = recorder.insert_events(saved, tracking=Tracking("upstream", 5))
    assert ids is not None and len(ids) == len(saved)
    assert ids == sorted(ids) and ids[0] > before
    read = recorder.select_notifications(start=ids[0], limit=100)
    assert [n.id for n in read] == list(ids)
    assert [(n.originator_id, n.originator_version, n.topic, n.state) for n in read] == [
        (e.originator_id, e.originator_version, e.topic, e.state) for e in saved
    ]
    assert recorder.max_tracking_id("upstream") == 5


def test_a_version_that_exists_fails_the_whole_save(app: Ledger) -> None:
    recorder = app.recorder
    stream = uuid.uuid4()
    recorder.insert_events(events_of((stream, 1, 2)))
    last = recorder.max_notification_id()
    newcomer = uuid.uuid4()
    with pytest.raises(IntegrityError):
        recorder.insert_events(events_of((newcomer, 1, 1), (stream, 2, 1)), tracking=Tracking("upstream", 9))
    assert recorder.max_notification_id() == last
    assert recorder.select_events(newcomer) == []
    assert recorder.max_tracking_id("upstream") is None


def test_a_tracking_record_already_passed_fails_the_save(app: Ledger) -> None:
    recorder = app.recorder
    recorder.insert_events(events_of((uuid.uuid4(), 1, 1)), tracking=Tracking("upstream", 3))
    stream = uuid.uuid4()
    with pytest.raises(IntegrityError):
        recorder.insert_events(events_of((stream, 1, 1)), tracking=Tracking("upstream", 3))
    assert recorder.select_events(stream) == []


def test_the_service_recorder_saves_several_tracking_records_with_the_events(app: Ledger, url: str) -> None:
    service = open_service_ledger(url)
    try:
        recorder = service.recorder
        assert isinstance(recorder, PostgresMultiTrackingRecorder)
        ids = recorder.insert_events(
            events_of((uuid.uuid4(), 1, 2)), **{MORE_TRACKING: [Tracking("step.a", 4), Tracking("step.b", 6)]}
        )
        assert ids is not None and len(ids) == 2
        assert (recorder.max_tracking_id("step.a"), recorder.max_tracking_id("step.b")) == (4, 6)
        with pytest.raises(IntegrityError):
            recorder.insert_events(events_of((uuid.uuid4(), 1, 1)), **{MORE_TRACKING: [Tracking("step.a", 4)]})
    finally:
        service.close()


def test_a_save_waits_for_the_table_lock(app: Ledger, url: str) -> None:
    """Another transaction holding the events table's lock holds the save back until it
    commits: no save can take notification ids while an earlier one is uncommitted."""
    recorder = app.recorder
    recorder.insert_events(events_of((uuid.uuid4(), 1, 1)))  # the table exists
    schema = url.rpartition("schema=")[2]
    table = sql.Identifier(schema, recorder.events_table_name)
    finished: list[float] = []
    with psycopg.connect(url.partition("?")[0]) as holder:
        holder.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))

        def save() -> None:
            recorder.insert_events(events_of((uuid.uuid4(), 1, 1)))
            finished.append(time.monotonic())

        saving = threading.Thread(target=save)
        saving.start()
        time.sleep(0.5)
        assert not finished, "the save did not wait for the lock"
        released = time.monotonic()
        holder.commit()
    saving.join(timeout=10)
    assert finished and finished[0] >= released


def test_a_store_without_the_insert_function_is_saved_to_the_library_way(app: Ledger, url: str) -> None:
    """A store made by an earlier version and opened without creating tables (the service's
    workers) has no insert function: saves take the library's statements, same results."""
    recorder = app.recorder
    assert isinstance(recorder, PostgresBulkRecorder)
    schema = url.rpartition("schema=")[2]
    with psycopg.connect(url.partition("?")[0], autocommit=True) as connection:
        connection.execute(sql.SQL("DROP FUNCTION {}").format(sql.Identifier(schema, recorder.insert_function_name)))
    older = open_ledger(url, read_only=True)  # CREATE_TABLE=n: nothing is created
    try:
        assert isinstance(older.recorder, PostgresBulkRecorder)
        saved = events_of((uuid.uuid4(), 1, 2))
        ids = older.recorder.insert_events(saved, tracking=Tracking("upstream", 2))
        assert older.recorder.insert_function_exists is False
        assert ids is not None and len(ids) == 2 and ids == sorted(ids)
        assert older.recorder.max_tracking_id("upstream") == 2
        with pytest.raises(IntegrityError):
            older.recorder.insert_events(events_of((uuid.uuid4(), 1, 1)), tracking=Tracking("upstream", 2))
    finally:
        older.close()


def test_a_save_takes_its_locks_in_the_library_order(app: Ledger, url: str) -> None:
    """The one-statement save locks the tracking row before the events table, as the library's
    statements do: a save and a library-way save of the same tracking name queue one behind
    the other instead of deadlocking (each holding the lock the other waits for)."""
    recorder = app.recorder
    recorder.insert_events(events_of((uuid.uuid4(), 1, 1)), tracking=Tracking("upstream", 1))
    schema = url.rpartition("schema=")[2]
    tracking_table = sql.Identifier(schema, recorder.tracking_table_name)
    events_table = sql.Identifier(schema, recorder.events_table_name)
    failures: list[BaseException] = []
    with psycopg.connect(url.partition("?")[0]) as library_way:  # the library's order: tracking row, then table
        library_way.execute("SET lock_timeout = '5s'")
        library_way.execute(
            sql.SQL("UPDATE {} SET notification_id = 2 WHERE application_name = 'upstream'").format(tracking_table)
        )

        def save() -> None:  # once: a deadlock would be hidden by the retries
            once = PostgresBulkRecorder._insert_in_one_statement.__wrapped__  # type: ignore[attr-defined]
            try:
                once(recorder, events_of((uuid.uuid4(), 1, 1)), Tracking("upstream", 3))
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

        saving = threading.Thread(target=save)
        saving.start()
        time.sleep(0.5)  # the save now waits for the tracking row, holding nothing it must not
        library_way.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(events_table))
        library_way.commit()
    saving.join(timeout=10)
    assert not saving.is_alive()
    assert not failures, failures
    assert recorder.max_tracking_id("upstream") == 3


def test_the_insert_function_is_found_in_a_schema_whose_name_needs_quotes(postgres_database: str) -> None:
    """A schema name with capitals is looked up as named, not folded to lower case."""
    schema = f"T_Write_{uuid.uuid4().hex[:8]}"  # the ledger's own URLs refuse it; the library's settings do not
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    ledger = Ledger({**store_environment(f"{postgres_database}?schema=t_unused"), "POSTGRES_SCHEMA": schema})
    try:
        recorder = ledger.recorder
        assert isinstance(recorder, PostgresBulkRecorder)
        recorder.insert_function_exists = None  # as a worker that did not create the tables
        assert recorder._has_insert_function()
    finally:
        ledger.close()
