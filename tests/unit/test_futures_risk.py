"""The futures risk index (`ledger.processes.futures.risk.FuturesRisk`): a mark of a symbol is
decided by float only where the error bound allows, exactly elsewhere, and the wallets it
liquidates are those an exact evaluation of every wallet finds (`liquidations_due`).

Wallets are built in memory through the domain's aggregate (deposit, leverage, trades);
a wallet planted at its threshold has its cross wallet (or isolated margin) set to the
exact amount at which margin balance = MM at the decided marks, or a few units beside it."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.bootstrap import open_ledger
from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.exact import rounded
from ledger.domain.futures.trading import TradeSide
from ledger.domain.futures.wallet import MarginType
from ledger.domain.parameters import RiskParameters, default_parameter_data
from ledger.domain.prices import Mark, PriceBook
from ledger.log import stored_events
from ledger.processes.futures.due import liquidations_due
from ledger.processes.futures.risk import FuturesRisk, Verdict
from ledger.processes.inline import ProcessManager, run_inputs
from ledger.runs import validate

PARAMETERS = RiskParameters(default_parameter_data(), 1)
AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
CAUSE = {"kind": "test"}
ETH_MARK = Decimal(2000)
# Marks whose only prime factors are 2 and 5: a COIN-M notional (contracts x 100 / mark) and
# PnL are then terminating decimals, so that a threshold can be planted exactly.
SMOOTH_MARKS = [Decimal(m) for m in (16000, 20000, 25000, 31250, 32000, 40000, 50000, 62500, 64000, 80000)]
LINEAR_CAPS = [Decimal(50000), Decimal(600000), Decimal(3000000)]
INVERSE_CAPS = [Decimal(5), Decimal(10)]
SYMBOL_OF = {"usdm": "BTCUSDT", "coinm": "BTCUSD_PERP"}


def _prices(**marks: Decimal) -> PriceBook:
    symbol_marks = {symbol: Mark(price, symbol, AT) for symbol, price in marks.items()}
    return PriceBook({}, PARAMETERS, symbol_marks)


def _marks(mode: str, btc: Decimal) -> dict[str, Decimal]:
    return {"BTCUSDT": btc, "ETHUSDT": ETH_MARK} if mode == "usdm" else {"BTCUSD_PERP": btc}


def _wallet(
    name: str, mode: str, isolated: bool, side: TradeSide, quantity: Decimal, entry: Decimal, eth: Decimal = Decimal(0)
) -> FuturesAccount:
    """A USDⓈ-M (USDT) or COIN-M (BTC) wallet with one BTC position bought or sold at
    `entry` (cross or isolated), and for USDⓈ-M `eth` ETHUSDT bought, cross."""
    asset = "USDT" if mode == "usdm" else "BTC"
    symbol = SYMBOL_OF[mode]
    account = FuturesAccount(account=name, mode=mode, asset=asset, at=AT, cause=CAUSE)
    notional = quantity * entry if mode == "usdm" else quantity * 100 / entry
    account.deposit(asset, notional + eth * ETH_MARK + 1, AT, CAUSE)
    at_entry = _prices(**_marks(mode, entry))
    if isolated:
        account.change_leverage(symbol, 20, MarginType.ISOLATED, at_entry, AT, CAUSE)
    account.trade(symbol, side, quantity, entry, None, False, Decimal(0), at_entry, AT, CAUSE)
    if eth:
        account.trade("ETHUSDT", TradeSide.BUY, eth, ETH_MARK, None, False, Decimal(0), at_entry, AT, CAUSE)
    account.collect_events()
    return account


def _plant(account: FuturesAccount, prices: PriceBook, shift: Decimal) -> None:
    """Sets the cross wallet (or the isolated margin) to `shift` above the amount at which the
    margin balance equals the MM at `prices` (exactly, where that amount is a decimal)."""
    figures = account.figures(prices)
    if figures.isolated:
        position = figures.isolated[0]
        needed = position.maintenance_margin - position.unrealized_pnl
        held = position.held
        account.positions[held.symbol][held.slot.value]["isolated_margin"] = _decimal(needed) + shift
    else:
        account.cross_wallet = _decimal(figures.cross_maintenance_margin - figures.cross_unrealized_pnl) + shift


def _decimal(value: Fraction) -> Decimal:
    return rounded(value, 40)


def _index(accounts: list[FuturesAccount]) -> FuturesRisk:
    risk = FuturesRisk()
    for account in accounts:
        risk.note_account(account)
    return risk


def _exact(accounts: list[FuturesAccount], prices: PriceBook) -> set[str]:
    return {account.name for account in accounts if liquidations_due(account, prices)}


# --- wallets planted at the threshold and at a bracket's cap ------------------------------------


def test_wallets_at_the_threshold_take_the_exact_path_and_are_decided_right() -> None:
    tiny, unit = Decimal("1E-18"), Decimal("1E-6")
    mark = Decimal(40000)
    prices = _prices(**_marks("usdm", mark), **_marks("coinm", mark))
    accounts = []
    for mode in ("usdm", "coinm"):
        for isolated in (False, True):
            for label, shift in (("below", -tiny), ("at", Decimal(0)), ("above", tiny), ("far", unit)):
                quantity = Decimal("0.7") if mode == "usdm" else Decimal(300)
                account = _wallet(f"{mode}-{isolated}-{label}", mode, isolated, TradeSide.BUY, quantity, Decimal(50000))
                _plant(account, prices, shift)
                accounts.append(account)
    decisions = _index(accounts).decide("BTCUSDT", prices, {a.name: a for a in accounts}.__getitem__)
    coin_decisions = _index(accounts).decide("BTCUSD_PERP", prices, {a.name: a for a in accounts}.__getitem__)
    found = decisions.to_liquidate() | coin_decisions.to_liquidate()
    assert found == _exact(accounts, prices)
    assert {a.name for a in accounts if a.name.endswith(("-below", "-at"))} == found  # equality liquidates
    exactly = set(decisions.exact_names) | set(coin_decisions.exact_names)
    assert {a.name for a in accounts if not a.name.endswith("-far")} == exactly  # within the bound
    assert decisions.screened == coin_decisions.screened == 8


def test_a_notional_at_a_bracket_cap_is_evaluated_exactly() -> None:
    mark = Decimal(40000)
    prices = _prices(**_marks("usdm", mark), **_marks("coinm", mark))
    at_cap = [
        _wallet("linear-cap", "usdm", False, TradeSide.SELL, Decimal(600000) / mark, Decimal(40000)),
        _wallet("inverse-cap", "coinm", True, TradeSide.SELL, Decimal(5) * mark / 100, Decimal(40000)),
    ]
    beside = _wallet("linear-beside", "usdm", False, TradeSide.SELL, Decimal("14.9"), Decimal(40000))
    accounts = [*at_cap, beside]
    book = {a.name: a for a in accounts}.__getitem__
    linear = _index(accounts).decide("BTCUSDT", prices, book)
    inverse = _index(accounts).decide("BTCUSD_PERP", prices, book)
    assert linear.exact_names == ["linear-cap"] and inverse.exact_names == ["inverse-cap"]
    assert linear.to_liquidate() | inverse.to_liquidate() == _exact(accounts, prices) == set()


def test_a_wallet_being_liquidated_or_without_a_mark_is_evaluated_exactly() -> None:
    locked = _wallet("locked", "usdm", False, TradeSide.BUY, Decimal(1), Decimal(40000))
    locked.start_liquidation(None, None, AT, CAUSE)
    unpriced = _wallet("eth-unpriced", "usdm", False, TradeSide.BUY, Decimal(1), Decimal(40000), eth=Decimal(1))
    prices = PriceBook({}, PARAMETERS, {"BTCUSDT": Mark(Decimal(30000), "BTCUSDT", AT)})  # ETHUSDT: no mark
    risk = _index([locked])
    assert risk.decide("BTCUSDT", prices, {"locked": locked}.__getitem__).exact_names == ["locked"]
    risk = _index([unpriced])
    screen = risk.screen("BTCUSDT", prices)
    assert screen is not None and list(screen[1]) == [Verdict.EXACT]


def test_the_worst_wallets_come_first() -> None:
    prices = _prices(**_marks("usdm", Decimal(40000)))
    accounts = [
        _wallet(name, "usdm", False, TradeSide.BUY, Decimal(1), Decimal(40000)) for name in ("a", "b", "c", "d")
    ]
    for account, shift in zip(accounts, ("-50", "-200", "-1", "500"), strict=True):
        _plant(account, prices, Decimal(shift))
    decisions = _index(accounts).decide("BTCUSDT", prices, {a.name: a for a in accounts}.__getitem__)
    assert decisions.worst_first() == ["b", "a", "c"]


# --- the index itself -------------------------------------------------------------------------


def test_rows_follow_the_wallets_and_are_reused() -> None:
    risk = FuturesRisk()
    x = _wallet("x", "usdm", False, TradeSide.BUY, Decimal("0.5"), Decimal(40000), eth=Decimal(2))
    y = _wallet("y", "coinm", True, TradeSide.SELL, Decimal(100), Decimal(40000))
    risk.note_account(x)
    risk.note_account(y)
    rows = risk.rows()
    assert rows["x"][0] == float(x.cross_wallet) and rows["x"][1] is True
    assert [(symbol, side, quantity) for symbol, side, quantity, *_ in rows["x"][2]] == [
        ("BTCUSDT", 1.0, 0.5),
        ("ETHUSDT", 1.0, 2.0),
    ]
    (symbol, side, quantity, entry, isolated, margin) = rows["y"][2][0]
    assert (symbol, side, quantity, entry, isolated) == ("BTCUSD_PERP", -1.0, 100.0, 40000.0, True)
    assert margin == float(y.positions["BTCUSD_PERP"]["both"]["isolated_margin"]) > 0
    assert risk.holders_of("BTCUSDT") == ["x"] and risk.holders_of("ETHUSDT") == ["x"]
    at_entry = _prices(**_marks("usdm", Decimal(40000)))
    x.trade("BTCUSDT", TradeSide.SELL, Decimal("0.5"), Decimal(40000), None, False, Decimal(0), at_entry, AT, CAUSE)
    risk.note_account(x)  # BTCUSDT closed: one position row freed
    assert risk.holders_of("BTCUSDT") == [] and len(risk.rows()["x"][2]) == 1
    risk.remove("y")
    assert sorted(risk.rows()) == ["x"] and risk.holders_of("BTCUSD_PERP") == []
    z = _wallet("z", "coinm", False, TradeSide.BUY, Decimal(10), Decimal(40000))
    risk.note_account(z)
    assert risk.wallet_of["z"] == 1  # y's row, freed
    assert risk.holders_of("BTCUSD_PERP") == ["z"]
    for number in range(100):  # the arrays grow
        risk.note_account(_wallet(f"w{number}", "usdm", False, TradeSide.BUY, Decimal(1), Decimal(40000)))
    assert len(risk) == 102 and len(risk.holders_of("BTCUSDT")) == 100


# --- decisions equal evaluating every wallet exactly --------------------------------------------


@st.composite
def _books(draw: st.DrawFn) -> tuple[list[FuturesAccount], Decimal]:
    """Wallets (USDⓈ-M and COIN-M, cross and isolated, long and short) at, a few units from,
    or anywhere near their threshold at the drawn BTC mark; some with a notional at a cap."""
    mark = draw(st.sampled_from(SMOOTH_MARKS))
    prices = _prices(**_marks("usdm", mark), **_marks("coinm", mark))
    accounts = []
    for number in range(draw(st.integers(1, 6))):
        mode = draw(st.sampled_from(["usdm", "coinm"]))
        isolated = draw(st.booleans())
        side = draw(st.sampled_from([TradeSide.BUY, TradeSide.SELL]))
        entry = draw(st.sampled_from(SMOOTH_MARKS))
        if draw(st.booleans()):  # a notional exactly at a cap at the mark
            cap = draw(st.sampled_from(LINEAR_CAPS if mode == "usdm" else INVERSE_CAPS))
            quantity = cap / mark if mode == "usdm" else cap * mark / 100
        elif mode == "usdm":
            quantity = Decimal(draw(st.integers(1, 3000))) / 100
        else:
            quantity = Decimal(draw(st.integers(1, 2000)))
        eth = Decimal(draw(st.integers(0, 3))) if mode == "usdm" else Decimal(0)
        account = _wallet(f"F{number}", mode, isolated, side, quantity, entry, eth)
        plant = draw(st.sampled_from(["threshold", "threshold", "near", "as built"]))
        if plant != "as built":
            places = draw(st.sampled_from([6, 12, 18]))
            units = draw(st.integers(-3, 3)) if plant == "threshold" else draw(st.integers(-(10**6), 10**6))
            _plant(account, prices, Decimal(units).scaleb(-places))
        accounts.append(account)
    return accounts, mark


@settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_books())
def test_the_index_liquidates_as_evaluating_every_wallet_exactly(book: tuple[list[FuturesAccount], Decimal]) -> None:
    accounts, mark = book
    prices = _prices(**_marks("usdm", mark), **_marks("coinm", mark))
    risk = _index(accounts)
    wallets = {a.name: a for a in accounts}.__getitem__
    found = (
        risk.decide("BTCUSDT", prices, wallets).to_liquidate()
        | risk.decide("BTCUSD_PERP", prices, wallets).to_liquidate()
    )
    assert found == _exact(accounts, prices)


# --- through `ledger run` -----------------------------------------------------------------------


def _storm_inputs() -> str:
    """Four USDⓈ-M wallets long 1 BTC at 30000 with deposits of 2000 to 5000, one COIN-M long,
    and a mark of BTCUSDT at 27500 that liquidates the two thinnest, then of BTCUSD_PERP."""
    start = {"at": "2026-03-02T09:00:00Z"}
    lines: list[dict[str, object]] = [
        {"op": "mark", "symbol": "BTCUSDT", "price": "30000", **start},
        {"op": "mark", "symbol": "BTCUSD_PERP", "price": "30000"},
    ]
    for name, deposit in (("u-c", "2200"), ("u-a", "2600"), ("u-d", "5000"), ("u-b", "3000")):
        lines += [
            {"op": "open", "account": name, "mode": "usdm"},
            {"op": "deposit", "account": name, "asset": "USDT", "amount": deposit},
            {"op": "trade", "account": name, "symbol": "BTCUSDT", "side": "buy", "quantity": "1", "price": "30000"},
        ]
    lines += [
        {"op": "open", "account": "c-a", "mode": "coinm", "asset": "BTC"},
        {"op": "deposit", "account": "c-a", "asset": "BTC", "amount": "0.095"},
        {"op": "trade", "account": "c-a", "symbol": "BTCUSD_PERP", "side": "buy", "quantity": "300", "price": "30000"},
        {"op": "mark", "symbol": "BTCUSDT", "price": "27500"},
        {"op": "mark", "symbol": "BTCUSD_PERP", "price": "27500"},
    ]
    return "\n".join(json.dumps(line) for line in lines)


def test_ledger_run_liquidates_the_worst_first_and_a_rebuilt_index_equals_the_live_one(tmp_path: Path) -> None:
    app = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    live = ProcessManager(app)
    run_inputs(app, validate(app, _storm_inputs(), "futures-storm"), live)
    started = [event.account for event in stored_events(app) if isinstance(event, FuturesAccount.LiquidationStarted)]
    # At 27500: u-c (2200 - 2500 <= 110) first, then u-a (100 <= 110), not in name order; u-b
    # (500) and u-d stand.
    assert started[:2] == ["u-c", "u-a"] and sorted(started) == ["c-a", "u-a", "u-c"]
    rebuilt = ProcessManager(app)
    live_rows = live.indexes[FuturesRisk].rows()
    assert sorted(live_rows) == ["u-b", "u-d"]  # the liquidated wallets hold no position
    assert live_rows == rebuilt.indexes[FuturesRisk].rows()
    app.close()
