"""Hourly interest: each hh:00 the accounts that owe accrue an hour's interest, and so
does what the takeover desk owes for each open takeover."""

from __future__ import annotations

import uuid
from typing import Any

from ledger.domain.market import Clock
from ledger.processes.indexes import Indexes, hours_concern
from ledger.processes.margin.indexes import OpenDebts
from ledger.processes.margin.step import MarginStep
from ledger.processes.routing import Reaction, Situation, reacts
from ledger.processes.steps import ProcessSteps, Subject, step
from ledger.unit_of_work import UnitOfWork


@reacts(Clock.HourBegan, barrier=True)
def _hour_began(event: Clock.HourBegan, situation: Situation) -> list[Reaction]:
    debts = situation.index(OpenDebts)
    accounts = [Reaction(MarginStep.ACCRUE_INTEREST, name) for name in sorted(debts.debtors)]
    desks = [Reaction(MarginStep.ACCRUE_DESK_INTEREST, str(i)) for i in sorted(debts.open_takeovers, key=str)]
    return accounts + desks


@hours_concern
def _anyone_owes(indexes: Indexes) -> bool:
    """An hour concerns those who owe, and the desk for each open takeover."""
    debts: OpenDebts = indexes[OpenDebts]
    return bool(debts.debtors or debts.open_takeovers)


@step(MarginStep.ACCRUE_INTEREST, subject=Subject.ACCOUNT)
def accrue_interest(
    _steps: ProcessSteps, uow: UnitOfWork, reaction: Reaction, event: Clock.HourBegan, cause: dict[str, Any]
) -> None:
    """The hour's interest on what an account owes."""
    uow.account(reaction.subject).accrue_hourly_interest(
        event.hour, uow.parameters(), {**cause, "step": "hourly_interest"}
    )


@step(MarginStep.ACCRUE_DESK_INTEREST, subject=Subject.LIQUIDATION)
def accrue_desk_interest(
    _steps: ProcessSteps, uow: UnitOfWork, reaction: Reaction, event: Clock.HourBegan, cause: dict[str, Any]
) -> None:
    """The hour's interest on what the takeover desk owes for one liquidation."""
    liquidation = uow.liquidation(uuid.UUID(reaction.subject))
    if not liquidation.is_taking_over:
        return
    liquidation.accrue_hourly_interest(event.hour, uow.parameters(), {**cause, "step": "hourly_interest"})
