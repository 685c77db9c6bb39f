"""`ledger replay`: the recorded inputs again, under other parameters, in a scratch store.

Seed 004's user A is liquidated at a margin level of 1.1 (5x cross classic). With the
liquidation level lowered to 1.05 the same inputs liquidate nothing; with a 3% fee
the fee is 3% of the 400,000 USDC liabilities: 12,000. The store is never written.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from tests.conftest import SCENARIOS
from tests.conftest import ledger_cli as ledger


def replay(store_url: str, tmp_path: Path, params: dict[str, Any], *extra: str) -> dict[str, Any]:
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(params))
    completed = ledger("replay", "--params", str(params_file), "--store", store_url, "--json", *extra)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def run_seed_a(store_url: str) -> None:
    completed = ledger("run", str(SCENARIOS / "seed004_user_a.jsonl"), "--store", store_url, "--json")
    assert completed.returncode == 0, completed.stderr


def store_fingerprint(store_url: str) -> Any:
    """What would change if anything wrote to the store or its views."""
    if store_url.startswith("sqlite:///"):
        return hashlib.sha256(Path(store_url[len("sqlite:///") :]).read_bytes()).hexdigest()
    base, schema = store_url.split("?schema=")
    with psycopg.connect(base) as connection:
        connection.execute(f"SET search_path TO {schema}")
        events = connection.execute("SELECT max(notification_id), count(*) FROM ledger_events").fetchone()
        views = connection.execute("SELECT count(*) FROM view_events").fetchone()
        position = connection.execute("SELECT notification_id FROM view_tracking").fetchone()
    return events, views, position


def test_a_lower_liquidation_level_leaves_user_a_unliquidated(store_url: str, tmp_path: Path) -> None:
    run_seed_a(store_url)
    before = store_fingerprint(store_url)
    result = replay(store_url, tmp_path, {"margin": {"cross_classic": {"5": {"liquidation": "1.05"}}}})
    account = result["accounts"]["A"]
    assert account["recorded"]["liquidated"] is True
    assert account["replayed"]["liquidated"] is False
    assert account["replayed"]["liquidations"] == []
    assert account["replayed"]["balances"] == {"BTC": "10"}  # the position stands, in a margin call
    assert account["replayed"]["status"] == "margin_call"
    assert {"liquidated", "liquidations", "balances", "debts", "status"} <= set(account["differs"])
    assert result["inputs_replayed"] == 7
    assert store_fingerprint(store_url) == before


def test_a_three_percent_fee_makes_it_12000(store_url: str, tmp_path: Path) -> None:
    run_seed_a(store_url)
    result = replay(store_url, tmp_path, {"margin": {"cross_classic": {"5": {"fee": "0.03"}}}})
    recorded, replayed = (result["accounts"]["A"][side]["liquidations"][0] for side in ("recorded", "replayed"))
    assert abs(Decimal(recorded["fee"]["value"]) - Decimal("8000")) <= Decimal("0.01")
    assert abs(Decimal(replayed["fee"]["value"]) - Decimal("12000")) <= Decimal("0.01")
    assert replayed["kind"] == recorded["kind"] == "regular"
    assert replayed["trigger_at"] == recorded["trigger_at"] == "2026-01-05T10:20:00Z"
    assert result["accounts"]["A"]["differs"] == ["liquidations", "balances"]


def test_the_same_parameters_change_nothing(store_url: str, tmp_path: Path) -> None:
    run_seed_a(store_url)
    result = replay(store_url, tmp_path, {"margin": {"cross_classic": {"5": {"fee": "0.02"}}}})
    assert result["differences"] == []
    table = ledger("replay", "--params", str(tmp_path / "params.json"), "--store", store_url)
    assert table.returncode == 0
    assert "Nothing would have differed" in table.stdout


def test_replay_of_one_account_and_bad_arguments(store_url: str, tmp_path: Path) -> None:
    run_seed_a(store_url)
    result = replay(store_url, tmp_path, {"margin": {"cross_classic": {"5": {"fee": "0.03"}}}}, "--account", "A")
    assert list(result["accounts"]) == ["A"]
    unknown = ledger("replay", "--params", str(tmp_path / "params.json"), "--store", store_url, "--account", "Z")
    assert unknown.returncode == 2 and "unknown account 'Z'" in unknown.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"margin": {"cross_classic": {"5": {"fee": 0.03}}}}))
    refused = ledger("replay", "--params", str(bad), "--store", store_url)
    assert refused.returncode == 2 and "fee" in refused.stderr


def test_a_runs_own_params_overlay_is_replayed_where_the_run_applied_it(store_url: str, tmp_path: Path) -> None:
    overlay = tmp_path / "lower.json"
    overlay.write_text(json.dumps({"margin": {"cross_classic": {"5": {"liquidation": "1.05"}}}}))
    completed = ledger(
        "run", str(SCENARIOS / "seed004_user_a.jsonl"), "--params", str(overlay), "--store", store_url, "--json"
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["liquidations"] == []
    assert replay(store_url, tmp_path, {})["differences"] == []


INTEREST_SCENARIO = [
    {"op": "params", "at": "2026-03-01T09:30:00Z", "assets": {"USDC": {"hourly_interest": "0.0001"}}},
    {"op": "open", "account": "I", "mode": "cross_classic", "leverage": 3},
    {"op": "mark", "asset": "BTC", "price": "50000"},
    {"op": "deposit", "account": "I", "asset": "BTC", "amount": "1.5"},
    {"op": "borrow", "account": "I", "asset": "USDC", "amount": "20000"},
    {"op": "mark", "asset": "BTC", "price": "50100", "at": "2026-03-01T12:10:00Z"},
]


def test_interest_and_margin_level_are_compared(store_url: str, tmp_path: Path) -> None:
    scenario = tmp_path / "interest.jsonl"
    scenario.write_text("\n".join(json.dumps(line) for line in INTEREST_SCENARIO))
    assert ledger("run", str(scenario), "--store", store_url).returncode == 0
    result = replay(store_url, tmp_path, {"assets": {"USDC": {"hourly_interest": "0.001"}}})
    account = result["accounts"]["I"]
    # 20,000 USDC at 0.0001 an hour, charged at 09:30, 10:00, 11:00 and 12:00: 8 USDC; ten times the rate: 80.
    assert account["recorded"]["interest"] == {"USDC": "8"}
    assert account["replayed"]["interest"] == {"USDC": "80"}
    assert {"interest", "margin_level"} <= set(account["differs"])


def test_inputs_invalid_under_the_new_parameters_are_named(store_url: str, tmp_path: Path) -> None:
    scenario = tmp_path / "interest.jsonl"
    scenario.write_text("\n".join(json.dumps(line) for line in INTEREST_SCENARIO))
    assert ledger("run", str(scenario), "--store", store_url).returncode == 0
    params_file = tmp_path / "coarse.json"
    params_file.write_text(json.dumps({"assets": {"BTC": {"precision": 0}}}))
    completed = ledger("replay", "--params", str(params_file), "--store", store_url)
    assert completed.returncode == 2
    assert "line 4" in completed.stderr and "interest.jsonl" in completed.stderr, completed.stderr
