"""Which accounts a mark must re-evaluate: an in-memory index of quiet price bands.

An account assessed as quiet gets, per asset, the range of marks within which its
margin state cannot change (`quiet_price_bands`). A mark then re-evaluates only the
accounts whose range it leaves (found by bisection), and those that cannot be
banded. Rebuilt from the store when the process manager starts.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from decimal import Decimal

from ledger.domain.margin.rules import PriceBand


class MarkWatch:
    def __init__(self) -> None:
        self.lows: dict[str, list[tuple[Decimal, str]]] = defaultdict(list)  # sorted by lowest quiet mark
        self.highs: dict[str, list[tuple[Decimal, str]]] = defaultdict(list)  # sorted by highest quiet mark
        self.always: dict[str, set[str]] = defaultdict(set)  # re-evaluated on every mark of the asset
        self.bands: dict[str, dict[str, PriceBand]] = {}
        self.always_assets: dict[str, set[str]] = {}

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
