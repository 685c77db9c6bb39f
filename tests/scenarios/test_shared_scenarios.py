"""The shared scenarios of ../shared/scenarios (and of its futures/ folder) pass, on both
stores, through `ledger run` itself (a subprocess, as other tools drive it) and through
the library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS, LedgerSession
from tests.report_matching import differences

FUTURES_SCENARIOS = SCENARIOS / "futures"
SCENARIO_FILES = sorted(SCENARIOS.glob("*.jsonl")) + sorted(FUTURES_SCENARIOS.glob("*.jsonl"))


def _name(scenario: Path) -> str:
    """The scenario as the README names it: `seed004_user_a`, `futures/seed001_coinm_cost_to_open`."""
    return scenario.relative_to(SCENARIOS).with_suffix("").as_posix()


def _expected(scenario: Path) -> dict:
    return json.loads(scenario.with_name(scenario.name.replace(".jsonl", ".expected.json")).read_text())


def test_the_shared_scenarios_are_found() -> None:
    assert len(SCENARIO_FILES) >= 6
    assert len([scenario for scenario in SCENARIO_FILES if scenario.parent == FUTURES_SCENARIOS]) >= 3


@pytest.mark.parametrize("scenario", SCENARIO_FILES, ids=_name)
def test_ledger_run_json_matches_expected(scenario: Path, store_url: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "ledger", "run", str(scenario), "--store", store_url, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)  # exactly one JSON document on stdout
    assert differences(_expected(scenario), report) == []
    assert report["conservation"] == []


@pytest.mark.parametrize("scenario", SCENARIO_FILES, ids=_name)
def test_conservation_after_every_input(scenario: Path, ledger_session: LedgerSession) -> None:
    """Per asset, every balance and every debt of every account nets to zero after
    each input and its processes; and the balance sheet agrees with the aggregates."""
    for line in scenario.read_text().splitlines():
        report = ledger_session.run(line)
        assert report["conservation"] == [], line
        for name, account in report["accounts"].items():
            sheet = _sheet_holdings(ledger_session, name)
            assert sheet == {a: q for a, q in account["balances"].items()}, (line, name)


def _sheet_holdings(session: LedgerSession, account: str) -> dict[str, str]:
    from ledger.domain.money import normalized
    from ledger.log import stored_events
    from projections.balance_sheet import BalanceSheet

    sheet = BalanceSheet().apply_all(stored_events(session.app))
    return {asset: normalized(amount) for asset, amount in sheet.holdings(account).items()}


def test_seed_user_c_report_from_the_spec(store_url: str) -> None:
    """The issue's 'done when': seed004_user_c --json matches its expected report."""
    scenario = SCENARIOS / "seed004_user_c.jsonl"
    completed = subprocess.run(
        [sys.executable, "-m", "ledger", "run", str(scenario), "--store", store_url, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(completed.stdout)
    liquidation = report["liquidations"][0]
    assert liquidation["kind"] == "mixed"
    assert liquidation["fee"]["value"] == "8000"
    assert liquidation["returned"] == {"USDC": "29000"}
    assert report["system"]["insurance-fund"]["balances"] == {"USDC": "8000"}
