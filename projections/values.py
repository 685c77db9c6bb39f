"""Values as the read models keep them: amounts as decimal strings, ids as text,
times as ISO text (what a JSON column or a JSON document holds)."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ledger.domain.money import normalized


def amounts_text(book: dict[str, Decimal]) -> dict[str, str]:
    return {asset: normalized(amount) for asset, amount in sorted(book.items())}


def event_name(event: Any) -> str:
    return type(event).__qualname__


@functools.singledispatch
def json_safe(value: Any) -> Any:
    """Decimals as strings, ids as text, times as ISO text: what a JSON column keeps."""
    return value


@json_safe.register
def _decimal(value: Decimal) -> str:
    return normalized(value)


@json_safe.register
def _fraction(value: Fraction) -> str:
    """An exact rational (a futures entry price) as its exact text: `9800`, `100/3`."""
    return str(value)


@json_safe.register
def _uuid(value: uuid.UUID) -> str:
    return str(value)


@json_safe.register
def _time(value: datetime) -> str:
    return value.isoformat()


@json_safe.register
def _mapping(value: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    return {str(key): json_safe(item) for key, item in value.items()}


@json_safe.register(list)
@json_safe.register(tuple)
def _sequence(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    return [json_safe(item) for item in value]
