"""The process manager resumes from its tracked position: work an input set off
but that did not run (the ledger stopped after saving it) runs when the store is
opened again, and runs once."""

from __future__ import annotations

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.processes.inline import ProcessManager, run_inputs
from ledger.runs import validate
from ledger.write_path import apply_input
from projections.report import build_report
from tests.conftest import SCENARIOS, LedgerSession

SEED_A = (SCENARIOS / "seed004_user_a.jsonl").read_text().splitlines()


def _save_without_processes(app: Ledger, line: str) -> None:
    """As if the ledger stopped right after saving the input."""
    for item in validate(app, line, "crash"):
        apply_input(app, item)


def test_a_liquidation_set_off_before_a_stop_runs_once_on_reopening(store_url: str) -> None:
    session = LedgerSession(store_url)
    session.run("\n".join(SEED_A[:-1]))
    _save_without_processes(session.app, SEED_A[-1])  # the mark that triggers the liquidation
    assert build_report(session.app)["liquidations"] == []
    session.close()

    reopened = LedgerSession(store_url)
    report = reopened.run("")
    assert [(found["kind"], found["status"]) for found in report["liquidations"]] == [("regular", "completed")]
    assert report["accounts"]["A"]["balances"] == {"BTC": "0.72727273"}
    again = LedgerSession(store_url).run("")
    assert again == report
    reopened.close()


def test_the_tracked_position_reaches_the_end_of_the_log(store_url: str) -> None:
    session = LedgerSession(store_url)
    session.run("\n".join(SEED_A))
    app = session.app
    assert app.recorder.max_tracking_id(app.name) == app.recorder.max_notification_id()
    session.close()


def test_a_reaction_is_recorded_with_the_tracking_of_its_cause(store_url: str) -> None:
    """Re-processing a notification whose reaction was recorded is refused by the store."""
    app = open_ledger(store_url)
    run_inputs(app, validate(app, "\n".join(SEED_A), "seed"))
    fresh = ProcessManager(app)
    fresh.position = 0  # pretend nothing was processed
    fresh.catch_up()  # reactions are idempotent, and tracked ones cannot be recorded twice
    assert build_report(app)["liquidations"][0]["fee"]["value"] == "7999.99988"
    assert len(build_report(app)["liquidations"]) == 1
    app.close()
