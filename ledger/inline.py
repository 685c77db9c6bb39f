"""`ledger run`'s driver: every input applied in order, and every process it sets
off run to completion before the next input.

Consecutive inputs that no process reacts to share one save (`InputBatch`):
whether a process would react is decided as each input is applied, on the state
it leaves, so the results are those of saving inputs one by one.
"""

from __future__ import annotations

from typing import Any

from ledger.application import Ledger, UnitOfWork
from ledger.domain.parameters import first_version_data
from ledger.inputs import KnownState, LedgerInput, parse_scenario
from ledger.processes import ProcessManager
from ledger.store import SINGLE_WRITER_SETTINGS, store_environment, store_exists

BATCH_LIMIT = 1000  # inputs in one save at most


def open_ledger(url: str, parameter_overlay: dict[str, Any] | None = None) -> Ledger:
    app = Ledger({**store_environment(url), **SINGLE_WRITER_SETTINGS})
    app.parameter_overlay = parameter_overlay or {}
    app.store_url = url
    return app


def known_state(app: Ledger) -> KnownState:
    """What the store already knows, as input validation starts from it."""
    uow = UnitOfWork(app)
    accounts = {name: uow.account(name).mode for name in app.account_names()}
    return KnownState(accounts=accounts, parameter_data=app.parameter_data())


def validate(app: Ledger, text: str, source: str) -> list[LedgerInput]:
    """Raises InputErrors naming every faulty line; nothing is written either way."""
    return parse_scenario(text, source, known_state(app))


def open_validated(url: str, text: str, source: str,
                   parameter_overlay: dict[str, Any] | None = None) -> tuple[Ledger, list[LedgerInput]]:
    """Validates a scenario against the store, then opens it; a missing store is
    created only once the scenario is known to be valid."""
    overlay = parameter_overlay or {}
    if store_exists(url):
        app = open_ledger(url, overlay)
        return app, validate(app, text, source)
    defaults = KnownState(parameter_data=first_version_data(overlay))
    inputs = parse_scenario(text, source, defaults)
    return open_ledger(url, overlay), inputs


class InputBatch:
    """Inputs applied to one unit of work and saved together. An input that sets off
    a process is saved with those before it, and its processes run at once."""

    def __init__(self, app: Ledger, processes: ProcessManager):
        self.app = app
        self.processes = processes
        self.uow = UnitOfWork(app)
        self.size = 0

    def add(self, item: LedgerInput) -> None:
        self.app.apply_within(self.uow, item)
        self.size += 1
        events = self.uow.checkpoint()
        if any(self.processes.would_react(self.uow, event) for event in events):
            self.flush(reacting_events=len(events))
        elif self.size >= BATCH_LIMIT:
            self.flush()

    def flush(self, reacting_events: int = 0) -> None:
        recordings = self.uow.commit()
        quiet = recordings[: len(recordings) - reacting_events]
        self.processes.process(recordings[len(quiet):], quiet_through=quiet[-1].notification.id if quiet else 0)
        self.uow = UnitOfWork(self.app)
        self.size = 0


def run_inputs(app: Ledger, inputs: list[LedgerInput], processes: ProcessManager | None = None) -> ProcessManager:
    processes = processes or ProcessManager(app)
    processes.catch_up()
    if inputs:
        processes.process(app.establish_parameters(inputs[0].at, {"kind": "run", "source": inputs[0].source}))
    batch = InputBatch(app, processes)
    for item in inputs:
        if app.hour_due(item.at):
            batch.flush()
            for recordings in app.begin_hours(item.at, {**item.cause(), "step": "clock"}):
                processes.process(recordings)
        batch.add(item)
    batch.flush()
    processes.flush_tracking()
    return processes
