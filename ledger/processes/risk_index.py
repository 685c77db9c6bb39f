"""A numeric risk index: every account a mark may concern as one row of float64
columns, screened by numpy on a mark; decided by float only where the float cannot be
wrong, and left to the exact (Decimal) rules of the product everywhere else.

A row holds, per asset column, the quantity held and the quantity owed; the row's level
weights; its threshold group (the group's two thresholds are looked up as the rules
stand at the mark, and kept per row until they change); and whether it is in a
descent (margin call). A product feeds the rows from its accounts as each event leaves
them (`put`, `remove`: O(columns) each, and a new column as an asset first appears);
nothing here asks which product a row is.

The level's slack against a threshold t, at prices p (per column, in the valuation
asset) with f a per-column liability factor (the token MMR):

    H = sum(held x p), O = sum(owed x p), W = sum(owed x p x f)
    N = H - a.O,  D = b.O + c.W,  slack(t) = N - t.D

(classic: a = 0, b = 1, c = 0, so slack = A - t.L; Pro: a = 1, b = 0, c = 1, so
slack = (A - L) - t.sum(L x mmr)). A threshold is reached where slack <= 0 and D > 0.

The error bound. Every quantity, price, factor and threshold is a Decimal converted
to the nearest float (relative error at most u = 2^-53), and each product and sum
rounds once more (relative u). With k columns, H, O and W are sums of k nonnegative
terms whose inputs were rounded: each is within gamma(k + 4) of its exact value,
gamma(n) = n.u / (1 - n.u), whatever the order of summation. N, D, t.D and the last
subtraction add a few roundings, each relative to a term no larger than

    T = H + a.O + t.D     (the sum of |terms| of the slack)

so |computed slack - exact slack| <= gamma(k + 10) . T_exact <= (k + 10).u.T.(1 + tiny).
The bound is absolute on T, not relative to the slack: it holds where the terms cancel
(net equity A - L in Pro, a slack near zero anywhere). We take

    E = SAFETY x (k + 10) x u x (H + a.O + t_call.D),  SAFETY = 4,

the larger of the two thresholds' bounds (t_call >= t_liquidation), for both, and
decide by float only where |slack| > E and D > 0. A row within the band, a row holding
or owing an asset without a price in the valuation asset, and a row without thresholds
are evaluated exactly by the product's own rules. Quantities and prices are bounded
by the ledger's limits (ledger.domain.limits: at most 10^10, at most 18 places), far
from float overflow and underflow, so the relative bounds apply to every term.
docs/risk_index.md writes the derivation out.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

UNIT_ROUNDOFF = 2.0**-53
SAFETY = 4.0
EXTRA_ROUNDINGS = 10  # conversions, products and sums beyond the k terms of a sum
FIRST_ROWS = 64
FIRST_COLUMNS = 4

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Thresholds = Mapping[Hashable, "tuple[float, float] | None"]  # per group: (margin call, liquidation)


class Verdict(IntEnum):
    """What the screen found for a row the mark concerns."""

    EXACT = -1  # within the error bound, or not screenable: the exact rules decide
    NOTHING = 0
    MARGIN_CALL = 1  # a descent begins
    LIQUIDATE = 2
    RECOVER = 3  # a descent ends


def _verdict_table() -> npt.NDArray[np.int8]:
    """The verdict by (in descent, side of the call threshold, side of the liquidation
    threshold), each side -1 (surely at or below), 0 (within the bound), 1 (surely above)."""
    table = np.full(18, Verdict.EXACT, dtype=np.int8)
    for in_descent in (0, 1):
        for call in (-1, 0, 1):
            for liquidation in (-1, 0, 1):
                if liquidation == -1:
                    verdict = Verdict.LIQUIDATE
                elif liquidation == 0:
                    verdict = Verdict.EXACT
                elif call == 0:
                    verdict = Verdict.EXACT
                elif in_descent:
                    verdict = Verdict.RECOVER if call == 1 else Verdict.NOTHING
                else:
                    verdict = Verdict.NOTHING if call == 1 else Verdict.MARGIN_CALL
                table[in_descent * 9 + (call + 1) * 3 + liquidation + 1] = verdict
    return table


VERDICTS = _verdict_table()


@dataclass(frozen=True)
class LevelWeights:
    """N = H - equity.O, D = liabilities.O + weighted.W (see the module's docstring)."""

    equity: float
    liabilities: float
    weighted: float


@dataclass(frozen=True)
class Screen:
    """The rows a mark concerns, each with the screen's verdict; the float level on demand."""

    names: npt.NDArray[np.object_]
    verdicts: npt.NDArray[np.int8]
    numerators: FloatArray
    denominators: FloatArray

    def named(self, verdict: Verdict) -> npt.NDArray[np.object_]:
        found: npt.NDArray[np.object_] = self.names[self.verdicts == verdict]
        return found

    def worst_first(self, chosen: npt.NDArray[np.bool_]) -> list[str]:
        """The `chosen` rows' names, lowest float level first (then by name)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            levels = np.where(self.denominators > 0, self.numerators / self.denominators, np.inf)[chosen]
        names = self.names[chosen]
        order = np.lexsort((names.astype(str), levels))
        return [str(name) for name in names[order]]


_ROW_ARRAYS = (
    *("held", "owed", "names", "equity_weight", "liability_weight", "weighted_weight"),
    *("call", "liquidation", "in_descent", "active", "group"),
)


class RiskIndex:
    """Rows of float64 columns, one per account, screened vectorized on a mark."""

    def __init__(self) -> None:
        self.row_of: dict[str, int] = {}
        self.used = 0  # rows ever handed out (free ones among them are inactive)
        self.free: list[int] = []
        self.column_of: dict[str, int] = {}
        self.group_of: dict[Hashable, int] = {}
        self.groups: list[Hashable] = []
        self.thresholds: dict[Hashable, tuple[float, float] | None] = {}  # as the rows hold them
        self._allocate(FIRST_ROWS, FIRST_COLUMNS)

    def _allocate(self, rows: int, columns: int) -> None:
        self.held = np.zeros((rows, columns), order="F")
        self.owed = np.zeros((rows, columns), order="F")
        self.names = np.full(rows, None, dtype=object)
        self.equity_weight = np.zeros(rows)
        self.liability_weight = np.zeros(rows)
        self.weighted_weight = np.zeros(rows)
        self.call = np.full(rows, np.nan)
        self.liquidation = np.full(rows, np.nan)
        self.in_descent = np.zeros(rows, dtype=np.int8)
        self.active = np.zeros(rows, dtype=bool)
        self.group = np.zeros(rows, dtype=np.int32)

    def _grow(self, rows: int, columns: int) -> None:
        """Twice the rows or the columns: amortized O(1) per row."""
        old = {name: getattr(self, name) for name in _ROW_ARRAYS}
        self._allocate(rows, columns)
        for name, array in old.items():
            if array.ndim == 2:
                getattr(self, name)[: array.shape[0], : array.shape[1]] = array
            else:
                getattr(self, name)[: len(array)] = array

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
        self.call[row], self.liquidation[row] = self.thresholds.get(group) or (np.nan, np.nan)
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
        else:
            row = self.used
            self.used += 1
            if row == len(self.active):
                self._grow(2 * row, self.held.shape[1])
        self.names[row] = name
        self.row_of[name] = row
        return row

    def _column(self, asset: str) -> int:
        column = self.column_of.get(asset)
        if column is None:
            column = self.column_of[asset] = len(self.column_of)
            if column == self.held.shape[1]:
                self._grow(len(self.active), 2 * column)
        return column

    def _group(self, key: Hashable) -> int:
        group = self.group_of.get(key)
        if group is None:
            group = self.group_of[key] = len(self.groups)
            self.groups.append(key)
        return group

    def _hold_thresholds(self, thresholds: Thresholds) -> None:
        """Each row's thresholds as `thresholds` give them: rewritten only when they change."""
        current = {key: thresholds.get(key) for key in self.groups}
        if current == self.thresholds:
            return
        call, liquidation = np.full(len(self.groups), np.nan), np.full(len(self.groups), np.nan)
        for group, key in enumerate(self.groups):
            pair = current[key]
            if pair is not None:
                call[group], liquidation[group] = pair
        self.call[: self.used] = call[self.group[: self.used]]
        self.liquidation[: self.used] = liquidation[self.group[: self.used]]
        self.thresholds = current

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
        return [str(name) for name in self.names[self._exposed_rows(asset)]]

    def bytes_per_row(self) -> float:
        """The numeric columns' memory per row in use (names and the dict of rows aside)."""
        arrays = (self.held, self.owed, self.equity_weight, self.liability_weight, self.weighted_weight)
        flags = (self.call, self.liquidation, self.in_descent, self.active, self.group)
        total = sum(array.nbytes for array in (*arrays, *flags))
        return total / max(len(self.row_of), 1)

    def _exposed_rows(self, asset: str) -> IntArray:
        column = self.column_of.get(asset)
        if column is None:
            return np.zeros(0, dtype=np.intp)
        used = self.used
        exposed = (self.held[:used, column] != 0) | (self.owed[:used, column] != 0)
        exposed &= self.active[:used]
        return np.flatnonzero(exposed)

    # --- screening a mark ---------------------------------------------------------------

    def screen(
        self, asset: str, prices: Mapping[str, float | None], factors: Mapping[str, float], thresholds: Thresholds
    ) -> Screen:
        """The verdict for every row holding or owing `asset`, at `prices` (per asset; None:
        no price in the valuation asset) and liability `factors` (per asset), with each
        group's (margin-call, liquidation) thresholds (None: none)."""
        self._hold_thresholds(thresholds)
        rows = self._exposed_rows(asset)
        dense = len(rows) * 2 > self.used  # then every row is screened, and the others dropped after
        pick: Any = slice(0, self.used) if dense else rows
        sums = _Sums.of(self, pick, prices, factors)
        verdicts = sums.verdicts(
            self.call[pick], self.liquidation[pick], self.in_descent[pick], error_scale(len(self.column_of))
        )
        unpriced = [self.column_of[name] for name in self.column_of if prices.get(name) is None]
        if unpriced:
            held, owed = self.held[pick][:, unpriced], self.owed[pick][:, unpriced]
            verdicts[(held != 0).any(axis=1) | (owed != 0).any(axis=1)] = Verdict.EXACT
        numerators, denominators = sums.numerator, sums.denominator
        if dense:
            verdicts, numerators, denominators = verdicts[rows], numerators[rows], denominators[rows]
        return Screen(self.names[rows], verdicts, numerators, denominators)


def error_scale(columns: int) -> float:
    """E / T: the bound on a computed slack's error, per unit of its sum of |terms|."""
    return SAFETY * (columns + EXTRA_ROUNDINGS) * UNIT_ROUNDOFF


class _Sums:
    """N, D and T (module docstring) of the picked rows, column by column."""

    def __init__(self, numerator: FloatArray, denominator: FloatArray, terms: FloatArray):
        self.numerator = numerator
        self.denominator = denominator
        self.terms = terms

    @classmethod
    def of(cls, index: RiskIndex, pick: Any, prices: Mapping[str, float | None], factors: Mapping[str, float]) -> _Sums:
        size = index.used if isinstance(pick, slice) else len(pick)
        held, owed, weighted = np.zeros(size), np.zeros(size), np.zeros(size)
        scratch = np.empty(size)
        for asset, column in index.column_of.items():
            price = prices.get(asset)
            if not price:  # no price: such rows are evaluated exactly; a zero price adds nothing
                continue
            _add_product(held, index.held[pick, column], price, scratch)
            owed_column = index.owed[pick, column]
            _add_product(owed, owed_column, price, scratch)
            factor = factors.get(asset, 0.0)
            if factor:
                _add_product(weighted, owed_column, price * factor, scratch)
        equity_part = np.multiply(index.equity_weight[pick], owed)
        numerator = np.subtract(held, equity_part)
        terms = np.add(held, equity_part, out=held)
        denominator = np.multiply(index.liability_weight[pick], owed, out=owed)
        denominator += np.multiply(index.weighted_weight[pick], weighted, out=weighted)
        return cls(numerator, denominator, terms)

    def verdicts(
        self, call: FloatArray, liquidation: FloatArray, in_descent: npt.NDArray[np.int8], scale: float
    ) -> npt.NDArray[np.int8]:
        call_part = np.multiply(call, self.denominator)
        bound = np.add(self.terms, call_part)
        bound *= scale  # the call threshold's bound, the larger: it serves both
        negative_bound = np.negative(bound)
        code = np.multiply(in_descent, 9, dtype=np.int8)
        code += 3 * _side(np.subtract(self.numerator, call_part, out=call_part), bound, negative_bound)
        liquidation_slack = np.multiply(liquidation, self.denominator)
        np.subtract(self.numerator, liquidation_slack, out=liquidation_slack)
        code += _side(liquidation_slack, bound, negative_bound)
        code += 4
        verdicts = VERDICTS[code]
        verdicts[~(self.denominator > 0)] = Verdict.EXACT  # no level
        # NaN thresholds (no tier) make every comparison False: the side is 0, the verdict EXACT.
        return verdicts


def _add_product(total: FloatArray, column: FloatArray, factor: float, scratch: FloatArray) -> None:
    np.multiply(column, factor, out=scratch)
    total += scratch


def _side(slack: FloatArray, bound: FloatArray, negative_bound: FloatArray) -> npt.NDArray[np.int8]:
    """1 where surely above zero, -1 where surely at or below, 0 within the bound."""
    above = (slack > bound).view(np.int8)
    above -= (slack < negative_bound).view(np.int8)
    return above
