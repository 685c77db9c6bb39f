"""Compares a report with an expected one as shared/scenarios/README.md states:
only the listed keys; asset amounts within two units of the last decimal place,
values in the valuation asset within 0.01; everything else exactly.

A futures position's `liquidation_price` is a price in the symbol's quote currency
(USD or USDT): the expected files give it as the exchange publishes it, to 2 decimals
("26316.89"), while the report gives it half-even to 8 places ("26316.89326452"), so it
is compared as the values are, within 0.01."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

AMOUNT_BOOKS = {"balances", "debts", "interest", "liabilities", "returned", "amounts"}
VALUE_KEYS = {"value"}
QUOTE_PRICE_KEYS = {"liquidation_price"}  # in the quote currency, published to the cent


def differences(expected: Any, found: Any, path: str = "", precision: int = 8, book: str | None = None) -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(found, dict):
            return [f"{path}: expected an object, found {found!r}"]
        problems = []
        for key, value in expected.items():
            child = f"{path}.{key}" if path else key
            if book in AMOUNT_BOOKS and isinstance(value, str):
                # An amount of an asset: a left-out zero entry counts as zero.
                problems += _amount(value, found.get(key, "0"), child, Decimal(2).scaleb(-precision))
            elif key in VALUE_KEYS | QUOTE_PRICE_KEYS and isinstance(value, str):
                problems += _amount(value, found.get(key), child, Decimal("0.01"))
            elif key not in found:
                problems.append(f"{child}: missing")
            else:
                problems += differences(value, found[key], child, precision, key if key in AMOUNT_BOOKS else None)
        return problems
    if isinstance(expected, list):
        if not isinstance(found, list) or len(found) != len(expected):
            return [f"{path}: expected {len(expected)} items, found {found!r}"]
        problems = []
        for index, (want, got) in enumerate(zip(expected, found)):
            problems += differences(want, got, f"{path}[{index}]", precision, book)
        return problems
    if isinstance(expected, str) and isinstance(found, str) and _is_decimal(expected) and _is_decimal(found):
        return [] if Decimal(expected) == Decimal(found) else [f"{path}: expected {expected}, found {found}"]
    return [] if expected == found else [f"{path}: expected {expected!r}, found {found!r}"]


def _is_decimal(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def _amount(expected: str, found: Any, path: str, tolerance: Decimal) -> list[str]:
    if found is None:
        return [f"{path}: missing"]
    if abs(Decimal(expected) - Decimal(found)) > tolerance:
        return [f"{path}: expected {expected}, found {found} (tolerance {tolerance})"]
    return []
