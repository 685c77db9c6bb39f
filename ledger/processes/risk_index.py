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
A mark moves one asset's price p: the slacks are kept as r + c.p, r summing the other
columns at their prices and c the moved column's weights (`_LinearForms`); the same
terms with a few more roundings (at most k + 16 in all on any term), and the same T.
The bound is absolute on T, not relative to the slack: it holds where the terms cancel
(net equity A - L in Pro, a slack near zero anywhere). We take

    E = SAFETY x (k + 16) x u x (H + a.O + t_call.D),  SAFETY = 4,

the larger of the two thresholds' bounds (t_call >= t_liquidation), for both, and
decide by float only where |slack| > E and D > 0. A row within the band, a row holding
or owing an asset without a price in the valuation asset, and a row without thresholds
are evaluated exactly by the product's own rules. Quantities and prices are bounded
by the ledger's limits (ledger.domain.limits: at most 10^10, at most 18 places), far
from float overflow and underflow, so the relative bounds apply to every term.
docs/risk_index.md writes the derivation out.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from ledger.processes.plain_state import SnapshotFault, array_state, restored_array

UNIT_ROUNDOFF = 2.0**-53
SAFETY = 4.0
EXTRA_ROUNDINGS = 16  # conversions, products and sums beyond the k terms of a sum
FIRST_ROWS = 64
FIRST_COLUMNS = 4
CHUNK_ROWS = 1 << 15  # rows screened at a time: a chunk's temporaries stay in cache, and few chunks cost little Python
DIRTY_LIMIT = 100_000  # rows written since the linear forms were built, beyond which they are rebuilt

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


# A row's code is its base plus 3 x its call side plus its liquidation side (each -1, 0, 1).
NOT_SCREENABLE = 22  # the base of a row the exact rules must decide: codes 18-26, EXACT
IGNORED = 31  # the base of a row the mark does not concern: codes 27-35, NOTHING


def _verdict_table() -> npt.NDArray[np.int8]:
    """The verdict by (in descent, side of the call threshold, side of the liquidation
    threshold), each side -1 (surely at or below), 0 (within the bound), 1 (surely above)."""
    table = np.full(IGNORED + 5, Verdict.EXACT, dtype=np.int8)  # NOT_SCREENABLE's codes: EXACT
    table[IGNORED - 4 :] = Verdict.NOTHING
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


LevelTerms = Callable[[], "tuple[FloatArray, FloatArray]"]


@dataclass(frozen=True)
class Screen:
    """The rows a mark concerns, each with the screen's verdict; their float levels'
    numerators and denominators on demand (None: not screened).

    Valid until the index is next written: `names` and the level terms may be views of the
    linear forms' arrays (not copied: a copy would cost a pass over every exposed row), which
    the next mark patches in place. A caller uses a screen at once, as the drivers do."""

    names: npt.NDArray[np.object_]
    verdicts: npt.NDArray[np.int8]
    level_terms: LevelTerms | None

    @classmethod
    def empty(cls) -> Screen:
        return cls(np.empty(0, dtype=object), np.zeros(0, dtype=np.int8), None)

    def named(self, verdict: Verdict) -> npt.NDArray[np.object_]:
        found: npt.NDArray[np.object_] = self.names[self.verdicts == verdict]
        return found

    def worst_first(self, chosen: npt.NDArray[np.bool_]) -> list[str]:
        """The `chosen` rows' names, lowest float level first, ties by name (so that the
        order does not depend on where the rows happen to sit)."""
        names = self.names[chosen].astype(str)
        if self.level_terms is None:
            return sorted(names.tolist())
        numerators, denominators = self.level_terms()
        with np.errstate(divide="ignore", invalid="ignore"):
            levels = np.where(denominators > 0, numerators / denominators, np.inf)[chosen]
        order = np.lexsort((names, levels))
        return names[order].tolist()


_ROW_ARRAYS = (
    *("held", "owed", "names", "equity_weight", "liability_weight", "weighted_weight"),
    *("call", "liquidation", "in_descent", "active", "group"),
)
_NUMERIC_ROW_ARRAYS = tuple(name for name in _ROW_ARRAYS if name != "names")  # names follow from row_of


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
        self.thresholds_version = 0
        self.forms: dict[int, _LinearForms] = {}  # per column of a marked asset
        self.dirty: list[int] = []  # rows written since the oldest forms were built
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
        # Each column is found before its array is named: finding a new asset's column may
        # grow (replace) the arrays.
        for asset, quantity in held.items():
            if quantity:
                column = self._column(asset)
                self.held[row, column] = float(quantity)
        for asset, quantity in owed.items():
            if quantity:
                column = self._column(asset)
                self.owed[row, column] = float(quantity)
        assert (self.held[row] >= 0).all() and (self.owed[row] >= 0).all(), f"{name}: a negative quantity"
        self.equity_weight[row] = weights.equity
        self.liability_weight[row] = weights.liabilities
        self.weighted_weight[row] = weights.weighted
        self.in_descent[row] = in_descent
        self.group[row] = self._group(group)
        self.call[row], self.liquidation[row] = self.thresholds.get(group) or (np.nan, np.nan)
        self.active[row] = True
        self._written(row)

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
        self._written(row)

    def _written(self, row: int) -> None:
        """The linear forms patch the rows written since they were built (O(1) here)."""
        if not self.forms:
            return
        self.dirty.append(row)
        if len(self.dirty) > DIRTY_LIMIT:  # rebuilt at their next mark rather than patched
            self.forms.clear()
            self.dirty.clear()

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
        self.thresholds_version += 1

    # --- snapshots (`ledger.processes.snapshots`) -----------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The rows in use and what places them, as plain data; the linear forms are not
        kept (the next mark of each asset builds them again). Group keys are saved as the
        product gave them (tuples come back as tuples, `_hashable`)."""
        used = self.used
        return {
            "capacity": [len(self.active), self.held.shape[1]],
            "used": used,
            "row_of": self.row_of,
            "free": self.free,
            "column_of": self.column_of,
            "groups": self.groups,
            "thresholds": [[self.group_of[key], pair] for key, pair in self.thresholds.items()],
            "thresholds_version": self.thresholds_version,
            "arrays": {name: array_state(getattr(self, name)[:used]) for name in _NUMERIC_ROW_ARRAYS},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """An empty index made what `snapshot` saved; SnapshotFault where it does not fit."""
        rows, columns = (int(size) for size in state["capacity"])
        used = int(state["used"])
        named_columns = len(state["column_of"])
        if not 0 <= used <= rows <= 2 * max(used, FIRST_ROWS) or not named_columns <= columns <= 2 * max(
            named_columns, FIRST_COLUMNS
        ):
            raise SnapshotFault("a risk index's capacity that does not fit its rows and columns")
        self._allocate(max(rows, FIRST_ROWS), max(columns, FIRST_COLUMNS))
        for name in _NUMERIC_ROW_ARRAYS:
            array, target = restored_array(state["arrays"][name]), getattr(self, name)
            if array.dtype != target.dtype or array.shape != (used, *target.shape[1:]):
                raise SnapshotFault(f"the risk index's {name} has the shape {array.shape}")
            target[:used] = array
        self.used = used
        self.row_of = {str(name): int(row) for name, row in state["row_of"].items()}
        self.free = [int(row) for row in state["free"]]
        if len({*self.row_of.values(), *self.free}) != len(self.row_of) + len(self.free) or not all(
            0 <= row < used for row in (*self.row_of.values(), *self.free)
        ):
            raise SnapshotFault("the risk index's rows overlap or lie beyond those in use")
        for name, row in self.row_of.items():
            self.names[row] = name
        self.column_of = {str(asset): int(column) for asset, column in state["column_of"].items()}
        if sorted(self.column_of.values()) != list(range(len(self.column_of))):
            raise SnapshotFault("the risk index's columns are not numbered in turn")
        self.groups = [_hashable(key) for key in state["groups"]]
        self.group_of = {key: group for group, key in enumerate(self.groups)}
        if len(self.group_of) != len(self.groups) or (
            used and not 0 <= int(self.group[:used].min()) <= int(self.group[:used].max()) < len(self.groups)
        ):
            raise SnapshotFault("the risk index's groups do not match its rows")
        self.thresholds = {
            self.groups[int(group)]: None if pair is None else (float(pair[0]), float(pair[1]))
            for group, pair in state["thresholds"]
        }
        self.thresholds_version = int(state["thresholds_version"])
        self.forms, self.dirty = {}, []

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
        return self._exposed_rows_of(column)

    def _exposed_rows_of(self, column: int) -> IntArray:
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
        group's (margin-call, liquidation) thresholds (None: none).

        The slacks are linear in the moved asset's price: their forms, at the other
        columns' prices, are kept (`_LinearForms`) until another column's price, the
        factors or the thresholds change; rows changed since are patched first. A mark of
        the asset then costs a few passes over its rows."""
        self._hold_thresholds(thresholds)
        price = prices.get(asset)
        column = self.column_of.get(asset)
        if column is None:
            return Screen.empty()
        if price is None or price <= 0:  # no float price: every row exposed to it is evaluated exactly
            rows = self._exposed_rows(asset)
            return Screen(self.names[rows], np.full(len(rows), Verdict.EXACT, dtype=np.int8), None)
        key = _FormKey.of(self, column, prices, factors)
        forms = self.forms.get(column)
        if forms is None or forms.key != key or not forms.patch(self, self._dirty_since(forms)):
            forms = self.forms[column] = _LinearForms.build(self, column, key, prices, factors)
        return forms.at(price)

    def _dirty_since(self, forms: _LinearForms) -> list[int]:
        return self.dirty[forms.dirty_seen :]


def _hashable(saved: Any) -> Hashable:
    """A group key as saved: lists (how plain data holds tuples) back to tuples."""
    if isinstance(saved, list):
        return tuple(_hashable(item) for item in saved)
    if isinstance(saved, dict):
        raise SnapshotFault("a group key that is a mapping")
    return saved  # type: ignore[no-any-return]


def error_scale(columns: int) -> float:
    """E / T: the bound on a computed slack's error, per unit of its sum of |terms|."""
    return SAFETY * (columns + EXTRA_ROUNDINGS) * UNIT_ROUNDOFF


@dataclass(frozen=True)
class _FormKey:
    """What the linear forms of one column were built at: when it differs, they are rebuilt."""

    column: int
    columns: int
    other_prices: tuple[float | None, ...]
    factors: tuple[float, ...]
    thresholds: int  # the version of the thresholds the rows hold

    @classmethod
    def of(
        cls, index: RiskIndex, column: int, prices: Mapping[str, float | None], factors: Mapping[str, float]
    ) -> _FormKey:
        assets = list(index.column_of)
        return cls(
            column,
            len(assets),
            tuple(None if i == column else prices.get(asset) for i, asset in enumerate(assets)),
            tuple(factors.get(asset, 0.0) for asset in assets),
            index.thresholds_version,
        )


class _LinearForms:
    """Per row exposed to one column, at the other columns' prices: the call and
    liquidation slacks and their common bound as r + c x p in the column's price p,
    and the level's N and D likewise (module docstring: same terms, a few more roundings)."""

    def __init__(self, key: _FormKey, rows: IntArray, terms: dict[str, FloatArray], base: npt.NDArray[np.int8]):
        self.key = key
        self.rows = rows
        self.position = np.full(int(rows[-1]) + 1 if len(rows) else 0, -1, dtype=np.intp)
        self.position[rows] = np.arange(len(rows))
        self.terms = terms  # call_rest, call_coefficient, liquidation_..., bound_..., numerator_..., denominator_...
        self.base = base  # in_descent x 9 + 4; NOT_SCREENABLE; IGNORED
        self.names: npt.NDArray[np.object_] = np.empty(0, dtype=object)
        self.dirty_seen = 0
        self.prices: Mapping[str, float | None] = {}
        self.factors: Mapping[str, float] = {}

    @classmethod
    def build(
        cls,
        index: RiskIndex,
        column: int,
        key: _FormKey,
        prices: Mapping[str, float | None],
        factors: Mapping[str, float],
    ) -> _LinearForms:
        rows = index._exposed_rows_of(column)
        terms, base = _linear_terms(index, rows, column, prices, factors)
        forms = cls(key, rows, terms, base)
        forms.names = index.names[rows]
        forms.dirty_seen = len(index.dirty)
        forms.prices, forms.factors = prices, factors
        return forms

    def patch(self, index: RiskIndex, dirty: list[int]) -> bool:
        """The rows changed since, written again; False when one is newly exposed (rebuild)."""
        if not dirty:
            return True
        column = self.key.column
        rows = np.unique(np.array(dirty, dtype=np.intp))
        exposed = index.active[rows] & ((index.held[rows, column] != 0) | (index.owed[rows, column] != 0))
        positions = np.full(len(rows), -1, dtype=np.intp)
        known_rows = rows < len(self.position)
        positions[known_rows] = self.position[rows[known_rows]]
        if (exposed & (positions < 0)).any():
            return False
        known = positions >= 0
        rows, positions = rows[known], positions[known]
        terms, base = _linear_terms(index, rows, column, self.prices, self.factors)
        for name, values in terms.items():
            self.terms[name][positions] = values
        self.base[positions] = np.where(exposed[known], base, IGNORED)
        self.names[positions] = index.names[rows]
        self.dirty_seen = len(index.dirty)
        return True

    def at(self, price: float) -> Screen:
        """Every row's verdict at the moved asset's `price`, a chunk of rows at a time (the
        same operations on each element: the chunks keep their temporaries in the CPU's
        cache, where whole columns would stream each through memory several times)."""
        verdicts = np.empty(len(self.base), dtype=np.int8)
        scratch = _ChunkScratch(min(len(self.base), CHUNK_ROWS))
        for start in range(0, len(self.base), CHUNK_ROWS):
            part = slice(start, min(start + CHUNK_ROWS, len(self.base)))
            self._verdicts(part, price, scratch, verdicts[part])
        shown = self.base != IGNORED
        if not shown.all():
            return Screen(self.names[shown], verdicts[shown], lambda: self._level_terms(price, shown))
        return Screen(self.names, verdicts, lambda: self._level_terms(price, shown))

    def _verdicts(self, part: slice, price: float, scratch: _ChunkScratch, verdicts: npt.NDArray[np.int8]) -> None:
        terms, size = self.terms, part.stop - part.start
        call = _affine_into(terms["call_rest"][part], terms["call_coefficient"][part], price, scratch.call[:size])
        liquidation = _affine_into(
            terms["liquidation_rest"][part], terms["liquidation_coefficient"][part], price, scratch.liquidation[:size]
        )
        bound = _affine_into(terms["bound_rest"][part], terms["bound_coefficient"][part], price, scratch.bound[:size])
        negative_bound = np.negative(bound, out=scratch.negative_bound[:size])
        code, side, flag = scratch.code[:size], scratch.side[:size], scratch.flag[:size]
        code[:] = self.base[part]
        _side_into(call, bound, negative_bound, flag, side)
        side *= 3
        code += side
        _side_into(liquidation, bound, negative_bound, flag, side)
        code += side
        np.take(VERDICTS, code, out=verdicts)

    def _level_terms(self, price: float, shown: npt.NDArray[np.bool_]) -> tuple[FloatArray, FloatArray]:
        terms = self.terms
        numerator = _affine(terms["numerator_rest"], terms["numerator_coefficient"], price)
        denominator = _affine(terms["denominator_rest"], terms["denominator_coefficient"], price)
        return numerator[shown], denominator[shown]


def _affine(rest: FloatArray, coefficient: FloatArray, price: float) -> FloatArray:
    return _affine_into(rest, coefficient, price, np.empty(len(rest)))


def _affine_into(rest: FloatArray, coefficient: FloatArray, price: float, out: FloatArray) -> FloatArray:
    """rest + coefficient x price into `out`: two roundings, as the module docstring counts them."""
    np.multiply(coefficient, price, out=out)
    out += rest
    return out


class _ChunkScratch:
    """The temporaries of screening one chunk of rows, made once a screen."""

    def __init__(self, rows: int):
        self.call, self.liquidation, self.bound, self.negative_bound = (np.empty(rows) for _ in range(4))
        self.code, self.side = np.empty(rows, dtype=np.int8), np.empty(rows, dtype=np.int8)
        self.flag = np.empty(rows, dtype=bool)


def _linear_terms(
    index: RiskIndex,
    rows: IntArray,
    column: int,
    prices: Mapping[str, float | None],
    factors: Mapping[str, float],
) -> tuple[dict[str, FloatArray], npt.NDArray[np.int8]]:
    """The forms' terms and base codes of `rows`, for the price of `column`."""
    size = len(rows)
    # Every row in use (a crash in a common asset): slices, not gathers.
    pick: Any = slice(0, size) if size == index.used else rows
    held_rest, owed_rest, weighted_rest = np.zeros(size), np.zeros(size), np.zeros(size)
    unpriced = np.zeros(size, dtype=bool)
    scratch = np.empty(size)
    for asset, other in index.column_of.items():
        if other == column:
            continue
        held, owed = index.held[pick, other], index.owed[pick, other]
        price = prices.get(asset)
        if price is None:
            unpriced |= (held != 0) | (owed != 0)
            continue
        _add_product(held_rest, held, price, scratch)
        _add_product(owed_rest, owed, price, scratch)
        factor = factors.get(asset, 0.0)
        if factor:
            _add_product(weighted_rest, owed, price * factor, scratch)
    held, owed = index.held[pick, column], index.owed[pick, column]
    moved_factor = factors.get(next(a for a, c in index.column_of.items() if c == column), 0.0)
    equity, liabilities, weighted = index.equity_weight[pick], index.liability_weight[pick], index.weighted_weight[pick]
    call, liquidation = index.call[pick], index.liquidation[pick]
    scale = error_scale(len(index.column_of))
    # N = N_rest + n p, D = D_rest + d p, T = T_rest + t p (module docstring), p the column's price.
    numerator_rest = held_rest - equity * owed_rest
    numerator_coefficient = held - equity * owed
    denominator_rest = liabilities * owed_rest + weighted * weighted_rest
    denominator_coefficient = liabilities * owed + weighted * (owed * moved_factor)
    terms_rest = held_rest + equity * owed_rest
    terms_coefficient = held + equity * owed
    terms = {
        "call_rest": numerator_rest - call * denominator_rest,
        "call_coefficient": numerator_coefficient - call * denominator_coefficient,
        "liquidation_rest": numerator_rest - liquidation * denominator_rest,
        "liquidation_coefficient": numerator_coefficient - liquidation * denominator_coefficient,
        "bound_rest": scale * (terms_rest + call * denominator_rest),
        "bound_coefficient": scale * (terms_coefficient + call * denominator_coefficient),
        "numerator_rest": numerator_rest,
        "numerator_coefficient": numerator_coefficient,
        "denominator_rest": denominator_rest,
        "denominator_coefficient": denominator_coefficient,
    }
    # With a positive price, D > 0 iff either part is (both are sums of nonnegative terms).
    has_level = (denominator_rest > 0) | (denominator_coefficient > 0)
    base = np.where(unpriced | ~has_level, NOT_SCREENABLE, index.in_descent[pick] * 9 + 4).astype(np.int8)
    # NaN thresholds (no tier) make every comparison False: both sides 0, the verdict EXACT.
    return terms, base


def _add_product(total: FloatArray, column: FloatArray, factor: float, scratch: FloatArray) -> None:
    np.multiply(column, factor, out=scratch)
    total += scratch


def _side_into(
    slack: FloatArray,
    bound: FloatArray,
    negative_bound: FloatArray,
    flag: npt.NDArray[np.bool_],
    side: npt.NDArray[np.int8],
) -> None:
    """Into `side`: 1 where surely above zero, -1 where surely at or below, 0 within the bound."""
    np.greater(slack, bound, out=flag)
    side[:] = flag.view(np.int8)
    np.less(slack, negative_bound, out=flag)
    side -= flag.view(np.int8)
