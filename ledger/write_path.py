"""The one write path: every input, whether `ledger run` applies it inline or `ledger
submit` hands it to the service, is applied here, through a unit of work
(`ledger.unit_of_work`), the only way anything is saved.

The command of each input type is looked up in `ledger.commands`; it loads what it
needs through the unit of work and applies the rule on the aggregates, and the unit of
work saves every pending event in one transaction: a movement and its counter-entry
together. A refused command records an `InputRejected` instead, and nothing else. How
inputs, lines and reactions are kept from being applied twice is told in
`ledger.idempotency`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.persistence import Recording

from ledger.application import Ledger
from ledger.commands import run_command
from ledger.domain.errors import Rejected
from ledger.domain.market import CLOCK_ID, PARAMETERS_ID, Clock
from ledger.inputs import LedgerInput, input_record, overlay_record
from ledger.unit_of_work import UnitOfWork

QUIET_HOURS_PER_SAVE = 1000


def apply_input(app: Ledger, item: LedgerInput) -> list[Recording]:
    """Applies one validated input in one transaction (or records its rejection)."""
    with UnitOfWork(app) as uow:
        apply_within(app, uow, item)
        return uow.commit()


def apply_within(app: Ledger, uow: UnitOfWork, item: LedgerInput) -> None:
    """Applies one input to the aggregates of `uow`, which may hold earlier inputs too."""
    uow.require_not_applied(item)
    uow.inputs.append(input_record(item))
    uow.note_applied(item)
    if item.input_id is not None and not uow.admit(item):
        return
    pending_before = uow.pending_count()
    try:
        run_command(uow, item.body, item.at, item.cause())
    except Rejected as rejection:
        assert uow.pending_count() == pending_before, "a refused command must leave no event behind"
        uow.reject(item, str(rejection))


def begin_hours(
    app: Ledger, until: datetime, cause: dict[str, Any], quiet: Callable[[], bool] = lambda: False
) -> Iterator[list[Recording]]:
    """Records each hh:00 from the clock's hour up to `until`, one save each, so the
    interest of each hour is processed before time moves on; while `quiet()` says no
    hour's interest concerns anyone, hours share a save (a year is 8,784 of them)."""
    # Each save is made and left before it is yielded: a caller that takes only the
    # first (the service, an hour at a time) leaves no unit of work open behind it.
    with UnitOfWork(app) as uow:
        clock = uow.find(CLOCK_ID)
        if clock is None:
            uow.add(Clock(at=until, cause=cause))
            started = uow.commit()
    if clock is None:
        yield started
        return
    hour = clock.current_hour + timedelta(hours=1)
    while hour <= until:
        with UnitOfWork(app) as uow:
            clock = uow.get(CLOCK_ID)
            hours_in_save = 0
            while hour <= until and (hours_in_save == 0 or (hours_in_save < QUIET_HOURS_PER_SAVE and quiet())):
                clock.begin_hour(hour, hour, cause)
                hour += timedelta(hours=1)
                hours_in_save += 1
            recordings = uow.commit()
        yield recordings


def begin_run(app: Ledger, first: LedgerInput, again: bool = False, kind: str = "run") -> list[Recording]:
    """Before a run's first input: version 1 of the parameters (defaults, with the run's
    overlay) once per store, and the file begun (or begun again). The overlay is
    recorded when its file is begun, not again when a run resumes it."""
    with UnitOfWork(app) as uow:
        new_store = uow.find(PARAMETERS_ID) is None
        if new_store:
            uow.parameter_set(first.at)
        begun = first.chain is None or uow.begin_file(first.source, app.overlay_fingerprint(), again)
        if app.parameter_overlay and begun:
            cause = {"kind": kind, "source": first.source}
            if first.actor is not None:
                cause["actor"] = first.actor
            if not new_store:
                uow.get(PARAMETERS_ID).change(app.parameter_overlay, first.at, cause)
            # Recorded as a `params` input, so that a replay applies it where the run did.
            uow.inputs.append(overlay_record(app.parameter_overlay, first.at, cause))
        return uow.commit()
