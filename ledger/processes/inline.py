"""`ledger run`'s driver: every input applied in order, and every process it sets
off run to completion before the next input.

`ProcessManager` follows the ledger's own notification log from a tracked position
and runs an event's reactions together. The events they produce are saved with the
tracking record of the notification that caused them, so a notification is acted on
exactly once. Reactions that produce nothing advance the position lazily: every
such reaction is idempotent by state (re-evaluating a margin level at the current
marks changes nothing twice), except those of events routed `tracked_at_once` (the
sale against offered liquidity), whose position is therefore always recorded at once.

Consecutive inputs that no process reacts to share one save (`InputBatch`):
whether a process would react is decided as each input is applied, on the state
it leaves, so the results are those of saving inputs one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from eventsourcing.persistence import Recording, Tracking

from ledger.application import Ledger
from ledger.causes import process_cause
from ledger.inputs import LedgerInput
from ledger.processes.indexes import Driver, Observers, an_hour_concerns_anyone, distinct
from ledger.processes.routing import (
    Reaction,
    Situation,
    is_tracked_at_once,
    may_react_inline,
    reactions_to,
)
from ledger.processes.snapshots import SNAPSHOT_EVERY, started_indexes, take_snapshot, take_snapshot_if_due
from ledger.processes.steps import ProcessSteps, aggregates_acted_on
from ledger.unit_of_work import UnitOfWork
from ledger.write_path import apply_within, begin_hours, begin_run

BATCH_LIMIT = 1000  # inputs in one save at most
PROGRESS_EVERY = 100  # inputs between two reports of progress
LAZY_TRACKING_LIMIT = 1000


class ProcessManager(ProcessSteps):
    """Follows the log and runs each event's reactions together, with the in-memory
    indexes the products keep for `ledger run` (`ledger.processes.indexes`)."""

    def __init__(self, app: Ledger, use_snapshot: bool = True, snapshot_every: int = SNAPSHOT_EVERY):
        """The indexes from the newest usable snapshot of them, caught up with the events
        after it, or else loaded from every account (`ledger.processes.snapshots`)."""
        indexes, self.start = started_indexes(app, Driver.INLINE, use_snapshot)
        super().__init__(app, indexes)
        self.position = app.recorder.max_tracking_id(app.name) or 0
        self.recorded_position = self.position
        self.each_index = distinct(self.indexes)
        self.observers = Observers(self.each_index)
        self.snapshot_every = snapshot_every
        self.snapshot_position = self.start.position  # of the snapshot the indexes came from or went to

    # --- snapshots of the indexes ----------------------------------------------------

    def snapshot_if_due(self) -> bool:
        """A snapshot of the indexes when enough events were recorded since the last one
        (`SNAPSHOT_EVERY`) and every one was processed; at the end of a run."""
        self.flush_tracking()
        since, every = self.snapshot_position, self.snapshot_every
        if not take_snapshot_if_due(self.app, Driver.INLINE, self.each_index, self.position, since, every):
            return False
        self.snapshot_position = self.position
        return True

    def snapshot(self) -> bool:
        """A snapshot of the indexes now, every recorded event processed first."""
        self.catch_up()
        if not take_snapshot(self.app, Driver.INLINE, self.each_index, self.position):
            return False
        self.snapshot_position = self.position
        return True

    # --- following the log ---------------------------------------------------------

    def catch_up(self) -> None:
        """Processes every notification beyond the tracked position."""
        while True:
            notifications = self.app.recorder.select_notifications(start=self.position + 1, limit=500)
            if not notifications:
                break
            for notification in notifications:
                self._process_one(self.app.mapper.to_domain_event(notification), notification.id)
        self.flush_tracking()

    def process(self, recordings: Iterable[Recording], quiet_through: int = 0) -> None:
        """Processes just-saved events and, in turn, what the reactions save, to completion.

        Notifications up to `quiet_through` were found, as they happened, to call for
        no reaction (`would_react`): they count as processed."""
        if quiet_through > self.position:
            self._advance_to(quiet_through)
        generation = list(recordings)
        while generation:
            generation = self._process_together(generation)

    def _process_together(self, recordings: list[Recording]) -> list[Recording]:
        """Reacts to each of the saved events in order, in one unit of work saved once with the
        tracking record of the last: what the reactions save follows in the order it would
        have one save at a time (each event's reactions after those of the one before), in
        fewer and larger transactions. Returns what the reactions saved, to react to next."""
        pending = [(r.domain_event, r.notification.id) for r in recordings if r.notification.id > self.position]
        if not pending:
            return []
        last = pending[-1][1]
        with UnitOfWork(self.app) as uow:
            tracked_at_once = False
            for event, notification_id in pending:
                self.react(uow, event, process_cause(event, notification_id))
                tracked_at_once = tracked_at_once or is_tracked_at_once(event)
            if uow.has_changes() or tracked_at_once:
                saved = uow.commit(tracking=Tracking(self.app.name, last))
                self.position = self.recorded_position = last
                return saved
        self._advance_to(last)
        return []

    def _advance_to(self, notification_id: int) -> None:
        """Counts a notification as processed with no reaction; its tracking record is
        written later, with the next reaction or once it lags far enough behind."""
        self.position = notification_id
        if self.position - self.recorded_position >= LAZY_TRACKING_LIMIT:
            self.flush_tracking()

    def flush_tracking(self) -> None:
        if self.position > self.recorded_position:
            self.app.recorder.insert_tracking(Tracking(self.app.name, self.position))
            self.recorded_position = self.position

    def _process_one(self, event: Any, notification_id: int) -> list[Recording]:
        if notification_id <= self.position:
            return []
        with UnitOfWork(self.app) as uow:
            self.react(uow, event, process_cause(event, notification_id))
            if uow.has_changes() or is_tracked_at_once(event):
                recordings = uow.commit(tracking=Tracking(self.app.name, notification_id))
                self.position = self.recorded_position = notification_id
                return recordings
        self._advance_to(notification_id)
        return []

    # --- the policy ------------------------------------------------------------------

    def would_react(self, uow: UnitOfWork, event: Any) -> bool:
        """False only when reacting to `event` would record nothing, so that `ledger run`
        may save it together with the inputs after it. Keeps the indexes up to date."""
        self.observe(uow, event)
        return may_react_inline(event, self, uow)

    def react(self, uow: UnitOfWork, event: Any, cause: dict[str, Any]) -> None:
        self.observe(uow, event)
        reactions = self.reactions(uow, event)
        if len(reactions) > 1:
            # What they act on, read together: an hour's interest or a mark concerns every debtor.
            uow.preload(i for reaction in reactions for i in aggregates_acted_on(reaction, event))
        for reaction in reactions:
            self.run(uow, reaction, event, cause)

    def observe(self, uow: UnitOfWork, event: Any) -> None:
        self.observers.tell(event, uow.account)

    def reactions(self, uow: UnitOfWork, event: Any) -> list[Reaction]:
        return reactions_to(event, Situation(account=uow.account, indexes=self.indexes, uow=uow))


class InputBatch:
    """Inputs applied to one unit of work and saved together. An input that sets off
    a process ends the batch: it is saved with those before it, and its processes run at once."""

    def __init__(self, app: Ledger, processes: ProcessManager, uow: UnitOfWork):
        self.app = app
        self.processes = processes
        self.uow = uow
        self.size = 0
        self.reacting_events = 0  # at the end of the batch, those of an input that sets off a process

    def fill(self, inputs: list[LedgerInput], start: int, progress: Callable[[int], None]) -> int:
        """Applies inputs from `start` until one sets off a process, the batch is full, an
        hour is due before the next, or none is left; saves them, and runs the processes
        set off. Returns how many of `inputs` are applied now."""
        applied, save_now = start, False
        # Only `begin_hours` moves the clock, never an input or the processes of one: the hour
        # due is looked up once a batch.
        next_hour = self.app.next_hour()
        while (
            not save_now
            and applied < len(inputs)
            and not (self.size and (next_hour is None or next_hour <= inputs[applied].at))
        ):
            save_now = self.add(inputs[applied])
            applied += 1
            if not save_now:
                progress(applied)
        self.save()
        if save_now:
            progress(applied)  # once its processes have run
        return applied

    def add(self, item: LedgerInput) -> bool:
        """Applies `item`; True when the batch is to be saved now."""
        apply_within(self.app, self.uow, item)
        self.size += 1
        events = self.uow.checkpoint()
        if any(self.processes.would_react(self.uow, event) for event in events):
            self.reacting_events = len(events)
            return True
        return self.size >= BATCH_LIMIT

    def save(self) -> None:
        recordings = self.uow.commit()
        quiet = recordings[: len(recordings) - self.reacting_events]
        self.processes.process(recordings[len(quiet) :], quiet_through=quiet[-1].notification.id if quiet else 0)


def run_inputs(
    app: Ledger,
    inputs: list[LedgerInput],
    processes: ProcessManager | None = None,
    again: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> ProcessManager:
    """Applies the inputs in order, each one's processes run to completion before the next;
    first, whatever a run cut short left unprocessed is processed (a crash is resumed).
    `on_progress` is told how many inputs are applied, now and then."""
    processes = processes or ProcessManager(app)
    processes.catch_up()
    if inputs:
        processes.process(begin_run(app, inputs[0], again))

    def progress(applied: int) -> None:
        if on_progress is not None and (applied % PROGRESS_EVERY == 0 or applied == len(inputs)):
            on_progress(applied)

    applied = 0
    while applied < len(inputs):
        _begin_hours_due(app, processes, inputs[applied])
        with UnitOfWork(app) as uow:
            applied = InputBatch(app, processes, uow).fill(inputs, applied, progress)
    processes.flush_tracking()
    processes.snapshot_if_due()
    return processes


def _begin_hours_due(app: Ledger, processes: ProcessManager, item: LedgerInput) -> None:
    """Every hh:00 up to `item`'s time, each with its interest processed, before it is applied."""
    if not app.hour_due(item.at):
        return

    def concerns_no_one() -> bool:  # then hours share a save
        return not an_hour_concerns_anyone(processes.indexes)

    for recordings in begin_hours(app, item.at, {**item.cause(), "step": "clock"}, concerns_no_one):
        processes.process(recordings)
