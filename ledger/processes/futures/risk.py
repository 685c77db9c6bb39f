"""The futures risk index: every futures wallet holding a position, as float64 columns
(a wallet row, and a row per position), screened vectorized at a mark of a symbol; the
float decides only where the error bound below allows, and the exact rules
(`ledger.processes.futures.due`) decide everywhere else. Kept by both drivers.

What it holds (plain state: numpy arrays, and dicts and lists of str and int):
  per wallet row: `cross_wallet` (the cross wallet balance), `screenable` (False while
  the wallet or one of its positions is being liquidated: such a wallet is evaluated
  exactly), `wallet_active`; `wallet_of` (name -> row), `wallet_names`, `free_wallets`;
  per position row: `position_wallet` (its wallet row), `position_symbol` (into
  `symbols`, `symbol_of`), `direction` (+1 long, -1 short), `quantity`, `entry` (entry
  price), `isolated`, `isolated_margin`, `position_active`; `positions_of` (wallet name
  -> its position rows), `free_positions`.
Rows are rewritten from the aggregate as each of its events leaves it: O(its positions).
Contract terms (linear or inverse, contract size, brackets) are the symbol's in the
parameters as they stand at the mark, looked up per symbol, never per row.

The rules (domain.md, "Balances and ratios"). With, per position, q its quantity, e its
entry price, m its symbol's mark, dir +1 / -1, CS the contract size, and r, c the MMR and
cum of the bracket of its notional N (`floor < N <= cap`):
  USDⓈ-M (linear): N = q.m,     uPnL = dir.(q.m - q.e)
  COIN-M (inverse): N = q.CS/m, uPnL = dir.(q.CS/e - q.CS/m)   (in coin, not linear in m)
  MM = N.r - c
  cross:    S = W + sum over cross positions (uPnL - MM), liquidated iff MM_cross > 0 and S <= 0
  isolated: S = I + uPnL - MM (I its isolated margin), liquidated iff MM > 0 and S <= 0
computed directly at the new marks (no linear form). The exact rules compare the exact
rationals (`liquidatable_at_marks`): nothing is rounded or quantized before the
comparison, so the bound has no rounding term of the rules to add.

The error bound. u = 2^-53, gamma(k) = k.u / (1 - k.u). Every input (a Decimal or a
Fraction: `float()` rounds both correctly) becomes x(1 + d), |d| <= u. Each slack is a
sum of terms, each a product or quotient of at most four inputs: q.m, q.e, q.CS/m,
q.CS/e, N.r, c, W, I. Along its way into S, a term meets at most 4 conversions, 3
products or quotients, the subtraction in uPnL, the one in MM, the one of uPnL - MM,
and the sum of the wallet's P positions with W (P additions): at most 12 + P roundings,
each a factor (1 + d)^(+-1). So (Higham, Lemma 3.1) every computed term is the exact term
times (1 + theta), |theta| <= gamma(12 + P), and

    |S' - S| <= gamma(12 + P) . T,   T = |W| + sum(q.m + q.e + N.r + c)  (inverse: q.CS/m, q.CS/e)

absolute on T, the sum of the magnitudes of the slack's terms (it holds where they
cancel, as they do at the threshold). MM's terms are among T's: |MM' - MM| <= the same.
T itself is computed in float, within gamma(12 + P) of its own. The index takes

    E = SAFETY . (EXTRA_ROUNDINGS + P) . u . T',   SAFETY = 4, EXTRA_ROUNDINGS = 16

(those of `ledger.processes.risk_index`), P the positions in the sum (1 for an isolated
one), which covers gamma(12 + P) and T's own error with a wide margin for any P below
10^14. Inputs are bounded by the ledger's limits (at most 10^10, 18 places), so no term
overflows or becomes subnormal: the relative bounds hold for every term.

The bracket. The float notional N' is N(1 + theta), |theta| <= gamma(4). A position
whose N' lies within `BRACKET_TOLERANCE . N'` (= the scale of E, far above gamma(4)) of
a cap of its symbol may have its exact notional in the next bracket: its wallet is
evaluated exactly. Elsewhere N and N' lie in the same bracket, and the r and c used are
the exact ones, converted.

Decision rule, per wallet holding the marked symbol (its every position is screened,
each at its own symbol's mark): a part is surely liquidatable where S' < -E and
MM' > E, surely not where S' > E; the wallet is routed if a part is surely
liquidatable, left alone if every part is surely not, and evaluated exactly otherwise,
and whenever the float cannot speak: the wallet or a position is being liquidated, a
symbol has no mark or is no longer in the parameters, or a notional lies at a cap.
docs/risk_index.md ("Futures wallets") writes this out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ledger.dispatch import singledispatchmethod
from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.contracts import symbol_of
from ledger.domain.futures.market import SymbolMarket
from ledger.domain.futures.wallet import MarginType
from ledger.domain.parameters import RiskParameters
from ledger.domain.prices import PriceBook
from ledger.processes.futures.due import liquidations_due
from ledger.processes.futures.indexes import futures_accounts
from ledger.processes.indexes import Driver, DriverIndex, kept_by
from ledger.processes.plain_state import SnapshotFault, array_state, restored_array
from ledger.processes.risk_index import EXTRA_ROUNDINGS, SAFETY, UNIT_ROUNDOFF
from ledger.unit_of_work import UnitOfWork

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

FIRST_WALLETS = 64
FIRST_POSITIONS = 64
# A notional within this fraction of a cap takes the exact path: far above its own error (gamma(4)).
BRACKET_TOLERANCE = SAFETY * EXTRA_ROUNDINGS * UNIT_ROUNDOFF

_WALLET_ARRAYS = ("wallet_names", "cross_wallet", "screenable", "wallet_active")
_POSITION_ARRAYS = (
    *("position_wallet", "position_symbol", "direction", "quantity", "entry"),
    *("isolated", "isolated_margin", "position_active"),
)


def bound_scale(positions: FloatArray | float) -> Any:
    """E / T for a slack summing `positions` positions (module docstring)."""
    return SAFETY * (EXTRA_ROUNDINGS + positions) * UNIT_ROUNDOFF


@dataclass(frozen=True)
class SymbolTerms:
    """A symbol's contract terms as floats, as the parameters stand: `known` False when the
    parameters no longer declare it (its holders are then evaluated exactly)."""

    known: bool
    inverse: bool = False
    contract_size: float = 1.0
    caps: FloatArray | None = None
    lower_caps: FloatArray | None = None  # each bracket's floor (-inf for the first)
    rates: FloatArray | None = None
    cums: FloatArray | None = None

    @classmethod
    def of(cls, parameters: RiskParameters, name: str) -> SymbolTerms:
        if not parameters.knows_symbol(name):
            return cls(known=False)
        return parameters.derived(("futures risk terms", name), lambda: cls._built(parameters, name))

    @classmethod
    def _built(cls, parameters: RiskParameters, name: str) -> SymbolTerms:
        symbol = symbol_of(parameters, name)
        brackets = symbol.brackets.brackets
        caps = np.array([float(bracket.cap) for bracket in brackets])
        return cls(
            known=True,
            inverse=symbol.is_inverse,
            contract_size=float(symbol.contract_size),
            caps=caps,
            lower_caps=np.concatenate(([-np.inf], caps[:-1])),
            rates=np.array([float(bracket.maintenance_margin_rate) for bracket in brackets]),
            cums=np.array([float(bracket.cum) for bracket in brackets]),
        )


class Verdict:
    """A wallet's verdict at a mark (int8 codes)."""

    EXACT = -1  # within the bound, or not screenable: the exact rules decide
    NOTHING = 0
    LIQUIDATE = 1


@dataclass(frozen=True)
class FuturesMarkDecisions:
    """What a mark of a symbol calls for: per wallet holding it, the float's verdict and its
    worst ratio (margin balance / MM, lowest of its parts); the wallets decided exactly,
    and of those the ones due for a liquidation, with their exact worst ratio."""

    names: list[str]
    verdicts: npt.NDArray[np.int8]
    ratios: FloatArray
    exact_names: list[str]
    exact_due: dict[str, float]

    @classmethod
    def empty(cls) -> FuturesMarkDecisions:
        return cls([], np.zeros(0, dtype=np.int8), np.zeros(0), [], {})

    @property
    def screened(self) -> int:
        return len(self.names)

    @property
    def evaluated_exactly(self) -> int:
        return len(self.exact_names)

    @property
    def liquidated(self) -> int:
        return int(np.count_nonzero(self.verdicts == Verdict.LIQUIDATE)) + len(self.exact_due)

    def to_liquidate(self) -> set[str]:
        by_float = np.flatnonzero(self.verdicts == Verdict.LIQUIDATE).tolist()
        return {self.names[position] for position in by_float} | set(self.exact_due)

    def worst_first(self) -> list[str]:
        """The wallets to liquidate, lowest margin balance / MM first (ties by name)."""
        by_float = np.flatnonzero(self.verdicts == Verdict.LIQUIDATE)
        names = self.names
        ratios = list(zip(self.ratios[by_float].tolist(), [names[p] for p in by_float.tolist()], strict=True))
        ratios += [(ratio, name) for name, ratio in self.exact_due.items()]
        ratios.sort()
        return [name for _ratio, name in ratios]


@kept_by(Driver.INLINE, Driver.SERVICE)
class FuturesRisk(DriverIndex):
    """Every futures wallet holding a position, screened at a mark of a symbol it holds.

    Inline (`ledger run`), a mark is decided with the store's marks and rules: by float
    where the error bound allows, exactly elsewhere; the wallets to liquidate are routed
    worst first. The dispatcher knows no marks or rules of its own: it routes every
    holder of the symbol, in name order, and its workers decide exactly."""

    def __init__(self) -> None:
        self.wallet_of: dict[str, int] = {}
        self.free_wallets: list[int] = []
        self.wallets_used = 0
        self.positions_of: dict[str, list[int]] = {}
        self.free_positions: list[int] = []
        self.positions_used = 0
        self.symbol_of: dict[str, int] = {}
        self.symbols: list[str] = []
        self._version = 0  # of the rows: a mark decided again on rows unchanged is looked up
        self._decided: tuple[Any, FuturesMarkDecisions] | None = None
        self._allocate_wallets(FIRST_WALLETS)
        self._allocate_positions(FIRST_POSITIONS)

    def _allocate_wallets(self, rows: int) -> None:
        self.wallet_names = np.full(rows, None, dtype=object)
        self.cross_wallet = np.zeros(rows)
        self.screenable = np.zeros(rows, dtype=bool)
        self.wallet_active = np.zeros(rows, dtype=bool)

    def _allocate_positions(self, rows: int) -> None:
        self.position_wallet = np.zeros(rows, dtype=np.intp)
        self.position_symbol = np.zeros(rows, dtype=np.intp)
        self.direction = np.zeros(rows)
        self.quantity = np.zeros(rows)
        self.entry = np.zeros(rows)
        self.isolated = np.zeros(rows, dtype=bool)
        self.isolated_margin = np.zeros(rows)
        self.position_active = np.zeros(rows, dtype=bool)

    def _grow(self, names: Sequence[str], allocate: Callable[[int], None], rows: int) -> None:
        """Twice the rows: amortized O(1) per row."""
        old = {name: getattr(self, name) for name in names}
        allocate(rows)
        for name, array in old.items():
            getattr(self, name)[: len(array)] = array

    # --- following the wallets ---------------------------------------------------------

    def load(self, uow: UnitOfWork, accounts: Sequence[Any]) -> None:
        for account in futures_accounts(accounts):
            self.note_account(account)

    @singledispatchmethod
    def observe(self, event: Any, account: Callable[[str], Any]) -> None:
        """Only futures wallets' events change it."""

    @observe.register
    def _wallet_changed(self, event: FuturesAccount.Event, account: Callable[[str], Any]) -> None:
        self.note_account(account(event.account))

    def note_account(self, account: FuturesAccount) -> None:
        """The wallet's rows as its latest event left them: O(its positions)."""
        self._version += 1
        if not account.positions:
            self.remove(account.name)
            return
        wallet = self._wallet_row(account.name)
        self.cross_wallet[wallet] = float(account.cross_wallet)
        self.screenable[wallet] = not account.is_locked and not account.settling
        for row in self.positions_of.pop(account.name, []):
            self._free_position(row)
        rows = []
        for symbol, slots in account.positions.items():
            isolated = account.setting(symbol)[1] is MarginType.ISOLATED
            for position in slots.values():
                row = self._position_row()
                self.position_wallet[row] = wallet
                self.position_symbol[row] = self._symbol(symbol)
                self.direction[row] = 1.0 if position["side"] == "long" else -1.0
                self.quantity[row] = float(position["quantity"])
                self.entry[row] = float(position["entry_price"])
                self.isolated[row] = isolated
                self.isolated_margin[row] = float(position["isolated_margin"])
                self.position_active[row] = True
                if position.get("liquidation_id") is not None:
                    self.screenable[wallet] = False
                rows.append(row)
        self.positions_of[account.name] = rows

    def remove(self, name: str) -> None:
        """No position left: no mark concerns the wallet."""
        wallet = self.wallet_of.pop(name, None)
        if wallet is None:
            return
        for row in self.positions_of.pop(name, []):
            self._free_position(row)
        self.wallet_active[wallet] = False
        self.screenable[wallet] = False
        self.wallet_names[wallet] = None
        self.free_wallets.append(wallet)

    def _wallet_row(self, name: str) -> int:
        row = self.wallet_of.get(name)
        if row is not None:
            return row
        if self.free_wallets:
            row = self.free_wallets.pop()
        else:
            row = self.wallets_used
            self.wallets_used += 1
            if row == len(self.wallet_active):
                self._grow(_WALLET_ARRAYS, self._allocate_wallets, 2 * row)
        self.wallet_of[name] = row
        self.wallet_names[row] = name
        self.wallet_active[row] = True
        return row

    def _position_row(self) -> int:
        if self.free_positions:
            return self.free_positions.pop()
        row = self.positions_used
        self.positions_used += 1
        if row == len(self.position_active):
            self._grow(_POSITION_ARRAYS, self._allocate_positions, 2 * row)
        return row

    def _free_position(self, row: int) -> None:
        self.position_active[row] = False
        self.quantity[row] = 0.0
        self.free_positions.append(row)

    def _symbol(self, name: str) -> int:
        found = self.symbol_of.get(name)
        if found is None:
            found = self.symbol_of[name] = len(self.symbols)
            self.symbols.append(name)
        return found

    # --- snapshots (`ledger.processes.indexes.DriverIndex`) ----------------------------------

    snapshot_version = 1

    def snapshot(self) -> dict[str, Any]:
        """The rows in use (names apart: an array of objects is not snapshotted), the free
        rows, each wallet's position rows, and the symbols' columns."""
        wallets, positions = self.wallets_used, self.positions_used
        return {
            "wallet_names": [None if name is None else str(name) for name in self.wallet_names[:wallets]],
            "wallets": {name: array_state(getattr(self, name)[:wallets]) for name in _WALLET_ARRAYS[1:]},
            "positions": {name: array_state(getattr(self, name)[:positions]) for name in _POSITION_ARRAYS},
            "positions_of": self.positions_of,
            "free_wallets": self.free_wallets,
            "free_positions": self.free_positions,
            "symbols": self.symbols,
        }

    def restore(self, state: dict[str, Any]) -> None:
        names = state["wallet_names"]
        wallets = {name: restored_array(state["wallets"][name]) for name in _WALLET_ARRAYS[1:]}
        positions = {name: restored_array(state["positions"][name]) for name in _POSITION_ARRAYS}
        position_count = len(positions["position_active"])
        if any(len(array) != len(names) for array in wallets.values()) or any(
            len(array) != position_count for array in positions.values()
        ):
            raise SnapshotFault("futures risk rows of unequal lengths")
        self._allocate_wallets(max(FIRST_WALLETS, 2 * len(names)))
        self._allocate_positions(max(FIRST_POSITIONS, 2 * position_count))
        self.wallet_names[: len(names)] = names
        for name, array in (*wallets.items(), *positions.items()):
            getattr(self, name)[: len(array)] = array
        self.wallets_used, self.positions_used = len(names), position_count
        self.wallet_of = {str(name): row for row, name in enumerate(names) if name is not None}
        self.positions_of = {str(name): [int(row) for row in rows] for name, rows in state["positions_of"].items()}
        self.free_wallets = [int(row) for row in state["free_wallets"]]
        self.free_positions = [int(row) for row in state["free_positions"]]
        self.symbols = [str(symbol) for symbol in state["symbols"]]
        self.symbol_of = {symbol: column for column, symbol in enumerate(self.symbols)}
        if set(self.positions_of) != set(self.wallet_of):
            raise SnapshotFault("futures risk positions of wallets it does not hold")
        self._version += 1

    def contents(self) -> Any:
        return self.rows()

    # --- what it holds ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.wallet_of)

    def rows(self) -> dict[str, tuple[Any, ...]]:
        """Each wallet's row by name, its positions sorted: what a rebuilt index must equal."""
        return {
            name: (
                float(self.cross_wallet[wallet]),
                bool(self.screenable[wallet]),
                sorted(
                    (
                        self.symbols[self.position_symbol[row]],
                        float(self.direction[row]),
                        float(self.quantity[row]),
                        float(self.entry[row]),
                        bool(self.isolated[row]),
                        float(self.isolated_margin[row]),
                    )
                    for row in self.positions_of[name]
                ),
            )
            for name, wallet in self.wallet_of.items()
        }

    def holders_of(self, symbol: str) -> list[str]:
        """The wallets holding a position in `symbol`, by name."""
        return sorted(str(name) for name in self.wallet_names[self._holder_rows(symbol)])

    def bytes_per_wallet(self) -> float:
        """The numeric columns' memory per wallet in use (names and dicts aside)."""
        arrays = [getattr(self, name) for name in (*_WALLET_ARRAYS[1:], *_POSITION_ARRAYS)]
        return sum(array.nbytes for array in arrays) / max(len(self.wallet_of), 1)

    def _holder_rows(self, symbol: str) -> IntArray:
        found = self.symbol_of.get(symbol)
        if found is None:
            return np.zeros(0, dtype=np.intp)
        used = self.positions_used
        holding = self.position_active[:used] & (self.position_symbol[:used] == found)
        hit = np.zeros(len(self.wallet_active), dtype=bool)
        hit[self.position_wallet[:used][holding]] = True
        return np.flatnonzero(hit)

    # --- deciding a mark --------------------------------------------------------------------

    def wallets_a_mark_may_change(self, mark: SymbolMarket.MarkRecorded, uow: UnitOfWork | None) -> list[str]:
        """Inline (`uow` given): the wallets the mark liquidates, worst first. In the
        dispatcher (no `uow`): every holder of the symbol, in name order."""
        if uow is None:
            return self.holders_of(mark.symbol)
        key = (mark.originator_id, mark.originator_version, self._version)
        if self._decided is None or self._decided[0] != key:
            self._decided = key, self.decide(mark.symbol, uow.prices(), uow.account)
        return self._decided[1].worst_first()

    def decide(self, symbol: str, prices: PriceBook, account: Callable[[str], Any]) -> FuturesMarkDecisions:
        """What a mark of `symbol`, now in `prices`, calls for: every wallet holding it screened
        by float, and those the float cannot decide evaluated exactly by the domain's rules."""
        screen = self.screen(symbol, prices)
        if screen is None:
            return FuturesMarkDecisions.empty()
        wallets, verdicts, ratios = screen
        names: list[str] = self.wallet_names[wallets].tolist()
        exact_names = [names[position] for position in np.flatnonzero(verdicts == Verdict.EXACT)]
        exact_due: dict[str, float] = {}
        for name in exact_names:
            due = liquidations_due(account(name), prices)
            if due:
                exact_due[name] = due.worst_ratio()
        return FuturesMarkDecisions(names, verdicts, ratios, exact_names, exact_due)

    def screen(self, symbol: str, prices: PriceBook) -> tuple[IntArray, npt.NDArray[np.int8], FloatArray] | None:
        """Per wallet row holding `symbol`: the float's verdict and worst ratio (module docstring)."""
        wallets = self._holder_rows(symbol)
        if not len(wallets):
            return None
        local = np.full(len(self.wallet_active), -1, dtype=np.intp)
        local[wallets] = np.arange(len(wallets))
        used = self.positions_used
        owner = local[self.position_wallet[:used]]
        rows = np.flatnonzero(self.position_active[:used] & (owner >= 0))
        owner = owner[rows]
        parts = _PositionTerms.at(self, rows, prices)
        count = len(wallets)
        blind = np.bincount(owner, weights=parts.blind, minlength=count) > 0
        blind |= ~self.screenable[wallets]
        cross = ~self.isolated[rows]
        cross_owner = owner[cross]
        cross_positions = np.bincount(cross_owner, minlength=count).astype(np.float64)
        slack = self.cross_wallet[wallets] + np.bincount(cross_owner, weights=parts.slack[cross], minlength=count)
        terms = np.abs(self.cross_wallet[wallets]) + np.bincount(
            cross_owner, weights=parts.terms[cross], minlength=count
        )
        maintenance = np.bincount(cross_owner, weights=parts.maintenance[cross], minlength=count)
        bound = bound_scale(cross_positions) * terms
        has_cross = cross_positions > 0
        liquidate = has_cross & (slack < -bound) & (maintenance > bound)
        unsure = has_cross & ~liquidate & ~(slack > bound)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(has_cross & (maintenance > 0), slack / maintenance + 1.0, np.inf)
        # Isolated positions, each against its own MM.
        isolated = ~cross
        isolated_owner = owner[isolated]
        isolated_slack = self.isolated_margin[rows[isolated]] + parts.slack[isolated]
        isolated_terms = np.abs(self.isolated_margin[rows[isolated]]) + parts.terms[isolated]
        isolated_maintenance = parts.maintenance[isolated]
        isolated_bound = bound_scale(1.0) * isolated_terms
        isolated_liquidate = (isolated_slack < -isolated_bound) & (isolated_maintenance > isolated_bound)
        isolated_unsure = ~isolated_liquidate & ~(isolated_slack > isolated_bound)
        liquidate |= np.bincount(isolated_owner, weights=isolated_liquidate.astype(np.float64), minlength=count) > 0
        unsure |= np.bincount(isolated_owner, weights=isolated_unsure.astype(np.float64), minlength=count) > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            isolated_ratio = np.where(isolated_maintenance > 0, isolated_slack / isolated_maintenance + 1.0, np.inf)
        np.minimum.at(ratios, isolated_owner, isolated_ratio)
        verdicts = np.full(count, Verdict.NOTHING, dtype=np.int8)
        verdicts[unsure] = Verdict.EXACT
        verdicts[liquidate] = Verdict.LIQUIDATE
        verdicts[blind] = Verdict.EXACT
        return wallets, verdicts, ratios


@dataclass(frozen=True)
class _PositionTerms:
    """Per position row at its symbol's mark: uPnL - MM, the sum of its terms' magnitudes,
    MM, and whether the float cannot speak for it (no mark, no symbol, a notional at a cap)."""

    slack: FloatArray
    terms: FloatArray
    maintenance: FloatArray
    blind: FloatArray  # 1.0 where blind

    @classmethod
    def at(cls, index: FuturesRisk, rows: IntArray, prices: PriceBook) -> _PositionTerms:
        size = len(rows)
        slack, terms, maintenance = np.zeros(size), np.zeros(size), np.zeros(size)
        blind = np.zeros(size)
        symbol_ids = index.position_symbol[rows]
        for symbol_id in np.unique(symbol_ids):
            chosen = np.flatnonzero(symbol_ids == symbol_id)
            name = index.symbols[int(symbol_id)]
            symbol = SymbolTerms.of(prices.parameters, name)
            mark = prices.symbol_mark(name)
            if not symbol.known or mark is None or mark <= 0:
                blind[chosen] = 1.0
                continue
            picked = rows[chosen]
            figures = _symbol_terms(
                symbol, float(mark), index.quantity[picked], index.entry[picked], index.direction[picked]
            )
            slack[chosen], terms[chosen], maintenance[chosen], blind[chosen] = figures
        return cls(slack, terms, maintenance, blind)


def _symbol_terms(
    symbol: SymbolTerms, mark: float, quantity: FloatArray, entry: FloatArray, direction: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """uPnL - MM, the magnitudes of its terms, MM, and blind (1.0: a notional at a cap) of
    positions of one symbol at its mark."""
    assert symbol.caps is not None and symbol.lower_caps is not None
    assert symbol.rates is not None and symbol.cums is not None
    if symbol.inverse:
        coins = quantity * symbol.contract_size
        at_mark = coins / mark  # the notional, in coin
        at_entry = coins / entry
        pnl = direction * (at_entry - at_mark)
    else:
        at_mark = quantity * mark
        at_entry = quantity * entry
        pnl = direction * (at_mark - at_entry)
    notional = at_mark
    bracket = np.minimum(np.searchsorted(symbol.caps, notional, side="left"), len(symbol.caps) - 1)
    rate, cum = symbol.rates[bracket], symbol.cums[bracket]
    weighted = notional * rate
    maintenance = weighted - cum
    tolerance = BRACKET_TOLERANCE * notional
    at_cap = (np.abs(notional - symbol.caps[bracket]) <= tolerance) | (
        np.abs(notional - symbol.lower_caps[bracket]) <= tolerance
    )
    return pnl - maintenance, at_mark + at_entry + weighted + cum, maintenance, at_cap.astype(np.float64)
