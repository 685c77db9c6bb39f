"""Exact sums and differences of futures figures.

Decimal's default context rounds `+`, `-` and unary minus to 28 digits; the futures
figures mix exact products with 60-digit quotients (an exact entry price, a COIN-M
notional), so they are added here at 150 digits with Inexact trapped: a sum that would
round raises instead of losing a unit silently. Negation and absolute value use
`copy_negate` / `copy_abs`, which never round.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow

from ledger.domain.money import ZERO

_EXACT_SUM = Context(prec=150, traps=[InvalidOperation, Overflow, Inexact])


def exact_sum(*terms: Decimal) -> Decimal:
    total = ZERO
    for term in terms:
        total = _EXACT_SUM.add(total, term)
    return total


def exact_difference(minuend: Decimal, subtrahend: Decimal) -> Decimal:
    return _EXACT_SUM.subtract(minuend, subtrahend)
