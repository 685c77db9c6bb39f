"""Futures margin evaluation: a wallet whose cross margin balance has reached its cross
maintenance margin, or an isolated position whose margin has reached its own, is
liquidated (compared exactly: `WalletFigures.cross_liquidatable`). What calls for it:
the wallet's own events, a mark of a symbol it holds, a new parameter version. There is
no futures margin call (domain.md). A mark is screened by the futures risk index
(`ledger.processes.futures.risk`): inline, only the wallets it liquidates are evaluated.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.market import SymbolMarket
from ledger.domain.market import ParameterSet
from ledger.processes.futures.due import liquidations_due
from ledger.processes.futures.indexes import SymbolHolders
from ledger.processes.futures.liquidation import start_futures_liquidation
from ledger.processes.futures.risk import FuturesRisk
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
    prices = uow.prices()
    due = liquidations_due(account, prices)
    if not due:
        return
    cause = {**cause, "step": "futures_evaluation"}
    if due.cross:
        start_futures_liquidation(uow, account, due.figures, None, prices, at, cause)
    for position in due.isolated:
        start_futures_liquidation(uow, account, due.figures, position, prices, at, cause)


# --- what calls for an evaluation ----------------------------------------------------------


def evaluations(names: Iterable[str]) -> list[Reaction]:
    return [Reaction(FuturesStep.EVALUATE_FUTURES, name) for name in names]


def _holds_positions(event: FuturesAccount.Event, _driver: Any, uow: UnitOfWork) -> bool:
    return bool(uow.account(event.account).positions)


@reacts(FuturesAccount.Event, inline_check=_holds_positions)
def _wallet_changed(event: FuturesAccount.Event, situation: Situation) -> list[Reaction]:
    return evaluations([event.account]) if situation.account(event.account).positions else []


calls_for_nothing(*LIQUIDATION_EVENTS)


def _mark_may_record(event: SymbolMarket.MarkRecorded, driver: ProcessSteps, uow: UnitOfWork) -> bool:
    """Inline, the risk index decides the mark exactly: whom it names, it liquidates."""
    risk: FuturesRisk = driver.indexes[FuturesRisk]
    return bool(risk.wallets_a_mark_may_change(event, uow))


@reacts(SymbolMarket.MarkRecorded, inline_check=_mark_may_record)
def _marked(event: SymbolMarket.MarkRecorded, situation: Situation) -> list[Reaction]:
    """Inline: the wallets the mark liquidates (screened, exactly where the float cannot
    tell), worst first; their evaluation checks again, exactly. The dispatcher: every
    holder of the symbol, whose workers decide exactly."""
    return evaluations(situation.index(FuturesRisk).wallets_a_mark_may_change(event, situation.uow))


@reacts(ParameterSet.Changed, barrier=True)
def _rules_changed(_event: ParameterSet.Changed, situation: Situation) -> list[Reaction]:
    return evaluations(situation.index(SymbolHolders).every_holder())
