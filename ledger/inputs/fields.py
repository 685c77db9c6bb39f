"""The fields of input models: numbers and names within the ledger's bounds
(`ledger.domain.limits`), read strictly from a file and leniently from a store."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from ledger.domain.limits import (
    AMOUNT_MAX,
    LEVEL_MAX,
    LEVERAGE_MAX,
    NameKind,
    Sign,
    check_name,
    parse_decimal,
    parse_whole_number,
)
from ledger.domain.product import AccountMode


def restoring(info: ValidationInfo) -> bool:
    """Inputs restored from a store were valid when recorded: read them, do not judge them
    again by bounds that may have changed since (no stored input may make a replay fail)."""
    return bool(info.context and info.context.get("restoring"))


def decimal_field(sign: Sign, maximum: Decimal) -> BeforeValidator:
    def validate(value: Any, info: ValidationInfo) -> Decimal:
        if restoring(info):
            return Decimal(value)
        return parse_decimal(value, sign=sign, maximum=maximum)

    return BeforeValidator(validate)


def _name_field(kind: NameKind) -> BeforeValidator:
    def validate(value: Any, info: ValidationInfo) -> str:
        return value if restoring(info) else check_name(value, kind)

    return BeforeValidator(validate)


def _leverage(value: Any, info: ValidationInfo) -> int:
    return value if restoring(info) else parse_whole_number(value, minimum=2, maximum=LEVERAGE_MAX)


Positive = Annotated[Decimal, decimal_field(Sign.POSITIVE, AMOUNT_MAX)]
Level = Annotated[Decimal, decimal_field(Sign.POSITIVE, LEVEL_MAX)]
Name = Annotated[str, _name_field(NameKind.TEXT)]
Asset = Annotated[str, _name_field(NameKind.ASSET)]
Symbol = Annotated[str, _name_field(NameKind.SYMBOL)]
Leverage = Annotated[int, BeforeValidator(_leverage)]
# The words of `AccountMode`, kept as plain text: inputs and stored events carry the word.
Mode = Literal[tuple(mode.value for mode in AccountMode)]  # type: ignore[valid-type]


class InputModel(BaseModel):
    """What every input may carry besides its `op`: an idempotency key and a time."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    id: Name | None = None
    at: str | None = None

    @classmethod
    def shape_faults(cls, raw: dict[str, Any]) -> list[tuple[str, str]]:
        """(field, message) of each fault the JSON object shows whatever its fields hold:
        asked also of a line whose fields fail, so that every fault of a line is named."""
        return []
