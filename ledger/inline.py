"""`ledger run`'s driver: every input applied in order, and every process it sets
off run to completion before the next input."""

from __future__ import annotations

from typing import Any

from ledger.application import Ledger
from ledger.inputs import KnownState, LedgerInput, parse_scenario
from ledger.processes import ProcessManager
from ledger.store import SINGLE_WRITER_SETTINGS, store_environment


def open_ledger(url: str, parameter_overlay: dict[str, Any] | None = None) -> Ledger:
    app = Ledger({**store_environment(url), **SINGLE_WRITER_SETTINGS})
    app.parameter_overlay = parameter_overlay or {}
    return app


def known_state(app: Ledger) -> KnownState:
    """What the store already knows, as input validation starts from it."""
    from ledger.application import UnitOfWork

    uow = UnitOfWork(app)
    accounts = {name: uow.account(name).mode for name in app.account_names()}
    return KnownState(accounts=accounts, parameter_data=app.parameter_data())


def validate(app: Ledger, text: str, source: str) -> list[LedgerInput]:
    """Raises InputErrors naming every faulty line; nothing is written either way."""
    return parse_scenario(text, source, known_state(app))


def run_inputs(app: Ledger, inputs: list[LedgerInput], processes: ProcessManager | None = None) -> ProcessManager:
    processes = processes or ProcessManager(app)
    processes.catch_up()
    if inputs:
        processes.process(app.establish_parameters(inputs[0].at, {"kind": "run", "source": inputs[0].source}))
    for item in inputs:
        for recordings in app.begin_hours(item.at, {**item.cause(), "step": "clock"}):
            processes.process(recordings)
        processes.process(app.apply(item))
    processes.flush_tracking()
    return processes
