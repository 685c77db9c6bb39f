"""`ledger run`'s driver: every input applied in order, and every process it sets
off run to completion before the next input.

Consecutive inputs that no process reacts to share one save (`InputBatch`):
whether a process would react is decided as each input is applied, on the state
it leaves, so the results are those of saving inputs one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.application import Ledger, UnitOfWork
from ledger.domain.parameters import first_version_data, merge_parameter_data, validate_parameter_set
from ledger.idempotency import latest_round
from ledger.inputs import InputError, InputErrors, KnownState, LedgerInput, Scenario, parse_scenario
from ledger.processes import ProcessManager
from ledger.store import SINGLE_WRITER_SETTINGS, store_environment, store_exists

BATCH_LIMIT = 1000  # inputs in one save at most
PROGRESS_EVERY = 100  # inputs between two reports of progress


def open_ledger(url: str, parameter_overlay: dict[str, Any] | None = None, read_only: bool = False) -> Ledger:
    """The store's ledger; `read_only` creates no table (the store must exist)."""
    app = Ledger({**store_environment(url), **SINGLE_WRITER_SETTINGS, **({"CREATE_TABLE": "n"} if read_only else {})})
    app.parameter_overlay = parameter_overlay or {}
    app.store_url = url
    return app


def known_state(app: Ledger, source: str) -> KnownState:
    """What the store already knows, as input validation starts from it: its accounts,
    parameters (with the run's overlay laid over them, as the run will) and clock, and how
    far it applied the file `source` before."""
    uow = UnitOfWork(app)
    accounts = {name: uow.account(name).mode for name in app.account_names()}
    mark = app.file_mark(source)
    return KnownState(
        accounts=accounts,
        parameter_data=_with_overlay(app.parameter_data(), app.parameter_overlay),
        clock=app.store_clock(),
        overlay=app.parameter_overlay,
        file_mark=mark,
        recorded_from_file=lambda name: latest_round(app.recorded_inputs(), name, mark.inputs_applied if mark else 0),
    )


def _with_overlay(parameter_data: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """The store's parameters as a run with this overlay will have them; an overlay that
    leaves the set inconsistent (a margin call below its liquidation level) is refused."""
    merged = merge_parameter_data(parameter_data, overlay)
    faults = validate_parameter_set(merged)
    if faults:
        raise InputErrors(
            [
                InputError(0, name, f"{message} (laid over the store's parameters)", location="--params")
                for name, message in faults
            ]
        )
    return merged


def plan(app: Ledger, text: str, source: str, again: bool = False) -> Scenario:
    """The scenario's inputs still to apply to the store; raises InputErrors naming every
    faulty line. Nothing is written either way."""
    known = known_state(app, source)
    _check_overlay(app, known, again)
    return parse_scenario(text, source, known, again)


def validate(app: Ledger, text: str, source: str) -> list[LedgerInput]:
    return plan(app, text, source).inputs


def _check_overlay(app: Ledger, known: KnownState, again: bool) -> None:
    """A resumed file keeps the overlay it was begun with."""
    mark = known.file_mark
    if again or mark is None or mark.overlay_fingerprint == app.overlay_fingerprint():
        return
    began = "with another --params overlay" if mark.overlay_fingerprint else "without --params"
    raise InputErrors(
        [
            InputError(
                0,
                "--params",
                f"{mark.source} was begun on this store {began}; resume it as it "
                "was begun, or apply it anew with --again",
                location=f"scenario {mark.source}",
            )
        ]
    )


def open_validated(
    url: str, text: str, source: str, parameter_overlay: dict[str, Any] | None = None, again: bool = False
) -> tuple[Ledger, Scenario]:
    """Validates a scenario against the store, then opens it; a missing store is
    created only once the scenario is known to be valid."""
    overlay = parameter_overlay or {}
    if store_exists(url):
        app = open_ledger(url, overlay)
        try:
            return app, plan(app, text, source, again)
        except BaseException:
            app.close()
            raise
    scenario = parse_scenario(text, source, _new_store_state(overlay), again)
    return open_ledger(url, overlay), scenario


def _new_store_state(overlay: dict[str, Any]) -> KnownState:
    """What a store not yet made will know: the default parameters with the run's overlay."""
    return KnownState(parameter_data=first_version_data(overlay), overlay=overlay)


def check_scenario(
    url: str, text: str, source: str, parameter_overlay: dict[str, Any] | None = None, again: bool = False
) -> Scenario:
    """`ledger check`: what `ledger run` would refuse of the scenario and skip as applied;
    raises InputErrors; writes nothing, and creates no store."""
    overlay = parameter_overlay or {}
    if not store_exists(url):
        return parse_scenario(text, source, _new_store_state(overlay), again)
    app = open_ledger(url, overlay, read_only=True)
    try:
        return plan(app, text, source, again)
    finally:
        app.close()


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
        processes.process(app.begin_run(inputs[0], again))
    batch = InputBatch(app, processes)

    def owes_nobody() -> bool:  # then an hour's interest concerns no one
        return not (processes.open_debts.debtors or processes.open_debts.open_takeovers)

    for count, item in enumerate(inputs, start=1):
        if app.hour_due(item.at):
            batch.flush()
            for recordings in app.begin_hours(item.at, {**item.cause(), "step": "clock"}, owes_nobody):
                processes.process(recordings)
        batch.add(item)
        if on_progress is not None and (count % PROGRESS_EVERY == 0 or count == len(inputs)):
            on_progress(count)
    batch.flush()
    processes.flush_tracking()
    return processes
