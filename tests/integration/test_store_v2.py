"""The store of the last version before actors (`store_v2.db`, written by 7416f1c:
`tests/fixtures/make_store_v2.py` says how) loads, reads and goes on.

It holds spot margin and futures events (every kind of margin liquidation, three futures
liquidations, funding, isolated margin, hedge mode), whose causes carry no `actor` and, for
process steps, no `origin`. The current code reads their actor as not recorded, and an
input applied now names its actor beside them.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from ledger.causes import actor_of
from ledger.log import stored_events
from projections.report import build_report
from tests.integration.cli_scenarios import ledger, write_scenario
from tests.integration.test_store_of_the_previous_version import assert_same_as_old, ok, stored_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STORE = FIXTURES / "store_v2.db"
EXPECTED = FIXTURES / "store_v2.expected.json"
RUN_ONLY_KEYS = frozenset({"run"})


@pytest.fixture(scope="module")
def old_report() -> dict[str, Any]:
    return json.loads(EXPECTED.read_text())


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A copy of the old store, never the committed file."""
    copy = tmp_path / STORE.name
    shutil.copyfile(STORE, copy)
    return f"sqlite:///{copy}"


def test_the_fixture_holds_futures_and_no_actor() -> None:
    topics = Counter(topic for (topic,) in stored_rows(STORE, "SELECT topic FROM stored_events"))
    assert topics["ledger.domain.futures.liquidation:FuturesLiquidation.Triggered"] == 3
    assert topics["ledger.domain.futures.account:FuturesAccount.FundingSettled"] >= 1
    assert topics["ledger.domain.margin.liquidation:Liquidation.Triggered"] == 5
    states = [json.loads(state) for (state,) in stored_rows(STORE, "SELECT state FROM stored_events")]
    causes = [state["cause"] for state in states if isinstance(state.get("cause"), dict)]
    assert len(causes) > 1000
    assert not [cause for cause in causes if "actor" in cause or "origin" in cause]


def test_it_reads_as_the_old_version_printed_it(store_url: str, old_report: dict[str, Any]) -> None:
    expected = {key: value for key, value in old_report.items() if key not in RUN_ONLY_KEYS}
    app = open_ledger(store_url)
    try:
        assert_same_as_old(expected, build_report(app), "the report")
    finally:
        app.close()
    rebuilt = ok("project", "--rebuild", "--store", store_url)
    assert rebuilt["position"] == rebuilt["last_notification_id"]
    app = open_ledger(store_url)
    try:
        assert_same_as_old(expected, build_report(app), "the report from rebuilt views")
    finally:
        app.close()
    assert ok("reconcile", "--store", store_url)["ok"] is True
    for liquidation in old_report["liquidations"]:
        told = ok("postmortem", liquidation["id"], "--format", "json", "--store", store_url)
        assert_same_as_old(liquidation, told["liquidation"], f"the postmortem of {liquidation['id']}")


def test_old_events_have_no_actor_and_new_ones_do(store_url: str, tmp_path: Path, old_report: dict[str, Any]) -> None:
    """A new day after the old clock, by `carol`: a futures wallet trades and is liquidated
    beside the old ones; its events and steps name carol, the old ones none."""
    lines = [
        {"op": "open", "account": "NEW", "mode": "usdm", "at": "2026-01-15T09:00:00Z"},
        {"op": "deposit", "account": "NEW", "asset": "USDT", "amount": "1000"},
        {"op": "mark", "symbol": "BTCUSDT", "price": "30000"},
        {"op": "trade", "account": "NEW", "symbol": "BTCUSDT", "side": "buy", "quantity": "0.5", "price": "30000"},
        {"op": "mark", "symbol": "BTCUSDT", "price": "28100"},
    ]
    result = ledger(
        "run", str(write_scenario(tmp_path / "new.jsonl", lines)), "--store", store_url, "--actor", "carol", "--json"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [item["account"] for item in report["liquidations"]][-1] == "NEW"
    app = open_ledger(store_url)
    try:
        actors = Counter(actor_of(event.cause) for event in stored_events(app) if hasattr(event, "cause"))
    finally:
        app.close()
    assert set(actors) == {None, "carol"} and actors["carol"] >= 10
    assert ok("reconcile", "--store", store_url)["ok"] is True
