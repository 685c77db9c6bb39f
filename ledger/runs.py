"""A scenario against a store: what the store already knows, what of the file is
still to apply, and the store opened only once the file is known to be valid."""

from __future__ import annotations

from typing import Any

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.domain.identity import account_id
from ledger.domain.parameters import first_version_data, merge_parameter_data, validate_parameter_set
from ledger.idempotency import latest_round
from ledger.inputs import InputError, InputErrors, KnownState, LedgerInput, Scenario, parse_scenario
from ledger.store import store_exists
from ledger.unit_of_work import UnitOfWork


def known_state(app: Ledger, source: str) -> KnownState:
    """What the store already knows, as input validation starts from it: its accounts,
    parameters (with the run's overlay laid over them, as the run will) and clock, and how
    far it applied the file `source` before."""
    mark = app.file_mark(source)
    return KnownState(
        accounts=AccountModes(app),
        parameter_data=_with_overlay(app.parameter_data(), app.parameter_overlay),
        clock=app.store_clock(),
        overlay=app.parameter_overlay,
        file_mark=mark,
        recorded_from_file=lambda name: latest_round(app.recorded_inputs(), name, mark.inputs_applied if mark else 0),
    )


class AccountModes(dict[str, str]):
    """Each account's mode by name, for validation: read from the account when a line first
    names it, so that a short file on a large store reads the few accounts it names, not
    every account (nor the log of every name). What the validation asks: `in`, `get`, `[]`,
    and a new account's mode set."""

    def __init__(self, app: Ledger):
        super().__init__()
        self.app = app
        self.absent: set[str] = set()

    def __contains__(self, name: object) -> bool:
        if super().__contains__(name):
            return True
        if not isinstance(name, str) or name in self.absent:
            return False
        with UnitOfWork(self.app) as uow:
            account = uow.find(account_id(name))
        if account is None:
            self.absent.add(name)
            return False
        super().__setitem__(name, account.mode)
        return True

    def __getitem__(self, name: str) -> str:
        if name not in self:
            raise KeyError(name)
        return super().__getitem__(name)

    def __setitem__(self, name: str, mode: str) -> None:
        self.absent.discard(name)
        super().__setitem__(name, mode)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[name] if name in self else default


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
    created only once the scenario is known to be valid. The caller (`ledger run`) holds
    the store's writer lease: the ledger knows in memory which aggregates exist."""
    overlay = parameter_overlay or {}
    if store_exists(url):
        app = open_ledger(url, overlay)
        try:
            scenario = plan(app, text, source, again)
        except BaseException:
            app.close()
            raise
    else:
        scenario = parse_scenario(text, source, _new_store_state(overlay), again)
        app = open_ledger(url, overlay)
    app.remember_existence()
    return app, scenario


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
