"""Assessing an account's margin: what its level calls for now, recorded nowhere
(`assess_margin`), and `ledger run`'s memory of what the assessments found: which
marks may change whom (`MarkWatch`).

`MarkWatch`: an account assessed as quiet gets, per asset, the range of marks within
which its margin state cannot change (`quiet_price_bands`). A mark then re-evaluates
only the accounts whose range it leaves (found by bisection), and those that cannot
be banded. A mark quoted in another asset than the valuation asset re-evaluates every
account watching its asset: the bands are in the valuation asset.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.domain.margin.account import Account, AccountStatus
from ledger.domain.margin.decisions import MarginAction, has_margin_level, margin_action
from ledger.domain.margin.rules import MarginPosition, PriceBand, margin_position, quiet_price_bands
from ledger.domain.market import AssetMarket
from ledger.domain.parameters import MarginTier
from ledger.domain.prices import MissingPrice, PriceBook
from ledger.processes.indexes import Driver, kept_by
from ledger.processes.margin.indexes import MarkFanOut, margin_accounts
from ledger.processes.steps import ProcessSteps
from ledger.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class MarginAssessment:
    action: MarginAction
    tier: MarginTier
    prices: PriceBook
    position: MarginPosition


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


@kept_by(Driver.INLINE)
class MarkWatch(MarkFanOut):
    """Which accounts a mark must re-evaluate: an index of quiet price bands, filled by
    the assessments (from every account's as the driver starts)."""

    def __init__(self) -> None:
        self.lows: dict[str, list[tuple[Decimal, str]]] = defaultdict(list)  # sorted by lowest quiet mark
        self.highs: dict[str, list[tuple[Decimal, str]]] = defaultdict(list)  # sorted by highest quiet mark
        self.always: dict[str, set[str]] = defaultdict(set)  # re-evaluated on every mark of the asset
        self.bands: dict[str, dict[str, PriceBand]] = {}
        self.always_assets: dict[str, set[str]] = {}

    def load(self, uow: UnitOfWork, accounts: Sequence[Any]) -> None:
        for account in margin_accounts(accounts):
            assess_margin(uow, account, self)  # which notes the account's quiet bands

    def accounts_a_mark_may_change(self, mark: AssetMarket.MarkRecorded, uow: UnitOfWork | None) -> list[str]:
        assert uow is not None, "`ledger run` routes with its unit of work"
        if mark.quote != uow.parameters().valuation_asset:
            return self.accounts_watching(mark.asset)  # bands are in the valuation asset
        return self.accounts_to_evaluate(mark.asset, mark.price)

    def forget(self, account: str) -> None:
        """No mark can change the account's state (no debt, locked, not margin)."""
        for asset, (low, high) in self.bands.pop(account, {}).items():
            if low is not None:
                _remove(self.lows[asset], (low, account))
            if high is not None:
                _remove(self.highs[asset], (high, account))
        for asset in self.always_assets.pop(account, set()):
            self.always[asset].discard(account)

    def watch_always(self, account: str, assets: set[str]) -> None:
        self.forget(account)
        self.always_assets[account] = set(assets)
        for asset in assets:
            self.always[asset].add(account)

    def watch_bands(self, account: str, bands: dict[str, PriceBand]) -> None:
        self.forget(account)
        self.bands[account] = dict(bands)
        for asset, (low, high) in bands.items():
            if low is not None:
                bisect.insort(self.lows[asset], (low, account))
            if high is not None:
                bisect.insort(self.highs[asset], (high, account))

    def accounts_watching(self, asset: str) -> list[str]:
        names = set(self.always.get(asset, ()))
        names.update(name for _, name in self.lows.get(asset, []))
        names.update(name for _, name in self.highs.get(asset, []))
        return sorted(names)

    def accounts_to_evaluate(self, asset: str, price: Decimal) -> list[str]:
        """The accounts a mark of `asset` at `price` may change, in name order."""
        lows = self.lows.get(asset, [])
        highs = self.highs.get(asset, [])
        below = lows[bisect.bisect_right(lows, price, key=lambda entry: entry[0]) :]  # price < lowest quiet
        above = highs[: bisect.bisect_left(highs, price, key=lambda entry: entry[0])]  # price > highest quiet
        names = set(self.always.get(asset, ()))
        names.update(name for _, name in below)
        names.update(name for _, name in above)
        return sorted(names)


def _remove(entries: list[tuple[Decimal, str]], entry: tuple[Decimal, str]) -> None:
    index = bisect.bisect_left(entries, entry)
    assert index < len(entries) and entries[index] == entry, "a watched band is missing from its index"
    del entries[index]


def watch_of(driver: ProcessSteps) -> MarkWatch | None:
    """The inline driver's mark index; a worker keeps none."""
    watch: MarkWatch | None = driver.indexes.get(MarkWatch)
    return watch
