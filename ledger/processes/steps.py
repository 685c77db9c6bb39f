"""The processes: margin evaluation, auto top-up, liquidation, takeover, fee,
return and hourly interest, as reactions to recorded events.

`ProcessSteps` is the process code: each step acts on a unit of work. What an
event calls for is a list of `Reaction`s (a step and its subject: an account, a
liquidation, an asset). Two drivers call the same steps:

- `ProcessManager` (`ledger run`) follows the ledger's own notification log from a
  tracked position and runs an event's reactions together. The events they produce
  are saved with the tracking record of the notification that caused them, so a
  notification is acted on exactly once. Reactions that produce nothing advance the
  position lazily: every such reaction is idempotent by state (re-evaluating a
  margin level at the current marks changes nothing twice), except the sale against
  offered liquidity, whose position is therefore always recorded at once.
- The service mode (`ledger.service`, `workers/`) runs each reaction as a Celery task
  in a transaction of its own.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import Recording, Tracking

from ledger.application import Ledger
from ledger.domain.books import add_to_book
from ledger.domain.entries import TAKEOVER_DESK
from ledger.domain.margin.account import MARGIN_CALL, Account
from ledger.domain.margin.liquidation import IN_PROGRESS, Liquidation, Repayment, Sale, plan_fee, plan_settlement
from ledger.domain.margin.rules import (
    MarginPosition,
    liquidation_fee_value,
    margin_position,
    plan_auto_topup,
    quiet_price_bands,
    reported_level,
)
from ledger.domain.market import AssetMarket, Clock, ParameterSet
from ledger.domain.money import exact_product, round_down
from ledger.domain.parameters import MarginTier
from ledger.domain.prices import MissingPrice, PriceBook
from ledger.processes.mark_watch import MarkWatch
from ledger.unit_of_work import UnitOfWork

LIQUIDATE, CALL, RECOVER = "liquidate", "margin_call", "recover"

# The steps: what a reaction does. In service mode each is a Celery task of the same name.
EVALUATE_MARGIN = "evaluate_margin"
AUTO_TOP_UP = "auto_top_up"  # the margin evaluation of an account with auto top-up enabled
REGULAR_PART = "regular_part"
HAND_OFF = "hand_off"
TAKEOVER_SALES = "takeover_sales"
FEE = "fee"
RETURN = "return"
UNLOCK = "unlock"
ACCRUE_INTEREST = "accrue_interest"
ACCRUE_DESK_INTEREST = "accrue_desk_interest"
STEPS = (
    EVALUATE_MARGIN,
    AUTO_TOP_UP,
    REGULAR_PART,
    HAND_OFF,
    TAKEOVER_SALES,
    FEE,
    RETURN,
    UNLOCK,
    ACCRUE_INTEREST,
    ACCRUE_DESK_INTEREST,
)


@dataclass(frozen=True)
class Reaction:
    """A step an event calls for, and what it acts on."""

    step: str
    subject: str  # an account name, a liquidation id, or the asset of offered liquidity
    takeovers: tuple[str, ...] = ()  # a liquidity offer's candidates: the takeovers open when it came


@dataclass(frozen=True)
class MarginAssessment:
    action: str
    tier: MarginTier
    prices: PriceBook
    position: MarginPosition


# Account events that the margin evaluation itself produces: reacting to them again is waste.
EVALUATION_EVENTS = (
    Account.MarginCallIssued,
    Account.MarginRecovered,
    Account.AutoTopUpApplied,
    Account.AutoTopUpFailed,
)
# Events whose reactions are to run only once everything recorded before them is processed,
# and before anything after them: interest by the hour, liquidity by the offer, a new rule set.
BARRIER_EVENTS = (Clock.HourBegan, AssetMarket.LiquidityOffered, ParameterSet.Changed)
LAZY_TRACKING_LIMIT = 1000


def liquidation_step(event: Liquidation.Event) -> str | None:
    """The step a liquidation's own event calls for next, if any."""
    if isinstance(event, Liquidation.Triggered):
        return REGULAR_PART
    if isinstance(event, Liquidation.RegularPartEnded):
        return HAND_OFF if event.takeover_needed else FEE
    if isinstance(event, Liquidation.TakeoverStarted):
        return TAKEOVER_SALES  # ends them at once when nothing is to be sold
    if isinstance(event, Liquidation.TakeoverSalesEnded):
        return FEE
    if isinstance(event, Liquidation.FeeCharged):
        return RETURN
    if isinstance(event, Liquidation.Completed):
        return UNLOCK
    return None


def margin_step(account: Account) -> str:
    return AUTO_TOP_UP if account.auto_topup is not None else EVALUATE_MARGIN


def evaluation_may_record(account: Account) -> bool:
    """Whether a margin evaluation could record anything for the account as it stands:
    only a margin account, not locked by a liquidation, that owes something (or is still
    in margin call) has a level that calls for action."""
    return (
        account.is_margin and not account.is_locked and (bool(account.liabilities()) or account.status == MARGIN_CALL)
    )


def reaction_tracking_name(reaction: Reaction) -> str:
    """Service mode: the tracking record of a step on its subject, which holds the last
    notification it was run for."""
    return f"ledger.{reaction.step}.{reaction.subject}"


def takeover_order(liquidation: Liquidation) -> tuple[datetime, str, int]:
    """Oldest takeover first: by the time its liquidation was triggered, then account."""
    return liquidation.triggered_at, liquidation.account, liquidation.sequence


class OpenDebts:
    """Who owes anything, and which takeovers are open: whom an hour's interest and a new
    rule set concern, and whom offered liquidity may serve. Kept from the events by
    both drivers (`ProcessManager`, and the dispatcher's `ledger.fanout.ServiceIndex`)."""

    def __init__(self) -> None:
        self.debtors: set[str] = set()
        self.open_takeovers: set[uuid.UUID] = set()

    def load(self, app: Ledger, on_account: Callable[[UnitOfWork, Account], None]) -> None:
        """From the store as it stands; `on_account` sees each account too."""
        uow = UnitOfWork(app)
        for name in app.account_names():
            account = uow.account(name)
            self.note_account(account)
            on_account(uow, account)
        for liquidation_id in app.liquidation_ids():
            if uow.liquidation(liquidation_id).is_taking_over:
                self.open_takeovers.add(liquidation_id)

    def note_account(self, account: Account) -> None:
        if account.liabilities():
            self.debtors.add(account.name)
        else:
            self.debtors.discard(account.name)

    def note_liquidation(self, event: Liquidation.Event) -> None:
        if isinstance(event, Liquidation.TakeoverStarted):
            self.open_takeovers.add(event.originator_id)
        elif isinstance(event, Liquidation.TakeoverSalesEnded):
            self.open_takeovers.discard(event.originator_id)


def reactions_to(
    event: Any,
    account: Callable[[str], Account],
    marked_accounts: Callable[[AssetMarket.MarkRecorded], Iterable[str]],
    open_debts: OpenDebts,
) -> list[Reaction]:
    """What `event` calls for, given the state the events before it left: the accounts
    (`account`), those a mark may change, who owes anything and the takeovers open."""
    debtors, open_takeovers = open_debts.debtors, open_debts.open_takeovers

    def evaluations(names: Iterable[str]) -> list[Reaction]:
        accounts = (account(name) for name in sorted(names))
        return [Reaction(margin_step(found), found.name) for found in accounts if evaluation_may_record(found)]

    if isinstance(event, Account.Event):
        return [] if isinstance(event, EVALUATION_EVENTS) else evaluations([event.account])
    if isinstance(event, AssetMarket.MarkRecorded):
        return evaluations(marked_accounts(event))
    if isinstance(event, AssetMarket.LiquidityOffered):
        return [Reaction(TAKEOVER_SALES, event.asset, tuple(sorted(map(str, open_takeovers))))]
    if isinstance(event, ParameterSet.Changed):
        return evaluations(debtors)
    if isinstance(event, Clock.HourBegan):
        return [Reaction(ACCRUE_INTEREST, name) for name in sorted(debtors)] + [
            Reaction(ACCRUE_DESK_INTEREST, str(i)) for i in sorted(open_takeovers, key=str)
        ]
    if isinstance(event, Liquidation.Event):
        step = liquidation_step(event)
        return [] if step is None else [Reaction(step, str(event.originator_id))]
    return []


class ProcessSteps:
    """The process code: every step, run on a unit of work. `watch`, when given, is
    told what each margin assessment found (the inline driver's mark index)."""

    def __init__(self, app: Ledger, watch: MarkWatch | None = None):
        self.app = app
        self.watch = watch

    def run(self, uow: UnitOfWork, reaction: Reaction, event: Any, cause: dict[str, Any]) -> None:
        step = reaction.step
        if step in (EVALUATE_MARGIN, AUTO_TOP_UP):
            self.evaluate_margin(uow, uow.account(reaction.subject), event.at, cause)
        elif step == ACCRUE_INTEREST:
            uow.account(reaction.subject).accrue_hourly_interest(
                event.hour, uow.parameters(), {**cause, "step": "hourly_interest"}
            )
        elif step == ACCRUE_DESK_INTEREST:
            self.accrue_desk_interest(uow, uuid.UUID(reaction.subject), event.hour, cause)
        elif isinstance(event, AssetMarket.LiquidityOffered):
            self.sell_to_liquidity(uow, event, [uuid.UUID(t) for t in reaction.takeovers], cause)
        elif isinstance(event, Liquidation.Event):
            self.advance_liquidation(uow, event, cause)
        else:  # pragma: no cover - reactions name no other step
            raise AssertionError(f"no step {step} for {type(event).__qualname__}")

    # --- the mark index, when there is one -------------------------------------------

    def _forget(self, account: Account) -> None:
        if self.watch is not None:
            self.watch.forget(account.name)

    def _watch_always(self, account: Account, assets: set[str]) -> None:
        if self.watch is not None:
            self.watch.watch_always(account.name, assets)

    # --- margin evaluation -------------------------------------------------------------

    def assess_margin(self, uow: UnitOfWork, account: Account) -> MarginAssessment | None:
        """What the account's level calls for now, if anything. Records nothing, but
        notes which marks could change the answer (`MarkWatch`)."""
        parameters = uow.parameters()
        if not account.is_margin or account.is_locked or not parameters.has_tier(account.mode, account.leverage):
            self._forget(account)
            return None
        assert account.leverage is not None
        tier = parameters.margin_tier(account.mode, account.leverage)
        prices = uow.prices()
        liabilities = account.liabilities()
        assets = set(account.balances) | set(liabilities)
        try:
            position = margin_position(account.mode, account.balances, liabilities, prices)
        except MissingPrice:
            self._watch_always(account, assets)  # the level is unknown until it is marked
            return None
        at_call = position.is_at_or_below_margin_call(tier)
        if position.is_at_or_below_liquidation(tier):
            action = LIQUIDATE
        elif at_call and account.status != MARGIN_CALL:
            action = CALL  # a descent begins: the call, and the auto top-up if enabled
        elif not at_call and account.status == MARGIN_CALL:
            action = RECOVER
        else:
            self._watch_quiet(account, position, liabilities, prices, tier)
            return None
        self._watch_always(account, assets)  # until an evaluation finds it quiet
        return MarginAssessment(action, tier, prices, position)

    def _watch_quiet(
        self,
        account: Account,
        position: MarginPosition,
        liabilities: dict[str, Decimal],
        prices: PriceBook,
        tier: MarginTier,
    ) -> None:
        if self.watch is None:
            return
        if not liabilities:
            self.watch.forget(account.name)
            return
        # A top-up runs only as a descent begins, so what its source holds meanwhile
        # cannot change the account's state: its bands are those of any account.
        bands = quiet_price_bands(position, account.balances, liabilities, prices, tier, account.status == MARGIN_CALL)
        if bands is None:
            self.watch.watch_always(account.name, set(account.balances) | set(liabilities))
        else:
            self.watch.watch_bands(account.name, bands)

    def evaluate_margin(self, uow: UnitOfWork, account: Account, at: datetime, cause: dict[str, Any]) -> None:
        """Margin call, auto top-up, recovery or liquidation, as the level requires."""
        assessment = self.assess_margin(uow, account)
        if assessment is None:
            return
        tier, prices, position = assessment.tier, assessment.prices, assessment.position
        cause = {**cause, "step": "margin_evaluation"}
        # Run after newer marks were recorded (a service fed without waiting), the evaluation
        # happens when the newest price it used was known, not at its cause's earlier time.
        assets = set(account.balances) | set(account.liabilities())
        newest_mark = prices.latest_mark_time(assets)
        at = max(at, newest_mark) if newest_mark is not None else at
        if assessment.action == LIQUIDATE:
            self.start_liquidation(uow, account, position, tier, prices, at, cause)
        elif assessment.action == CALL:
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
                self._top_up_after_call(uow, account, position, tier, prices, at, cause)
        else:
            self._recover(account, position, tier, at, cause)

    @staticmethod
    def _recover(
        account: Account, position: MarginPosition, tier: MarginTier, at: datetime, cause: dict[str, Any]
    ) -> None:
        account.recover(
            account=account.name,
            margin_level=reported_level(position.level()),
            threshold=tier.margin_call,
            at=at,
            cause=cause,
        )

    def _top_up_after_call(
        self,
        uow: UnitOfWork,
        account: Account,
        position: MarginPosition,
        tier: MarginTier,
        prices: PriceBook,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        """The once-per-descent top-up, right after the call: lifted above the margin-call
        level, the account is normal again; else it stays in margin call, with no further
        top-up until it has recovered (an hour, a deposit into the source start none)."""
        position = self.auto_topup(uow, account, position, prices, at, cause)
        if not position.is_at_or_below_margin_call(tier):
            self._recover(account, position, tier, at, cause)

    def auto_topup(
        self,
        uow: UnitOfWork,
        account: Account,
        position: MarginPosition,
        prices: PriceBook,
        at: datetime,
        cause: dict[str, Any],
    ) -> MarginPosition:
        """Transfers from the source spot account, asset by asset in rank order, until
        the level reaches the target or the source has nothing usable left, and records
        the outcome: applied, partial or failed, with its reason. Returns the position after."""
        settings = account.auto_topup
        assert settings is not None
        target = settings["target"] or prices.parameters.auto_topup_target
        source = uow.account(settings["source"])
        cause = {**cause, "step": "auto_topup"}
        plan = plan_auto_topup(
            account.mode,
            account.balances,
            account.liabilities(),
            prices,
            source=source.name,
            source_balances=source.balances,
            ranked=settings["assets"],
            pair=account.pair,
            target=target,
        )
        level_before = reported_level(position.level())
        for asset, quantity in plan.transfers.items():
            source.transfer_out(asset, quantity, account.name, prices, at, cause)
            account.transfer_in(asset, quantity, source.name, at, cause)
        if plan.transfers:
            account.record_auto_topup(
                account=account.name,
                transfers=plan.transfers,
                margin_level_before=level_before,
                margin_level_after=reported_level(plan.position.level()),
                target=target,
                target_reached=plan.target_reached,
                outcome=plan.outcome,
                reason=plan.reason,
                at=at,
                cause=cause,
            )
        else:
            account.record_auto_topup_failure(
                account=account.name, margin_level=level_before, reason=plan.reason, at=at, cause=cause
            )
        return plan.position

    # --- liquidation ----------------------------------------------------------------------

    def start_liquidation(
        self,
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
        uow.log(self.app.liquidations_log, account=account.name, liquidation_id=liquidation.id)

    def advance_liquidation(self, uow: UnitOfWork, event: Liquidation.Event, cause: dict[str, Any]) -> None:
        liquidation = uow.liquidation(event.originator_id)
        account = uow.account(liquidation.account)
        cause = {**cause, "liquidation_id": str(liquidation.id)}
        at = event.at
        if isinstance(event, Liquidation.Triggered) and not liquidation.regular_part_ended:
            self.regular_part(uow, liquidation, account, at, {**cause, "step": "regular_part"})
        elif isinstance(event, Liquidation.RegularPartEnded) and liquidation.fee_amounts is None:
            if event.takeover_needed and not liquidation.handed_over:
                self.hand_over(uow, liquidation, account, at, {**cause, "step": "hand_off"})
            elif not event.takeover_needed:
                self.charge_regular_fee(uow, liquidation, account, at, {**cause, "step": "fee"})
        elif isinstance(event, Liquidation.TakeoverStarted) and liquidation.is_taking_over and not liquidation.to_sell:
            liquidation.end_takeover_sales(account=account.name, at=at, cause={**cause, "step": "takeover_sales"})
        elif isinstance(event, Liquidation.TakeoverSalesEnded) and liquidation.fee_amounts is None:
            self.settle_takeover(uow, liquidation, at, {**cause, "step": "takeover_settlement"})
        elif isinstance(event, Liquidation.FeeCharged) and liquidation.status == IN_PROGRESS:
            self.finish(uow, liquidation, account, at, {**cause, "step": "return"})
        elif isinstance(event, Liquidation.Completed) and account.liquidation_id == liquidation.id:
            account.end_liquidation(
                account=account.name, liquidation_id=liquidation.id, at=at, cause={**cause, "step": "unlock"}
            )

    def regular_part(
        self, uow: UnitOfWork, liquidation: Liquidation, account: Account, at: datetime, cause: dict[str, Any]
    ) -> None:
        """Sells liquid collateral at the marks until every liability is repaid."""
        prices = uow.prices()
        parameters = prices.parameters
        sellable = {asset for asset in account.balances if parameters.asset(asset).liquid}
        plan = plan_settlement(account.balances, account.liabilities(), prices, sellable)
        repaid: dict[str, Decimal] = {}
        for step in plan.steps:
            if isinstance(step, Sale):
                account.sell_collateral(
                    account=account.name,
                    liquidation_id=liquidation.id,
                    asset=step.asset,
                    quantity=step.quantity,
                    price=step.price,
                    proceeds_asset=step.proceeds_asset,
                    proceeds=step.proceeds,
                    at=at,
                    cause=cause,
                )
            else:
                account.settle(step.asset, step.amount, liquidation.id, at, cause)
                add_to_book(repaid, step.asset, step.amount)
        illiquid_left = any(not parameters.asset(asset).liquid for asset in plan.holdings_after)
        takeover_needed = bool(plan.remaining) and illiquid_left
        shortfall: dict[str, Decimal] = {}
        if plan.remaining and not illiquid_left:
            for asset in sorted(plan.remaining):
                account.cover_shortfall(
                    account=account.name,
                    liquidation_id=liquidation.id,
                    asset=asset,
                    principal=account.principal.get(asset, Decimal(0)),
                    interest=account.interest.get(asset, Decimal(0)),
                    at=at,
                    cause={**cause, "step": "shortfall"},
                )
            shortfall = dict(plan.remaining)
        liquidation.end_regular_part(
            account=account.name,
            repaid=repaid,
            shortfall=shortfall,
            takeover_needed=takeover_needed,
            at=at,
            cause=cause,
        )

    def hand_over(
        self, uow: UnitOfWork, liquidation: Liquidation, account: Account, at: datetime, cause: dict[str, Any]
    ) -> None:
        """Everything left in the account, and every liability, moves to the takeover desk."""
        parameters = uow.parameters()
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
            to_sell=sorted(a for a in assets if not parameters.asset(a).liquid),
            at=at,
            cause=cause,
        )

    def charge_regular_fee(
        self, uow: UnitOfWork, liquidation: Liquidation, account: Account, at: datetime, cause: dict[str, Any]
    ) -> None:
        """From what remains in the account; none after a shortfall."""
        amounts, value = {}, Decimal(0)
        if not liquidation.shortfall:
            amounts, value = plan_fee(account.balances, liquidation.fee_value_due, uow.prices())
        if amounts:
            account.pay_liquidation_fee(
                account=account.name, liquidation_id=liquidation.id, amounts=amounts, at=at, cause=cause
            )
        liquidation.charge_fee(
            account=account.name, amounts=amounts, value=value, payer=account.name, at=at, cause=cause
        )

    def sell_to_liquidity(
        self,
        uow: UnitOfWork,
        event: AssetMarket.LiquidityOffered,
        takeover_ids: Iterable[uuid.UUID],
        cause: dict[str, Any],
    ) -> None:
        """The desk sells into offered liquidity, oldest takeover first; what is left lapses."""
        parameters = uow.parameters()
        takeovers = sorted((uow.liquidation(liquidation_id) for liquidation_id in takeover_ids), key=takeover_order)
        left = event.quantity
        for liquidation in takeovers:
            if left <= 0:
                break
            if not liquidation.is_taking_over or event.asset not in liquidation.to_sell:
                continue
            quantity = min(liquidation.desk_balances[event.asset], left)
            proceeds = round_down(exact_product(quantity, event.price), parameters.precision(event.quote))
            if proceeds <= 0:
                continue
            step_cause = {**cause, "liquidation_id": str(liquidation.id), "step": "takeover_sale"}
            liquidation.sell_slice(
                account=liquidation.account,
                asset=event.asset,
                quantity=quantity,
                price=event.price,
                proceeds_asset=event.quote,
                proceeds=proceeds,
                liquidity_at=event.at,
                at=event.at,
                cause=step_cause,
            )
            left -= quantity
            self._repay_from_desk(liquidation, event.at, step_cause)
            if not liquidation.to_sell:
                liquidation.end_takeover_sales(account=liquidation.account, at=event.at, cause=step_cause)

    def _repay_from_desk(self, liquidation: Liquidation, at: datetime, cause: dict[str, Any]) -> None:
        for asset, owed in sorted(liquidation.desk_liabilities().items()):
            amount = min(owed, liquidation.desk_balances.get(asset, Decimal(0)))
            if amount > 0:
                liquidation.repay_desk_debt(asset, amount, at, {**cause, "step": "takeover_repayment"})

    def settle_takeover(self, uow: UnitOfWork, liquidation: Liquidation, at: datetime, cause: dict[str, Any]) -> None:
        """After the last sale: liabilities in other assets are bought at the marks, a
        shortfall is covered by the insurance fund, and the fee comes from the proceeds."""
        prices = uow.prices()
        parameters = prices.parameters
        sellable = {asset for asset in liquidation.desk_balances if parameters.asset(asset).liquid}
        plan = plan_settlement(liquidation.desk_balances, liquidation.desk_liabilities(), prices, sellable)
        for step in plan.steps:
            if isinstance(step, Sale):
                liquidation.sell_at_mark(
                    account=liquidation.account,
                    asset=step.asset,
                    quantity=step.quantity,
                    price=step.price,
                    proceeds_asset=step.proceeds_asset,
                    proceeds=step.proceeds,
                    at=at,
                    cause=cause,
                )
            else:
                assert isinstance(step, Repayment)
                liquidation.repay_desk_debt(step.asset, step.amount, at, cause)
        for asset in sorted(plan.remaining):
            liquidation.cover_desk_shortfall(
                account=liquidation.account,
                asset=asset,
                principal=liquidation.desk_principal.get(asset, Decimal(0)),
                interest=liquidation.desk_interest.get(asset, Decimal(0)),
                at=at,
                cause={**cause, "step": "shortfall"},
            )
        amounts, value = {}, Decimal(0)
        if not liquidation.shortfall:
            amounts, value = plan_fee(liquidation.desk_balances, liquidation.fee_value_due, prices)
        liquidation.charge_fee(
            account=liquidation.account,
            amounts=amounts,
            value=value,
            payer=TAKEOVER_DESK,
            at=at,
            cause={**cause, "step": "fee"},
        )

    def finish(
        self, uow: UnitOfWork, liquidation: Liquidation, account: Account, at: datetime, cause: dict[str, Any]
    ) -> None:
        """After a takeover the desk returns what is left; then the liquidation completes."""
        if liquidation.handed_over:
            amounts = dict(liquidation.desk_balances)
            liquidation.return_proceeds(account=account.name, amounts=amounts, at=at, cause=cause)
            if amounts:
                account.receive_takeover_proceeds(
                    account=account.name, liquidation_id=liquidation.id, amounts=amounts, at=at, cause=cause
                )
        liquidation.complete(account=account.name, kind=liquidation.kind, at=at, cause={**cause, "step": "complete"})

    # --- interest ----------------------------------------------------------------------------

    def accrue_desk_interest(
        self, uow: UnitOfWork, liquidation_id: uuid.UUID, hour: datetime, cause: dict[str, Any]
    ) -> None:
        """The hour's interest on what the takeover desk owes for one liquidation."""
        liquidation = uow.liquidation(liquidation_id)
        if not liquidation.is_taking_over:
            return
        parameters = uow.parameters()
        assets = liquidation.desk_principal
        liquidation.accrue_hourly_interest(
            hour,
            {a: parameters.asset(a).hourly_interest for a in assets},
            {a: parameters.precision(a) for a in assets},
            parameters.version,
            {**cause, "step": "hourly_interest"},
        )


class ProcessManager(ProcessSteps):
    """`ledger run`'s driver: follows the log and runs each event's reactions together,
    with in-memory indexes of who owes, which marks may change whom (`MarkWatch`)
    and which takeovers are open."""

    def __init__(self, app: Ledger):
        super().__init__(app, MarkWatch())
        self.position = app.recorder.max_tracking_id(app.name) or 0
        self.recorded_position = self.position
        self.open_debts = OpenDebts()
        self.open_debts.load(app, self.assess_margin)  # which notes each account's quiet bands

    # --- following the log ---------------------------------------------------------

    def catch_up(self) -> None:
        """Processes every notification beyond the tracked position."""
        while True:
            notifications = self.app.recorder.select_notifications(start=self.position + 1, limit=500)
            if not notifications:
                break
            for notification in notifications:
                self._process_one(self.app.mapper.to_domain_event(notification), notification.id)
        self.flush_tracking()

    def process(self, recordings: Iterable[Recording], quiet_through: int = 0) -> None:
        """Processes just-saved events and, in turn, what the reactions save, to completion.

        Notifications up to `quiet_through` were found, as they happened, to call for
        no reaction (`would_react`): they count as processed."""
        if quiet_through > self.position:
            self._advance_to(quiet_through)
        queue = deque(recordings)
        while queue:
            recording = queue.popleft()
            queue.extend(self._process_one(recording.domain_event, recording.notification.id))

    def _advance_to(self, notification_id: int) -> None:
        """Counts a notification as processed with no reaction; its tracking record is
        written later, with the next reaction or once it lags far enough behind."""
        self.position = notification_id
        if self.position - self.recorded_position >= LAZY_TRACKING_LIMIT:
            self.flush_tracking()

    def flush_tracking(self) -> None:
        if self.position > self.recorded_position:
            self.app.recorder.insert_tracking(Tracking(self.app.name, self.position))
            self.recorded_position = self.position

    def _process_one(self, event: Any, notification_id: int) -> list[Recording]:
        if notification_id <= self.position:
            return []
        uow = UnitOfWork(self.app)
        self.react(uow, event, process_cause(event, notification_id))
        if uow.has_changes() or isinstance(event, AssetMarket.LiquidityOffered):
            recordings = uow.commit(tracking=Tracking(self.app.name, notification_id))
            self.position = self.recorded_position = notification_id
            return recordings
        self._advance_to(notification_id)
        return []

    # --- the policy ------------------------------------------------------------------

    def would_react(self, uow: UnitOfWork, event: Any) -> bool:
        """False only when reacting to `event` would record nothing, so that `ledger run`
        may save it together with the inputs after it. Keeps the indexes up to date."""
        self._observe(uow, event)
        if isinstance(event, Account.Event):
            return (
                not isinstance(event, EVALUATION_EVENTS)
                and self.assess_margin(uow, uow.account(event.account)) is not None
            )
        if isinstance(event, AssetMarket.MarkRecorded):
            return any(
                self.assess_margin(uow, uow.account(name)) is not None
                for name in self.accounts_a_mark_may_change(uow, event)
            )
        return isinstance(
            event, (AssetMarket.LiquidityOffered, ParameterSet.Changed, Clock.HourBegan, Liquidation.Event)
        )

    def react(self, uow: UnitOfWork, event: Any, cause: dict[str, Any]) -> None:
        self._observe(uow, event)
        for reaction in self.reactions(uow, event):
            self.run(uow, reaction, event, cause)

    def reactions(self, uow: UnitOfWork, event: Any) -> list[Reaction]:
        return reactions_to(
            event, uow.account, lambda mark: self.accounts_a_mark_may_change(uow, mark), self.open_debts
        )

    # --- indexes: who owes, which marks may change whom, which takeovers are open -------

    def accounts_a_mark_may_change(self, uow: UnitOfWork, event: AssetMarket.MarkRecorded) -> list[str]:
        assert self.watch is not None
        if event.quote != uow.parameters().valuation_asset:
            return self.watch.accounts_watching(event.asset)  # bands are in the valuation asset
        return self.watch.accounts_to_evaluate(event.asset, event.price)

    def _observe(self, uow: UnitOfWork, event: Any) -> None:
        if isinstance(event, Account.Event):
            self.open_debts.note_account(uow.account(event.account))
        elif isinstance(event, Liquidation.Event):
            self.open_debts.note_liquidation(event)


def process_cause(event: Any, notification_id: int) -> dict[str, Any]:
    """The cause every event of a reaction carries: the notification it reacted to."""
    return {"kind": "process", "notification_id": notification_id, "event": type(event).__qualname__}
