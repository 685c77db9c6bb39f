"""Spot margin's indexes for the drivers (`ledger.processes.indexes`): who owes anything
and which takeovers are open (`OpenDebts`, kept by both drivers: whom an hour's interest
and a new rule set concern, and whom offered liquidity may serve), and which accounts a
mark may change (`MarkFanOut`: `MarginRisk`, kept by both drivers).

`MarginRisk`: the numeric risk index of the margin accounts whose state marks can
change (`ledger.processes.risk_index`), kept by both drivers: inline it decides a mark
by float where the error bound allows and exactly elsewhere; in the dispatcher it names
the accounts holding or owing the marked asset.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import numpy as np

from ledger.dispatch import singledispatchmethod
from ledger.domain.identity import account_id
from ledger.domain.margin.account import Account, AccountStatus
from ledger.domain.margin.decisions import MarginAction, evaluation_may_record
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.margin.rules import level_weights, margin_position
from ledger.domain.market import PARAMETERS_ID, AssetMarket, ParameterSet
from ledger.domain.parameters import RiskParameters, merge_parameter_data
from ledger.domain.prices import Mark, PriceBook
from ledger.processes.indexes import Driver, DriverIndex, follows_accounts, kept_by
from ledger.processes.margin.assessment import margin_decision
from ledger.processes.risk_index import LevelWeights, RiskIndex, Screen, Verdict
from ledger.unit_of_work import UnitOfWork

follows_accounts(Account.Event)


def margin_accounts(accounts: Iterable[Any]) -> list[Account]:
    """The spot and margin accounts among every product's."""
    return [account for account in accounts if isinstance(account, Account)]


@kept_by(Driver.INLINE, Driver.SERVICE)
class OpenDebts(DriverIndex):
    """Who owes anything, and which takeovers are open."""

    def __init__(self) -> None:
        self.debtors: set[str] = set()
        self.open_takeovers: set[uuid.UUID] = set()

    def load(self, uow: UnitOfWork, accounts: Sequence[Any]) -> None:
        for account in margin_accounts(accounts):
            self.note_account(account)
        liquidation_ids = uow.app.liquidation_ids(accounts)
        uow.preload(liquidation_ids)
        for liquidation_id in liquidation_ids:
            liquidation = uow.liquidation(liquidation_id)
            if isinstance(liquidation, Liquidation) and liquidation.is_taking_over:
                self.open_takeovers.add(liquidation_id)

    def note_account(self, account: Account) -> None:
        if account.liabilities():
            self.debtors.add(account.name)
        else:
            self.debtors.discard(account.name)

    def figures(self) -> dict[str, int]:
        return {"open_takeovers": len(self.open_takeovers)}

    snapshot_version = 1

    def snapshot(self) -> dict[str, Any]:
        return {"debtors": sorted(self.debtors), "open_takeovers": sorted(str(i) for i in self.open_takeovers)}

    def restore(self, state: dict[str, Any]) -> None:
        self.debtors = {str(name) for name in state["debtors"]}
        self.open_takeovers = {uuid.UUID(str(i)) for i in state["open_takeovers"]}

    def contents(self) -> Any:
        return self.debtors, self.open_takeovers

    @singledispatchmethod
    def observe(self, event: Any, account: Callable[[str], Account]) -> None:
        """Only its own events change it."""

    @observe.register
    def _account_changed(self, event: Account.Event, account: Callable[[str], Account]) -> None:
        self.note_account(account(event.account))

    @observe.register
    def _takeover_started(self, event: Liquidation.TakeoverStarted, _account: Callable[[str], Account]) -> None:
        self.open_takeovers.add(event.originator_id)

    @observe.register
    def _takeover_sales_ended(self, event: Liquidation.TakeoverSalesEnded, _account: Callable[[str], Account]) -> None:
        self.open_takeovers.discard(event.originator_id)


class MarkFanOut(DriverIndex, ABC):
    """Which margin accounts a mark may change, as each driver knows it."""

    @abstractmethod
    def accounts_a_mark_may_change(self, mark: AssetMarket.MarkRecorded, uow: UnitOfWork | None) -> Iterable[str]:
        """`uow`: inline, the unit of work holding the store's state; none in the dispatcher."""


_ACTION_OF = {
    Verdict.MARGIN_CALL: MarginAction.MARGIN_CALL,
    Verdict.LIQUIDATE: MarginAction.LIQUIDATE,
    Verdict.RECOVER: MarginAction.RECOVER,
}
_VERDICT_OF = {action: verdict for verdict, action in _ACTION_OF.items()}


@dataclass(frozen=True)
class MarkDecisions:
    """What a mark changes: the screen's verdicts, and the exact decisions within its bound."""

    screen: Screen
    exact_names: list[str]  # evaluated exactly
    exact_actions: dict[str, MarginAction]  # of which those the mark changes

    @property
    def screened(self) -> int:
        """The accounts holding or owing the marked asset."""
        return len(self.screen.names)

    @property
    def evaluated_exactly(self) -> int:
        return len(self.exact_names)

    def count(self, action: MarginAction) -> int:
        by_float = int(np.count_nonzero(self.screen.verdicts == _VERDICT_OF[action]))
        return by_float + sum(1 for found in self.exact_actions.values() if found == action)

    def found(self, action: MarginAction) -> tuple[Any, list[str]]:
        """The accounts the mark calls `action` for: those the float decided, as positions in
        `screen.names`, and those decided exactly, by name."""
        exact = [name for name, found in self.exact_actions.items() if found == action]
        return np.flatnonzero(self.screen.verdicts == _VERDICT_OF[action]), exact

    def names_of(self, action: MarginAction) -> list[str]:
        """The accounts the mark calls `action` for, by name."""
        positions, exact = self.found(action)
        return [str(name) for name in self.screen.names[positions]] + exact

    def actions(self) -> dict[str, MarginAction]:
        """Each account whose margin state the mark changes, with what it calls for."""
        actions = {str(name): action for verdict, action in _ACTION_OF.items() for name in self.screen.named(verdict)}
        actions.update(self.exact_actions)
        return actions

    def worst_first(self) -> list[str]:
        """The accounts of `actions`, lowest level first (by the float level: an order of
        priority, not a decision): whom a storm liquidates first. Those valued only through
        the moved asset (not screened) follow, in name order."""
        chosen = self.screen.verdicts > Verdict.NOTHING
        for position in np.flatnonzero(self.screen.verdicts == Verdict.EXACT):
            chosen[position] = self.screen.names[position] in self.exact_actions
        ordered = self.screen.worst_first(chosen)
        unscreened = set(self.exact_actions).difference(ordered)
        assert len(ordered) + len(unscreened) == len(self.actions()), "an account changed by the mark is left out"
        return ordered + sorted(unscreened)


class FollowedPrices:
    """The marks of the assets and the rule set as the events observed so far left them: the
    dispatcher's own price book (it reads no store as it routes), to order its routes by.
    The rule set follows its events by the rules' own merge (`merge_parameter_data`)."""

    def __init__(self) -> None:
        self.marks: dict[str, Mark] = {}
        self.data: dict[str, Any] | None = None  # the rule set's data; None before it is established
        self.parameter_version = 0
        self.version = 0  # of the rule set's stream: its events up to it are in `data`
        self._parameters: RiskParameters | None = None

    def load(self, uow: UnitOfWork) -> None:
        prices = uow.prices()
        self.marks = {asset: prices.marks[asset] for asset in prices.parameters.asset_names() if asset in prices.marks}
        found = uow.find(PARAMETERS_ID)
        if found is not None:
            self._follow(found.data, found.parameter_version, found.version)

    def marked(self, event: AssetMarket.MarkRecorded) -> None:
        self.marks[event.asset] = Mark(event.price, event.quote)

    def rules_changed(self, event: ParameterSet.Event) -> None:
        if event.originator_version <= self.version:
            return  # already in the state it was loaded with, or observed twice
        if isinstance(event, ParameterSet.Established):
            self._follow(event.data, 1, event.originator_version)
        elif isinstance(event, ParameterSet.Changed) and self.data is not None:
            self._follow(
                merge_parameter_data(self.data, event.changes), event.parameters_version, event.originator_version
            )

    def _follow(self, data: dict[str, Any], parameter_version: int, version: int) -> None:
        self.data, self.parameter_version, self.version = data, parameter_version, version
        self._parameters = None

    def price_book(self) -> PriceBook | None:
        if self.data is None:
            return None
        if self._parameters is None:
            self._parameters = RiskParameters(self.data, self.parameter_version)
        return PriceBook(self.marks, self._parameters)

    def snapshot(self) -> dict[str, Any]:
        return {
            "marks": {asset: [str(mark.price), mark.quote] for asset, mark in self.marks.items()},
            "data": self.data,
            "parameter_version": self.parameter_version,
            "version": self.version,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.marks = {str(asset): Mark(Decimal(price), str(quote)) for asset, (price, quote) in state["marks"].items()}
        self._follow(state["data"], int(state["parameter_version"]), int(state["version"]))


@kept_by(Driver.INLINE, Driver.SERVICE)
class MarginRisk(MarkFanOut):
    """Every margin account whose state a mark may change, as a row of the numeric risk
    index (`ledger.processes.risk_index`), fed from each account as its events leave it.

    Inline (`ledger run`), a mark is decided with the store's marks and rules: by float
    where the error bound allows, exactly (`margin_decision`) elsewhere; the accounts it
    changes are routed worst first (lowest exact level first, `worst_first`: in a storm,
    the accounts most short of margin are liquidated first). The dispatcher decides
    nothing: it routes every account holding or owing the marked asset, worst first at the
    marks and rules its events left (`FollowedPrices`; an order of priority only), and its
    workers decide exactly."""

    def __init__(self) -> None:
        self.index = RiskIndex()
        self._version = 0  # of the rows: a mark decided again on rows unchanged is looked up
        self._decided: tuple[Any, list[str]] | None = None
        # A mark of an asset also values every asset whose latest mark is quoted in it (one
        # hop, `PriceBook`): the accounts holding or owing those are concerned too.
        self.quote_of: dict[str, str] = {}
        self.quoted_in: dict[str, set[str]] = defaultdict(set)
        self.followed = FollowedPrices()  # the dispatcher's marks and rules, as its events leave them

    def load(self, uow: UnitOfWork, accounts: Sequence[Any]) -> None:
        self.followed.load(uow)
        prices = uow.prices()
        for asset in prices.parameters.asset_names():
            mark = prices.marks.get(asset)
            if mark is not None:
                self.note_quote(asset, mark.quote)
        for account in margin_accounts(accounts):
            self.note_account(account)

    @singledispatchmethod
    def observe(self, event: Any, account: Callable[[str], Account]) -> None:
        """Only accounts' events and marks change it."""

    @observe.register
    def _account_changed(self, event: Account.Event, account: Callable[[str], Account]) -> None:
        self.note_account(account(event.account))

    @observe.register
    def _marked(self, event: AssetMarket.MarkRecorded, _account: Callable[[str], Account]) -> None:
        self.note_quote(event.asset, event.quote)
        self.followed.marked(event)

    @observe.register
    def _rules_changed(self, event: ParameterSet.Event, _account: Callable[[str], Account]) -> None:
        self.followed.rules_changed(event)

    def note_quote(self, asset: str, quote: str) -> None:
        """The asset's latest mark is quoted in `quote`."""
        self.quoted_in[self.quote_of.get(asset, quote)].discard(asset)
        self.quote_of[asset] = quote
        self.quoted_in[quote].add(asset)

    def exposed_through_quotes(self, asset: str) -> set[str]:
        """The accounts holding or owing an asset whose latest mark is quoted in `asset`."""
        return {name for quoted in self.quoted_in.get(asset, ()) for name in self.index.exposed_to(quoted)}

    def note_account(self, account: Account) -> None:
        """The account's row as it stands: O(its assets)."""
        self._version += 1
        if not evaluation_may_record(account) or account.leverage is None:
            self.index.remove(account.name)
            return
        self.index.put(
            account.name,
            account.balances,
            account.liabilities(),
            LevelWeights(*level_weights(account.mode)),
            (account.mode, account.leverage),
            in_descent=account.status == AccountStatus.MARGIN_CALL,
        )

    def figures(self) -> dict[str, int]:
        return {"margin_risk_rows": len(self.index)}

    snapshot_version = 2  # 2: with the dispatcher's marks and rules

    def snapshot(self) -> dict[str, Any]:
        """The rows, each asset's quote (`quoted_in` follows from the quotes), and the
        dispatcher's marks and rules."""
        return {"index": self.index.snapshot(), "quote_of": self.quote_of, "followed": self.followed.snapshot()}

    def restore(self, state: dict[str, Any]) -> None:
        self.index.restore(state["index"])
        for asset, quote in state["quote_of"].items():
            self.note_quote(str(asset), str(quote))
        self.followed.restore(state["followed"])

    def contents(self) -> Any:
        quoted_in = {quote: assets for quote, assets in self.quoted_in.items() if assets}
        return self.index.rows(), self.quote_of, quoted_in, self.followed.snapshot()

    def accounts_a_mark_may_change(self, mark: AssetMarket.MarkRecorded, uow: UnitOfWork | None) -> list[str]:
        """The accounts to evaluate, worst first."""
        if uow is None:
            return self.exposed_worst_first(mark.asset)
        key = (mark.originator_id, mark.originator_version, self._version)
        if self._decided is None or self._decided[0] != key:
            prices = uow.prices()
            decided = self.decide(mark.asset, prices, uow.account)
            actions = decided.actions()
            # Read together, and kept in the application's cache for the evaluations that follow:
            # in a storm, hundreds of thousands of accounts, which one query each would cost minutes.
            uow.preload(account_id(name) for name in actions)
            self._decided = key, worst_first(actions, prices, uow.account)
        return self._decided[1]

    def exposed_worst_first(self, asset: str) -> list[str]:
        """The dispatcher's route for a mark of `asset`: every account holding or owing it,
        lowest float level first at the marks and rules the events so far left (an order of
        priority: nothing is decided here), then those valued only through it, in name order."""
        prices = self.followed.price_book()
        if prices is None:  # no rule set yet: no level either
            ordered = self.index.exposed_to(asset)
        else:
            screen = self.index.screen(asset, *self.screen_inputs(prices))
            ordered = screen.worst_first(np.ones(len(screen.names), dtype=bool))
        return (
            sorted(ordered)
            if prices is None
            else ordered + sorted(self.exposed_through_quotes(asset).difference(ordered))
        )

    def screen_inputs(
        self, prices: PriceBook
    ) -> tuple[dict[str, float | None], dict[str, float], dict[Hashable, tuple[float, float] | None]]:
        """Per asset column its float price (None: the exact rules must value it) and token
        MMR; per (mode, leverage) group its thresholds (None: no tier)."""
        parameters = prices.parameters
        assets = self.index.column_of
        return (
            {name: _screen_price(name, prices) for name in assets},
            {name: float(parameters.asset(name).pro_mmr) for name in assets if parameters.knows_asset(name)},
            {group: _thresholds(group, parameters) for group in self.index.groups},
        )

    def decide(self, asset: str, prices: PriceBook, account: Callable[[str], Account]) -> MarkDecisions:
        """What a mark of `asset`, now in `prices`, changes: screened by float, and the
        accounts within the error bound evaluated exactly by the domain's rules."""
        screen = self.index.screen(asset, *self.screen_inputs(prices))
        exact_names = [str(name) for name in screen.named(Verdict.EXACT)]
        # Valued through the moved asset, not screened by it: the exact rules decide them.
        through_quotes = self.exposed_through_quotes(asset)
        if through_quotes:
            exact_names += sorted(through_quotes - {str(name) for name in screen.names})
        exact_actions: dict[str, MarginAction] = {}
        for name in exact_names:
            decision = margin_decision(account(name), prices)
            if decision is not None:
                exact_actions[name] = decision.action
        return MarkDecisions(screen, exact_names, exact_actions)


def worst_first(names: Iterable[str], prices: PriceBook, account: Callable[[str], Account]) -> list[str]:
    """`names` by exact margin level at `prices`, lowest first, ties by name: the order in
    which `ledger run` evaluates the accounts a mark changes (in a storm, the accounts most
    short of margin are liquidated first). Exact, so that the order is the rules' own and
    the same from any replay; it costs one exact level per account the mark changes, each
    of which the evaluation that follows costs many times over."""

    def level(name: str) -> tuple[Decimal, str]:
        found = account(name)
        return margin_position(found.mode, found.balances, found.liabilities(), prices).level(), name

    return sorted(names, key=level)


def _screen_price(asset: str, prices: PriceBook) -> float | None:
    """The asset's value of one in the valuation asset, where its own mark (or none, for
    a stablecoin or the valuation asset) gives it; None where the exact rules must value it."""
    parameters = prices.parameters
    if asset == parameters.valuation_asset:
        return 1.0
    if not parameters.knows_asset(asset):
        return None
    mark = prices.marks.get(asset)
    if mark is None:
        return 1.0 if parameters.asset(asset).stable else None
    return float(mark.price) if mark.quote == parameters.valuation_asset else None


def _thresholds(group: Hashable, parameters: RiskParameters) -> tuple[float, float] | None:
    mode, leverage = cast(tuple[str, int], group)
    if not parameters.has_tier(mode, leverage):
        return None
    tier = parameters.margin_tier(mode, leverage)
    return float(tier.margin_call), float(tier.liquidation)
