"""A numeric risk index: every account a mark may concern as one row of float64
columns, screened by numpy on a mark; decided by float only where the float cannot be
wrong, and left to the exact (Decimal) rules of the product everywhere else.

A row holds, per asset column, the quantity held and the quantity owed; the row's level
weights; its threshold group (its two thresholds are looked up per group as the rules
stand at the mark); and whether it is in a descent (margin call). A product feeds the
rows from its accounts as each event leaves them (`put`, `remove`: O(columns) each, and
a new column as an asset first appears); nothing here asks which product a row is.

The level's slack against a threshold t, at prices p (per column, in the valuation
asset) with f a per-column liability factor (the token MMR):

    H = sum(held x p), O = sum(owed x p), W = sum(owed x p x f)
    N = H - a.O,  D = b.O + c.W,  slack(t) = N - t.D

(classic: a = 0, b = 1, c = 0, so slack = A - t.L; Pro: a = 1, b = 0, c = 1, so
slack = (A - L) - t.sum(L x mmr)). A threshold is reached where slack <= 0 and D > 0.

The error bound. Every quantity, price, factor and threshold is a Decimal converted
to the nearest float (relative error at most u = 2^-53), and each product and sum
rounds once more (relative u). With k columns, H, O and W are dot products of k
nonnegative terms whose inputs were rounded: each is within gamma(k + 4) of its exact
value, gamma(n) = n.u / (1 - n.u), whatever the order of summation (BLAS may block or
fuse: the bound holds for any order). N, D, t.D and the last subtraction add a few
roundings, each relative to a term no larger than

    T = H + a.O + t.D     (the sum of |terms| of the slack)

so |computed slack - exact slack| <= gamma(k + 10) . T_exact <= (k + 10).u.T.(1 + tiny).
The bound is absolute on T, not relative to the slack: it holds where the terms cancel
(net equity A - L in Pro, a slack near zero anywhere). We take

    E = SAFETY x (k + 10) x u x T,  SAFETY = 4,

and decide by float only where |slack| > E (and D > 0); a row within the band, a row
holding or owing an asset without a price in the valuation asset, and a row without
thresholds are evaluated exactly by the product's own rules. Quantities and prices
are bounded by the ledger's limits (ledger.domain.limits), far from float overflow
and underflow, so the relative bounds above apply to every term. docs/risk_index.md
writes the derivation out.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

UNIT_ROUNDOFF = 2.0**-53
SAFETY = 4.0
EXTRA_ROUNDINGS = 10  # conversions, products and sums beyond the k terms of a dot product
FIRST_ROWS = 64
FIRST_COLUMNS = 4

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class Verdict(IntEnum):
    """What the screen found for a row the mark concerns."""

    EXACT = -1  # within the error bound, or not screenable: the exact rules decide
    NOTHING = 0
    MARGIN_CALL = 1  # a descent begins
    LIQUIDATE = 2
    RECOVER = 3  # a descent ends


@dataclass(frozen=True)
class LevelWeights:
    """N = H - equity.O, D = liabilities.O + weighted.W (see the module's docstring)."""

    equity: float
    liabilities: float
    weighted: float


@dataclass(frozen=True)
class Screen:
    """The rows a mark concerns, each with the screen's verdict and its float level."""

    names: list[str]
    verdicts: npt.NDArray[np.int8]
    levels: FloatArray  # N / D, for ordering the worst first (inf where D <= 0)

    def named(self, verdict: Verdict) -> list[str]:
        return [self.names[i] for i in np.flatnonzero(self.verdicts == verdict)]

    def worst_first(self, names: Iterable[str]) -> list[str]:
        """`names` (of this screen), lowest float level first, then by name."""
        level = {self.names[i]: float(self.levels[i]) for i in range(len(self.names))}
        return sorted(names, key=lambda name: (level[name], name))


class RiskIndex:
    """Rows of float64 columns, one per account, screened vectorized on a mark."""

    def __init__(self) -> None:
        self.row_of: dict[str, int] = {}
        self.names: list[str | None] = []
        self.free: list[int] = []
        self.column_of: dict[str, int] = {}
        self.held = np.zeros((FIRST_ROWS, FIRST_COLUMNS))
        self.owed = np.zeros((FIRST_ROWS, FIRST_COLUMNS))
        self.equity_weight = np.zeros(FIRST_ROWS)
        self.liability_weight = np.zeros(FIRST_ROWS)
        self.weighted_weight = np.zeros(FIRST_ROWS)
        self.in_descent = np.zeros(FIRST_ROWS, dtype=bool)
        self.active = np.zeros(FIRST_ROWS, dtype=bool)
        self.group = np.zeros(FIRST_ROWS, dtype=np.int32)
        self.group_of: dict[Hashable, int] = {}
        self.groups: list[Hashable] = []

    # --- following the accounts -----------------------------------------------------

    def put(
        self,
        name: str,
        held: Mapping[str, Decimal],
        owed: Mapping[str, Decimal],
        weights: LevelWeights,
        group: Hashable,
        in_descent: bool,
    ) -> None:
        """The account's row as its latest event left it: O(columns)."""
        row = self._row(name)
        self.held[row, :] = 0.0
        self.owed[row, :] = 0.0
        for asset, quantity in held.items():
            if quantity:
                self.held[row, self._column(asset)] = float(quantity)
        for asset, quantity in owed.items():
            if quantity:
                self.owed[row, self._column(asset)] = float(quantity)
        assert (self.held[row] >= 0).all() and (self.owed[row] >= 0).all(), f"{name}: a negative quantity"
        self.equity_weight[row] = weights.equity
        self.liability_weight[row] = weights.liabilities
        self.weighted_weight[row] = weights.weighted
        self.in_descent[row] = in_descent
        self.group[row] = self._group(group)
        self.active[row] = True

    def remove(self, name: str) -> None:
        """No mark can change the account's state: its row is free again."""
        row = self.row_of.pop(name, None)
        if row is None:
            return
        self.active[row] = False
        self.held[row, :] = 0.0
        self.owed[row, :] = 0.0
        self.names[row] = None
        self.free.append(row)

    def _row(self, name: str) -> int:
        row = self.row_of.get(name)
        if row is not None:
            return row
        if self.free:
            row = self.free.pop()
            self.names[row] = name
        else:
            row = len(self.names)
            self.names.append(name)
            if row == len(self.active):
                self._grow_rows(2 * row)
        self.row_of[name] = row
        return row

    def _grow_rows(self, rows: int) -> None:
        def grown(array: Any) -> Any:
            bigger = np.zeros((rows, *array.shape[1:]), dtype=array.dtype)
            bigger[: len(array)] = array
            return bigger

        self.held, self.owed = grown(self.held), grown(self.owed)
        self.equity_weight, self.liability_weight = grown(self.equity_weight), grown(self.liability_weight)
        self.weighted_weight, self.in_descent = grown(self.weighted_weight), grown(self.in_descent)
        self.active, self.group = grown(self.active), grown(self.group)

    def _column(self, asset: str) -> int:
        column = self.column_of.get(asset)
        if column is None:
            column = self.column_of[asset] = len(self.column_of)
            if column == self.held.shape[1]:
                self.held = np.hstack([self.held, np.zeros_like(self.held)])
                self.owed = np.hstack([self.owed, np.zeros_like(self.owed)])
        return column

    def _group(self, key: Hashable) -> int:
        group = self.group_of.get(key)
        if group is None:
            group = self.group_of[key] = len(self.groups)
            self.groups.append(key)
        return group

    # --- what it holds ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.row_of)

    def rows(self) -> dict[str, tuple[Any, ...]]:
        """Each active row by name, its columns by asset: what a rebuilt index must equal."""
        assets = sorted(self.column_of, key=self.column_of.__getitem__)

        def by_asset(values: FloatArray) -> dict[str, float]:
            return {asset: float(values[i]) for i, asset in enumerate(assets) if values[i]}

        return {
            name: (
                by_asset(self.held[row]),
                by_asset(self.owed[row]),
                LevelWeights(
                    float(self.equity_weight[row]), float(self.liability_weight[row]), float(self.weighted_weight[row])
                ),
                self.groups[self.group[row]],
                bool(self.in_descent[row]),
            )
            for name, row in self.row_of.items()
        }

    def exposed_to(self, asset: str) -> list[str]:
        """The accounts that hold or owe `asset` (the rows a mark of it concerns)."""
        return [self._name(row) for row in self._exposed_rows(asset)]

    def bytes_per_row(self) -> float:
        """The numeric columns' memory per row in use (names and the dict of rows aside)."""
        arrays = (self.held, self.owed, self.equity_weight, self.liability_weight, self.weighted_weight)
        flags = (self.in_descent, self.active, self.group)
        total = sum(array.nbytes for array in (*arrays, *flags))
        return total / max(len(self.row_of), 1)

    def _name(self, row: int) -> str:
        name = self.names[row]
        assert name is not None, "an active row has a name"
        return name

    def _exposed_rows(self, asset: str) -> IntArray:
        column = self.column_of.get(asset)
        if column is None:
            return np.zeros(0, dtype=np.intp)
        used = len(self.names)
        exposed = self.active[:used] & ((self.held[:used, column] != 0) | (self.owed[:used, column] != 0))
        return np.flatnonzero(exposed)

    # --- screening a mark ---------------------------------------------------------------

    def screen(
        self,
        asset: str,
        prices: Mapping[str, float | None],
        factors: Mapping[str, float],
        thresholds: Mapping[Hashable, tuple[float, float] | None],
    ) -> Screen:
        """The verdict for every row holding or owing `asset`, at `prices` (per asset; None:
        no price in the valuation asset) and liability `factors` (per asset), each group's
        (margin-call, liquidation) thresholds (None: no thresholds)."""
        rows = self._exposed_rows(asset)
        if not len(rows):
            return Screen([], np.zeros(0, dtype=np.int8), np.zeros(0))
        columns = len(self.column_of)
        price, factor, unpriced = self._price_vectors(prices, factors, columns)
        call, liquidation = self._threshold_vectors(thresholds)
        dense = len(rows) * 2 > len(self.names)
        pick = slice(0, len(self.names)) if dense else rows
        held, owed = self.held[pick, :columns], self.owed[pick, :columns]
        values = owed @ np.stack([price, price * factor], axis=1)
        weighted_sums = _WeightedSums(
            held=held @ price,
            owed=np.ascontiguousarray(values[:, 0]),
            weighted=np.ascontiguousarray(values[:, 1]),
            equity_weight=self.equity_weight[pick],
            liability_weight=self.liability_weight[pick],
            weighted_weight=self.weighted_weight[pick],
        )
        group = self.group[pick]
        verdicts, levels = weighted_sums.verdicts(
            call[group], liquidation[group], self.in_descent[pick], error_scale(columns)
        )
        if unpriced.any():
            not_screenable = (held[:, unpriced] != 0).any(axis=1) | (owed[:, unpriced] != 0).any(axis=1)
            verdicts[not_screenable] = Verdict.EXACT
        if dense:
            verdicts, levels = verdicts[rows], levels[rows]
        return Screen([self._name(row) for row in rows], verdicts, levels)

    def _price_vectors(
        self, prices: Mapping[str, float | None], factors: Mapping[str, float], columns: int
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
        price, factor = np.zeros(columns), np.zeros(columns)
        unpriced = np.zeros(columns, dtype=bool)
        for asset, column in self.column_of.items():
            value = prices.get(asset)
            if value is None:
                unpriced[column] = True
            else:
                price[column] = value
            factor[column] = factors.get(asset, 0.0)
        return price, factor, unpriced

    def _threshold_vectors(
        self, thresholds: Mapping[Hashable, tuple[float, float] | None]
    ) -> tuple[FloatArray, FloatArray]:
        """Per group; NaN where a group has none (its rows are then evaluated exactly)."""
        call, liquidation = np.full(len(self.groups), np.nan), np.full(len(self.groups), np.nan)
        for group, key in enumerate(self.groups):
            pair = thresholds.get(key)
            if pair is not None:
                call[group], liquidation[group] = pair
        return call, liquidation


def error_scale(columns: int) -> float:
    """E / T: the bound on a computed slack's error, per unit of its sum of |terms|."""
    return SAFETY * (columns + EXTRA_ROUNDINGS) * UNIT_ROUNDOFF


@dataclass(frozen=True)
class _WeightedSums:
    held: FloatArray  # H
    owed: FloatArray  # O
    weighted: FloatArray  # W
    equity_weight: FloatArray
    liability_weight: FloatArray
    weighted_weight: FloatArray

    def verdicts(
        self, call: FloatArray, liquidation: FloatArray, in_descent: npt.NDArray[np.bool_], scale: float
    ) -> tuple[npt.NDArray[np.int8], FloatArray]:
        equity_part = self.equity_weight * self.owed
        numerator = self.held - equity_part  # N
        denominator = self.liability_weight * self.owed + self.weighted_weight * self.weighted  # D
        terms = self.held + equity_part  # T without t.D
        call_side = _Side(numerator, denominator, terms, call, scale)
        liquidation_side = _Side(numerator, denominator, terms, liquidation, scale)
        normal = ~in_descent
        verdicts = np.full(len(numerator), Verdict.EXACT, dtype=np.int8)
        verdicts[normal & call_side.above] = Verdict.NOTHING
        verdicts[normal & call_side.below & liquidation_side.above] = Verdict.MARGIN_CALL
        verdicts[liquidation_side.below] = Verdict.LIQUIDATE
        verdicts[in_descent & call_side.below & liquidation_side.above] = Verdict.NOTHING
        verdicts[in_descent & call_side.above & liquidation_side.above] = Verdict.RECOVER
        verdicts[~(denominator > 0)] = Verdict.EXACT  # no level, or no thresholds (NaN)
        with np.errstate(divide="ignore", invalid="ignore"):
            levels = np.where(denominator > 0, numerator / denominator, np.inf)
        return verdicts, levels


class _Side:
    """Where each row's slack against one threshold surely lies (neither: within E)."""

    def __init__(
        self, numerator: FloatArray, denominator: FloatArray, terms: FloatArray, threshold: FloatArray, scale: float
    ):
        scaled = threshold * denominator
        slack = numerator - scaled
        bound = scale * (terms + scaled)
        # NaN thresholds compare False both ways: such rows stay EXACT.
        self.above = slack > bound
        self.below = slack < -bound
