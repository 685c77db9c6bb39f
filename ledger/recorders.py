"""The ledger's PostgreSQL recorders.

`PostgresBulkRecorder` inserts a save's events as four plain arrays (ids, versions, topics,
states), sent in binary and unnested by the server, instead of the library's array of a
composite type, which psycopg dumps as text field by field (about half of the write path's
time). Everything else is the library's: the same transaction, the same table lock (so that
the notification order is the commit order), the NOTIFY, the notification ids returned in
the order of the events, IntegrityError when a version exists (a stale save), the tracking
record in the same transaction.

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

from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg.sql import SQL, Identifier

MORE_TRACKING = "more_tracking"


class PostgresBulkRecorder(PostgresProcessRecorder):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
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
        curs.execute(
            self.insert_events_in_bulk_statement,
            (
                [event.originator_id for event in stored_events],
                [event.originator_version for event in stored_events],
                [event.topic for event in stored_events],
                [event.state for event in stored_events],
            ),
            prepare=True,
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
