"""The commands of inputs about the market and the ledger itself: marks and liquidity
on an asset's market, parameter versions, and time passing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledger.commands.registry import command
from ledger.domain.parameters import overlay_changes
from ledger.inputs.market import ClockInput, LiquidityInput, MarkInput, ParamsInput
from ledger.unit_of_work import UnitOfWork


@command(MarkInput)
def record_mark(uow: UnitOfWork, body: MarkInput, at: datetime, cause: dict[str, Any]) -> None:
    if body.symbol is not None:  # a futures mark, in the symbol's own quote currency
        uow.symbol_market(body.symbol, at, cause).record_mark(body.symbol, body.price, at, cause)
        return
    assert body.asset is not None
    quote = body.quote or uow.parameters().valuation_asset
    uow.market(body.asset, at, cause).record_mark(body.asset, body.price, quote, at, cause)


@command(LiquidityInput)
def offer_liquidity(uow: UnitOfWork, body: LiquidityInput, at: datetime, cause: dict[str, Any]) -> None:
    quote = body.quote or uow.parameters().valuation_asset
    uow.market(body.asset, at, cause).offer_liquidity(body.asset, body.price, body.quantity, quote, at, cause)


# Checks a product makes of a parameter change against the store's state (raising `Rejected`).
ParameterChangeCheck = Callable[[UnitOfWork, dict[str, Any]], None]
_PARAMETER_CHANGE_CHECKS: list[ParameterChangeCheck] = []


def checks_parameter_change(check: ParameterChangeCheck) -> ParameterChangeCheck:
    """Registers `check(uow, changes)`, asked before every parameter change is recorded."""
    _PARAMETER_CHANGE_CHECKS.append(check)
    return check


@command(ParamsInput)
def change_parameters(uow: UnitOfWork, body: ParamsInput, at: datetime, cause: dict[str, Any]) -> None:
    # The run's overlay wins over every params line (validation judged the line the same way).
    changes = overlay_changes(body.changes(), uow.app.parameter_overlay)
    for check in _PARAMETER_CHANGE_CHECKS:
        check(uow, changes)
    uow.parameter_set(at).change(changes, at, cause)


@command(ClockInput)
def pass_time(uow: UnitOfWork, body: ClockInput, at: datetime, cause: dict[str, Any]) -> None:
    """Nothing more: time passing is applied by `begin_hours` before every input."""
