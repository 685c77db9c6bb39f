"""Decimal money: quantizing to an asset's precision, and the rounding rules.

Rounding is never a way to create or destroy value: the caller that rounds an
amount moves exactly the rounded amount, with its counter-entry.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext

ZERO = Decimal(0)

# Levels and ratios are computed at this many significant digits; comparisons
# with thresholds are made on exact cross-multiplied values, never on these.
LEVEL_DIGITS = 28


def unit(precision: int) -> Decimal:
    """The smallest amount of an asset with `precision` decimal places."""
    return Decimal(1).scaleb(-precision)


def _quantize(amount: Decimal, precision: int, rounding: str) -> Decimal:
    with localcontext() as context:
        context.prec = 60
        return amount.quantize(unit(precision), rounding=rounding)


def round_half_even(amount: Decimal, precision: int) -> Decimal:
    """Neutral rounding: interest, fills."""
    return _quantize(amount, precision, ROUND_HALF_EVEN)


def round_up(amount: Decimal, precision: int) -> Decimal:
    """Quantities sold to repay a debt: enough to cover it."""
    return _quantize(amount, precision, ROUND_CEILING)


def round_down(amount: Decimal, precision: int) -> Decimal:
    """Fees, and proceeds: never more than is owed to the receiver."""
    return _quantize(amount, precision, ROUND_FLOOR)


def exact_product(*factors: Decimal) -> Decimal:
    """A product at enough precision to be exact for quantized amounts and prices."""
    with localcontext() as context:
        context.prec = 80
        result = Decimal(1)
        for factor in factors:
            result *= factor
        return result


def exact_quotient(numerator: Decimal, denominator: Decimal) -> Decimal:
    """A quotient at 60 significant digits, to be rounded by the caller's rule."""
    with localcontext() as context:
        context.prec = 60
        return numerator / denominator


def decimal_places(amount: Decimal) -> int:
    """How many decimal places `amount` is written with (0.50 has 2)."""
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def normalized(amount: Decimal) -> str:
    """A decimal as a plain string without exponent or trailing zeros."""
    if amount == 0:
        return "0"
    text = format(amount.normalize(), "f")
    return text
