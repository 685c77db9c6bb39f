"""Margin rules as pure functions: valuation, margin level, initial level, thresholds.

Every comparison with a threshold is made on exact values (cross-multiplied),
never on a rounded level: `level <= threshold` is `assets <= threshold * liabilities`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ledger.domain.money import (
    ZERO,
    ceiling_quotient,
    exact_product,
    exact_quotient,
    normalized,
    round_down,
    round_half_even,
)
from ledger.domain.parameters import MarginTier
from ledger.domain.prices import MissingPrice, PriceBook
from ledger.domain.product import AccountMode

NO_DEBT_LEVEL = Decimal(999)
LEVEL_REPORT_PLACES = 12


@dataclass(frozen=True)
class MarginPosition:
    """What a margin account holds and owes, valued at one set of marks."""

    mode: str
    asset_value: Decimal
    liability_value: Decimal  # principal and accrued interest
    pro_weighted_liability_value: Decimal  # sum of liability value x token MMR

    @property
    def net_equity(self) -> Decimal:
        return self.asset_value - self.liability_value

    def level_terms(self) -> tuple[Decimal, Decimal]:
        """(numerator, denominator) of the level that the mode's thresholds apply to."""
        if self.mode == AccountMode.CROSS_PRO:
            return self.net_equity, self.pro_weighted_liability_value
        return self.asset_value, self.liability_value

    def level(self) -> Decimal:
        """Margin Level (classic) or ML_pro (cross_pro); 999 without debt."""
        numerator, denominator = self.level_terms()
        if denominator <= 0:
            return NO_DEBT_LEVEL
        return exact_quotient(numerator, denominator)

    def is_at_or_below(self, threshold: Decimal) -> bool:
        numerator, denominator = self.level_terms()
        if denominator <= 0:
            return False
        return numerator <= exact_product(threshold, denominator)

    def is_at_or_below_margin_call(self, tier: MarginTier) -> bool:
        return self.is_at_or_below(tier.margin_call)

    def is_at_or_below_liquidation(self, tier: MarginTier) -> bool:
        return self.is_at_or_below(tier.liquidation)


def level_weights(mode: str) -> tuple[int, int, int]:
    """The level's terms as weights of (asset value A, liability value L, weighted
    liabilities W = sum(L x mmr)): numerator A - e.L, denominator l.L + w.W, as
    (e, l, w): classic (0, 1, 0), A / L; Pro (1, 0, 1), (A - L) / W (`level_terms`)."""
    if mode == AccountMode.CROSS_PRO:
        return 1, 0, 1
    return 0, 1, 0


def margin_position(
    mode: str,
    balances: Mapping[str, Decimal],
    liabilities: Mapping[str, Decimal],
    prices: PriceBook,
) -> MarginPosition:
    """Values an account's balances and liabilities (principal + interest) at the marks."""
    weighted = sum(
        (
            exact_product(prices.value(asset, amount), prices.parameters.asset(asset).pro_mmr)
            for asset, amount in liabilities.items()
        ),
        ZERO,
    )
    return MarginPosition(
        mode=mode,
        asset_value=prices.total_value(balances),
        liability_value=prices.total_value(liabilities),
        pro_weighted_liability_value=weighted,
    )


def initial_level(leverage: int) -> Decimal:
    """The level a borrow or withdrawal may not go below: L / (L - 1)."""
    return exact_quotient(Decimal(leverage), Decimal(leverage - 1))


def within_initial_level(asset_value: Decimal, liability_value: Decimal, leverage: int) -> bool:
    """asset value x (L - 1) >= liabilities x L: exactly at the initial level is allowed."""
    return exact_product(asset_value, Decimal(leverage - 1)) >= exact_product(liability_value, Decimal(leverage))


def reported_level(level: Decimal) -> Decimal:
    """A level as reports show it: 12 decimal places, half-even."""
    return round_half_even(level, LEVEL_REPORT_PLACES)


def liquidation_fee_value(fee_rate: Decimal, liabilities_value: Decimal, valuation_precision: int) -> Decimal:
    """fee rate x total liabilities at the trigger, in the valuation asset, rounded down."""
    return round_down(exact_product(fee_rate, liabilities_value), valuation_precision)


def collateral_value_to_reach(position: MarginPosition, target: Decimal) -> Decimal:
    """How much collateral value an account needs to add to reach `target` level."""
    numerator, denominator = position.level_terms()
    needed = exact_product(target, denominator) - numerator
    return max(needed, ZERO)


# What an auto top-up comes to: the target reached, some moved short of it, nothing moved.
TOP_UP_APPLIED, TOP_UP_PARTIAL, TOP_UP_FAILED = "applied", "partial", "failed"


@dataclass(frozen=True)
class TopUpPlan:
    """The transfers an auto top-up makes, the position they leave, and why it ends there."""

    transfers: dict[str, Decimal]
    position: MarginPosition
    target_reached: bool
    outcome: str  # TOP_UP_APPLIED, TOP_UP_PARTIAL or TOP_UP_FAILED
    reason: str


def plan_auto_topup(
    mode: str,
    balances: Mapping[str, Decimal],
    liabilities: Mapping[str, Decimal],
    prices: PriceBook,
    *,
    source: str,
    source_balances: Mapping[str, Decimal],
    ranked: Sequence[str],
    pair: Sequence[str] | None,
    target: Decimal,
) -> TopUpPlan:
    """Transfers from the source, asset by asset in rank order, until the level reaches
    `target` or the source has nothing usable left. Each amount is rounded up (enough to
    reach the target) but never beyond what the source holds. A ranked asset it cannot use
    (outside an isolated pair, unmarked, not held) is skipped and named in the reason."""
    held = dict(balances)
    position = margin_position(mode, held, liabilities, prices)
    transfers: dict[str, Decimal] = {}
    notes: list[str] = []
    for asset in ranked:
        needed_value = collateral_value_to_reach(position, target)
        if needed_value <= 0:
            break
        quantity, note = _top_up_quantity(asset, needed_value, prices, source, source_balances, pair)
        if note:
            notes.append(note)
        if quantity > 0:
            transfers[asset] = quantity
            held[asset] = held.get(asset, ZERO) + quantity
            position = margin_position(mode, held, liabilities, prices)
    reached = collateral_value_to_reach(position, target) == 0
    return TopUpPlan(
        transfers, position, reached, *_top_up_outcome(transfers, position, reached, notes, source, target)
    )


def _top_up_quantity(
    asset: str,
    needed_value: Decimal,
    prices: PriceBook,
    source: str,
    source_balances: Mapping[str, Decimal],
    pair: Sequence[str] | None,
) -> tuple[Decimal, str]:
    """(how much of `asset` to move, a note when it cannot give all that is needed)."""
    if pair is not None and asset not in pair:
        return ZERO, f"{asset} is outside the pair {'/'.join(pair)}"
    available = source_balances.get(asset, ZERO)
    if available <= 0:
        return ZERO, f"source {source} holds no {asset}"
    try:
        value_of_one = prices.value_of_one(asset)
    except MissingPrice:
        return ZERO, f"{asset} has no mark"
    wanted = ceiling_quotient(needed_value, value_of_one, prices.parameters.precision(asset))
    if wanted < available:
        return wanted, ""
    return available, f"{asset}: all {normalized(available)} moved"


def _top_up_outcome(
    transfers: dict[str, Decimal],
    position: MarginPosition,
    reached: bool,
    notes: list[str],
    source: str,
    target: Decimal,
) -> tuple[str, str]:
    level = normalized(reported_level(position.level()))
    if not transfers:
        if reached:  # a target at or below the margin-call level: nothing to do for it
            return TOP_UP_FAILED, f"nothing moved: margin level {level} already at the target {normalized(target)}"
        return TOP_UP_FAILED, f"nothing moved: {'; '.join(notes)}"
    if reached:
        return TOP_UP_APPLIED, f"target {normalized(target)} reached"
    return TOP_UP_PARTIAL, (
        f"source {source} exhausted ({'; '.join(notes)}); margin level {level} below the target {normalized(target)}"
    )
