"""Decimal money: quantizing to an asset's precision, and the rounding rules.

Rounding is never a way to create or destroy value: the caller that rounds an
amount moves exactly the rounded amount, with its counter-entry.
"""

from __future__ import annotations

from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)

ZERO = Decimal(0)

# Products of amounts, prices and rates within the bounds of `limits.py` (at most 38
# digits each) are exact at 150 significant digits, and a product that would round raises
# (Inexact is trapped); quotients are carried at 60 and rounded by the caller's rule. Comparisons with
# thresholds are made on cross-multiplied products, never on a quotient.
_EXACT = Context(prec=150, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
_QUOTIENT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow])
_QUANTIZING = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow])


def unit(precision: int) -> Decimal:
    """The smallest amount of an asset with `precision` decimal places."""
    return Decimal(1).scaleb(-precision)


def _quantize(amount: Decimal, precision: int, rounding: str) -> Decimal:
    return amount.quantize(unit(precision), rounding=rounding, context=_QUANTIZING)


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
    result = factors[0]
    for factor in factors[1:]:
        result = _EXACT.multiply(result, factor)
    return result


def exact_quotient(numerator: Decimal, denominator: Decimal) -> Decimal:
    """A quotient at 60 significant digits, to be rounded by the caller's rule."""
    return _QUOTIENT.divide(numerator, denominator)


def ceiling_quotient(numerator: Decimal, denominator: Decimal, precision: int) -> Decimal:
    """The least amount q at `precision` with q x denominator >= numerator, exactly.

    The 60-digit quotient can land on a unit from below (1 / 70000 has no finite
    decimal); the exact product then shows it, and one unit more is the ceiling."""
    amount = round_up(exact_quotient(numerator, denominator), precision)
    if exact_product(amount, denominator) < numerator:
        amount = _EXACT.add(amount, unit(precision))
    return amount


def floor_quotient(numerator: Decimal, denominator: Decimal, precision: int) -> Decimal:
    """The greatest amount q at `precision` with q x denominator <= numerator, exactly."""
    amount = round_down(exact_quotient(numerator, denominator), precision)
    if exact_product(amount, denominator) > numerator:
        amount = _EXACT.subtract(amount, unit(precision))
    return amount


def enough_to_repay(
    owed: Decimal, owed_value_of_one: Decimal, payment_value_of_one: Decimal, payment_precision: int
) -> Decimal:
    """How much of a payment asset pays for `owed` units of a debt's asset at the marks:
    the cost is rounded UP, so the debt is covered in full (never the debt rounded down).
    Every repay path (a sale, a buy-back, the desk after a takeover) uses this one rule."""
    return ceiling_quotient(exact_product(owed, owed_value_of_one), payment_value_of_one, payment_precision)


def proceeds_of_sale(
    quantity: Decimal, sold_value_of_one: Decimal, bought_value_of_one: Decimal, bought_precision: int
) -> Decimal:
    """What selling `quantity` at the marks brings, rounded DOWN: never more than it is worth."""
    return floor_quotient(exact_product(quantity, sold_value_of_one), bought_value_of_one, bought_precision)


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
