"""A futures wallet's balances and ratios, and the liquidation thresholds.

Cross: margin balance = cross wallet balance + uPnL of the cross positions; the wallet is
liquidated when that balance <= the cross MM (with cross MM > 0), compared exactly.
Isolated: the position's isolated margin + its uPnL against its own MM. The ratio is only
reported; every decision compares the exact figures (cross-multiplied where a leverage
divides), never a rounded ratio.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from ledger.domain.futures.exact import exact_difference, exact_sum
from ledger.domain.money import ZERO, exact_product, exact_quotient


def margin_balance(wallet_balance: Decimal, unrealized_pnls: Iterable[Decimal]) -> Decimal:
    """Wallet balance (cross wallet, or an isolated margin) + the positions' uPnL."""
    return exact_sum(wallet_balance, *unrealized_pnls)


def available_balance(cross_wallet_balance: Decimal, cross_upnl: Decimal, cross_initial_margin: Decimal) -> Decimal:
    """What a new position's cost must fit in: cross wallet + cross uPnL - cross IM (at the
    marks); negative included, as computed."""
    return exact_difference(exact_sum(cross_wallet_balance, cross_upnl), cross_initial_margin)


def withdrawable_balance(cross_wallet_balance: Decimal, cross_upnl: Decimal, cross_initial_margin: Decimal) -> Decimal:
    """The most a withdrawal or transfer out may take: cross wallet + min(0, cross uPnL) -
    cross IM (decision: unrealized profit is never withdrawable)."""
    return exact_difference(exact_sum(cross_wallet_balance, min(ZERO, cross_upnl)), cross_initial_margin)


def margin_ratio(maintenance_margin: Decimal, margin_balance_value: Decimal) -> Decimal | None:
    """MM / margin balance (liquidation at 1, i.e. 100 %); None while the balance is not
    above zero, where the ratio means nothing."""
    if margin_balance_value <= 0:
        return None
    return exact_quotient(maintenance_margin, margin_balance_value)


def is_liquidatable(margin_balance_value: Decimal, maintenance_margin: Decimal) -> bool:
    """margin balance <= MM, with MM > 0 (no position, nothing to liquidate); equality
    liquidates. Also catches a balance at or below zero."""
    return maintenance_margin > 0 and margin_balance_value <= maintenance_margin


def isolated_margin_removal_allowed(
    isolated_margin_after: Decimal, upnl: Decimal, notional_at_mark: Decimal, leverage: int
) -> bool:
    """isolated margin after + min(0, uPnL) >= notional at mark / leverage, cross-multiplied
    (decision: unrealized profit does not count)."""
    kept = exact_sum(isolated_margin_after, min(ZERO, upnl))
    return exact_product(kept, Decimal(leverage)) >= notional_at_mark


def pro_rata_isolated_margin(isolated_margin: Decimal, reduced_quantity: Decimal, held_quantity: Decimal) -> Decimal:
    """The part of an isolated margin a reduce returns to the cross wallet, exact (the
    caller rounds what it moves)."""
    return exact_quotient(exact_product(isolated_margin, reduced_quantity), held_quantity)
