"""The service mode's PostgreSQL recorder: one transaction may carry several tracking
records (`more_tracking`), so that a task running one step for many subjects (a
mark's margin evaluations, the same step of many liquidations) saves each subject's
record with the events, as one save."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder

MORE_TRACKING = "more_tracking"


class PostgresMultiTrackingRecorder(PostgresProcessRecorder):
    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        more: Sequence[Tracking] = kwargs.pop(MORE_TRACKING, ())
        for tracking in more:
            self._insert_tracking(curs, tracking=tracking)
        super()._insert_events(curs, stored_events, **kwargs)
