"""The futures read side: wallets, positions, trades and liquidations in the report, the
tables, `ledger reconcile`, the views' migration, history, replay and the postmortem, on
both stores.

Some liquidations are set off by marks through the futures processes; others are carried
out here with the domain's own commands in one unit of work, in the order domain.md
("Futures liquidation") gives, to see states the processes pass through within one input
(a liquidation in progress) or figures a mark would not give (a shortfall): the read side
follows the events as `ledger.domain.futures` defines them, whichever code records them.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from rich.console import Console
from sqlalchemy import update

from ledger.domain.futures.account import FuturesAccount, clearance_fee_due, fee_value
from ledger.domain.futures.contracts import reported
from ledger.domain.futures.liquidation import LIQUIDATION_THRESHOLD, FuturesLiquidation
from ledger.domain.futures.wallet import WalletFigures
from ledger.domain.money import round_half_even
from ledger.unit_of_work import UnitOfWork
from projections import tables
from projections.database import alembic_config
from projections.presentation.report import print_report
from projections.reconcile import reconcile_store
from projections.report import StoreViews
from tests.conftest import SCENARIOS, LedgerSession
from tests.integration.cli_scenarios import ledger, run_json
from tests.report_matching import differences

FUTURES = SCENARIOS / "futures"
TWO_SYMBOLS = FUTURES / "binance_usdm_cross_two_symbols.jsonl"
COINM = FUTURES / "binance_coinm_liquidation_price.jsonl"
LATER = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CAUSE = {"kind": "test", "step": "liquidation"}


def scenario_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def session(store_url: str) -> Iterator[LedgerSession]:
    session = LedgerSession(store_url)
    yield session
    session.close()


def reconciled(session: LedgerSession) -> dict[str, Any]:
    session.report()  # the views brought up to date
    assert session.views is not None
    return reconcile_store(session.app, session.views.engine)


# --- the published examples, figure by figure ------------------------------------------------


def test_usdm_cross_two_symbols(session: LedgerSession) -> None:
    report = session.run_lines(*scenario_lines(TWO_SYMBOLS))
    wallet = report["accounts"]["F"]
    assert wallet["mode"] == "usdm" and wallet["asset"] == "USDT" and wallet["status"] == "normal"
    assert wallet["balances"] == {"USDT": "1535443.01"}
    assert wallet["wallet_balance"] == wallet["cross_wallet_balance"] == "1535443.01"
    assert wallet["margin_ratio"] == "0.41489491"
    btc, eth = wallet["positions"]
    assert (btc["symbol"], btc["side"], btc["leverage"], btc["margin_type"]) == ("BTCUSDT", "long", 20, "cross")
    assert btc["maintenance_margin"] == "71200.811444"
    assert eth["maintenance_margin"] == "356512.508122"
    assert abs(Decimal(btc["liquidation_price"]) - Decimal("26316.89")) <= Decimal("0.01")
    assert abs(Decimal(eth["liquidation_price"]) - Decimal("1153.26")) <= Decimal("0.01")
    assert "isolated_margin" not in btc
    # margin balance = wallet + uPnL of both; the ratio is cross MM over it
    margin_balance = Decimal("1535443.01") + Decimal(btc["unrealized_pnl"]) + Decimal(eth["unrealized_pnl"])
    assert Decimal(wallet["margin_balance"]) == margin_balance
    assert reported((Decimal("71200.811444") + Decimal("356512.508122")) / margin_balance) == Decimal("0.41489491")
    assert [(t["line"], t["cost"]) for t in report["trades"]] == [(7, "177819.351312"), (9, "1341741.99159")]
    assert reconciled(session)["ok"]


def test_coinm_liquidation_price(session: LedgerSession) -> None:
    report = session.run_lines(*scenario_lines(COINM))
    wallet = report["accounts"]["F"]
    (position,) = wallet["positions"]
    assert wallet["margin_ratio"] == "0.16012651"
    assert position["maintenance_margin"] == "16.17277778"
    assert position["initial_margin"] == "55.55555556"
    assert position["liquidation_price"] == "33599.41860562"  # 33,599.42 published
    assert position["leverage"] == 4 and isinstance(position["leverage"], int)
    assert report["trades"][0]["account"] == "F" and report["trades"][0]["open_loss"] == "0"
    assert reconciled(session)["ok"]


# --- positions, isolated margin, flips ----------------------------------------------------------


def isolated_hedge_lines() -> list[dict[str, Any]]:
    return [
        scenario_lines(TWO_SYMBOLS)[0],  # the 2021 bracket tables
        {"op": "open", "account": "H", "mode": "usdm"},
        {"op": "deposit", "account": "H", "asset": "USDT", "amount": "100000"},
        {"op": "position_mode", "account": "H", "mode": "hedge"},
        {"op": "leverage", "account": "H", "symbol": "BTCUSDT", "leverage": 10, "margin_type": "isolated"},
        {"op": "mark", "symbol": "BTCUSDT", "price": "30000"},
        {
            "op": "trade",
            "account": "H",
            "symbol": "BTCUSDT",
            "side": "buy",
            "quantity": "1",
            "price": "30000",
            "position_side": "long",
            "fee": "12",
        },
        {
            "op": "trade",
            "account": "H",
            "symbol": "BTCUSDT",
            "side": "sell",
            "quantity": "0.5",
            "price": "30000",
            "position_side": "short",
        },
        {"op": "isolated_margin", "account": "H", "symbol": "BTCUSDT", "position_side": "long", "amount": "500"},
        {"op": "mark", "symbol": "BTCUSDT", "price": "29000"},
    ]


def test_isolated_positions_in_hedge_mode(session: LedgerSession) -> None:
    report = session.run_lines(*isolated_hedge_lines())
    assert report["rejections"] == []
    wallet = report["accounts"]["H"]
    assert wallet["position_mode"] == "hedge"
    long, short = wallet["positions"]
    assert (long["side"], long["isolated_margin"]) == ("long", "3500")  # IM 3,000 + 500 added
    assert (short["side"], short["isolated_margin"]) == ("short", "1500")
    assert (long["margin_type"], long["leverage"]) == ("isolated", 10)
    # the wallet balance holds the isolated margins; the cross wallet does not
    assert wallet["cross_wallet_balance"] == "94988"  # 100,000 - 12 fee - 3,000 - 1,500 - 500
    assert wallet["wallet_balance"] == "99988"
    assert wallet["balances"] == {"USDT": "99988"}
    assert wallet["margin_ratio"] == "0"  # no cross position: MM 0 over the cross wallet
    assert long["unrealized_pnl"] == "-1000" and short["unrealized_pnl"] == "500"
    assert long["liquidation_price"] is not None and short["liquidation_price"] is not None
    assert [trade["cost"] for trade in report["trades"]] == ["3000", "1500"]
    assert reconciled(session)["ok"]


def test_a_closed_position_leaves_the_views_and_a_flip_lists_its_opening_part(session: LedgerSession) -> None:
    session.run_lines(*scenario_lines(COINM))
    report = session.run_lines(
        {"op": "trade", "account": "F", "symbol": "BTCUSD_PERP", "side": "sell", "quantity": "100000", "price": "45000"}
    )
    assert report["accounts"]["F"]["positions"] == []
    assert len(report["trades"]) == 1  # a close opens nothing
    report = session.run_lines(
        {"op": "trade", "account": "F", "symbol": "BTCUSD_PERP", "side": "buy", "quantity": "10", "price": "45000"},
        {"op": "trade", "account": "F", "symbol": "BTCUSD_PERP", "side": "sell", "quantity": "30", "price": "45000"},
    )
    (position,) = report["accounts"]["F"]["positions"]
    assert (position["side"], position["quantity"]) == ("short", "20")
    opening = report["trades"][-1]
    # the flip's opening part: 20 contracts of 100 USD at 45,000, 4x
    assert Decimal(opening["initial_margin"]) == round_half_even(Decimal(2000) / Decimal(45000) / 4, 8)
    assert reconciled(session)["ok"]
    with session.views.engine.connect() as connection:  # type: ignore[union-attr]
        rows = connection.execute(tables.futures_positions.select()).all()
    assert [(row.symbol, row.slot, row.side) for row in rows] == [("BTCUSD_PERP", "both", "short")]


# --- liquidations ----------------------------------------------------------------------------------


def trigger(uow: UnitOfWork, account: FuturesAccount) -> FuturesLiquidation:
    """The cross positions' liquidation triggered at the current marks, as the futures
    process records it."""
    prices = uow.prices()
    figures = account.figures(prices)
    ratio = figures.margin_ratio
    liquidation = FuturesLiquidation(
        account=account.name,
        sequence=account.liquidations_started + 1,
        mode=account.mode,
        asset=account.asset,
        symbol=None,
        slot=None,
        positions=[{"symbol": f.held.symbol, "notional": reported(f.notional)} for f in figures.cross],
        prices={f.held.symbol: f.mark for f in figures.cross},
        wallet_balance=figures.cross_wallet_balance,
        margin_balance=reported(figures.cross_margin_balance),
        maintenance_margin=reported(figures.cross_maintenance_margin),
        margin_ratio=None if ratio is None else reported(ratio),
        threshold=LIQUIDATION_THRESHOLD,
        parameters_version=prices.parameters.version,
        at=LATER,
        cause=CAUSE,
    )
    uow.add(liquidation)
    assert account.start_liquidation(None, None, LATER, CAUSE) == liquidation.id
    return liquidation


def carry_out(
    uow: UnitOfWork, account: FuturesAccount, liquidation: FuturesLiquidation, marks: dict[str, Decimal]
) -> None:
    """Closes the cross positions at `marks`, charges the fee, covers a shortfall, unlocks."""
    prices = uow.prices()
    precision = account.precision(prices.parameters)
    closed = WalletFigures(account.cross_wallet, account.held_positions(prices.parameters), marks).cross
    for figures in closed:
        account.close_at_mark(liquidation.id, figures, precision, LATER, CAUSE)
    fee = account.charge_clearance_fee(liquidation.id, clearance_fee_due(closed), precision, LATER, CAUSE)
    shortfall = account.cover_shortfall(liquidation.id, LATER, CAUSE)
    returned = account.end_liquidation(liquidation.id, LATER, CAUSE)
    value = fee_value(fee, closed)
    liquidation.complete(
        closed=[{"symbol": f.held.symbol, "notional": reported(f.notional)} for f in closed],
        fee=fee,
        fee_value=value,
        shortfall=shortfall,
        returned_to_cross_wallet=returned,
        at=LATER,
        cause=CAUSE,
    )


def liquidate(session: LedgerSession, marks: dict[str, Decimal] | None, complete: bool = True) -> None:
    with UnitOfWork(session.app) as uow:
        account = uow.account("F")
        assert isinstance(account, FuturesAccount)
        liquidation = trigger(uow, account)
        if complete:
            carry_out(uow, account, liquidation, marks or liquidation.trigger["prices"])
        uow.commit()


def test_a_liquidation_in_progress(session: LedgerSession) -> None:
    session.run_lines(*scenario_lines(TWO_SYMBOLS))
    liquidate(session, None, complete=False)
    report = session.report()
    wallet = report["accounts"]["F"]
    (liquidation,) = report["liquidations"]
    assert wallet["status"] == "liquidating" and wallet["liquidation_id"] == liquidation["id"]
    assert liquidation["kind"] == "futures" and liquidation["status"] == "in_progress"
    assert liquidation["trigger"]["margin_ratio"] == "0.41489491"
    assert liquidation["trigger"]["threshold"] == "1"
    assert liquidation["trigger"]["prices"] == {"BTCUSDT": "31967.27", "ETHUSDT": "1335.18"}
    assert liquidation["trigger"]["parameters_version"] == report["parameters_version"]
    assert liquidation["fee"] == {"amounts": {}, "value": "0"} and liquidation["shortfall"] == "0"
    assert reconciled(session)["ok"]


def test_a_completed_liquidation_with_a_clearance_fee(session: LedgerSession) -> None:
    session.run_lines(*scenario_lines(TWO_SYMBOLS))
    liquidate(session, None)
    report = session.report()
    (liquidation,) = report["liquidations"]
    # 0.0125 x (3,500,032.45776 + 4,918,775.08122), rounded down to USDT's places
    fee = Decimal("0.0125") * (Decimal("3500032.45776") + Decimal("4918775.08122"))
    assert liquidation["status"] == "completed"
    assert Decimal(0) <= fee - Decimal(liquidation["fee"]["amounts"]["USDT"]) < Decimal("0.01")
    assert liquidation["fee"]["value"] == liquidation["fee"]["amounts"]["USDT"]  # USDⓈ-M: the wallet asset
    assert liquidation["shortfall"] == "0"
    wallet = report["accounts"]["F"]
    assert wallet["status"] == "normal" and "liquidation_id" not in wallet and wallet["positions"] == []
    assert report["system"]["insurance-fund"]["balances"] == {"USDT": liquidation["fee"]["amounts"]["USDT"]}
    assert wallet["balances"] == {"USDT": wallet["wallet_balance"]}
    assert report["conservation"] == []
    assert reconciled(session)["ok"]


def test_a_liquidation_with_a_shortfall(session: LedgerSession) -> None:
    session.run_lines(*scenario_lines(COINM))
    liquidate(session, {"BTCUSD_PERP": Decimal("20000")})
    report = session.report()
    (liquidation,) = report["liquidations"]
    # 100,000 contracts x 100 x (1/45,000 - 1/20,000) = -277.77777778 BTC against a wallet of 101
    assert liquidation["shortfall"] == "176.77777778"
    assert liquidation["fee"] == {"amounts": {}, "value": "0"}  # nothing positive remained
    assert report["accounts"]["F"]["balances"] == {}
    assert report["accounts"]["F"]["wallet_balance"] == "0"
    assert report["warnings"] == ["insurance-fund is negative: BTC -176.77777778"]
    assert reconciled(session)["ok"]


def test_a_futures_liquidation_in_the_tables(session: LedgerSession) -> None:
    session.run_lines(*scenario_lines(COINM))
    liquidate(session, None)
    report = session.report()
    text = printed(report, 200)
    liquidation = report["liquidations"][0]
    for figure in (liquidation["id"], liquidation["trigger"]["margin_ratio"], liquidation["fee"]["amounts"]["BTC"]):
        assert figure in text


# --- the tables --------------------------------------------------------------------------------------

FIGURE = re.compile(r"-?\d+(\.\d+)?")


def figures_of(document: Any) -> set[str]:
    if isinstance(document, dict):
        return set().union(*(figures_of(value) for value in document.values()))
    if isinstance(document, list):
        return set().union(*(figures_of(value) for value in document))
    if isinstance(document, bool) or document is None:
        return set()
    if isinstance(document, int):
        return {str(document)}
    return {document} if isinstance(document, str) and FIGURE.fullmatch(document) else set()


def printed(report: dict[str, Any], width: int) -> str:
    file = io.StringIO()
    print_report(report, Console(file=file, width=width, force_terminal=True, color_system="standard"))
    return re.sub(r"\x1b\[[0-9;]*m", "", file.getvalue())


@pytest.mark.parametrize("width", (40, 80, 200))
def test_the_tables_show_every_figure_of_a_wallet_whole(session: LedgerSession, width: int) -> None:
    report = session.run_lines(*isolated_hedge_lines())
    text = printed(report, width)
    expected = figures_of({"accounts": report["accounts"], "trades": report["trades"]})
    missing = sorted(figure for figure in expected if figure not in text)
    assert not missing, text
    assert "Futures wallets" in text and "…" not in text


def test_a_margin_report_prints_no_futures_sheet(session: LedgerSession) -> None:
    report = session.run_lines({"op": "open", "account": "A", "mode": "spot", "at": "2026-03-02T09:00:00Z"})
    assert report["trades"] == []
    assert "Futures" not in printed(report, 200)


# --- reconcile and the migration ------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(FUTURES.glob("*.jsonl")), ids=lambda path: path.stem)
def test_ledger_reconcile_passes_after_a_futures_scenario(scenario: Path, store_url: str) -> None:
    run_json(scenario, store_url)
    result = ledger("reconcile", "--store", store_url, "--json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["ok"] is True


def test_reconcile_finds_a_futures_row_that_disagrees(session: LedgerSession) -> None:
    session.run_lines(*isolated_hedge_lines())
    assert session.views is not None
    with session.views.engine.begin() as connection:
        connection.execute(
            update(tables.futures_positions)
            .where(tables.futures_positions.c.slot == "long")
            .values(isolated_margin=Decimal("3499"))
        )
    found = reconciled(session)
    assert found["checks"]["views"] == "failed"
    assert found["checks"]["accounts_match_books"] == "failed"
    wrong = [d for d in found["differences"] if d["check"] == "accounts_match_books"]
    assert wrong == [
        {
            "check": "accounts_match_books",
            "table": "view_futures_wallets",
            "key": {"account": "H", "asset": "USDT"},
            "column": "wallet balance",
            "expected": "99988",
            "found": "99987",
        }
    ]


def test_views_that_passed_futures_events_before_0002_are_projected_again(store_url: str) -> None:
    expected = run_json(COINM, store_url)
    with StoreViews(store_url) as views:
        command.downgrade(alembic_config(views.engine), "0001")  # as a store projected before 0002
    with StoreViews(store_url) as views:  # migrated to 0002, then brought up to date
        report = views.report()
    assert differences(without_run(expected), report) == []
    result = ledger("reconcile", "--store", store_url, "--json")
    assert result.exit_code == 0, result.stdout


def without_run(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key != "run"}


# --- history and replay ------------------------------------------------------------------------------


def test_history_of_a_futures_wallet(store_url: str) -> None:
    report = run_json(COINM, store_url)
    result = ledger("history", "F", "--store", store_url, "--json")
    assert result.exit_code == 0, result.stderr
    history = json.loads(result.stdout)
    state = history["state"]
    assert {key: state[key] for key in report["accounts"]["F"]} == report["accounts"]["F"]
    assert state["prices"] == {"BTCUSD_PERP": "45000"}
    before_trade = history["events"][-2]["notification_id"]
    result = ledger("history", "F", "--store", store_url, "--at-event", str(before_trade), "--json")
    earlier = json.loads(result.stdout)["state"]
    assert earlier["positions"] == [] and earlier["margin_ratio"] == "0"
    table = ledger("history", "F", "--store", store_url)
    assert table.exit_code == 0 and "33599.41860562" in table.stdout


def test_replay_compares_futures_wallets(store_url: str, tmp_path: Path) -> None:
    run_json(COINM, store_url)
    overlay = scenario_lines(COINM)[0]["symbols"]["BTCUSD_PERP"]
    overlay = {**overlay, "brackets": [{"cap": "9223372036854775807", "max_leverage": 4, "mmr": "0.5"}]}
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"symbols": {"BTCUSD_PERP": overlay}}))
    result = ledger("replay", "--params", str(params), "--store", store_url, "--json")
    assert result.exit_code == 0, result.stderr
    replay = json.loads(result.stdout)
    assert replay["accounts"]["F"]["recorded"]["margin_ratio"] == "0.16012651"
    assert "margin_ratio" in replay["accounts"]["F"]["differs"]


# --- liquidations set off by marks, through the futures processes -------------------------------------


def test_a_mark_past_the_liquidation_price_liquidates_the_cross_wallet(session: LedgerSession) -> None:
    session.run_lines(*scenario_lines(COINM))
    assert session.run_lines({"op": "mark", "symbol": "BTCUSD_PERP", "price": "33599.42"})["liquidations"] == []
    report = session.run_lines({"op": "mark", "symbol": "BTCUSD_PERP", "price": "33599.41"})
    (liquidation,) = report["liquidations"]
    assert (liquidation["kind"], liquidation["status"], liquidation["scope"]) == (
        "futures",
        "completed",
        {"symbol": None, "slot": None},
    )
    assert liquidation["trigger"]["prices"] == {"BTCUSD_PERP": "33599.41"}
    assert Decimal(liquidation["trigger"]["margin_ratio"]) >= 1
    fee = liquidation["fee"]["amounts"]["BTC"]
    assert report["system"]["insurance-fund"]["balances"] == {"BTC": fee}
    # the fee's value in USD at the mark: contracts x size x fee / the closed coin notional
    assert abs(Decimal(liquidation["fee"]["value"]) - Decimal(fee) * Decimal("33599.41")) < Decimal("0.01")
    wallet = report["accounts"]["F"]
    assert wallet["positions"] == [] and wallet["status"] == "normal"
    assert Decimal(wallet["wallet_balance"]) == 101 - Decimal("75.40205154") - Decimal(fee)
    assert reconciled(session)["ok"]
    result = ledger("liquidations", "--kind", "futures", "--store", session.url, "--json")
    assert [found["id"] for found in json.loads(result.stdout)["liquidations"]] == [liquidation["id"]]


def test_an_isolated_position_liquidated_alone(session: LedgerSession) -> None:
    report = session.run_lines(
        scenario_lines(TWO_SYMBOLS)[0],
        {"op": "open", "account": "I", "mode": "usdm"},
        {"op": "deposit", "account": "I", "asset": "USDT", "amount": "10000"},
        {"op": "leverage", "account": "I", "symbol": "BTCUSDT", "leverage": 10, "margin_type": "isolated"},
        {"op": "mark", "symbol": "BTCUSDT", "price": "30000"},
        {"op": "trade", "account": "I", "symbol": "BTCUSDT", "side": "buy", "quantity": "1", "price": "30000"},
        {"op": "mark", "symbol": "BTCUSDT", "price": "27000"},
    )
    (liquidation,) = report["liquidations"]
    assert liquidation["scope"] == {"symbol": "BTCUSDT", "slot": "both"}
    assert liquidation["trigger"]["margin_ratio"] is None  # its margin + uPnL is 0
    assert (liquidation["trigger"]["margin_balance"], liquidation["trigger"]["maintenance_margin"]) == ("0", "108")
    assert liquidation["fee"] == {"amounts": {}, "value": "0"} and liquidation["shortfall"] == "0"
    wallet = report["accounts"]["I"]
    assert (wallet["cross_wallet_balance"], wallet["balances"], wallet["positions"]) == ("7000", {"USDT": "7000"}, [])
    assert reconciled(session)["ok"]
    assert "(isolated BTCUSDT both)" in printed(report, 200)


def test_the_postmortem_of_a_futures_liquidation(store_url: str, tmp_path: Path) -> None:
    scenario = tmp_path / "liquidated.jsonl"
    scenario.write_text(COINM.read_text() + json.dumps({"op": "mark", "symbol": "BTCUSD_PERP", "price": "33599.41"}))
    liquidation = run_json(scenario, store_url)["liquidations"][0]
    result = ledger("postmortem", liquidation["id"], "--store", store_url, "--json")
    assert result.exit_code == 0, result.stderr
    told = json.loads(result.stdout)
    assert told["liquidation"] == liquidation
    assert [step["step"] for step in told["steps"]] == [
        "before the input",
        "trigger",
        "lock",
        "close at mark",
        "clearance fee",
        "unlock",
        "completed",
    ]
    assert told["steps"][0]["wallet"]["margin_ratio"] == "0.16012651"
    assert told["steps"][1]["wallet"]["margin_ratio"] == liquidation["trigger"]["margin_ratio"]
    assert told["steps"][-1]["positions"] == []
    (found,) = told["trigger_inputs"]
    assert (found["line"], found["op"], found["input"]["price"]) == (7, "mark", "33599.41")
    assert told["parameters"]["symbols"]["BTCUSD_PERP"]["contract_size"] == "100"
    table = ledger("postmortem", liquidation["id"], "--store", store_url, "--format", "table")
    assert table.exit_code == 0 and liquidation["fee"]["amounts"]["BTC"] in table.stdout
    page = ledger("postmortem", liquidation["id"], "--store", store_url, "--format", "html")
    assert page.exit_code == 0 and "Step by step" in page.stdout and "33599.41860562" in page.stdout
