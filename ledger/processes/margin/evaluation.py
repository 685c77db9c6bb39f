"""Margin evaluation: what an account's level calls for (a margin call, with the
auto top-up if enabled; recovery; or the trigger of a liquidation), and which events
call for it: the account's own events, the marks that may change it, a new rule set.

The decision is the domain's (`ledger.domain.margin.decisions`); this module loads,
asks, and records. Each assessment tells the inline driver's `MarkWatch` which marks
could change its answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.domain.margin.account import Account, AccountStatus
from ledger.domain.margin.decisions import (
    MarginAction,
    evaluated_at,
    evaluation_may_record,
    has_margin_level,
    margin_action,
    recovered_by_top_up,
)
from ledger.domain.margin.rules import MarginPosition, margin_position, quiet_price_bands, reported_level
from ledger.domain.market import AssetMarket, ParameterSet
from ledger.domain.parameters import MarginTier
from ledger.domain.prices import MissingPrice, PriceBook
from ledger.processes.indexes import MarkWatch
from ledger.processes.margin.liquidation import start_liquidation
from ledger.processes.margin.step import MarginStep
from ledger.processes.margin.top_up import auto_topup
from ledger.processes.routing import Reaction, Situation, calls_for_nothing, reacts
from ledger.processes.steps import ProcessSteps, Subject, on_account_loaded, step
from ledger.unit_of_work import UnitOfWork

# Account events that the margin evaluation itself produces: reacting to them again is waste.
EVALUATION_EVENTS = (
    Account.MarginCallIssued,
    Account.MarginRecovered,
    Account.AutoTopUpApplied,
    Account.AutoTopUpFailed,
)


@dataclass(frozen=True)
class MarginAssessment:
    action: MarginAction
    tier: MarginTier
    prices: PriceBook
    position: MarginPosition


def margin_step(account: Account) -> MarginStep:
    return MarginStep.AUTO_TOP_UP if account.auto_topup is not None else MarginStep.EVALUATE_MARGIN


# --- assessing ---------------------------------------------------------------------------


def assess_margin(uow: UnitOfWork, account: Account, watch: MarkWatch | None) -> MarginAssessment | None:
    """What the account's level calls for now, if anything. Records nothing, but
    notes in `watch` which marks could change the answer."""
    parameters = uow.parameters()
    if not has_margin_level(account, parameters):
        if watch is not None:
            watch.forget(account.name)
        return None
    assert account.leverage is not None
    tier = parameters.margin_tier(account.mode, account.leverage)
    prices = uow.prices()
    liabilities = account.liabilities()
    assets = set(account.balances) | set(liabilities)
    try:
        position = margin_position(account.mode, account.balances, liabilities, prices)
    except MissingPrice:
        if watch is not None:
            watch.watch_always(account.name, assets)  # the level is unknown until it is marked
        return None
    action = margin_action(position, tier, account.status)
    if action is None:
        if watch is not None:
            _watch_quiet(watch, account, position, prices, tier)
        return None
    if watch is not None:
        watch.watch_always(account.name, assets)  # until an evaluation finds it quiet
    return MarginAssessment(action, tier, prices, position)


def _watch_quiet(
    watch: MarkWatch, account: Account, position: MarginPosition, prices: PriceBook, tier: MarginTier
) -> None:
    liabilities = account.liabilities()
    if not liabilities:
        watch.forget(account.name)
        return
    # A top-up runs only as a descent begins, so what its source holds meanwhile
    # cannot change the account's state: its bands are those of any account.
    bands = quiet_price_bands(
        position, account.balances, liabilities, prices, tier, account.status == AccountStatus.MARGIN_CALL
    )
    if bands is None:
        watch.watch_always(account.name, set(account.balances) | set(liabilities))
    else:
        watch.watch_bands(account.name, bands)


# --- evaluating --------------------------------------------------------------------------


@step(MarginStep.EVALUATE_MARGIN, subject=Subject.ACCOUNT)
def evaluate_margin_step(
    steps: ProcessSteps, uow: UnitOfWork, reaction: Reaction, event: Any, cause: dict[str, Any]
) -> None:
    """Margin call, recovery or the trigger of a liquidation, as each account's level requires."""
    evaluate_margin(uow, uow.account(reaction.subject), event.at, cause, steps.watch)


@step(MarginStep.AUTO_TOP_UP, subject=Subject.ACCOUNT, one_at_a_time=True)
def auto_top_up_step(
    steps: ProcessSteps, uow: UnitOfWork, reaction: Reaction, event: Any, cause: dict[str, Any]
) -> None:
    """The margin evaluation of an account with auto top-up: transfers from its source first."""
    evaluate_margin(uow, uow.account(reaction.subject), event.at, cause, steps.watch)


def evaluate_margin(
    uow: UnitOfWork, account: Account, at: datetime, cause: dict[str, Any], watch: MarkWatch | None
) -> None:
    """Margin call, auto top-up, recovery or liquidation, as the level requires."""
    assessment = assess_margin(uow, account, watch)
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


@on_account_loaded
def _watch_loaded_account(steps: ProcessSteps, uow: UnitOfWork, account: Account) -> None:
    assess_margin(uow, account, steps.watch)  # which notes the account's quiet bands


# --- what calls for an evaluation ----------------------------------------------------------


def evaluations(names: Iterable[str], situation: Situation) -> list[Reaction]:
    accounts = (situation.account(name) for name in sorted(names))
    return [Reaction(margin_step(found), found.name) for found in accounts if evaluation_may_record(found)]


def _account_may_record(event: Account.Event, driver: Any, uow: UnitOfWork) -> bool:
    return assess_margin(uow, uow.account(event.account), driver.watch) is not None


def _mark_may_record(event: AssetMarket.MarkRecorded, driver: Any, uow: UnitOfWork) -> bool:
    return any(
        assess_margin(uow, uow.account(name), driver.watch) is not None
        for name in driver.accounts_a_mark_may_change(uow, event)
    )


@reacts(Account.Event, inline_check=_account_may_record)
def _account_changed(event: Account.Event, situation: Situation) -> list[Reaction]:
    return evaluations([event.account], situation)


calls_for_nothing(*EVALUATION_EVENTS)


@reacts(AssetMarket.MarkRecorded, inline_check=_mark_may_record)
def _marked(event: AssetMarket.MarkRecorded, situation: Situation) -> list[Reaction]:
    return evaluations(situation.marked_accounts(event), situation)


@reacts(ParameterSet.Changed, barrier=True)
def _rules_changed(event: ParameterSet.Changed, situation: Situation) -> list[Reaction]:
    return evaluations(situation.debtors, situation)
