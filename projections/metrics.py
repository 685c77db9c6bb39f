"""What `/metrics` shows, read cheaply: a few indexed reads, never a count or scan of the
store or of a view table, so that a scraper every few seconds costs the store nothing.

- the running counters the views keep as they pass events (view_counters: inputs
  recorded, rejections, liquidations by kind and status; `projections.views`);
- the projection lag: the store's last notification id minus the views' position;
- the dispatcher backlog: the store's last notification id minus the dispatcher's
  position (`ledger.processes.service.DISPATCHER_TRACKING`), absent when no dispatcher
  ever ran (a store written by `ledger run` reacts inline: nothing waits for one);
- the age of the oldest unfinished reaction (see `oldest_unfinished_age`).

Both lags are differences of notification ids: an id an aborted insert used and never
committed counts too, so they can overstate by the few such gaps, never understate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from ledger.application import Ledger
from ledger.processes.service import DISPATCHER_TRACKING
from projections import tables
from projections.runner import APPLICATION_NAME
from projections.views import INPUTS_APPLIED, LIQUIDATIONS, REJECTIONS, parse_labels


@dataclass(frozen=True)
class LiquidationCount:
    kind: str
    status: str
    count: int


@dataclass(frozen=True)
class LedgerMetrics:
    inputs_applied: int  # inputs recorded (a run's --params overlay not counted)
    rejections: int
    liquidations: tuple[LiquidationCount, ...]  # by kind and status, sorted
    projection_lag_events: int
    dispatcher_backlog_events: int | None  # None: no dispatcher ever ran on this store
    oldest_unfinished_reaction_age_seconds: float | None  # None: nothing unfinished (or no dispatcher)


def read_metrics(app: Ledger, engine: Engine, now: datetime | None = None) -> LedgerMetrics:
    """The figures of `/metrics` for the store `app` opens and its views on `engine`."""
    last = app.recorder.max_notification_id() or 0
    with engine.connect() as connection:
        views_at = (
            connection.execute(
                select(tables.tracking.c.notification_id).where(tables.tracking.c.application_name == APPLICATION_NAME)
            ).scalar()
            or 0
        )
        # A handful of rows by construction: two counters and one per liquidation kind and status.
        counters = {(row.name, row.labels): row.value for row in connection.execute(select(tables.counters))}
    dispatcher_at = app.recorder.max_tracking_id(DISPATCHER_TRACKING)
    return LedgerMetrics(
        inputs_applied=counters.get((INPUTS_APPLIED, ""), 0),
        rejections=counters.get((REJECTIONS, ""), 0),
        liquidations=liquidation_counts(counters),
        projection_lag_events=max(last - views_at, 0),
        dispatcher_backlog_events=None if dispatcher_at is None else max(last - dispatcher_at, 0),
        oldest_unfinished_reaction_age_seconds=(
            None if dispatcher_at is None or dispatcher_at >= last else oldest_unfinished_age(app, dispatcher_at, now)
        ),
    )


def liquidation_counts(counters: dict[tuple[str, str], int]) -> tuple[LiquidationCount, ...]:
    found = []
    for (name, labels), value in sorted(counters.items()):
        if name == LIQUIDATIONS:
            parsed = parse_labels(labels)
            found.append(LiquidationCount(kind=parsed["kind"], status=parsed["status"], count=value))
    return tuple(found)


def oldest_unfinished_age(app: Ledger, dispatcher_at: int, now: datetime | None = None) -> float | None:
    """Seconds since the first event after the dispatcher's position was made.

    The dispatcher's position is the last notification whose every reaction has finished,
    so the event after it is the oldest whose reactions may not all have: its reactions
    have waited since it was committed. Its time is the event's own `timestamp`, the wall
    clock (UTC) of the process that made it, set as it was triggered, an instant before
    its transaction committed (`ledger.domain.timestamps`): stored with every event, so it
    is one read by notification id and one event decoded. (The dispatcher's heartbeat file,
    `workers.heartbeat`, says only that its loop runs, not how long a reaction waits, and
    lives in the dispatcher's container, not in the store.) A clock behind the writer's
    gives 0, not a negative age. None when the store holds nothing after the position."""
    following = app.recorder.select_notifications(start=dispatcher_at + 1, limit=1)
    if not following:
        return None
    made_at: datetime = app.mapper.to_domain_event(following[0]).timestamp
    return max(((now or datetime.now(UTC)) - made_at).total_seconds(), 0.0)
