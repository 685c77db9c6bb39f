"""The takeover desk: its sales into offered liquidity (oldest takeover first), the end
of its sales, and the settlement after the last one (liabilities in other assets
bought at the marks, a shortfall covered by the insurance fund, the fee from the
proceeds). What it sells and repays is decided in `ledger.domain.margin.decisions`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import partial, singledispatch
from typing import Any

from ledger.domain.entries import TAKEOVER_DESK
from ledger.domain.margin.decisions import desk_repayments, fee_to_charge, liquid_assets, takeover_sales
from ledger.domain.margin.liquidation import Liquidation, plan_settlement
from ledger.domain.market import AssetMarket
from ledger.domain.money import ZERO
from ledger.processes.margin.indexes import OpenDebts
from ledger.processes.margin.liquidation import advance_liquidation, advances, carry_out, opened
from ledger.processes.margin.step import MarginStep
from ledger.processes.routing import Reaction, Situation, reacts
from ledger.processes.steps import ProcessSteps, Subject, step
from ledger.unit_of_work import UnitOfWork

# --- the sales ------------------------------------------------------------------------------


@reacts(AssetMarket.LiquidityOffered, barrier=True, tracked_at_once=True)
def _liquidity_offered(event: AssetMarket.LiquidityOffered, situation: Situation) -> list[Reaction]:
    """The sales against an offer: the candidates are the takeovers open when it came."""
    candidates = tuple(sorted(map(str, situation.index(OpenDebts).open_takeovers)))
    return [Reaction(MarginStep.TAKEOVER_SALES, event.asset, candidates)]


@step(MarginStep.TAKEOVER_SALES, subject=Subject.OFFER)
def takeover_sales_step(
    steps: ProcessSteps, uow: UnitOfWork, reaction: Reaction, event: Any, cause: dict[str, Any]
) -> None:
    """Sales against offered liquidity (subject: the asset), or the end of a takeover's
    sales when it has nothing to sell (subject: the liquidation)."""
    _takeover_sales(event, steps, uow, reaction, cause)


@singledispatch
def _takeover_sales(event: Any, steps: ProcessSteps, uow: UnitOfWork, reaction: Reaction, cause: dict) -> None:
    advance_liquidation(steps, uow, reaction, event, cause)  # a takeover begun with nothing to sell


@_takeover_sales.register
def _sell_into_offer(
    event: AssetMarket.LiquidityOffered, _steps: ProcessSteps, uow: UnitOfWork, reaction: Reaction, cause: dict
) -> None:
    sell_to_liquidity(uow, event, [uuid.UUID(t) for t in reaction.takeovers], cause)


def sell_to_liquidity(
    uow: UnitOfWork, event: AssetMarket.LiquidityOffered, takeover_ids: Iterable[uuid.UUID], cause: dict[str, Any]
) -> None:
    """The desk sells into offered liquidity, oldest takeover first; what is left lapses."""
    takeovers = [uow.liquidation(liquidation_id) for liquidation_id in takeover_ids]
    quote_precision = uow.parameters().precision(event.quote)
    for sale in takeover_sales(takeovers, event.asset, event.quantity, event.price, quote_precision):
        liquidation = sale.liquidation
        step_cause = {**cause, "liquidation_id": str(liquidation.id), "step": "takeover_sale"}
        liquidation.sell_slice(
            account=liquidation.account,
            asset=event.asset,
            quantity=sale.quantity,
            price=event.price,
            proceeds_asset=event.quote,
            proceeds=sale.proceeds,
            liquidity_at=event.at,
            at=event.at,
            cause=step_cause,
        )
        repay_from_desk(liquidation, event.at, step_cause)
        if not liquidation.to_sell:
            liquidation.end_takeover_sales(account=liquidation.account, at=event.at, cause=step_cause)


def repay_from_desk(liquidation: Liquidation, at: datetime, cause: dict[str, Any]) -> None:
    for asset, amount in desk_repayments(liquidation.desk_liabilities(), liquidation.desk_balances).items():
        liquidation.repay_desk_debt(asset, amount, at, {**cause, "step": "takeover_repayment"})


@advances(Liquidation.TakeoverStarted, lambda _event: MarginStep.TAKEOVER_SALES)
def _after_hand_off(uow: UnitOfWork, event: Liquidation.TakeoverStarted, cause: dict[str, Any]) -> None:
    """Ends the sales at once when nothing is to be sold."""
    liquidation, account, cause = opened(uow, event, cause)
    if liquidation.is_taking_over and not liquidation.to_sell:
        liquidation.end_takeover_sales(account=account.name, at=event.at, cause={**cause, "step": "takeover_sales"})


# --- the settlement ------------------------------------------------------------------------


@advances(Liquidation.TakeoverSalesEnded, lambda _event: MarginStep.FEE)
def _after_sales(uow: UnitOfWork, event: Liquidation.TakeoverSalesEnded, cause: dict[str, Any]) -> None:
    liquidation, _account, cause = opened(uow, event, cause)
    if liquidation.fee_amounts is None:
        settle_takeover(uow, liquidation, event.at, {**cause, "step": "takeover_settlement"})


def settle_takeover(uow: UnitOfWork, liquidation: Liquidation, at: datetime, cause: dict[str, Any]) -> None:
    """After the last sale: liabilities in other assets are bought at the marks, a
    shortfall is covered by the insurance fund, and the fee comes from the proceeds."""
    prices = uow.prices()
    sellable = liquid_assets(liquidation.desk_balances, prices.parameters)
    plan = plan_settlement(liquidation.desk_balances, liquidation.desk_liabilities(), prices, sellable)
    carry_out(
        plan,
        sell=partial(liquidation.sell_at_mark, account=liquidation.account, at=at, cause=cause),
        repay=lambda asset, amount: liquidation.repay_desk_debt(asset, amount, at, cause),
    )
    for asset in sorted(plan.remaining):
        liquidation.cover_desk_shortfall(
            account=liquidation.account,
            asset=asset,
            principal=liquidation.desk_principal.get(asset, ZERO),
            interest=liquidation.desk_interest.get(asset, ZERO),
            at=at,
            cause={**cause, "step": "shortfall"},
        )
    amounts, value = fee_to_charge(liquidation.shortfall, liquidation.desk_balances, liquidation.fee_value_due, prices)
    liquidation.charge_fee(
        account=liquidation.account,
        amounts=amounts,
        value=value,
        payer=TAKEOVER_DESK,
        at=at,
        cause={**cause, "step": "fee"},
    )
