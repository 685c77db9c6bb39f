"""Reading the notification log: every event in order, or the committed ones after a
position without passing a gap that a running transaction may still fill. The read
side and the dispatcher both read it here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Notification
from sqlalchemy import Engine, text

from ledger.application import Ledger


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
            running = [
                row[0]
                for row in connection.execute(text("SELECT pg_snapshot_xip(pg_current_snapshot())::text::bigint"))
            ]
            deadline = time.monotonic() + self.wait_seconds
            while running:
                running = [
                    xid
                    for xid in running
                    if connection.execute(
                        text("SELECT pg_xact_status(CAST(:xid AS text)::xid8)"), {"xid": xid}
                    ).scalar()
                    == "in progress"
                ]
                if running and time.monotonic() >= deadline:
                    return False
                if running:
                    time.sleep(0.05)
                connection.rollback()
            committed = connection.execute(
                text(
                    f"SELECT count(*) FROM {self.app.recorder.events_table_name} "  # type: ignore[attr-defined]
                    "WHERE notification_id BETWEEN :first AND :last"
                ),
                {"first": missing.start, "last": missing.stop - 1},
            )
            return committed.scalar() == 0


@dataclass
class Batch:
    notifications: list[Notification] = field(default_factory=list)
    settled_gaps: list[tuple[int, int]] = field(default_factory=list)
    held_at_gap: bool = False  # stopped before a gap that may still fill


def read_committed(app: Ledger, gaps: GapWatch, position: int, limit: int) -> Batch:
    """The notifications after `position`, stopping before a gap that may still fill."""
    batch = Batch()
    expected = position + 1
    for notification in app.recorder.select_notifications(start=expected, limit=limit):
        if notification.id != expected:
            missing = range(expected, notification.id)
            if not gaps.settled(missing):
                batch.held_at_gap = True
                break
            batch.settled_gaps.extend((gap, notification.id) for gap in missing)
        batch.notifications.append(notification)
        expected = notification.id + 1
    return batch


def stored_events(app: Any, page: int = 1000) -> Iterator[Any]:
    """Every event of the store, in notification order."""
    start = 1
    while True:
        notifications = app.recorder.select_notifications(start=start, limit=page)
        if not notifications:
            return
        for notification in notifications:
            yield app.mapper.to_domain_event(notification)
        start = notifications[-1].id + 1


def causing_event(app: Ledger, notification_id: int) -> Any:
    notifications = app.recorder.select_notifications(start=notification_id, limit=1, stop=notification_id)
    if not notifications:
        raise LookupError(f"no notification {notification_id} in the store")
    return app.mapper.to_domain_event(notifications[0])
