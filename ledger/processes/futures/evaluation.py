"""Futures margin evaluation: a wallet whose cross margin balance has reached its cross
maintenance margin, or an isolated position whose margin has reached its own, is
liquidated (compared exactly: `WalletFigures.cross_liquidatable`). What calls for it:
the wallet's own events, a mark of a symbol it holds, a new parameter version. There is
no futures margin call (domain.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.market import SymbolMarket
from ledger.domain.market import ParameterSet
from ledger.processes.futures.indexes import SymbolHolders
from ledger.processes.futures.liquidation import start_futures_liquidation
from ledger.processes.futures.step import FuturesStep
from ledger.processes.routing import Reaction, Situation, calls_for_nothing, reacts
from ledger.processes.steps import ProcessSteps, Subject, step
from ledger.unit_of_work import UnitOfWork

# The liquidation's own events on the wallet: its evaluation follows its end (`LiquidationEnded`).
LIQUIDATION_EVENTS = (
    FuturesAccount.LiquidationStarted,
    FuturesAccount.PositionLiquidated,
    FuturesAccount.ClearanceFeeCharged,
    FuturesAccount.ShortfallCovered,
)


@step(FuturesStep.EVALUATE_FUTURES, subject=Subject.ACCOUNT)
def evaluate_futures_step(
    _steps: ProcessSteps, uow: UnitOfWork, reaction: Reaction, event: Any, cause: dict[str, Any]
) -> None:
    """Liquidates the cross positions, or an isolated position, whose margin balance has
    reached its maintenance margin."""
    account = uow.account(reaction.subject)
    assert isinstance(account, FuturesAccount)
    evaluate_wallet(uow, account, event.at, cause)


def evaluate_wallet(uow: UnitOfWork, account: FuturesAccount, at: datetime, cause: dict[str, Any]) -> None:
    if not account.positions:
        return
    prices = uow.prices()
    figures = account.figures(prices)
    cause = {**cause, "step": "futures_evaluation"}
    if not account.is_locked and figures.cross and figures.cross_liquidatable():
        start_futures_liquidation(uow, account, figures, None, prices, at, cause)
    for position in figures.isolated:
        locked = account.isolated_lock(position.held.symbol, position.held.slot)
        if locked is None and figures.isolated_liquidatable(position):
            start_futures_liquidation(uow, account, figures, position, prices, at, cause)


# --- what calls for an evaluation ----------------------------------------------------------


def evaluations(names: Iterable[str]) -> list[Reaction]:
    return [Reaction(FuturesStep.EVALUATE_FUTURES, name) for name in names]


def _holds_positions(event: FuturesAccount.Event, _driver: Any, uow: UnitOfWork) -> bool:
    return bool(uow.account(event.account).positions)


@reacts(FuturesAccount.Event, inline_check=_holds_positions)
def _wallet_changed(event: FuturesAccount.Event, situation: Situation) -> list[Reaction]:
    return evaluations([event.account]) if situation.account(event.account).positions else []


calls_for_nothing(*LIQUIDATION_EVENTS)


def _symbol_held(event: SymbolMarket.MarkRecorded, driver: ProcessSteps, _uow: UnitOfWork) -> bool:
    return bool(driver.indexes[SymbolHolders].of(event.symbol))


@reacts(SymbolMarket.MarkRecorded, inline_check=_symbol_held)
def _marked(event: SymbolMarket.MarkRecorded, situation: Situation) -> list[Reaction]:
    return evaluations(situation.index(SymbolHolders).of(event.symbol))


@reacts(ParameterSet.Changed, barrier=True)
def _rules_changed(_event: ParameterSet.Changed, situation: Situation) -> list[Reaction]:
    return evaluations(situation.index(SymbolHolders).every_holder())
