"""The decisions of the spot-margin processes, as pure functions: what a margin
evaluation does (liquidate, call, recover or nothing), what a regular part ends in
(a takeover, or a shortfall to cover), what the takeover desk sells into offered
liquidity, and what it repays.

The process code (`ledger.processes.margin`) loads the aggregates, asks these
rules, and calls the aggregates' commands with the answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from ledger.domain.books import add_to_book
from ledger.domain.margin.account import Account, AccountStatus
from ledger.domain.margin.liquidation import Liquidation, Repayment, SettlementPlan, plan_fee
from ledger.domain.margin.rules import MarginPosition
from ledger.domain.money import ZERO, exact_product, round_down
from ledger.domain.parameters import MarginTier, RiskParameters
from ledger.domain.prices import PriceBook
from ledger.domain.product import AccountMode

# --- margin evaluation -----------------------------------------------------------------


class MarginAction(StrEnum):
    """What an account's margin level calls for."""

    LIQUIDATE = "liquidate"
    MARGIN_CALL = "margin_call"  # a descent begins: the call, and the auto top-up if enabled
    RECOVER = "recover"


def margin_state_may_change(account: Account) -> bool:
    """Whether the account has a margin state that marks can change: a margin account
    that owes something, or is still in margin call (a call may still recover)."""
    return account.is_margin and (bool(account.liabilities()) or account.status == AccountStatus.MARGIN_CALL)


def evaluation_may_record(account: Account) -> bool:
    """Whether a margin evaluation could record anything for the account as it stands:
    only one whose margin state may change, and that no liquidation has locked."""
    return not account.is_locked and margin_state_may_change(account)


def event_cannot_change_margin_decision(event: Account.Event, account: Account, tier: MarginTier | None) -> bool:
    """Whether `event`, as it left the normal `account`, cannot change what its margin
    evaluation decides, so that no evaluation needs to follow it. The drivers evaluate
    after every event and mark that may change a decision, so before `event` a normal
    account was above its margin-call level (or had no level to assess). Every slack
    (numerator - threshold x denominator of the level) is then kept or raised:

    - a deposit or a transfer in raises the asset value and nothing else;
    - a repay (not a liquidation's) of value v lowers asset value and liabilities by v:
      classic (A - v) - t(L - v) = (A - tL) + v(t - 1), not lowered while t >= 1 (the
      tier is needed to know); cross_pro keeps net equity and lowers sum(L x mmr).

    An account in margin call is evaluated whatever the event: it may end its descent."""
    if account.status != AccountStatus.NORMAL:
        return False
    if isinstance(event, (Account.Deposited, Account.TransferredIn)):
        return True
    if isinstance(event, Account.Repaid) and event.liquidation_id is None:
        return repay_cannot_lower_level(account.mode, tier)
    return False


def repay_cannot_lower_level(mode: str, tier: MarginTier | None) -> bool:
    """A repay leaves net equity as it was and lowers the liabilities: it raises a Pro
    level whatever the thresholds, a classic one only where the thresholds are 1 or more
    (margin call >= liquidation is a rule of the parameters, so a normal account kept
    above the margin-call level is kept above the liquidation level)."""
    if mode == AccountMode.CROSS_PRO:
        return True
    return tier is not None and tier.margin_call >= 1


def has_margin_level(account: Account, parameters: RiskParameters) -> bool:
    """Whether the account has a level to assess: a margin account, not locked, whose
    mode and leverage have a tier in the parameters."""
    return (
        account.is_margin
        and not account.is_locked
        and account.leverage is not None
        and parameters.has_tier(account.mode, account.leverage)
    )


def margin_tier_of(account: Account, parameters: RiskParameters) -> MarginTier | None:
    """The tier whose thresholds the account's level is held to; None without a level to assess."""
    if not has_margin_level(account, parameters):
        return None
    assert account.leverage is not None
    return parameters.margin_tier(account.mode, account.leverage)


def margin_action(position: MarginPosition, tier: MarginTier, status: str) -> MarginAction | None:
    """Liquidation at or below its threshold; a margin call as the level first reaches
    the call threshold; recovery once a called account is above it again; else nothing."""
    at_call = position.is_at_or_below_margin_call(tier)
    if position.is_at_or_below_liquidation(tier):
        return MarginAction.LIQUIDATE
    if at_call and status != AccountStatus.MARGIN_CALL:
        return MarginAction.MARGIN_CALL
    if not at_call and status == AccountStatus.MARGIN_CALL:
        return MarginAction.RECOVER
    return None


def evaluated_at(cause_at: datetime, newest_mark: datetime | None) -> datetime:
    """Run after newer marks were recorded (a service fed without waiting), an evaluation
    happens when the newest price it used was known, not at its cause's earlier time."""
    return cause_at if newest_mark is None else max(cause_at, newest_mark)


def top_up_target(chosen: Decimal | None, parameters: RiskParameters) -> Decimal:
    """The level an auto top-up aims at: the account's own choice, else the parameters'."""
    return chosen or parameters.auto_topup_target


def recovered_by_top_up(position: MarginPosition, tier: MarginTier) -> bool:
    """Lifted above the margin-call level by its top-up, a called account is normal again."""
    return not position.is_at_or_below_margin_call(tier)


# --- the regular part of a liquidation -------------------------------------------------------


def liquid_assets(holdings: Iterable[str], parameters: RiskParameters) -> set[str]:
    """The assets that may be sold to the market at the marks."""
    return {asset for asset in holdings if parameters.asset(asset).liquid}


def assets_to_take_over(assets: Iterable[str], parameters: RiskParameters) -> list[str]:
    """What the takeover desk sells into offered liquidity: the illiquid assets."""
    return sorted(asset for asset in assets if not parameters.asset(asset).liquid)


@dataclass(frozen=True)
class RegularPartOutcome:
    repaid: dict[str, Decimal]
    takeover_needed: bool  # debt is left, and illiquid assets the desk may sell
    shortfall: dict[str, Decimal]  # debt is left and nothing to sell: the insurance fund covers it


def regular_part_outcome(plan: SettlementPlan, parameters: RiskParameters) -> RegularPartOutcome:
    """What a regular part's settlement plan ends in: what it repaid, and for what is
    left owed, a takeover (when illiquid assets remain) or a shortfall."""
    repaid: dict[str, Decimal] = {}
    for step in plan.steps:
        if isinstance(step, Repayment):
            add_to_book(repaid, step.asset, step.amount)
    illiquid_left = any(not parameters.asset(asset).liquid for asset in plan.holdings_after)
    takeover_needed = bool(plan.remaining) and illiquid_left
    shortfall = dict(plan.remaining) if plan.remaining and not illiquid_left else {}
    return RegularPartOutcome(repaid, takeover_needed, shortfall)


def fee_to_charge(
    shortfall: Mapping[str, Decimal], holdings: Mapping[str, Decimal], fee_value_due: Decimal, prices: PriceBook
) -> tuple[dict[str, Decimal], Decimal]:
    """The fee's amounts and value, from what is held; none after a shortfall."""
    if shortfall:
        return {}, ZERO
    return plan_fee(holdings, fee_value_due, prices)


# --- the takeover desk -----------------------------------------------------------------------


def takeover_order(liquidation: Liquidation) -> tuple[datetime, str, int]:
    """Oldest takeover first: by the time its liquidation was triggered, then account."""
    return liquidation.triggered_at, liquidation.account, liquidation.sequence


@dataclass(frozen=True)
class TakeoverSale:
    liquidation: Liquidation
    quantity: Decimal
    proceeds: Decimal


def takeover_sales(
    takeovers: Iterable[Liquidation], asset: str, offered: Decimal, price: Decimal, quote_precision: int
) -> list[TakeoverSale]:
    """The desk's sales into `offered` of `asset` at `price`, oldest takeover first: each
    sells what it holds of the asset, while the offer lasts, if it is still selling that
    asset and the sale brings in anything (proceeds rounded down); what is left lapses."""
    sales: list[TakeoverSale] = []
    left = offered
    for liquidation in sorted(takeovers, key=takeover_order):
        if left <= 0:
            break
        if not liquidation.is_taking_over or asset not in liquidation.to_sell:
            continue
        quantity = min(liquidation.desk_balances[asset], left)
        proceeds = round_down(exact_product(quantity, price), quote_precision)
        if proceeds <= 0:
            continue
        sales.append(TakeoverSale(liquidation, quantity, proceeds))
        left -= quantity
    return sales


def desk_repayments(owed: Mapping[str, Decimal], held: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """What the desk repays of each debt from what it holds of the same asset, in asset order."""
    repayments: dict[str, Decimal] = {}
    for asset, amount_owed in sorted(owed.items()):
        amount = min(amount_owed, held.get(asset, ZERO))
        if amount > 0:
            repayments[asset] = amount
    return repayments
