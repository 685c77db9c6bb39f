"""Futures liquidation price: the exchange's published examples, and where MB meets MM."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.futures.balances import liquidatable_at_marks, margin_balance
from ledger.domain.futures.brackets import bracket_table
from ledger.domain.futures.contracts import ContractKind, FuturesPosition, FuturesSymbol, Side, reported
from ledger.domain.futures.liquidation_price import liquidation_price, other_cross_positions_terms

D = Decimal
BTC_2021 = [
    {"cap": c, "max_leverage": m, "mmr": r}
    for c, m, r in [
        ("50000", 125, "0.004"),
        ("250000", 100, "0.005"),
        ("1000000", 50, "0.01"),
        ("10000000", 20, "0.025"),
        ("20000000", 10, "0.05"),
        ("50000000", 5, "0.1"),
    ]
]
ETH_2021 = [
    {"cap": c, "max_leverage": m, "mmr": r}
    for c, m, r in [
        ("10000", 100, "0.005"),
        ("100000", 75, "0.0065"),
        ("500000", 50, "0.01"),
        ("1000000", 25, "0.02"),
        ("2000000", 10, "0.05"),
        ("5000000", 5, "0.1"),
        ("10000000", 4, "0.125"),
    ]
]
COINM = [
    {"cap": c, "max_leverage": m, "mmr": r}
    for c, m, r in [
        ("5", 125, "0.004"),
        ("10", 100, "0.005"),
        ("20", 50, "0.01"),
        ("50", 20, "0.025"),
        ("100", 10, "0.05"),
        ("200", 5, "0.1"),
        ("400", 4, "0.125"),
        ("1000", 3, "0.15"),
    ]
]
BTCUSDT = FuturesSymbol("BTCUSDT", ContractKind.LINEAR, D(1), bracket_table(BTC_2021), D(0))
ETHUSDT = FuturesSymbol("ETHUSDT", ContractKind.LINEAR, D(1), bracket_table(ETH_2021), D(0))
BTCUSD_PERP = FuturesSymbol("BTCUSD_PERP", ContractKind.INVERSE, D(100), bracket_table(COINM), D(0))

BTC = FuturesPosition(BTCUSDT, Side.LONG, D("109.488"), D("32481.98"))
ETH = FuturesPosition(ETHUSDT, Side.LONG, D("3683.979"), D("1456.84"))
BTC_MARK, ETH_MARK, WALLET = D("31967.27"), D("1335.18"), D("1535443.01")


def test_usdm_cross_two_symbols_eth() -> None:
    """TMM1 = BTC's MM at 31,967.27: notional 3,500,030.35 (2.5 %, cum 16,300) -> 71,200.811444;
    UPNL1 = 109.488 x (31,967.27 - 32,481.98) = -56,354.76; ETH at LP ~1,153 has notional
    ~4.25M: 10 % bracket, cum 5,000 x 0 + … = 96,300 (derived); the formula gives 1,153.26
    (exactly 1,153.256464…); with the bracket at the mark (5 %) the solution would fall outside it."""
    tmm1, upnl1 = other_cross_positions_terms([(BTC, BTC_MARK)])
    assert tmm1 == D("71200.811444")
    price = liquidation_price([ETH], WALLET, ETH_MARK, tmm1, upnl1)
    assert price is not None and round(price, 2) == D("1153.26")


def test_usdm_cross_two_symbols_btc() -> None:
    """TMM1 = ETH's MM at 1,335.18 = 4,918,732.08 x 0.1 - 135,379.70… = 356,512.508122;
    UPNL1 = 3,683.979 x (1,335.18 - 1,456.84) = -448,193.00; BTC's LP 26,316.89 (notional ~2.88M, 2.5 %)."""
    tmm1, upnl1 = other_cross_positions_terms([(ETH, ETH_MARK)])
    assert tmm1 == D("356512.508122")
    price = liquidation_price([BTC], WALLET, BTC_MARK, tmm1, upnl1)
    assert price is not None and round(price, 2) == D("26316.89")
    assert reported(price) == D("26316.89326452")


def test_coinm_cross_one_way() -> None:
    """100,000 contracts x $100 long at 45,000, WB 101 BTC, 12.5 % / cum 11.605:
    LP = 100 x (100,000 x 0.125 + 100,000) / (101 + 11.605 + 100 x 100,000 / 45,000)
       = 11,250,000 / 334.827222… = 33,599.4186…; notional there 297.6 BTC (200-400: 12.5 %)."""
    position = FuturesPosition(BTCUSD_PERP, Side.LONG, D(100000), D(45000))
    price = liquidation_price([position], D(101), D(45000))
    assert price == Fraction(20250000000, 602689)  # exact
    assert reported(price) == D("33599.41860562")


def test_isolated_short_linear() -> None:
    """Short 1 BTC at 30,000, isolated margin 1,500 (20x), bracket 0.4 % (cum 0):
    LP = (1,500 + 30,000) / (0.004 + 1) = 31,374.50199…"""
    position = FuturesPosition(BTCUSDT, Side.SHORT, D(1), D(30000))
    price = liquidation_price([position], D(1500), D(30000))
    assert price is not None and reported(price) == D("31374.50199203")


def test_no_price_when_the_wallet_covers_everything() -> None:
    """Long 1 at 30,000 with 40,000 of margin: LP = (40,000 - 30,000) / (0.004 - 1) < 0: None."""
    assert liquidation_price([FuturesPosition(BTCUSDT, Side.LONG, D(1), D(30000))], D(40000), D(30000)) is None
    assert liquidation_price([], D(1), D(1)) is None


def test_hedge_legs_share_one_price() -> None:
    """Hedge long 1 at 30,000 and short 0.5 at 31,000, WB 3,000, 0.4 % (notionals < 50,000):
    LP = (3,000 - (30,000 - 15,500)) / (0.004 + 0.002 - 1 + 0.5) = -11,500 / -0.494 = 23,279.35222672…"""
    legs = [
        FuturesPosition(BTCUSDT, Side.LONG, D(1), D(30000)),
        FuturesPosition(BTCUSDT, Side.SHORT, D("0.5"), D(31000)),
    ]
    price = liquidation_price(legs, D(3000), D(30000))
    assert price is not None and reported(price) == D("23279.35222672")


def test_a_liquidation_price_beyond_the_last_cap_is_found() -> None:
    """COIN-M long 7,523 contracts (100 USD each) at 1,000, WB 376.15 BTC (2x): as the price
    falls the notional grows past the last cap (1,000 BTC), where MM keeps the last rate
    (15 %, cum 21.605): LP = 752,300 x 1.15 / (376.15 + 21.605 + 752.3) = 752.26402216,
    a notional of 1,000.05 BTC. (Found by the property test below.)"""
    position = FuturesPosition(BTCUSD_PERP, Side.LONG, D(7523), D(1000))
    price = liquidation_price([position], D("376.15"), D(1000))
    assert price is not None and reported(price) == D("752.26402216")
    assert position.notional(price) > D(1000)


def test_the_trigger_is_exact_where_a_decimal_would_round() -> None:
    """COIN-M long 1 contract (100 USD) at 34,578, WB 0.001446006131065995719821852045 BTC
    (half the notional, at 28 digits): LP = 100 x 1.004 / (WB + 100 / 34,578)
    = 23,144.2079999999999999999999981..., 2e-24 below 23,144.208. A long liquidates at or
    below its LP: at 23,144.20799999 it does, at 23,144.208 it does not, though the two
    margin figures there differ by 3e-31, below what a 28-digit Decimal sum keeps."""
    position = FuturesPosition(BTCUSD_PERP, Side.LONG, D(1), D(34578))
    wallet = D("0.001446006131065995719821852045")
    assert liquidatable_at_marks(wallet, [(position, D("23144.20799999"))])
    assert not liquidatable_at_marks(wallet, [(position, D("23144.208"))])


@settings(max_examples=40, deadline=None)
@given(
    inverse=st.booleans(),
    long=st.booleans(),
    quantity=st.integers(min_value=1, max_value=20000),
    entry=st.integers(min_value=1000, max_value=90000),
    leverage=st.integers(min_value=2, max_value=50),
    other_mm=st.integers(min_value=0, max_value=500),
)
def test_at_the_liquidation_price_the_margin_balance_meets_the_mm(
    inverse: bool, long: bool, quantity: int, entry: int, leverage: int, other_mm: int
) -> None:
    """WB = notional at entry / leverage (+ the other position's MM, with no uPnL there):
    at LP, WB + uPnL(LP) = MM(LP) + TMM1 exactly, and the exact trigger flips there."""
    symbol = BTCUSD_PERP if inverse else BTCUSDT
    size = D(quantity) if inverse else D(quantity).scaleb(-3)
    side = Side.LONG if long else Side.SHORT
    position = FuturesPosition(symbol, side, size, Fraction(entry))
    tmm1 = Fraction(other_mm, 1000) if inverse else Fraction(other_mm)
    wallet = position.notional(entry) / leverage + tmm1
    price = liquidation_price([position], wallet, D(entry), tmm1, 0)
    assert price is not None
    balance = margin_balance(wallet, [position.unrealized_pnl(price)])
    assert balance == position.maintenance_margin(price) + tmm1
    # The other position's MM and no uPnL there: its part of the wallet covers it.
    own = wallet - tmm1
    nudge = Fraction(1, 10**40)
    below, above = price - nudge, price + nudge
    liquidating, safe = (below, above) if long else (above, below)
    assert liquidatable_at_marks(own, [(position, price)])
    assert liquidatable_at_marks(own, [(position, liquidating)])
    assert not liquidatable_at_marks(own, [(position, safe)])
