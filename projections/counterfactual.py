"""`ledger replay`: what would have happened under another parameter set.

The store keeps every input it applied (`Ledger.recorded_inputs`). They are run again,
with the same code as `ledger run --params FILE`, into a scratch store in memory;
both the store and the scratch store are projected into in-memory views by the
same runner, and their reports compared account by account. Nothing is written
to the store or its views.

The replay starts, as a new store would, from the default parameters with FILE
over them; every recorded `params` input still applies, FILE winning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import StaticPool

from ledger.application import Ledger
from ledger.bootstrap import open_reading_ledger, open_scratch_ledger
from ledger.domain.parameters import first_version_data
from ledger.inputs import InputErrors, KnownState, check_restored_inputs, restore_input
from ledger.processes.inline import run_inputs
from ledger.store import store_environment
from projections.database import migrate
from projections.products import ByProduct
from projections.report import read_report
from projections.runner import OnProgress, ProjectionRunner, ViewStore

# Where an account ended, as a replay compares it: each product registers what of its
# report section counts (`projections/margin/counterfactual.py`).
ACCOUNT_OUTCOMES: ByProduct[Callable[[dict[str, Any]], dict[str, Any]]] = ByProduct("replay outcome")


class CounterfactualError(ValueError):
    pass


class OverlayRefused(CounterfactualError):
    """The overlay makes recorded inputs invalid: the fault is the overlay's, not the inputs'."""


def _unreported(_what: str, _done: int, _total: int) -> None:
    pass


def replay_store(
    store_url: str, overlay: dict[str, Any], account: str | None = None, on_progress: OnProgress = _unreported
) -> dict[str, Any]:
    store = open_reading_ledger(store_environment(store_url), store_url)
    try:
        records = list(store.recorded_inputs())
        if not records:
            raise CounterfactualError("the store holds no recorded inputs to replay")
        recorded = read_report(views_in_memory(store, "reading the store's events", on_progress))
    finally:
        store.close()
    inputs = [restore_input(record) for record in records]
    try:
        check_restored_inputs(inputs, KnownState(parameter_data=first_version_data(overlay)))
    except InputErrors as errors:
        raise OverlayRefused(
            f"under these parameters, recorded inputs are no longer valid: "
            f"{'; '.join(str(error) for error in errors.errors)}"
        ) from None
    scratch = open_scratch_ledger(overlay)
    try:
        run_inputs(scratch, inputs, on_progress=lambda done: on_progress("replaying the inputs", done, len(inputs)))
        replayed = read_report(views_in_memory(scratch, "reading the replay's events", on_progress))
    finally:
        scratch.close()
    if account is not None and account not in recorded["accounts"]:
        raise CounterfactualError(f"unknown account {account!r}")
    return compare_reports(recorded, replayed, overlay, len(records), account)


def views_in_memory(app: Ledger, what: str = "projecting", on_progress: OnProgress = _unreported) -> Engine:
    """The app's views, projected from event 1 into a private in-memory database."""
    # One connection, handed to the runner's writer thread in turn.
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    migrate(engine)
    total = app.recorder.max_notification_id() or 0

    def projected(_count: int, position: int) -> None:
        on_progress(what, position, total)

    ProjectionRunner(app, ViewStore(engine)).rebuild(on_batch=projected)
    return engine


def compare_reports(
    recorded: dict[str, Any], replayed: dict[str, Any], overlay: dict[str, Any], input_count: int, account: str | None
) -> dict[str, Any]:
    names = sorted(set(recorded["accounts"]) | set(replayed["accounts"]))
    if account is not None:
        names = [account]
    accounts: dict[str, Any] = {}
    differences: list[dict[str, Any]] = []
    for name in names:
        before, after = outcome(recorded, name), outcome(replayed, name)
        fields = dict.fromkeys([*before, *after])  # in the order the outcomes list them
        changed = [field for field in fields if before.get(field) != after.get(field)]
        accounts[name] = {"recorded": before, "replayed": after, "differs": changed}
        differences += [
            {"account": name, "what": field, "recorded": before.get(field), "replayed": after.get(field)}
            for field in changed
        ]
    return {"params": overlay, "inputs_replayed": input_count, "accounts": accounts, "differences": differences}


def outcome(report: dict[str, Any], name: str) -> dict[str, Any]:
    """What the replay compares of one account: its liquidations and where it ended."""
    state = report["accounts"].get(name)
    if state is None:
        return {}
    liquidations = [liquidation_outcome(item) for item in report["liquidations"] if item["account"] == name]
    ended = ACCOUNT_OUTCOMES.for_mode(state["mode"])(state)
    return {"liquidated": bool(liquidations), "liquidations": liquidations, **ended}


TRIGGER_LEVELS = ("margin_level", "margin_ratio")  # a spot-margin trigger's level, a futures trigger's ratio


def liquidation_outcome(liquidation: dict[str, Any]) -> dict[str, Any]:
    """What a replay compares of one liquidation, whichever product's: how it was triggered,
    its fee, what it returned (spot margin) and its shortfall."""
    trigger = liquidation["trigger"]
    compared: dict[str, Any] = {
        "kind": liquidation["kind"],
        "status": liquidation["status"],
        "trigger_at": trigger.get("at"),
    }
    compared.update({f"trigger_{level}": trigger[level] for level in TRIGGER_LEVELS if level in trigger})
    compared["fee"] = liquidation["fee"]
    if "returned" in liquidation:
        compared["returned"] = liquidation["returned"]
    compared["shortfall"] = liquidation["shortfall"]
    return compared
