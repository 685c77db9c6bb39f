"""A store written with the old JSON transcoder, then by this version (MessagePack): old and
new events and snapshots side by side, and the store loads whole from a fresh process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ledger.bootstrap import open_ledger
from ledger.domain.identity import account_id
from ledger.log import stored_events
from projections.report import build_report
from tests.integration.cli_scenarios import ledger, write_scenario
from tests.integration.test_store_of_the_previous_version import stored_rows

STORE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v2.db"


def formats(store: Path, table: str) -> set[str]:
    return {"json" if state[:1] == b"{" else "msgpack" for (state,) in stored_rows(store, f"SELECT state FROM {table}")}


def test_a_store_of_old_and_new_events_and_snapshots_loads(tmp_path: Path) -> None:
    copy = tmp_path / STORE.name
    shutil.copyfile(STORE, copy)
    url = f"sqlite:///{copy}"
    lines = [
        {"op": "open", "account": "MIXED", "mode": "usdm", "at": "2026-01-15T09:00:00Z"},
        {"op": "deposit", "account": "MIXED", "asset": "USDT", "amount": "1000.50"},
        {"op": "mark", "symbol": "BTCUSDT", "price": "30000"},
        {"op": "trade", "account": "MIXED", "symbol": "BTCUSDT", "side": "buy", "quantity": "0.3", "price": "30000"},
        {"op": "mark", "symbol": "BTCUSDT", "price": "29000"},
    ]
    result = ledger("run", str(write_scenario(tmp_path / "mixed.jsonl", lines)), "--store", url, "--json")
    assert result.exit_code == 0, result.stderr
    app = open_ledger(url)
    try:
        old_account = app.account_names()[0]
        for name in (old_account, "MIXED"):  # a snapshot written now of an old and of a new stream
            app.take_snapshot(account_id(name))
    finally:
        app.close()
    assert formats(copy, "stored_events") == {"json", "msgpack"}
    assert formats(copy, "stored_snapshots") == {"json", "msgpack"}

    app = open_ledger(url)  # a fresh application: nothing cached
    try:
        events = list(stored_events(app))
        assert len(events) == len(stored_rows(copy, "SELECT 1 FROM stored_events"))
        ids = {event.originator_id for event in events if hasattr(event, "mutate")}  # not the logs
        for originator_id in ids:  # every aggregate, from its snapshot where it has one
            assert app.repository.get(originator_id).id == originator_id
        mixed = app.repository.get(account_id("MIXED"))
        assert mixed.version == len([event for event in events if event.originator_id == account_id("MIXED")])
        report = build_report(app)
    finally:
        app.close()
    assert "MIXED" in json.dumps(report, default=str)
    assert ledger("reconcile", "--store", url, "--json").exit_code == 0
