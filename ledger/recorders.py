"""The ledger's PostgreSQL recorders.

`PostgresBulkRecorder` inserts a save's events as four plain arrays (ids, versions, topics,
states), sent in binary and unnested by the server, instead of the library's array of a
composite type, which psycopg dumps as text field by field (about half of the write path's
time). A save with at most one tracking record is one statement, a call of a function the
recorder creates with its tables (`ledger_insert_<events table>`): one round trip, no
pipeline, about a quarter of the client CPU of the library's five statements. Everything
else is the library's: one transaction, the same table lock (so that the notification order
is the commit order), the NOTIFY, the notification ids returned in the order of the events,
IntegrityError when a version exists (a stale save) or when the tracking record would not
move forward, the tracking record in the same transaction. Where the function is missing (a
store made by an earlier version, opened without creating tables), saves take the library's
path, with the arrays.

`PostgresMultiTrackingRecorder` (the service mode) adds that one transaction may carry several
tracking records (`more_tracking`), so that a task running one step for many subjects (a
mark's margin evaluations, the same step of many liquidations) saves each subject's
record with the events, as one save. The records are written as the library writes its one
(a row per name, moved only forward), all in one statement: a record that would not move
forward fails the save with IntegrityError, as the library's would."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Composed, Identifier

MORE_TRACKING = "more_tracking"


class PostgresBulkRecorder(PostgresProcessRecorder):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.insert_function_name = f"ledger_insert_{self.events_table_name}"[: self.MAX_IDENTIFIER_LEN]
        self.check_identifier_length(self.insert_function_name)
        self.insert_function_exists: bool | None = None  # not known until created or looked up
        self.sql_create_statements.append(self._create_insert_function_statement())
        self.call_insert_function_statement = SQL("SELECT * FROM {schema}.{function}(%b, %b, %b, %b, %s, %s)").format(
            schema=Identifier(self.datastore.schema), function=Identifier(self.insert_function_name)
        )
        # %b: each array goes in binary, dumped by psycopg's C code in one piece.
        self.insert_events_in_bulk_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=Identifier(self.datastore.originator_id_type),
        )

    def _create_insert_function_statement(self) -> Composed:
        """One save in one statement: the tracking record (moved only forward, as the library's
        single-row tracking), the table lock, the NOTIFY, the events, their notification ids.
        The tracking row is locked before the table, as the library's statements lock them: a
        save of either kind waits for the other rather than deadlocking with it."""
        return SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}("
            "ids {id_type}[], versions bigint[], topics text[], states bytea[], "
            "tracking_name text, tracking_id bigint) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
            "BEGIN "
            "SET LOCAL lock_timeout = '{lock_timeout}s'; "
            "IF tracking_name IS NOT NULL THEN "
            "INSERT INTO {schema}.{tracking} AS t (application_name, notification_id) "
            "VALUES (tracking_name, tracking_id) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id "
            "WHERE t.notification_id < EXCLUDED.notification_id; "
            "IF NOT FOUND THEN RAISE unique_violation USING MESSAGE = "
            "'Failed to record tracking for ' || tracking_name || ' ' || tracking_id; END IF; "
            "END IF; "
            "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "NOTIFY {channel}; "
            "RETURN QUERY INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id; "
            "END $BODY$"
        ).format(
            schema=Identifier(self.datastore.schema),
            function=Identifier(self.insert_function_name),
            id_type=Identifier(self.datastore.originator_id_type),
            lock_timeout=self.datastore.lock_timeout,
            table=Identifier(self.events_table_name),
            channel=Identifier(self.channel_name),
            tracking=Identifier(self.tracking_table_name),
        )

    def create_table(self) -> None:
        super().create_table()
        self.insert_function_exists = True

    def _has_insert_function(self) -> bool:
        if self.insert_function_exists is None:
            with self.datastore.get_connection() as connection, connection.cursor() as cursor:
                cursor.execute(  # each name quoted: to_regproc folds an unquoted one to lower case
                    "SELECT to_regproc(quote_ident(%s) || '.' || quote_ident(%s)) IS NOT NULL AS found",
                    (self.datastore.schema, self.insert_function_name),
                )
                row = cursor.fetchone()
                self.insert_function_exists = bool(row and row["found"])
        return self.insert_function_exists

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        in_one_statement = (
            stored_events
            and self.datastore.single_row_tracking
            and not self.datastore.enable_db_functions
            and not kwargs.get(MORE_TRACKING)
            and self._has_insert_function()
        )
        if not in_one_statement:
            return super().insert_events(stored_events, **kwargs)
        return self._insert_in_one_statement(stored_events, kwargs.get("tracking"))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_in_one_statement(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> list[int]:
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            assert connection.autocommit, "the statement is its own transaction"
            cursor.execute(
                self.call_insert_function_statement,
                (
                    *_event_columns(stored_events),
                    None if tracking is None else tracking.application_name,
                    None if tracking is None else tracking.notification_id,
                ),
                prepare=True,
            )
            ids = [row[self.insert_function_name] for row in cursor.fetchall()]
        if len(ids) != len(stored_events):
            raise ProgrammingError(f"Couldn't get all notification IDs (got {len(ids)}, expected {len(stored_events)})")
        return ids

    def originator_ids(self) -> set[UUID]:
        """The id of every stream in the table (each begins at version 1)."""
        statement = SQL("SELECT originator_id FROM {schema}.{table} WHERE originator_version = 1").format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name)
        )
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(statement)
            return {row["originator_id"] for row in cursor.fetchall()}

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **_: Any) -> None:
        """As the library's (lock, notify, insert returning the notification ids in order), with
        plain arrays for the composite one."""
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_events_in_bulk_statement, _event_columns(stored_events), prepare=True)


def _event_columns(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], list[int], list[str], list[bytes]]:
    """The events as the four arrays both insert statements take, in the events' order."""
    return (
        [event.originator_id for event in stored_events],
        [event.originator_version for event in stored_events],
        [event.topic for event in stored_events],
        [event.state for event in stored_events],
    )


class PostgresMultiTrackingRecorder(PostgresBulkRecorder):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        assert self.datastore.single_row_tracking, "a tracking record is one row per name"
        self.insert_many_tracking_statement = SQL(
            "INSERT INTO {0}.{1} AS t (application_name, notification_id) "
            "SELECT * FROM unnest(%s::text[], %s::bigint[]) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id "
            "WHERE t.notification_id < EXCLUDED.notification_id "
            "RETURNING application_name"
        ).format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name))

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        more: Sequence[Tracking] = kwargs.pop(MORE_TRACKING, ())
        if more:
            self._insert_many_tracking(curs, more)
        super()._insert_events(curs, stored_events, **kwargs)

    def _insert_many_tracking(self, curs: Any, trackings: Sequence[Tracking]) -> None:
        names = [tracking.application_name for tracking in trackings]
        assert len(set(names)) == len(names), "one tracking record per name and save"
        curs.execute(
            self.insert_many_tracking_statement,
            (names, [tracking.notification_id for tracking in trackings]),
            prepare=True,
        )
        moved = {row["application_name"] for row in curs.fetchall()}
        if len(moved) != len(names):
            stale = sorted(set(names) - moved)
            raise IntegrityError(
                f"Failed to record tracking for {', '.join(stale[:5])}{' and more' if len(stale) > 5 else ''}"
            )
