"""Funding: a `funding` input is recorded on its symbol's stream; each wallet holding the
symbol then settles it, as a step of its own (once per funding: the wallet records the
last funding it settled of each symbol). Its evaluation follows, as after any change."""

from __future__ import annotations

from typing import Any

from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.market import SymbolMarket
from ledger.processes.futures.indexes import SymbolHolders
from ledger.processes.futures.step import FuturesStep
from ledger.processes.routing import Reaction, Situation, reacts
from ledger.processes.steps import ProcessSteps, Subject, step
from ledger.unit_of_work import UnitOfWork


def _symbol_held(event: SymbolMarket.FundingAnnounced, driver: ProcessSteps, _uow: UnitOfWork) -> bool:
    return bool(driver.indexes[SymbolHolders].of(event.symbol))


@reacts(SymbolMarket.FundingAnnounced, inline_check=_symbol_held)
def _funding_announced(event: SymbolMarket.FundingAnnounced, situation: Situation) -> list[Reaction]:
    return [Reaction(FuturesStep.SETTLE_FUNDING, name) for name in situation.index(SymbolHolders).of(event.symbol)]


@step(FuturesStep.SETTLE_FUNDING, subject=Subject.ACCOUNT)
def settle_funding_step(
    _steps: ProcessSteps,
    uow: UnitOfWork,
    reaction: Reaction,
    event: SymbolMarket.FundingAnnounced,
    cause: dict[str, Any],
) -> None:
    """One wallet's positions in the symbol settle the funding against `market`."""
    account = uow.account(reaction.subject)
    assert isinstance(account, FuturesAccount)
    account.settle_funding(
        event.symbol, event.sequence, event.rate, event.mark, uow.parameters(), event.at, {**cause, "step": "funding"}
    )
