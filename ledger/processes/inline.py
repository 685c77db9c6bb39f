"""`ledger run`'s driver: every input applied in order, and every process it sets
off run to completion before the next input.

Consecutive inputs that no process reacts to share one save (`InputBatch`):
whether a process would react is decided as each input is applied, on the state
it leaves, so the results are those of saving inputs one by one.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.application import Ledger
from ledger.inputs import LedgerInput
from ledger.processes.steps import ProcessManager
from ledger.unit_of_work import UnitOfWork
from ledger.write_path import apply_within, begin_hours, begin_run

BATCH_LIMIT = 1000  # inputs in one save at most
PROGRESS_EVERY = 100  # inputs between two reports of progress


class InputBatch:
    """Inputs applied to one unit of work and saved together. An input that sets off
    a process is saved with those before it, and its processes run at once."""

    def __init__(self, app: Ledger, processes: ProcessManager):
        self.app = app
        self.processes = processes
        self.uow = UnitOfWork(app)
        self.size = 0

    def add(self, item: LedgerInput) -> None:
        apply_within(self.app, self.uow, item)
        self.size += 1
        events = self.uow.checkpoint()
        if any(self.processes.would_react(self.uow, event) for event in events):
            self.flush(reacting_events=len(events))
        elif self.size >= BATCH_LIMIT:
            self.flush()

    def flush(self, reacting_events: int = 0) -> None:
        recordings = self.uow.commit()
        quiet = recordings[: len(recordings) - reacting_events]
        self.processes.process(recordings[len(quiet) :], quiet_through=quiet[-1].notification.id if quiet else 0)
        self.uow = UnitOfWork(self.app)
        self.size = 0


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
    batch = InputBatch(app, processes)

    def owes_nobody() -> bool:  # then an hour's interest concerns no one
        return not (processes.open_debts.debtors or processes.open_debts.open_takeovers)

    for count, item in enumerate(inputs, start=1):
        if app.hour_due(item.at):
            batch.flush()
            for recordings in begin_hours(app, item.at, {**item.cause(), "step": "clock"}, owes_nobody):
                processes.process(recordings)
        batch.add(item)
        if on_progress is not None and (count % PROGRESS_EVERY == 0 or count == len(inputs)):
            on_progress(count)
    batch.flush()
    processes.flush_tracking()
    return processes
