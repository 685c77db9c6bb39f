"""The liquidation price of a symbol's positions, by the exchange's formulas (domain.md).

With B, L, S the one-way, hedge-long and hedge-short sizes, the exchange writes
  USDⓈ-M: LP = (WB - TMM1 + UPNL1 + cumB + cumL + cumS - SideB·B·EPB - L·EPL + S·EPS)
               / (B·MMRB + L·MMRL + S·MMRS - SideB·B - L + S)
  COIN-M: LP = CS·(B·MMRB + L·MMRL + S·MMRS + SideB·B + L - S)
               / (WB - TMM1 + UPNL1 + cumB + cumL + cumS + CS·(SideB·B/EPB + L/EPL - S/EPS))
A one-way long enters exactly as a hedge long (SideB = +1) and a one-way short as a hedge
short, so each position contributes its own term with its direction `dir`:
  USDⓈ-M: (WB - TMM1 + UPNL1 + Σcum - Σ dir·q·EP) / (Σ q·MMR - Σ dir·q)
  COIN-M: CS·(Σ q·MMR + Σ dir·q) / (WB - TMM1 + UPNL1 + Σcum + CS·Σ dir·q/EP)
It is where WB + uPnL(LP) + UPNL1 = MM(LP) + TMM1. The MMR and cum are those of the bracket
each position's notional has AT the liquidation price: the formula is solved with every
bracket (every combination, for two hedge legs) and a solution counts only if each
notional lies in its own bracket, checked exactly on the fraction (cross-multiplied).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ledger.domain.futures.brackets import Bracket
from ledger.domain.futures.contracts import FuturesPosition, FuturesSymbol
from ledger.domain.futures.exact import exact_difference, exact_sum
from ledger.domain.money import ZERO, exact_product, exact_quotient


@dataclass(frozen=True)
class PriceFraction:
    """A candidate price numerator / denominator, denominator > 0."""

    numerator: Decimal
    denominator: Decimal

    @property
    def price(self) -> Decimal:
        return exact_quotient(self.numerator, self.denominator)


def other_cross_positions_terms(others: Iterable[tuple[FuturesPosition, Decimal]]) -> tuple[Decimal, Decimal]:
    """(TMM1, UPNL1): MM and uPnL of the wallet's other cross positions, each at its mark."""
    maintenance, pnl = ZERO, ZERO
    for position, mark in others:
        maintenance = exact_sum(maintenance, position.maintenance_margin(mark))
        pnl = exact_sum(pnl, position.unrealized_pnl(mark))
    return maintenance, pnl


def liquidation_price(
    positions: Sequence[FuturesPosition],
    wallet_balance: Decimal,
    mark: Decimal,
    other_maintenance_margin: Decimal = ZERO,
    other_unrealized_pnl: Decimal = ZERO,
) -> Decimal | None:
    """The liquidation price of one symbol's positions (the one-way position, or both hedge
    legs), exact to 60 digits; None without a position or a solution (denominator zero,
    price <= 0, or no solution inside its own brackets).

    Cross: `wallet_balance` is the cross wallet balance and the other terms are the other
    cross positions' (see `other_cross_positions_terms`). Isolated: pass the one position,
    its isolated margin as `wallet_balance`, and no other terms. Should several bracket
    combinations solve (two hedge legs), the solution nearest the mark."""
    if not positions:
        return None
    symbol = positions[0].symbol
    balance = exact_sum(exact_difference(wallet_balance, other_maintenance_margin), other_unrealized_pnl)
    solutions = [
        fraction.price
        for combination in itertools.product(*(position.symbol.brackets.brackets for position in positions))
        if (fraction := _solve(symbol, positions, combination, balance)) is not None
        and _inside_own_brackets(symbol, positions, combination, fraction)
    ]
    if not solutions:
        return None
    return min(solutions, key=lambda price: exact_difference(price, mark).copy_abs())


def _solve(
    symbol: FuturesSymbol, positions: Sequence[FuturesPosition], brackets: Sequence[Bracket], balance: Decimal
) -> PriceFraction | None:
    cums = exact_sum(*(bracket.cum for bracket in brackets))
    weighted_rates = exact_sum(
        *(
            exact_product(position.quantity, bracket.maintenance_margin_rate)
            for position, bracket in zip(positions, brackets)
        )
    )
    signed_quantity = exact_sum(*(exact_product(position.side.direction, position.quantity) for position in positions))
    if symbol.is_inverse:
        numerator = exact_product(symbol.contract_size, exact_sum(weighted_rates, signed_quantity))
        coin_at_entry = exact_sum(
            *(exact_quotient(exact_product(p.side.direction, p.quantity), p.entry_price) for p in positions)
        )
        denominator = exact_sum(balance, cums, exact_product(symbol.contract_size, coin_at_entry))
    else:
        signed_entry_value = exact_sum(*(exact_product(p.side.direction, p.quantity, p.entry_price) for p in positions))
        numerator = exact_difference(exact_sum(balance, cums), signed_entry_value)
        denominator = exact_difference(weighted_rates, signed_quantity)
    return _positive_price(numerator, denominator)


def _positive_price(numerator: Decimal, denominator: Decimal) -> PriceFraction | None:
    """The fraction with a positive denominator, or None when it is no price > 0."""
    if denominator == 0 or numerator == 0 or (numerator > 0) != (denominator > 0):
        return None
    if denominator < 0:
        return PriceFraction(numerator.copy_negate(), denominator.copy_negate())
    return PriceFraction(numerator, denominator)


def _inside_own_brackets(
    symbol: FuturesSymbol, positions: Sequence[FuturesPosition], brackets: Sequence[Bracket], price: PriceFraction
) -> bool:
    """floor < notional at the price <= cap for every position, cross-multiplied:
    linear notional q·N/D (times D > 0), inverse q·CS·D/N (times N > 0). The last bracket
    has no cap: beyond it a held position's MM keeps growing at the last rate
    (`BracketTable.bracket_of`), so its liquidation price may lie there too."""
    for position, bracket in zip(positions, brackets):
        last = bracket is position.symbol.brackets.brackets[-1]
        if symbol.is_inverse:
            scaled_notional = exact_product(position.quantity, symbol.contract_size, price.denominator)
            scale = price.numerator
        else:
            scaled_notional = exact_product(position.quantity, price.numerator)
            scale = price.denominator
        above_floor = exact_product(bracket.floor, scale) < scaled_notional
        within_cap = last or scaled_notional <= exact_product(bracket.cap, scale)
        if not (above_floor and within_cap):
            return False
    return True
