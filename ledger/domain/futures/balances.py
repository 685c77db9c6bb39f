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
from fractions import Fraction

from ledger.domain.futures.contracts import FuturesPosition
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


def is_liquidatable(margin_balance_value: Decimal | Fraction, maintenance_margin: Decimal | Fraction) -> bool:
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


def liquidatable_at_marks(
    wallet_balance: Decimal,
    positions_at_marks: Iterable[tuple[FuturesPosition, Decimal]],
    other_maintenance_margin: Decimal = ZERO,
    other_unrealized_pnl: Decimal = ZERO,
) -> bool:
    """`is_liquidatable` decided on exact rationals: margin balance <= MM, with MM > 0. An
    inverse symbol's uPnL and MM divide by the mark, which a Decimal can only round: so
    that a mark exactly at the liquidation price liquidates and one tick before it does
    not, the trigger compares the exact fractions (`fractions.Fraction` of the Decimals)."""
    balance = Fraction(wallet_balance) + Fraction(other_unrealized_pnl)
    maintenance = Fraction(other_maintenance_margin)
    for position, mark in positions_at_marks:
        balance += _exact_unrealized_pnl(position, Fraction(mark))
        maintenance += _exact_maintenance_margin(position, Fraction(mark))
    return is_liquidatable(balance, maintenance)


def _exact_notional(position: FuturesPosition, mark: Fraction) -> Fraction:
    quantity = Fraction(position.quantity.copy_abs())
    if position.symbol.is_inverse:
        return quantity * Fraction(position.symbol.contract_size) / mark
    return quantity * mark


def _exact_maintenance_margin(position: FuturesPosition, mark: Fraction) -> Fraction:
    notional = _exact_notional(position, mark)
    # Decimal compares exactly with a Fraction: the bracket is the one of the exact notional.
    bracket = position.symbol.brackets.bracket_of(notional)  # type: ignore[arg-type]
    return notional * Fraction(bracket.maintenance_margin_rate) - Fraction(bracket.cum)


def _exact_unrealized_pnl(position: FuturesPosition, mark: Fraction) -> Fraction:
    signed_quantity = Fraction(position.side.direction) * Fraction(position.quantity)
    entry = Fraction(position.entry_price)
    if position.symbol.is_inverse:
        return signed_quantity * Fraction(position.symbol.contract_size) * (1 / entry - 1 / mark)
    return signed_quantity * (mark - entry)
