"""The pure margin rules of domain.md ("Money", "Spot margin"), with numbers computed by hand.

Every test states its arithmetic; no store is involved.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ledger.domain.books import hourly_interest
from ledger.domain.margin.liquidation import Repayment, Sale, plan_fee, plan_settlement
from ledger.domain.margin.rules import (
    NO_DEBT_LEVEL,
    collateral_value_to_reach,
    initial_level,
    liquidation_fee_value,
    margin_position,
    reported_level,
    within_initial_level,
)
from ledger.domain.money import (
    decimal_places,
    normalized,
    round_down,
    round_half_even,
    round_up,
    unit,
)
from ledger.domain.parameters import RiskParameters, default_parameter_data, merge_parameter_data
from ledger.domain.prices import Mark, PriceBook

DEFAULTS = RiskParameters(default_parameter_data(), 1)
CROSS_5X = DEFAULTS.margin_tier("cross_classic", 5)
CROSS_PRO_10X = DEFAULTS.margin_tier("cross_pro", 10)


def prices(parameters: RiskParameters = DEFAULTS, **marks: str) -> PriceBook:
    """Marks quoted in the valuation asset (USDC)."""
    return PriceBook({asset: Mark(D(price), "USDC") for asset, price in marks.items()}, parameters)


# --- money -----------------------------------------------------------------------------


def test_unit_is_the_smallest_amount_at_a_precision() -> None:
    """8 places: 10^-8."""
    assert unit(8) == D("0.00000001")
    assert unit(0) == D("1")


def test_round_half_even_goes_to_the_even_neighbour_on_a_tie() -> None:
    """0.000000025 -> 0.00000002 (2 is even); 0.000000035 -> 0.00000004 (4 is even)."""
    assert round_half_even(D("0.000000025"), 8) == D("0.00000002")
    assert round_half_even(D("0.000000035"), 8) == D("0.00000004")
    assert round_half_even(D("0.0000000251"), 8) == D("0.00000003")


def test_round_up_covers_the_amount() -> None:
    """Sold quantities are rounded UP: 9.090909090909... -> 9.09090910."""
    assert round_up(D(400000) / D(44000), 8) == D("9.09090910")
    assert round_up(D("1.00000000"), 8) == D("1")


def test_round_down_never_gives_more() -> None:
    """Fees are rounded DOWN: 0.18181818181... -> 0.18181818; 1.000000019 -> 1.00000001."""
    assert round_down(D(8000) / D(44000), 8) == D("0.18181818")
    assert round_down(D("1.000000019"), 8) == D("1.00000001")


def test_normalized_writes_plain_decimals_without_trailing_zeros() -> None:
    assert normalized(D("22000.00000000")) == "22000"
    assert normalized(D("1E+3")) == "1000"
    assert normalized(D("0.00000500")) == "0.000005"
    assert normalized(D("0E-8")) == "0"


def test_decimal_places_counts_written_places() -> None:
    assert decimal_places(D("0.50")) == 2
    assert decimal_places(D("400000")) == 0
    assert decimal_places(D("0.000000001")) == 9


# --- valuation and margin level -------------------------------------------------------------


def test_stablecoin_without_a_mark_is_worth_one() -> None:
    """USDT is a declared stablecoin: 1000 USDT = 1000 USDC when unmarked."""
    assert prices().value("USDT", D(1000)) == D(1000)


def test_margin_level_is_asset_value_over_liabilities() -> None:
    """BTC 10 at 46000 = 460000; debt 400000 USDC; ML = 460000 / 400000 = 1.15."""
    position = margin_position("cross_classic", {"BTC": D(10)}, {"USDC": D(400000)}, prices(BTC="46000"))
    assert position.asset_value == D(460000)
    assert position.liability_value == D(400000)
    assert position.level() == D("1.15")


def test_margin_level_counts_interest_as_liability() -> None:
    """Liabilities passed in are principal + interest: 400000 + 40 = 400040;
    assets 500050 USDC; ML = 500050 / 400040 = 1.25 exactly."""
    position = margin_position("cross_classic", {"USDC": D(500050)}, {"USDC": D(400040)}, prices())
    assert position.level() == D("1.25")


def test_margin_level_without_debt_is_999() -> None:
    position = margin_position("cross_classic", {"BTC": D(1)}, {}, prices(BTC="50000"))
    assert position.level() == NO_DEBT_LEVEL == D(999)
    assert not position.is_at_or_below(D("1.1"))


def test_level_exactly_at_liquidation_threshold_is_hit() -> None:
    """BTC 10 at 44000 = 440000; 440000 / 400000 = 1.1 <= 1.1: liquidation."""
    position = margin_position("cross_classic", {"BTC": D(10)}, {"USDC": D(400000)}, prices(BTC="44000"))
    assert position.level() == D("1.1")
    assert position.is_at_or_below_liquidation(CROSS_5X)
    assert position.is_at_or_below_margin_call(CROSS_5X)


def test_level_one_price_unit_above_liquidation_threshold_is_not_hit() -> None:
    """BTC 10 at 44000.00000001 = 440000.0000001 > 1.1 x 400000 = 440000: no liquidation,
    but 440000.0000001 <= 1.16 x 400000 = 464000: margin call."""
    position = margin_position("cross_classic", {"BTC": D(10)}, {"USDC": D(400000)}, prices(BTC="44000.00000001"))
    assert not position.is_at_or_below_liquidation(CROSS_5X)
    assert position.is_at_or_below_margin_call(CROSS_5X)


def test_threshold_comparison_is_exact_not_on_a_rounded_level() -> None:
    """Assets 1.1 x 3 + 10^-27 = 3.3000...001 (27 places) over liabilities 3:
    level = 1.1 + 3.33e-28, which a 28-digit rounded level would show as 1.1.
    The exact comparison 3.3 + 1e-27 > 3.3 says: not at the threshold."""
    assets = D("3.300000000000000000000000001")
    position = margin_position("cross_classic", {"USDC": assets}, {"USDC": D(3)}, prices())
    assert not position.is_at_or_below(D("1.1"))
    assert reported_level(position.level()) == D("1.1")


def test_reported_level_has_12_places_half_even() -> None:
    """10/9 = 1.1111111111111... -> 1.111111111111."""
    assert reported_level(D(10) / D(9)) == D("1.111111111111")


# --- Cross Margin Pro ---------------------------------------------------------------------


def test_pro_level_is_net_equity_over_weighted_liabilities() -> None:
    """BTC 10 at 43000 = 430000; debt 400000 USDC x pro_mmr 0.05 = 20000;
    net equity 430000 - 400000 = 30000; ML_pro = 30000 / 20000 = 1.5."""
    position = margin_position("cross_pro", {"BTC": D(10)}, {"USDC": D(400000)}, prices(BTC="43000"))
    assert position.net_equity == D(30000)
    assert position.pro_weighted_liability_value == D(20000)
    assert position.level() == D("1.5")
    assert position.is_at_or_below_margin_call(CROSS_PRO_10X)  # 1.5 <= 1.5
    assert not position.is_at_or_below_liquidation(CROSS_PRO_10X)  # 1.5 > 1.0


def test_pro_level_liquidates_at_one_where_classic_level_would_not() -> None:
    """BTC 10 at 42000: ML_pro = (420000 - 400000) / 20000 = 1.0 <= 1.0 (liquidation);
    the classic level 420000 / 400000 = 1.05 is above 1.0 and would not liquidate."""
    position = margin_position("cross_pro", {"BTC": D(10)}, {"USDC": D(400000)}, prices(BTC="42000"))
    assert position.level() == D(1)
    assert position.is_at_or_below_liquidation(CROSS_PRO_10X)
    assert position.asset_value / position.liability_value == D("1.05")


def test_pro_level_weights_each_liability_by_its_own_token_mmr() -> None:
    """pro_mmr BTC 0.1, USDC 0.05 (default). Liabilities: 100000 USDC -> 100000 x 0.05 = 5000;
    1 BTC at 50000 -> 50000 x 0.1 = 5000; sum 10000. Assets 200000 USDC.
    Net equity 200000 - 150000 = 50000; ML_pro = 50000 / 10000 = 5."""
    parameters = RiskParameters(
        merge_parameter_data(default_parameter_data(), {"assets": {"BTC": {"pro_mmr": "0.1"}}}), 2
    )
    position = margin_position(
        "cross_pro", {"USDC": D(200000)}, {"USDC": D(100000), "BTC": D(1)}, prices(parameters, BTC="50000")
    )
    assert position.pro_weighted_liability_value == D(10000)
    assert position.level() == D(5)


# --- initial level --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leverage", "level"),
    [(3, D("1.5")), (5, D("1.25")), (10, D("1.11111111111111111111"))],
)
def test_initial_level_is_l_over_l_minus_one(leverage: int, level: D) -> None:
    """3/2 = 1.5, 5/4 = 1.25, 10/9 = 1.111... (repeating: compared at 20 places)."""
    assert round_half_even(initial_level(leverage), 20) == level


def test_exactly_at_initial_level_is_within() -> None:
    """5x: 500000 x 4 = 2000000 >= 400000 x 5 = 2000000."""
    assert within_initial_level(D(500000), D(400000), 5)


def test_one_unit_below_initial_level_is_not_within() -> None:
    """5x: 499999.99999999 x 4 = 1999999.99999996 < 2000000."""
    assert not within_initial_level(D("499999.99999999"), D(400000), 5)


def test_initial_level_at_3x_and_10x() -> None:
    """3x: 150 x 2 = 300 >= 100 x 3 = 300 (in), 149.99999999 x 2 < 300 (out).
    10x: 1000 x 9 = 9000 >= 900 x 10 = 9000 (in), 900.00000001 x 10 > 9000 (out)."""
    assert within_initial_level(D(150), D(100), 3)
    assert not within_initial_level(D("149.99999999"), D(100), 3)
    assert within_initial_level(D(1000), D(900), 10)
    assert not within_initial_level(D(1000), D("900.00000001"), 10)


# --- interest ---------------------------------------------------------------------------------


def test_hourly_interest_is_principal_times_rate() -> None:
    """10000 x 0.0001 = 1."""
    assert hourly_interest(D(10000), D("0.0001"), 8) == D(1)


def test_hourly_interest_rounds_half_even_down_to_even() -> None:
    """123.45005 x 0.0001 = 0.012345005: tie at the 9th place, 8th digit 0 is even -> 0.01234500
    (half-up would give 0.01234501)."""
    assert hourly_interest(D("123.45005"), D("0.0001"), 8) == D("0.012345")


def test_hourly_interest_rounds_half_even_up_to_even() -> None:
    """123.45015 x 0.0001 = 0.012345015: tie, 8th digit 1 is odd -> 0.01234502."""
    assert hourly_interest(D("123.45015"), D("0.0001"), 8) == D("0.01234502")


def test_hourly_interest_at_zero_rate_is_zero() -> None:
    assert hourly_interest(D(400000), D(0), 8) == D(0)


# --- liquidation fee value -----------------------------------------------------------------------


def test_liquidation_fee_value_is_rate_times_liabilities() -> None:
    """Seed 004: 2% x 400000 = 8000 USDC."""
    assert liquidation_fee_value(D("0.02"), D(400000), 8) == D(8000)


def test_liquidation_fee_value_rounds_down() -> None:
    """0.02 x 1.23456789 = 0.0246913578 -> 0.02469135 (half-even would give ...36)."""
    assert liquidation_fee_value(D("0.02"), D("1.23456789"), 8) == D("0.02469135")


# --- auto top-up need --------------------------------------------------------------------------


def test_collateral_value_to_reach_target() -> None:
    """BTC 10 at 46000 vs 400000: to reach 1.5 needs 1.5 x 400000 - 460000 = 140000."""
    position = margin_position("cross_classic", {"BTC": D(10)}, {"USDC": D(400000)}, prices(BTC="46000"))
    assert collateral_value_to_reach(position, D("1.5")) == D(140000)


def test_collateral_value_to_reach_is_zero_above_target() -> None:
    position = margin_position("cross_classic", {"BTC": D(20)}, {"USDC": D(400000)}, prices(BTC="46000"))
    assert collateral_value_to_reach(position, D("1.5")) == D(0)


# --- settlement plans ------------------------------------------------------------------------------


def test_plan_settlement_sells_quantity_rounded_up_and_proceeds_rounded_down() -> None:
    """Seed 004 user A: 10 BTC at 44000, owes 400000 USDC.
    Sold: 400000 / 44000 = 9.0909090909... -> up to 9.09090910 BTC;
    proceeds 9.0909091 x 44000 = 400000.0004 USDC; 400000 repays the debt;
    left: BTC 10 - 9.0909091 = 0.9090909, USDC 0.0004 (the user's)."""
    plan = plan_settlement({"BTC": D(10)}, {"USDC": D(400000)}, prices(BTC="44000"), {"BTC"})
    assert plan.steps == [
        Sale("BTC", D("9.09090910"), D(44000), "USDC", D("400000.0004")),
        Repayment("USDC", D(400000)),
    ]
    assert plan.remaining == {}
    assert plan.holdings_after == {"BTC": D("0.9090909"), "USDC": D("0.0004")}


def test_plan_settlement_repays_directly_from_the_liability_asset_first() -> None:
    """Holds 100 USDC and 1 BTC at 50000, owes 300 USDC: 100 repaid directly,
    then 200 / 50000 = 0.004 BTC sold for 200; left BTC 0.996."""
    plan = plan_settlement({"USDC": D(100), "BTC": D(1)}, {"USDC": D(300)}, prices(BTC="50000"), {"BTC", "USDC"})
    assert plan.steps == [
        Repayment("USDC", D(100)),
        Sale("BTC", D("0.004"), D(50000), "USDC", D(200)),
        Repayment("USDC", D(200)),
    ]
    assert plan.holdings_after == {"BTC": D("0.996")}
    assert plan.repaid_anything


def test_plan_settlement_sells_largest_value_first() -> None:
    """BTC 1 at 50000 (50000) and ETH 10 at 3000 (30000); owes 40000 USDC:
    BTC is sold first, 40000 / 50000 = 0.8 BTC; ETH untouched."""
    plan = plan_settlement(
        {"BTC": D(1), "ETH": D(10)}, {"USDC": D(40000)}, prices(BTC="50000", ETH="3000"), {"BTC", "ETH"}
    )
    assert plan.steps[0] == Sale("BTC", D("0.8"), D(50000), "USDC", D(40000))
    assert plan.holdings_after == {"BTC": D("0.2"), "ETH": D(10)}


def test_plan_settlement_leaves_what_it_cannot_repay_remaining() -> None:
    """1 BTC at 50000 against 60000 USDC: everything sold (50000), 10000 remains owed."""
    plan = plan_settlement({"BTC": D(1)}, {"USDC": D(60000)}, prices(BTC="50000"), {"BTC"})
    assert plan.remaining == {"USDC": D(10000)}
    assert plan.holdings_after == {}


def test_plan_settlement_does_not_sell_what_is_not_sellable() -> None:
    """An illiquid asset (left out of `sellable`) stays; the whole debt remains."""
    parameters = RiskParameters(
        merge_parameter_data(default_parameter_data(), {"assets": {"SUPER": {"liquid": False}}}), 2
    )
    plan = plan_settlement({"SUPER": D(500000)}, {"USDC": D(400000)}, prices(parameters, SUPER="0.88"), set())
    assert plan.steps == []
    assert plan.remaining == {"USDC": D(400000)}
    assert not plan.repaid_anything


# --- fee plans ----------------------------------------------------------------------------------------


def test_plan_fee_takes_collateral_rounded_down() -> None:
    """8000 / 44000 = 0.181818181818... -> 0.18181818 BTC, worth 0.18181818 x 44000 = 7999.99992."""
    amounts, value = plan_fee({"BTC": D("0.9090909")}, D(8000), prices(BTC="44000"))
    assert amounts == {"BTC": D("0.18181818")}
    assert value == D("7999.99992")


def test_plan_fee_takes_the_valuation_asset_first() -> None:
    """100 USDC and 1 BTC at 50000, fee 1100: 100 USDC, then 1000 / 50000 = 0.02 BTC."""
    amounts, value = plan_fee({"USDC": D(100), "BTC": D(1)}, D(1100), prices(BTC="50000"))
    assert amounts == {"USDC": D(100), "BTC": D("0.02")}
    assert value == D(1100)


def test_plan_fee_then_takes_the_largest_holding_by_value() -> None:
    """BTC 0.1 at 50000 (5000) and ETH 10 at 3000 (30000), fee 600: 600 / 3000 = 0.2 ETH."""
    amounts, value = plan_fee({"BTC": D("0.1"), "ETH": D(10)}, D(600), prices(BTC="50000", ETH="3000"))
    assert amounts == {"ETH": D("0.2")}
    assert value == D(600)


def test_plan_fee_is_capped_at_what_is_held() -> None:
    """Fee 8000 but only 10 USDC + 0.001 BTC at 50000 (= 50) are held: all of it, value 60."""
    amounts, value = plan_fee({"USDC": D(10), "BTC": D("0.001")}, D(8000), prices(BTC="50000"))
    assert amounts == {"USDC": D(10), "BTC": D("0.001")}
    assert value == D(60)
