"""A futures wallet's balances and ratios, and the liquidation thresholds.

Cross: margin balance = cross wallet balance + uPnL of the cross positions; the wallet is
liquidated when that balance <= the cross MM (with cross MM > 0), compared exactly.
Isolated: the position's isolated margin + its uPnL against its own MM. The ratio is only
reported; every decision compares the exact figures (rationals,
`ledger.domain.futures.exact`), never a rounded ratio.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

from ledger.domain.futures.contracts import FuturesPosition
from ledger.domain.futures.exact import Exact, exact, exact_sum


def margin_balance(wallet_balance: Exact, unrealized_pnls: Iterable[Exact]) -> Fraction:
    """Wallet balance (cross wallet, or an isolated margin) + the positions' uPnL."""
    return exact_sum(wallet_balance, *unrealized_pnls)


def available_balance(cross_wallet_balance: Exact, cross_upnl: Exact, cross_initial_margin: Exact) -> Fraction:
    """What a new position's cost must fit in: cross wallet + cross uPnL - cross IM (at the
    marks); negative included, as computed."""
    return exact(cross_wallet_balance) + exact(cross_upnl) - exact(cross_initial_margin)


def withdrawable_balance(cross_wallet_balance: Exact, cross_upnl: Exact, cross_initial_margin: Exact) -> Fraction:
    """The most a withdrawal or transfer out may take: cross wallet + min(0, cross uPnL) -
    cross IM (decision: unrealized profit is never withdrawable)."""
    return exact(cross_wallet_balance) + min(Fraction(0), exact(cross_upnl)) - exact(cross_initial_margin)


def margin_ratio(maintenance_margin: Exact, margin_balance_value: Exact) -> Fraction | None:
    """MM / margin balance (liquidation at 1, i.e. 100 %); None while the balance is not
    above zero, where the ratio means nothing."""
    if margin_balance_value <= 0:
        return None
    return exact(maintenance_margin) / exact(margin_balance_value)


def is_liquidatable(margin_balance_value: Exact, maintenance_margin: Exact) -> bool:
    """margin balance <= MM, with MM > 0 (no position, nothing to liquidate); equality
    liquidates. Also catches a balance at or below zero."""
    return maintenance_margin > 0 and margin_balance_value <= maintenance_margin


def isolated_margin_removal_allowed(
    isolated_margin_after: Exact, upnl: Exact, notional_at_mark: Exact, leverage: int
) -> bool:
    """isolated margin after + min(0, uPnL) >= notional at mark / leverage (decision:
    unrealized profit does not count)."""
    return exact(isolated_margin_after) + min(Fraction(0), exact(upnl)) >= exact(notional_at_mark) / leverage


def pro_rata_isolated_margin(isolated_margin: Decimal, reduced_quantity: Decimal, held_quantity: Decimal) -> Fraction:
    """The part of an isolated margin a reduce returns to the cross wallet, exact (the
    caller rounds what it moves)."""
    return exact(isolated_margin) * exact(reduced_quantity) / exact(held_quantity)


def liquidatable_at_marks(wallet_balance: Exact, positions_at_marks: Iterable[tuple[FuturesPosition, Exact]]) -> bool:
    """`is_liquidatable` of the positions at their marks, every figure exact: a mark exactly
    at the liquidation price liquidates, and one tick before it does not."""
    balance, maintenance = exact(wallet_balance), Fraction(0)
    for position, mark in positions_at_marks:
        balance += position.unrealized_pnl(mark)
        maintenance += position.maintenance_margin(mark)
    return is_liquidatable(balance, maintenance)
