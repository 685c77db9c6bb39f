"""Exact futures arithmetic: rationals, and their rounding to a recorded amount.

Futures figures divide: an averaged entry price (`100/3`), an inverse symbol's notional
(`contracts x size / mark`), `1/entry - 1/exit`. A Decimal quotient can only round them,
and a chained figure that should sit exactly on a half unit then lands beside it, so
half-even rounds it the wrong way (an audit found realized PnL, funding and a trigger
off by one unit that way). So every futures figure is a `fractions.Fraction`, exact, and
becomes a Decimal only where it is recorded (rounded to the wallet asset's precision,
`rounded`) or reported (8 places). Amounts held (wallets, margins) stay Decimal: each is
a sum of recorded amounts.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, Inexact, InvalidOperation, Overflow
from fractions import Fraction

Exact = Fraction | Decimal | int  # what the figures take: a Decimal or an int converts exactly

ZERO_FRACTION = Fraction(0)


def exact(value: Exact) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(value)


def rounded(value: Exact, places: int, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """`value` to `places` decimal places, rounded half-even (recorded amounts, reports)
    or down (a fee: never more than is due), decided on the exact value."""
    scaled = exact(value) * 10**places
    if rounding == ROUND_HALF_EVEN:
        units = round(scaled)  # a Fraction rounds half to even, exactly
    elif rounding == ROUND_FLOOR:
        units = math.floor(scaled)
    else:  # pragma: no cover - only the two rules above are used
        raise ValueError(f"unsupported rounding {rounding}")
    return Decimal(f"{units}E-{places}")  # from a string: exact, whatever the context


def exact_sum(*terms: Exact) -> Fraction:
    return sum((exact(term) for term in terms), ZERO_FRACTION)


# --- amounts held: sums of recorded Decimals, kept Decimal ---------------------------------

# Decimal's default context rounds `+` and `-` to 28 digits: amounts are added at 150 with
# Inexact trapped, so that a sum that would round raises instead of losing a unit silently.
_DECIMAL_SUM = Context(prec=150, traps=[InvalidOperation, Overflow, Inexact])


def decimal_sum(*terms: Decimal) -> Decimal:
    total = Decimal(0)
    for term in terms:
        total = _DECIMAL_SUM.add(total, term)
    return total


def decimal_difference(minuend: Decimal, subtrahend: Decimal) -> Decimal:
    return _DECIMAL_SUM.subtract(minuend, subtrahend)
