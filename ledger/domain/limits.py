"""What a name, a number and a time may be: the bounds every input is checked against.

The bounds are chosen so that nothing a valid input carries can break the ledger
later: every product the rules make is exact in the contexts of `money.py`, every
balance after billions of inputs fits a `decimal(38,18)` export and the store's
columns, and every name is text both stores and every table keep as it was given.

- A decimal is written `-?(0|[1-9][0-9]*)(\\.[0-9]+)?` in ASCII digits, with at
  most 18 decimal places (`MAX_PLACES`, the largest asset precision).
- An amount, a quantity or a price is at most 10^10 (`AMOUNT_MAX`), and so is the
  value a fill moves on its quote side: 10^9 inputs at the largest amount leave a
  balance of 10^19, within the 20 integer digits of `decimal(38,18)`.
- A rate (fee, interest, maintenance margin rate, funding) is at most 1 in size; a
  level or ratio threshold (margin call, liquidation, top-up target) at most 1000.
- A bracket cap is at most 2^63 - 1 (`CAP_MAX`), which stands for "no cap"; a
  leverage is a whole number from 1 to 1000.
- A time is ISO-8601 in UTC (`2026-01-05T10:00:00Z`, `+00:00` also read), from
  2000-01-01 to before 2100-01-01.
- A name (account, input id, source, actor, key name) is 1 to 255 characters of
  printable text: no control, format, surrogate or private-use characters, no
  line or paragraph separators, and no white space at either end. An asset is 1
  to 20 capital ASCII letters or digits; a symbol 1 to 40 of those or `_`.
- An input nests objects and lists at most 32 deep (`JSON_DEPTH_MAX`; a `params` input
  needs 5): deeper ones are refused when read, before anything walks them recursively.
"""

from __future__ import annotations

import decimal
import re
import unicodedata
from datetime import UTC, datetime
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, setcontext
from enum import Enum
from typing import Any

MAX_PLACES = 18
AMOUNT_MAX = Decimal(10) ** 10
RATE_MAX = Decimal(1)
LEVEL_MAX = Decimal(1000)
CAP_MAX = Decimal(2**63 - 1)
LEVERAGE_MAX = 1000
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
NAME_MAX_CHARACTERS = 255
JSON_DEPTH_MAX = 32

_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|\+00:00)")
_ASSET = re.compile(r"[A-Z0-9]{1,20}")
_SYMBOL = re.compile(r"[A-Z0-9_]{1,40}")
# Unicode categories a name may not hold: controls (NUL among them), format characters
# (invisible), surrogates (not encodable in UTF-8), private use, line and paragraph separators.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


class Sign(Enum):
    POSITIVE = "> 0"
    NON_NEGATIVE = ">= 0"
    NON_ZERO = "not 0"
    ANY = "any sign"


# --- the decimal context ----------------------------------------------------------------

# Sums and differences of balances are exact up to 60 significant digits (within the bounds a
# balance has at most 38; Python's default of 28 would round a large balance of an asset with
# 18 places). Where exactness is promised of a product, `money.exact_product` traps Inexact;
# the screens that may round (quiet price bands) do so knowingly.
LEDGER_CONTEXT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow])


def use_ledger_decimal_context() -> None:
    """Makes the ledger's context the current thread's and every later thread's default."""
    decimal.DefaultContext.prec = LEDGER_CONTEXT.prec
    decimal.DefaultContext.traps = dict(LEDGER_CONTEXT.traps)
    setcontext(LEDGER_CONTEXT.copy())


# --- numbers ------------------------------------------------------------------------------


def parse_decimal(value: Any, *, sign: Sign = Sign.POSITIVE, maximum: Decimal = AMOUNT_MAX) -> Decimal:
    """A decimal string as the format writes it, within its bounds; ValueError naming the fault."""
    if not isinstance(value, str):
        raise ValueError(f'must be a decimal string such as "12.5", got {_shown(value)}')
    if not _DECIMAL.fullmatch(value):
        raise ValueError(
            f"{_shown(value)} is not a decimal written as -?digits[.digits] in ASCII "
            "(no exponent, sign, spaces or separators)"
        )
    number = Decimal(value)
    places = len(value.partition(".")[2])
    if places > MAX_PLACES:
        raise ValueError(f"{value} has {places} decimal places; at most {MAX_PLACES}")
    _check_sign(value, number, sign)
    if abs(number) > maximum:
        raise ValueError(f"{value} is beyond the ledger's bound of {_plain(maximum)}")
    return abs(number) if number == 0 else number  # "-0" is 0


def _check_sign(text: str, number: Decimal, sign: Sign) -> None:
    refused = (
        (sign is Sign.POSITIVE and number <= 0)
        or (sign is Sign.NON_NEGATIVE and number < 0)
        or (sign is Sign.NON_ZERO and number == 0)
    )
    if refused:
        raise ValueError(f"must be {sign.value}, got {text}")


def parse_whole_number(value: Any, *, minimum: int, maximum: int) -> int:
    """A JSON integer within bounds (a bool, a float or a string is refused)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"must be a whole number (a JSON integer), got {_shown(value)}")
    if not minimum <= value <= maximum:
        raise ValueError(f"must be from {minimum} to {maximum}, got {value}")
    return value


def _plain(number: Decimal) -> str:
    return format(number, "f")


# --- nesting ------------------------------------------------------------------------------


def nesting_fault(value: Any) -> str | None:
    """Why a parsed JSON value nests too deeply, or None. Walked without recursion: a value
    that parsed just below Python's recursion limit must not fail later when it is encoded
    again (a digest, a record) or quoted in a message, deeper in the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > JSON_DEPTH_MAX:
            return f"objects and lists nested more than {JSON_DEPTH_MAX} deep"
        stack.extend((child, depth + 1) for child in children)
    return None


# --- times --------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime:
    """An ISO-8601 UTC time within the ledger's years; ValueError naming the fault."""
    if not isinstance(value, str):
        raise ValueError(f'must be an ISO-8601 UTC time string such as "2026-01-05T10:00:00Z", got {_shown(value)}')
    if not _TIME.fullmatch(value):
        raise ValueError(f"{_shown(value)} is not an ISO-8601 UTC time written as YYYY-MM-DDTHH:MM:SS[.ffffff]Z")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise ValueError(f"{_shown(value)} is not a valid time ({error})") from None
    moment = moment.astimezone(UTC)
    if not EARLIEST_TIME <= moment < LATEST_TIME:
        raise ValueError(f"{value} is outside the years the ledger keeps (2000 to 2099)")
    return moment


# --- names --------------------------------------------------------------------------------


class NameKind(Enum):
    TEXT = "name"  # account names, input ids, sources, actors, key names
    ASSET = "asset"
    SYMBOL = "symbol"


def name_fault(value: Any, kind: NameKind = NameKind.TEXT) -> str | None:
    """Why `value` cannot be a name of this kind, or None when it can."""
    if not isinstance(value, str):
        return f"must be a string, got {_shown(value)}"
    if kind is NameKind.ASSET and not _ASSET.fullmatch(value):
        return f"{_shown(value)} is not an asset name (1 to 20 capital letters A-Z or digits)"
    if kind is NameKind.SYMBOL and not _SYMBOL.fullmatch(value):
        return f"{_shown(value)} is not a symbol (1 to 40 capital letters A-Z, digits or _)"
    if kind is NameKind.TEXT:
        return _text_fault(value)
    return None


def _text_fault(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if len(value) > NAME_MAX_CHARACTERS:
        return f"is {len(value)} characters long; at most {NAME_MAX_CHARACTERS}"
    for position, character in enumerate(value, start=1):
        if unicodedata.category(character) in _REFUSED_CATEGORIES:
            return f"character {position} (U+{ord(character):04X}) is not printable text"
    if value != value.strip():
        return "must not begin or end with white space"
    return None


def check_name(value: Any, kind: NameKind = NameKind.TEXT) -> str:
    """`value` as a name of this kind; ValueError naming the fault."""
    fault = name_fault(value, kind)
    if fault is not None:
        raise ValueError(fault)
    assert isinstance(value, str)  # name_fault refuses anything else
    return value


def _shown(value: Any) -> str:
    """A value as an error message may quote it: short, and escaped where it is not text."""
    text = repr(value) if not isinstance(value, str) else ascii(value)[1:-1]
    text = f'"{text}"' if isinstance(value, str) else text
    return text if len(text) <= 60 else text[:57] + "..."
