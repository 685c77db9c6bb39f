"""The futures liquidation (domain.md, "Futures liquidation"), as a process: the trigger
locks the wallet (or the isolated position) and records what it saw; the next step
closes its positions at the mark, charges the clearance fee (capped at what remains
positive) to `insurance-fund`, has `insurance-fund` cover a deficit, returns what remains
of an isolated margin to the cross wallet, and unlocks. Each step is idempotent by
state: a liquidation completed is not carried out again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.domain.futures.account import FuturesAccount, clearance_fee_due, fee_value
from ledger.domain.futures.contracts import reported
from ledger.domain.futures.exact import rounded
from ledger.domain.futures.liquidation import LIQUIDATION_THRESHOLD, FuturesLiquidation
from ledger.domain.futures.wallet import PositionFigures, WalletFigures
from ledger.domain.liquidations import LiquidationStatus
from ledger.domain.prices import PriceBook
from ledger.processes.futures.step import FuturesStep
from ledger.processes.routing import Reaction, follows_on
from ledger.processes.steps import ProcessSteps, Subject, step
from ledger.unit_of_work import UnitOfWork


def start_futures_liquidation(
    uow: UnitOfWork,
    account: FuturesAccount,
    figures: WalletFigures,
    isolated: PositionFigures | None,
    prices: PriceBook,
    at: datetime,
    cause: dict[str, Any],
) -> None:
    """Records the trigger and locks the cross positions (`isolated` None) or one isolated
    position."""
    cause = {**cause, "step": "trigger"}
    if isolated is None:
        positions = figures.cross
        wallet_balance = figures.cross_wallet_balance
        margin_balance, maintenance_margin = figures.cross_margin_balance, figures.cross_maintenance_margin
        ratio = figures.margin_ratio
        symbol, slot = None, None
    else:
        positions = [isolated]
        wallet_balance = isolated.held.isolated_margin
        margin_balance, maintenance_margin = isolated.isolated_margin_balance, isolated.maintenance_margin
        ratio = isolated.margin_ratio
        symbol, slot = isolated.held.symbol, isolated.held.slot.value
    liquidation = FuturesLiquidation(
        account=account.name,
        sequence=account.liquidations_started + 1,
        mode=account.mode,
        asset=account.asset,
        symbol=symbol,
        slot=slot,
        positions=[position_record(position) for position in positions],
        prices={position.held.symbol: position.mark for position in positions},
        wallet_balance=wallet_balance,
        margin_balance=reported(margin_balance),
        maintenance_margin=reported(maintenance_margin),
        margin_ratio=None if ratio is None else reported(ratio),
        threshold=LIQUIDATION_THRESHOLD,
        parameters_version=prices.parameters.version,
        at=at,
        cause=cause,
    )
    uow.add(liquidation)
    liquidation_id = account.start_liquidation(symbol, slot, at, cause)
    assert liquidation_id == liquidation.id, "the account and its liquidation agree on its sequence"


def position_record(figures: PositionFigures) -> dict[str, Any]:
    """A position at its mark, as a liquidation records it (reported figures, 8 places)."""
    held = figures.held
    return {
        "symbol": held.symbol,
        "slot": held.slot.value,
        "side": held.position.side.name.lower(),
        "quantity": held.position.quantity,
        "entry_price": held.position.entry_price,
        "mark": figures.mark,
        "leverage": held.leverage,
        "margin_type": held.margin_type.value,
        "isolated_margin": held.isolated_margin,
        "notional": reported(figures.notional),
        "maintenance_margin": reported(figures.maintenance_margin),
        "unrealized_pnl": reported(figures.unrealized_pnl),
    }


@follows_on(FuturesLiquidation.Triggered)
def _after_trigger(event: FuturesLiquidation.Triggered) -> list[Reaction]:
    return [Reaction(FuturesStep.LIQUIDATE_FUTURES, str(event.originator_id))]


@step(FuturesStep.LIQUIDATE_FUTURES, subject=Subject.LIQUIDATION)
def liquidate_futures_step(
    _steps: ProcessSteps,
    uow: UnitOfWork,
    _reaction: Reaction,
    event: FuturesLiquidation.Triggered,
    cause: dict[str, Any],
) -> None:
    """Closes the liquidated positions at the mark, charges the clearance fee, covers a
    shortfall from the insurance fund, and unlocks."""
    liquidation: FuturesLiquidation = uow.get(event.originator_id)
    if liquidation.status == LiquidationStatus.COMPLETED:
        return
    account = uow.account(liquidation.account)
    assert isinstance(account, FuturesAccount)
    if not account.is_liquidating(liquidation.id):
        return  # carried out by another copy of this step since the liquidation was read: its save stands
    carry_out(uow, liquidation, account, event.at, {**cause, "liquidation_id": str(liquidation.id)})


def carry_out(
    uow: UnitOfWork, liquidation: FuturesLiquidation, account: FuturesAccount, at: datetime, cause: dict[str, Any]
) -> None:
    prices = uow.prices()
    precision = account.precision(prices.parameters)
    figures = account.figures(prices)
    if liquidation.is_cross:
        in_scope = figures.cross
    else:
        in_scope = [
            f for f in figures.isolated if (f.held.symbol, f.held.slot.value) == (liquidation.symbol, liquidation.slot)
        ]
    for position in in_scope:
        account.close_at_mark(liquidation.id, position, precision, at, {**cause, "step": "close_at_mark"})
    fee_due = clearance_fee_due(in_scope)
    fee = account.charge_clearance_fee(liquidation.id, fee_due, precision, at, {**cause, "step": "clearance_fee"})
    shortfall = account.cover_shortfall(liquidation.id, at, {**cause, "step": "shortfall"})
    returned = account.end_liquidation(liquidation.id, at, {**cause, "step": "unlock"})
    liquidation.complete(
        closed=[closed_record(position, precision) for position in in_scope],
        fee=fee,
        fee_value=fee_value(fee, in_scope),
        shortfall=shortfall,
        returned_to_cross_wallet=returned,
        at=at,
        cause={**cause, "step": "unlock"},
    )


def closed_record(position: PositionFigures, precision: int) -> dict[str, Any]:
    """A position closed at its mark: as recorded, with the PnL that realized."""
    return {**position_record(position), "realized_pnl": rounded(position.unrealized_pnl, precision)}
