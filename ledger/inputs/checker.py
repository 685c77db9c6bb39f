"""The checks of one line that need context: known accounts and assets, precisions, and
the bound on what one trade moves. A product's input checks (`ledger.inputs.registry`)
speak through it; it collects their faults."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledger.domain.limits import AMOUNT_MAX
from ledger.domain.money import decimal_places, exact_product
from ledger.inputs.errors import InputError
from ledger.inputs.models import KnownState


class LineChecker:
    def __init__(self, line: int, known: KnownState, errors: list[InputError], restoring: bool = False):
        self.line = line
        self.known = known
        self.errors = errors
        # A recorded input is checked again only where other parameters may change the answer
        # (known assets, precisions, tiers): the bounds and name rules it was recorded under stand.
        self.restoring = restoring

    def fail(self, field_name: str, message: str) -> None:
        self.errors.append(InputError(self.line, field_name, message))

    def errors_on_line(self) -> bool:
        return any(error.line == self.line for error in self.errors)

    def account(self, field_name: str, name: str) -> None:
        if name not in self.known.accounts:
            self.fail(field_name, f"unknown account '{name}'")

    def asset(self, field_name: str, asset: str) -> bool:
        if not self.known.knows_asset(asset):
            self.fail(field_name, f"unknown asset '{asset}' (declare it in a params input first)")
            return False
        return True

    def symbol(self, field_name: str, symbol: str) -> dict[str, Any] | None:
        """The symbol's entry in the parameter set, or None (and an error) when none declares it."""
        spec: dict[str, Any] | None = self.known.parameter_data.get("symbols", {}).get(symbol)
        if spec is None:
            self.fail(field_name, f"unknown symbol '{symbol}' (declare it in a params input first)")
        return spec

    def amount(self, field_name: str, asset: str, amount: Decimal) -> None:
        if self.known.knows_asset(asset) and decimal_places(amount) > self.known.precision(asset):
            self.fail(
                field_name, f"{amount:f} has more decimals than {asset}'s precision ({self.known.precision(asset)})"
            )

    def value_moved(self, field_name: str, quantity: Decimal, price: Decimal) -> None:
        """What a trade moves on its quote side is an amount too, within the same bound."""
        if self.restoring:
            return
        value = exact_product(quantity, price)
        if value > AMOUNT_MAX:
            self.fail(
                field_name,
                f"{quantity} at {price} moves {value}, beyond the ledger's bound of {AMOUNT_MAX:f} in one input",
            )
