"""The inputs a save applies are kept in the store's inputs table (`ledger.recorders`), in
the save's transaction, not in the event table: the inputs log keeps one small `InputsSaved`
event per save, and everything that reads the recorded inputs finds them there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from psycopg import sql

from ledger.application import Ledger
from ledger.bootstrap import open_ledger, open_service_ledger
from ledger.recorders import MORE_TRACKING, RECORDED_INPUTS, InputsApart, KeepsInputsApart, PostgresBulkRecorder
from tests.conftest import SCENARIOS
from tests.integration.cli_scenarios import run_json
from tests.integration.test_rerun import topic_counts


@pytest.fixture
def app(store_url: str) -> Iterator[Ledger]:
    ledger = open_ledger(store_url)
    yield ledger
    ledger.close()


def an_event(stream: uuid.UUID, version: int = 1) -> StoredEvent:
    return StoredEvent(originator_id=stream, originator_version=version, topic="tests:Event", state=b"{}")


def test_a_run_keeps_its_inputs_apart_and_reads_them_back(store_url: str) -> None:
    scenario = SCENARIOS / "seed004_user_a.jsonl"
    run_json(scenario, store_url)
    counts = topic_counts(store_url)
    assert "InputsRecorded" not in counts and counts["InputsSaved"] >= 1
    app = open_ledger(store_url)
    try:
        assert isinstance(app.recorder, KeepsInputsApart)
        assert len(app.recorder.select_inputs()) == counts["InputsSaved"]
        lines = [line for line in scenario.read_text().splitlines() if line.strip()]
        recorded = list(app.recorded_inputs())
        assert [record["line"] for record in recorded] == list(range(1, len(lines) + 1))
        assert app.store_clock() is not None
    finally:
        app.close()


@pytest.mark.parametrize("path", ["one statement", "the library's"])
def test_the_inputs_are_written_in_the_events_transaction(app: Ledger, path: str) -> None:
    recorder = app.recorder
    assert isinstance(recorder, KeepsInputsApart)
    if path == "the library's":
        if not isinstance(recorder, PostgresBulkRecorder):
            pytest.skip("SQLite has one path")
        recorder.insert_function_exists = False
    stream = uuid.uuid4()
    recorder.insert_events([an_event(stream)], **{RECORDED_INPUTS: InputsApart(1, b"first")})
    with pytest.raises(IntegrityError):  # a stale save: its inputs are not kept either
        recorder.insert_events([an_event(stream)], **{RECORDED_INPUTS: InputsApart(2, b"stale")})
    recorder.insert_events([an_event(stream, 2)], **{RECORDED_INPUTS: InputsApart(2, b"second")})
    with pytest.raises(IntegrityError):  # inputs under a version taken: its events are not kept either
        recorder.insert_events([an_event(stream, 3)], **{RECORDED_INPUTS: InputsApart(2, b"again")})
    assert [event.originator_version for event in recorder.select_events(stream)] == [1, 2]
    assert recorder.select_inputs() == [InputsApart(1, b"first"), InputsApart(2, b"second")]
    assert recorder.select_inputs(gt=1) == [InputsApart(2, b"second")]
    assert recorder.select_inputs(gt=0, lte=1) == [InputsApart(1, b"first")]


def test_the_inputs_and_several_tracking_records_share_a_save(postgres_database: str) -> None:
    url = f"{postgres_database}?schema=t_apart_{uuid.uuid4().hex[:12]}"
    open_ledger(url).close()  # creates the tables
    app = open_service_ledger(url)
    try:
        recorder = app.recorder
        assert isinstance(recorder, KeepsInputsApart)
        saved = {RECORDED_INPUTS: InputsApart(1, b"kept"), MORE_TRACKING: [Tracking("a", 1), Tracking("b", 1)]}
        recorder.insert_events([an_event(uuid.uuid4())], **saved)
        assert recorder.select_inputs() == [InputsApart(1, b"kept")]
    finally:
        app.close()


def test_a_store_made_before_the_inputs_table_gets_it_at_its_first_save(postgres_database: str) -> None:
    """The service mode opens a store without creating tables: one that an earlier version made
    (no inputs table) gets it when a save first keeps inputs."""
    schema = f"t_apart_{uuid.uuid4().hex[:12]}"
    url = f"{postgres_database}?schema={schema}"
    made = open_ledger(url)
    assert isinstance(made.recorder, PostgresBulkRecorder)
    table = made.recorder.inputs_table_name
    made.close()
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, table)))
    app = open_service_ledger(url)
    try:
        recorder = app.recorder
        assert isinstance(recorder, PostgresBulkRecorder) and not recorder.inputs_table_exists
        recorder.insert_events([an_event(uuid.uuid4())], **{RECORDED_INPUTS: InputsApart(1, b"kept")})
        assert recorder.select_inputs() == [InputsApart(1, b"kept")]
    finally:
        app.close()
