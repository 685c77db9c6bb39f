"""Inputs about the market and the ledger itself rather than one account: marks and
liquidity, time passing (clock), and new parameter versions (params)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict

from ledger.domain.parameters import (
    merge_parameter_data,
    overlay_changes,
    validate_parameter_changes,
    validate_parameter_set,
)
from ledger.inputs.checker import LineChecker
from ledger.inputs.fields import Asset, InputModel, Positive, Symbol
from ledger.inputs.registry import registers


class MarkInput(InputModel):
    op: Literal["mark"]
    asset: Asset | None = None
    symbol: Symbol | None = None
    price: Positive
    quote: Asset | None = None

    @classmethod
    def shape_faults(cls, raw: dict[str, Any]) -> list[tuple[str, str]]:
        if (raw.get("asset") is None) == (raw.get("symbol") is None):
            return [("asset", "a mark names either an asset or a symbol")]
        return []


class LiquidityInput(InputModel):
    op: Literal["liquidity"]
    asset: Asset
    price: Positive
    quantity: Positive
    quote: Asset | None = None


class ClockInput(InputModel):
    op: Literal["clock"]
    at: str


class ParamsInput(InputModel):
    # Any subset of the parameter set, as extra fields (`ledger.domain.parameters` judges them).
    model_config = ConfigDict(extra="allow")
    op: Literal["params"]

    def changes(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


@registers(MarkInput)
def check_mark(body: MarkInput, check: LineChecker) -> None:
    faults = MarkInput.shape_faults(body.model_dump())
    for field_name, message in faults:
        check.fail(field_name, message)
    if faults:
        return
    if body.symbol is not None:
        check.symbol("symbol", body.symbol)
        if body.quote is not None:
            check.fail("quote", "a symbol's mark is in its own quote currency: it takes no quote")
    else:
        assert body.asset is not None
        check.asset("asset", body.asset)
        _check_quote(body.quote, body.asset, check)


@registers(LiquidityInput)
def check_liquidity(body: LiquidityInput, check: LineChecker) -> None:
    if check.asset("asset", body.asset):
        check.amount("quantity", body.asset, body.quantity)
    check.value_moved("price", body.quantity, body.price)
    _check_quote(body.quote, body.asset, check)


def _check_quote(quote: str | None, asset: str, check: LineChecker) -> None:
    if quote is not None:
        check.asset("quote", quote)
        if quote == asset:
            check.fail("quote", "an asset cannot be quoted in itself")


@registers(ClockInput)
def check_clock(body: ClockInput, check: LineChecker) -> None:
    """Nothing in context: its time is checked with every line's (`ledger.inputs.parser`)."""


@registers(ParamsInput)
def check_params(body: ParamsInput, check: LineChecker) -> None:
    """A valid change that leaves a valid set; the lines after it are checked under it."""
    known = check.known
    changes = body.changes()
    if check.restoring:  # recorded: it was a valid change then
        known.parameter_data = merge_parameter_data(known.parameter_data, changes)
        return
    faults = validate_parameter_changes(changes)
    for field_name, message in faults:
        check.fail(field_name, message)
    if faults:
        return
    # As the run will apply it: the overlay wins over the line (`Ledger` does the same).
    merged = merge_parameter_data(known.parameter_data, overlay_changes(changes, known.overlay))
    set_faults = validate_parameter_set(merged)
    for field_name, message in set_faults:
        check.fail(field_name, message)
    if not set_faults:
        known.parameter_data = merged
