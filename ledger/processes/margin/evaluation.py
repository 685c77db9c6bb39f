"""Margin evaluation: what an account's level calls for (a margin call, with the
auto top-up if enabled; recovery; or the trigger of a liquidation), and which events
call for it: the account's own events, the marks that may change it, a new rule set.

The decision is the domain's (`ledger.domain.margin.decisions`); this module loads,
asks (`ledger.processes.margin.assessment`; which accounts a mark changes, the risk
index `MarginRisk`), and records. An account event that cannot change a decision
(`event_cannot_change_margin_decision`) calls for no evaluation, in both drivers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ledger.domain.margin.account import Account
from ledger.domain.margin.decisions import (
    MarginAction,
    evaluated_at,
    evaluation_may_record,
    event_cannot_change_margin_decision,
    margin_tier_of,
    recovered_by_top_up,
)
from ledger.domain.margin.rules import MarginPosition, reported_level
from ledger.domain.market import AssetMarket, ParameterSet
from ledger.domain.parameters import MarginTier
from ledger.processes.margin.assessment import assess_margin
from ledger.processes.margin.indexes import MarginRisk, MarkFanOut, OpenDebts
from ledger.processes.margin.liquidation import start_liquidation
from ledger.processes.margin.step import MarginStep
from ledger.processes.margin.top_up import auto_topup
from ledger.processes.routing import Reaction, Situation, calls_for_nothing, reacts
from ledger.processes.steps import ProcessSteps, Subject, step
from ledger.unit_of_work import UnitOfWork

# Account events that the margin evaluation itself produces: reacting to them again is waste.
EVALUATION_EVENTS = (
    Account.MarginCallIssued,
    Account.MarginRecovered,
    Account.AutoTopUpApplied,
    Account.AutoTopUpFailed,
)


def margin_step(account: Account) -> MarginStep:
    return MarginStep.AUTO_TOP_UP if account.auto_topup is not None else MarginStep.EVALUATE_MARGIN


# --- evaluating --------------------------------------------------------------------------


@step(MarginStep.EVALUATE_MARGIN, subject=Subject.ACCOUNT)
def evaluate_margin_step(
    steps: ProcessSteps, uow: UnitOfWork, reaction: Reaction, event: Any, cause: dict[str, Any]
) -> None:
    """Margin call, recovery or the trigger of a liquidation, as each account's level requires."""
    evaluate_margin(uow, uow.account(reaction.subject), event.at, cause)


@step(MarginStep.AUTO_TOP_UP, subject=Subject.ACCOUNT, one_at_a_time=True)
def auto_top_up_step(
    steps: ProcessSteps, uow: UnitOfWork, reaction: Reaction, event: Any, cause: dict[str, Any]
) -> None:
    """The margin evaluation of an account with auto top-up: transfers from its source first."""
    evaluate_margin(uow, uow.account(reaction.subject), event.at, cause)


def evaluate_margin(uow: UnitOfWork, account: Account, at: datetime, cause: dict[str, Any]) -> None:
    """Margin call, auto top-up, recovery or liquidation, as the level requires."""
    assessment = assess_margin(uow, account)
    if assessment is None:
        return
    tier, prices, position = assessment.tier, assessment.prices, assessment.position
    cause = {**cause, "step": "margin_evaluation"}
    assets = set(account.balances) | set(account.liabilities())
    at = evaluated_at(at, prices.latest_mark_time(assets))
    if assessment.action == MarginAction.LIQUIDATE:
        start_liquidation(uow, account, position, tier, prices, at, cause)
    elif assessment.action == MarginAction.MARGIN_CALL:
        account.issue_margin_call(
            account=account.name,
            margin_level=reported_level(position.level()),
            threshold=tier.margin_call,
            prices=prices.prices_used(assets),
            liabilities=account.liabilities(),
            parameters_version=prices.parameters.version,
            at=at,
            cause=cause,
        )
        if account.auto_topup is not None:
            position = auto_topup(uow, account, position, prices, at, cause)
            if recovered_by_top_up(position, tier):
                recover(account, position, tier, at, cause)
    else:
        recover(account, position, tier, at, cause)


def recover(account: Account, position: MarginPosition, tier: MarginTier, at: datetime, cause: dict[str, Any]) -> None:
    account.recover(
        account=account.name,
        margin_level=reported_level(position.level()),
        threshold=tier.margin_call,
        at=at,
        cause=cause,
    )


# --- what calls for an evaluation ----------------------------------------------------------


def evaluations(names: Iterable[str], situation: Situation) -> list[Reaction]:
    """An evaluation of each of `names` that may record anything, in the order given."""
    accounts = (situation.account(name) for name in names)
    return [Reaction(margin_step(found), found.name) for found in accounts if evaluation_may_record(found)]


def _tier_of(account: Account, uow: UnitOfWork | None) -> MarginTier | None:
    """The account's tier where the driver knows the parameters (inline); none in the dispatcher."""
    return None if uow is None else margin_tier_of(account, uow.parameters())


def _event_may_change_decision(event: Account.Event, account: Account, uow: UnitOfWork | None) -> bool:
    return not event_cannot_change_margin_decision(event, account, _tier_of(account, uow))


def _account_may_record(event: Account.Event, driver: ProcessSteps, uow: UnitOfWork) -> bool:
    account = uow.account(event.account)
    if not _event_may_change_decision(event, account, uow):
        return False
    return assess_margin(uow, account) is not None


def _mark_may_record(event: AssetMarket.MarkRecorded, driver: ProcessSteps, uow: UnitOfWork) -> bool:
    """Inline, the risk index decides the mark exactly: whom it names, it changes."""
    risk: MarginRisk = driver.indexes[MarginRisk]
    return bool(risk.accounts_a_mark_may_change(event, uow))


@reacts(Account.Event, inline_check=_account_may_record)
def _account_changed(event: Account.Event, situation: Situation) -> list[Reaction]:
    if not _event_may_change_decision(event, situation.account(event.account), situation.uow):
        return []
    return evaluations([event.account], situation)


calls_for_nothing(*EVALUATION_EVENTS)


@reacts(AssetMarket.MarkRecorded, inline_check=_mark_may_record)
def _marked(event: AssetMarket.MarkRecorded, situation: Situation) -> list[Reaction]:
    return evaluations(situation.index(MarkFanOut).accounts_a_mark_may_change(event, situation.uow), situation)


@reacts(ParameterSet.Changed, barrier=True)
def _rules_changed(event: ParameterSet.Changed, situation: Situation) -> list[Reaction]:
    return evaluations(sorted(situation.index(OpenDebts).debtors), situation)
