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
notional lies in its own bracket. Everything is exact (rationals); reports round it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from fractions import Fraction

from ledger.domain.futures.brackets import Bracket
from ledger.domain.futures.contracts import FuturesPosition, FuturesSymbol
from ledger.domain.futures.exact import Exact, exact


def other_cross_positions_terms(others: Iterable[tuple[FuturesPosition, Exact]]) -> tuple[Fraction, Fraction]:
    """(TMM1, UPNL1): MM and uPnL of the wallet's other cross positions, each at its mark."""
    maintenance, pnl = Fraction(0), Fraction(0)
    for position, mark in others:
        maintenance += position.maintenance_margin(mark)
        pnl += position.unrealized_pnl(mark)
    return maintenance, pnl


def liquidation_price(
    positions: Sequence[FuturesPosition],
    wallet_balance: Exact,
    mark: Exact,
    other_maintenance_margin: Exact = 0,
    other_unrealized_pnl: Exact = 0,
) -> Fraction | None:
    """The liquidation price of one symbol's positions (the one-way position, or both hedge
    legs), exact; None without a position or a solution (denominator zero, price <= 0, or
    no solution inside its own brackets).

    Cross: `wallet_balance` is the cross wallet balance and the other terms are the other
    cross positions' (see `other_cross_positions_terms`). Isolated: pass the one position,
    its isolated margin as `wallet_balance`, and no other terms. Should several bracket
    combinations solve (two hedge legs), the solution nearest the mark."""
    if not positions:
        return None
    symbol = positions[0].symbol
    balance = exact(wallet_balance) - exact(other_maintenance_margin) + exact(other_unrealized_pnl)
    solutions = [
        price
        for combination in itertools.product(*(position.symbol.brackets.brackets for position in positions))
        if (price := _solve(symbol, positions, combination, balance)) is not None
        and _inside_own_brackets(positions, combination, price)
    ]
    if not solutions:
        return None
    return min(solutions, key=lambda price: abs(price - exact(mark)))


def _solve(
    symbol: FuturesSymbol, positions: Sequence[FuturesPosition], brackets: Sequence[Bracket], balance: Fraction
) -> Fraction | None:
    cums = sum((exact(bracket.cum) for bracket in brackets), Fraction(0))
    weighted_rates = sum(
        (exact(p.quantity) * exact(b.maintenance_margin_rate) for p, b in zip(positions, brackets)), Fraction(0)
    )
    signed_quantity = sum((p.side.value * exact(p.quantity) for p in positions), Fraction(0))
    if symbol.is_inverse:
        contract_size = exact(symbol.contract_size)
        coin_at_entry = sum((p.side.value * exact(p.quantity) / p.entry_price for p in positions), Fraction(0))
        numerator = contract_size * (weighted_rates + signed_quantity)
        denominator = balance + cums + contract_size * coin_at_entry
    else:
        signed_entry_value = sum((p.side.value * exact(p.quantity) * p.entry_price for p in positions), Fraction(0))
        numerator = balance + cums - signed_entry_value
        denominator = weighted_rates - signed_quantity
    if denominator == 0:
        return None
    price = numerator / denominator
    return price if price > 0 else None


def _inside_own_brackets(positions: Sequence[FuturesPosition], brackets: Sequence[Bracket], price: Fraction) -> bool:
    """floor < notional at the price <= cap for every position. The last bracket has no
    cap: beyond it a held position's MM keeps growing at the last rate
    (`BracketTable.bracket_of`), so its liquidation price may lie there too."""
    for position, bracket in zip(positions, brackets):
        last = bracket is position.symbol.brackets.brackets[-1]
        at_price = position.notional(price)
        if not (bracket.floor < at_price and (last or at_price <= bracket.cap)):
            return False
    return True
