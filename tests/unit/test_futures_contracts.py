"""Futures position arithmetic: cost to open (seed 001), PnL, entry price, balances, funding."""

from __future__ import annotations

from decimal import Decimal

from ledger.domain.futures.balances import (
    available_balance,
    is_liquidatable,
    isolated_margin_removal_allowed,
    margin_ratio,
    withdrawable_balance,
)
from ledger.domain.futures.brackets import bracket_table
from ledger.domain.futures.contracts import (
    ContractKind,
    FuturesPosition,
    FuturesSymbol,
    Side,
    cost_to_open,
    entry_price_after_increase,
    notional,
    realized_pnl,
    unrealized_pnl,
)
from ledger.domain.futures.funding import funding_payment

D = Decimal
ROWS = [{"cap": "50000", "max_leverage": 125, "mmr": "0.004"}, {"cap": "600000", "max_leverage": 100, "mmr": "0.005"}]
BTCUSDT = FuturesSymbol("BTCUSDT", ContractKind.LINEAR, D(1), bracket_table(ROWS), D("0.0125"))
BTCUSD_PERP = FuturesSymbol(
    "BTCUSD_PERP",
    ContractKind.INVERSE,
    D(100),
    bracket_table([{"cap": "5", "max_leverage": 125, "mmr": "0.004"}]),
    D(0),
)


def test_seed001_coinm_long_cost_to_open() -> None:
    """10 contracts x $100 at 9,800, mark 9,602.6, 20x:
    IM = 1,000 / 9,800 / 20 = 0.005102040816 -> 0.00510204;
    open loss = 1,000 x |min(0, 1/9,800 - 1/9,602.6)| = 1,000 x 0.0000020976465 = 0.002097646 -> 0.00209765;
    cost = 0.0071996870 -> 0.00719969 (seed 001's step 3 misquotes 0.002096562)."""
    cost = cost_to_open(BTCUSD_PERP, Side.LONG, D(10), D(9800), D("9602.6"), 20, 8)
    assert (cost.initial_margin, cost.open_loss, cost.cost) == (D("0.00510204"), D("0.00209765"), D("0.00719969"))


def test_seed001_coinm_short_has_no_open_loss() -> None:
    """dir -1: -1 x (1/9,800 - 1/9,602.6) > 0, so min(0, .) = 0; cost = IM = 0.00510204."""
    cost = cost_to_open(BTCUSD_PERP, Side.SHORT, D(10), D(9800), D("9602.6"), 20, 8)
    assert (cost.initial_margin, cost.open_loss, cost.cost) == (D("0.00510204"), D(0), D("0.00510204"))


def test_usdm_open_loss_of_a_long_bought_above_the_mark() -> None:
    """1 BTC bought at 30,100, mark 30,000, 20x: IM = 30,100 / 20 = 1,505;
    open loss = 1 x |min(0, 30,000 - 30,100)| = 100; cost 1,605. A short there: 0 loss."""
    long = cost_to_open(BTCUSDT, Side.LONG, D(1), D(30100), D(30000), 20, 8)
    assert (long.initial_margin, long.open_loss, long.cost) == (D(1505), D(100), D(1605))
    assert cost_to_open(BTCUSDT, Side.SHORT, D(1), D(30100), D(30000), 20, 8).open_loss == 0


def test_notional_linear_and_inverse() -> None:
    """Linear |-2| x 30,000 = 60,000 USDT; inverse 10 x 100 / 40,000 = 0.025 BTC."""
    assert notional(BTCUSDT, D(-2), D(30000)) == D(60000)
    assert notional(BTCUSD_PERP, D(10), D(40000)) == D("0.025")


def test_pnl_linear_and_inverse() -> None:
    """Linear long 2 from 30,000 to 31,000: +2,000; short: -2,000.
    Inverse long 10 x 100 from 40,000 to 50,000: 1,000 x (1/40,000 - 1/50,000) = 0.005 BTC."""
    assert unrealized_pnl(BTCUSDT, Side.LONG, D(2), D(30000), D(31000)) == D(2000)
    assert realized_pnl(BTCUSDT, Side.SHORT, D(2), D(30000), D(31000)) == D(-2000)
    assert unrealized_pnl(BTCUSD_PERP, Side.LONG, D(10), D(40000), D(50000)) == D("0.005")
    assert unrealized_pnl(BTCUSD_PERP, Side.SHORT, D(10), D(40000), D(50000)) == D("-0.005")


def test_entry_price_on_an_increase() -> None:
    """Linear: (1 x 30,000 + 3 x 34,000) / 4 = 33,000.
    Inverse: 20 / (10/40,000 + 10/60,000) = 20 / 0.000416666… = 48,000 (harmonic mean)."""
    assert entry_price_after_increase(BTCUSDT, D(1), D(30000), D(3), D(34000)) == D(33000)
    assert entry_price_after_increase(BTCUSD_PERP, D(10), D(40000), D(10), D(60000)) == D(48000)


def test_balances_and_ratio() -> None:
    """WB 1,000, uPnL +200, IM 300: available 900, withdrawable 1,000 + 0 - 300 = 700;
    uPnL -200: both 500. Ratio 120 / 800 = 0.15; balance <= 0: None."""
    assert available_balance(D(1000), D(200), D(300)) == D(900)
    assert withdrawable_balance(D(1000), D(200), D(300)) == D(700)
    assert withdrawable_balance(D(1000), D(-200), D(300)) == D(500)
    assert margin_ratio(D(120), D(800)) == D("0.15")
    assert margin_ratio(D(120), D(0)) is None


def test_liquidation_threshold_equality_liquidates() -> None:
    """MB 100 = MM 100: liquidated; MB 100.00000001: not; MM 0 never."""
    assert is_liquidatable(D(100), D(100))
    assert not is_liquidatable(D("100.00000001"), D(100))
    assert not is_liquidatable(D(-5), D(0))


def test_isolated_margin_removal_ignores_unrealized_profit() -> None:
    """Notional 30,000 at 20x needs 1,500: 1,500 left with uPnL +500 allowed;
    1,499.99999999 + 500 refused (profit does not count); 1,600 with uPnL -100 allowed, -101 not."""
    assert isolated_margin_removal_allowed(D(1500), D(500), D(30000), 20)
    assert not isolated_margin_removal_allowed(D("1499.99999999"), D(500), D(30000), 20)
    assert isolated_margin_removal_allowed(D(1600), D(-100), D(30000), 20)
    assert not isolated_margin_removal_allowed(D(1600), D(-101), D(30000), 20)


def test_funding_linear_long_and_short_positive_and_negative_rates() -> None:
    """2 BTC at mark 30,000: notional 60,000; rate 0.0001: 6 USDT; a long pays -6, a short
    receives +6; rate -0.0001: the reverse."""
    long = FuturesPosition(BTCUSDT, Side.LONG, D(2), D(29000))
    short = FuturesPosition(BTCUSDT, Side.SHORT, D(2), D(29000))
    assert funding_payment(long, D(30000), D("0.0001"), 8) == D(-6)
    assert funding_payment(short, D(30000), D("0.0001"), 8) == D(6)
    assert funding_payment(long, D(30000), D("-0.0001"), 8) == D(6)
    assert funding_payment(short, D(30000), D("-0.0001"), 8) == D(-6)


def test_funding_inverse_rounded_half_even() -> None:
    """7 contracts x 100 / 30,000 = 0.0233333… BTC; x 0.0001 = 0.00000233333… -> 0.00000233;
    a long pays it, a short receives it."""
    long = FuturesPosition(BTCUSD_PERP, Side.LONG, D(7), D(30000))
    short = FuturesPosition(BTCUSD_PERP, Side.SHORT, D(7), D(30000))
    assert funding_payment(long, D(30000), D("0.0001"), 8) == D("-0.00000233")
    assert funding_payment(short, D(30000), D("0.0001"), 8) == D("0.00000233")
