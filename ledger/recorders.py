"""The service mode's PostgreSQL recorder: one transaction may carry several tracking
records (`more_tracking`), so that a task running one step for many subjects (a
mark's margin evaluations, the same step of many liquidations) saves each subject's
record with the events, as one save.

The records are written as the library writes its one (a row per name, moved only
forward), all in one statement: a record that would not move forward fails the
save with IntegrityError, as the library's would."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg.sql import SQL, Identifier

MORE_TRACKING = "more_tracking"


class PostgresMultiTrackingRecorder(PostgresProcessRecorder):
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
