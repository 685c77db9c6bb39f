"""The spot liquidation: its trigger, the regular part (liquid collateral sold at the
marks), the hand-off to the takeover desk, the fee, the return of what is left, and
the account's unlock.

Each event of a liquidation calls for its next step. One table, keyed by the event's
class (`advances`), holds both which step that is (for the routing table, and for the
service's workers that follow on at once) and what it does; the takeover desk's
events register theirs from `ledger.processes.margin.takeover`. Every step checks the
liquidation's state first, so that running it again records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from ledger.domain.margin.account import Account
from ledger.domain.margin.decisions import (
    assets_to_take_over,
    fee_to_charge,
    liquid_assets,
    regular_part_outcome,
)
from ledger.domain.margin.liquidation import Liquidation, LiquidationStatus, Sale, SettlementPlan, plan_settlement
from ledger.domain.margin.rules import MarginPosition, liquidation_fee_value, reported_level
from ledger.domain.money import ZERO
from ledger.domain.parameters import MarginTier
from ledger.domain.prices import PriceBook
from ledger.processes.margin.step import MarginStep
from ledger.processes.routing import Reaction, follows_on
from ledger.processes.steps import ProcessSteps, Subject, step
from ledger.unit_of_work import UnitOfWork

Advance = Callable[[UnitOfWork, Any, dict[str, Any]], None]
StepOf = Callable[[Any], MarginStep]
_ADVANCES: dict[type, tuple[StepOf, Advance]] = {}


def advances(event_class: type, step_of: StepOf) -> Callable[[Advance], Advance]:
    """Registers `advance(uow, event, cause)` as what an event of `event_class` calls for:
    the step `step_of(event)` on its liquidation."""

    def register(advance: Advance) -> Advance:
        _ADVANCES[event_class] = (step_of, advance)
        return advance

    return register


@follows_on(Liquidation.Event)
def next_steps(event: Liquidation.Event) -> list[Reaction]:
    found = _ADVANCES.get(type(event))
    return [] if found is None else [Reaction(found[0](event), str(event.originator_id))]


@step(
    MarginStep.REGULAR_PART,
    MarginStep.HAND_OFF,
    MarginStep.FEE,
    MarginStep.RETURN,
    MarginStep.UNLOCK,
    subject=Subject.LIQUIDATION,
)
def advance_liquidation(
    _steps: ProcessSteps, uow: UnitOfWork, _reaction: Reaction, event: Any, cause: dict[str, Any]
) -> None:
    """The step a liquidation's event calls for: its regular part, hand-off, fee (from the
    account after a regular part, from the desk's proceeds after a takeover), return or unlock."""
    _ADVANCES[type(event)][1](uow, event, cause)


def opened(uow: UnitOfWork, event: Liquidation.Event, cause: dict[str, Any]) -> tuple[Liquidation, Account, dict]:
    """The liquidation an event belongs to, its account, and the cause its steps carry."""
    liquidation = uow.liquidation(event.originator_id)
    return liquidation, uow.account(liquidation.account), {**cause, "liquidation_id": str(liquidation.id)}


# --- the trigger -----------------------------------------------------------------------------


def start_liquidation(
    uow: UnitOfWork,
    account: Account,
    position: MarginPosition,
    tier: MarginTier,
    prices: PriceBook,
    at: datetime,
    cause: dict[str, Any],
) -> None:
    """Locks the account and records what triggered the liquidation."""
    parameters = prices.parameters
    liabilities = account.liabilities()
    level = reported_level(position.level())
    threshold = tier.liquidation
    liquidation = Liquidation(
        account=account.name,
        sequence=account.liquidations_started + 1,
        mode=account.mode,
        leverage=account.leverage,
        margin_level=level,
        threshold=threshold,
        prices=prices.prices_used(set(account.balances) | set(liabilities)),
        parameters_version=parameters.version,
        balances=dict(account.balances),
        principal=dict(account.principal),
        interest=dict(account.interest),
        liabilities_value=position.liability_value,
        fee_rate=tier.fee_rate,
        fee_value=liquidation_fee_value(
            tier.fee_rate, position.liability_value, parameters.precision(parameters.valuation_asset)
        ),
        at=at,
        cause={**cause, "step": "trigger"},
    )
    uow.add(liquidation)
    account.start_liquidation(
        account=account.name,
        liquidation_id=liquidation.id,
        margin_level=level,
        threshold=threshold,
        at=at,
        cause={**cause, "step": "trigger"},
    )


# --- the regular part ----------------------------------------------------------------------


@advances(Liquidation.Triggered, lambda _event: MarginStep.REGULAR_PART)
def _after_trigger(uow: UnitOfWork, event: Liquidation.Triggered, cause: dict[str, Any]) -> None:
    liquidation, account, cause = opened(uow, event, cause)
    if not liquidation.regular_part_ended:
        regular_part(uow, liquidation, account, event.at, {**cause, "step": "regular_part"})


def regular_part(
    uow: UnitOfWork, liquidation: Liquidation, account: Account, at: datetime, cause: dict[str, Any]
) -> None:
    """Sells liquid collateral at the marks until every liability is repaid; what is left
    owed goes to a takeover, or, with nothing left to sell, to the insurance fund."""
    prices = uow.prices()
    parameters = prices.parameters
    plan = plan_settlement(account.balances, account.liabilities(), prices, liquid_assets(account.balances, parameters))
    carry_out(
        plan,
        sell=partial(account.sell_collateral, account=account.name, liquidation_id=liquidation.id, at=at, cause=cause),
        repay=lambda asset, amount: account.settle(asset, amount, liquidation.id, at, cause),
    )
    outcome = regular_part_outcome(plan, parameters)
    for asset in sorted(outcome.shortfall):
        account.cover_shortfall(
            account=account.name,
            liquidation_id=liquidation.id,
            asset=asset,
            principal=account.principal.get(asset, ZERO),
            interest=account.interest.get(asset, ZERO),
            at=at,
            cause={**cause, "step": "shortfall"},
        )
    liquidation.end_regular_part(
        account=account.name,
        repaid=outcome.repaid,
        shortfall=outcome.shortfall,
        takeover_needed=outcome.takeover_needed,
        at=at,
        cause=cause,
    )


def carry_out(plan: SettlementPlan, sell: Callable[..., None], repay: Callable[[str, Decimal], None]) -> None:
    """A settlement plan's steps in order, the account's (regular part) and the desk's
    (after a takeover) alike: each sale by `sell(asset=..., quantity=..., price=...,
    proceeds_asset=..., proceeds=...)`, each repayment by `repay(asset, amount)`."""
    for planned in plan.steps:
        if isinstance(planned, Sale):
            sell(
                asset=planned.asset,
                quantity=planned.quantity,
                price=planned.price,
                proceeds_asset=planned.proceeds_asset,
                proceeds=planned.proceeds,
            )
        else:
            repay(planned.asset, planned.amount)


# --- after the regular part: the hand-off, or the fee --------------------------------------


def _hand_off_or_fee(event: Liquidation.RegularPartEnded) -> MarginStep:
    return MarginStep.HAND_OFF if event.takeover_needed else MarginStep.FEE


@advances(Liquidation.RegularPartEnded, _hand_off_or_fee)
def _after_regular_part(uow: UnitOfWork, event: Liquidation.RegularPartEnded, cause: dict[str, Any]) -> None:
    liquidation, account, cause = opened(uow, event, cause)
    if liquidation.fee_amounts is not None:
        return
    if event.takeover_needed and not liquidation.handed_over:
        hand_over(uow, liquidation, account, event.at, {**cause, "step": "hand_off"})
    elif not event.takeover_needed:
        charge_regular_fee(uow, liquidation, account, event.at, {**cause, "step": "fee"})


def hand_over(uow: UnitOfWork, liquidation: Liquidation, account: Account, at: datetime, cause: dict[str, Any]) -> None:
    """Everything left in the account, and every liability, moves to the takeover desk."""
    assets = {asset: quantity for asset, quantity in account.balances.items() if quantity}
    principal, interest = dict(account.principal), dict(account.interest)
    account.hand_over(
        account=account.name,
        liquidation_id=liquidation.id,
        assets=assets,
        principal=principal,
        interest=interest,
        at=at,
        cause=cause,
    )
    liquidation.start_takeover(
        account=account.name,
        assets=assets,
        principal=principal,
        interest=interest,
        to_sell=assets_to_take_over(assets, uow.parameters()),
        at=at,
        cause=cause,
    )


def charge_regular_fee(
    uow: UnitOfWork, liquidation: Liquidation, account: Account, at: datetime, cause: dict[str, Any]
) -> None:
    """From what remains in the account; none after a shortfall."""
    amounts, value = fee_to_charge(liquidation.shortfall, account.balances, liquidation.fee_value_due, uow.prices())
    if amounts:
        account.pay_liquidation_fee(
            account=account.name, liquidation_id=liquidation.id, amounts=amounts, at=at, cause=cause
        )
    liquidation.charge_fee(account=account.name, amounts=amounts, value=value, payer=account.name, at=at, cause=cause)


# --- the return, and the unlock ------------------------------------------------------------


@advances(Liquidation.FeeCharged, lambda _event: MarginStep.RETURN)
def _after_fee(uow: UnitOfWork, event: Liquidation.FeeCharged, cause: dict[str, Any]) -> None:
    liquidation, account, cause = opened(uow, event, cause)
    if liquidation.status == LiquidationStatus.IN_PROGRESS:
        finish(liquidation, account, event.at, {**cause, "step": "return"})


def finish(liquidation: Liquidation, account: Account, at: datetime, cause: dict[str, Any]) -> None:
    """After a takeover the desk returns what is left; then the liquidation completes."""
    if liquidation.handed_over:
        amounts = dict(liquidation.desk_balances)
        liquidation.return_proceeds(account=account.name, amounts=amounts, at=at, cause=cause)
        if amounts:
            account.receive_takeover_proceeds(
                account=account.name, liquidation_id=liquidation.id, amounts=amounts, at=at, cause=cause
            )
    liquidation.complete(account=account.name, kind=liquidation.kind, at=at, cause={**cause, "step": "complete"})


@advances(Liquidation.Completed, lambda _event: MarginStep.UNLOCK)
def _after_completion(uow: UnitOfWork, event: Liquidation.Completed, cause: dict[str, Any]) -> None:
    liquidation, account, cause = opened(uow, event, cause)
    if account.liquidation_id == liquidation.id:
        account.end_liquidation(
            account=account.name, liquidation_id=liquidation.id, at=event.at, cause={**cause, "step": "unlock"}
        )
