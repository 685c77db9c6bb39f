"""The decisions of the spot-margin processes (`ledger.domain.margin.decisions`), with
seed 004's figures where they apply: user A (10 BTC against 400,000 USDC, regular),
user B (500,000 SUPER, taken over) and user C (1 BTC and 450,000 SUPER, mixed).

Every test states its arithmetic; no store is involved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from ledger.domain.margin.account import Account, AccountStatus
from ledger.domain.margin.decisions import (
    MarginAction,
    assets_to_take_over,
    desk_repayments,
    evaluated_at,
    evaluation_may_record,
    fee_to_charge,
    has_margin_level,
    liquid_assets,
    margin_action,
    regular_part_outcome,
    takeover_order,
    takeover_sales,
    top_up_target,
)
from ledger.domain.margin.liquidation import Liquidation, plan_settlement
from ledger.domain.margin.rules import margin_position
from ledger.domain.parameters import RiskParameters, default_parameter_data, merge_parameter_data
from ledger.domain.prices import Mark, PriceBook

PARAMETERS = RiskParameters(merge_parameter_data(default_parameter_data(), {"assets": {"SUPER": {"liquid": False}}}), 2)
CROSS_5X = PARAMETERS.margin_tier("cross_classic", 5)  # margin call 1.16, liquidation 1.1
AT = datetime(2026, 1, 5, 10, tzinfo=UTC)
CAUSE = {"kind": "test"}


def prices(**marks: str) -> PriceBook:
    """Marks quoted in the valuation asset (USDC)."""
    return PriceBook({asset: Mark(D(price), "USDC") for asset, price in marks.items()}, PARAMETERS)


def user_a(btc_price: str) -> object:
    """Seed 004 user A: 10 BTC held, 400,000 USDC owed (no interest)."""
    return margin_position("cross_classic", {"BTC": D(10)}, {"USDC": D(400000)}, prices(BTC=btc_price))


# --- the margin action ---------------------------------------------------------------------


def test_at_the_position_nothing_is_called_for() -> None:
    """500,000 / 400,000 = 1.25 > 1.16: a normal account stays normal."""
    assert margin_action(user_a("50000"), CROSS_5X, AccountStatus.NORMAL) is None


def test_a_descent_below_the_call_level_is_a_margin_call() -> None:
    """460,000 / 400,000 = 1.15 <= 1.16 and > 1.1: the call, once."""
    assert margin_action(user_a("46000"), CROSS_5X, AccountStatus.NORMAL) == MarginAction.MARGIN_CALL
    assert margin_action(user_a("46000"), CROSS_5X, AccountStatus.MARGIN_CALL) is None


def test_the_liquidation_threshold_liquidates_whatever_the_status() -> None:
    """Seed 004: BTC at 44,000 gives 440,000 / 400,000 = 1.1 exactly, at the threshold."""
    assert margin_action(user_a("44000"), CROSS_5X, AccountStatus.NORMAL) == MarginAction.LIQUIDATE
    assert margin_action(user_a("44000"), CROSS_5X, AccountStatus.MARGIN_CALL) == MarginAction.LIQUIDATE


def test_a_called_account_above_the_call_level_recovers() -> None:
    """Back at 50,000: 1.25 > 1.16."""
    assert margin_action(user_a("50000"), CROSS_5X, AccountStatus.MARGIN_CALL) == MarginAction.RECOVER


def test_which_accounts_an_evaluation_concerns() -> None:
    """A margin account that owes has a level to act on; one that owes nothing (and is not
    in margin call) does not; a spot account never."""
    owing = Account(account="A", mode="cross_classic", leverage=5, pair=None, at=AT, cause=CAUSE)
    owing.deposit("BTC", D(2), AT, CAUSE)
    assert not evaluation_may_record(owing)
    owing.borrow("USDC", D(1000), prices(BTC="50000"), PARAMETERS, AT, CAUSE)
    assert evaluation_may_record(owing) and has_margin_level(owing, PARAMETERS)
    spot = Account(account="S", mode="spot", leverage=None, pair=None, at=AT, cause=CAUSE)
    assert not evaluation_may_record(spot) and not has_margin_level(spot, PARAMETERS)


def test_an_evaluation_happens_when_its_newest_price_was_known() -> None:
    later = AT + timedelta(minutes=5)
    assert evaluated_at(AT, later) == later
    assert evaluated_at(later, AT) == later
    assert evaluated_at(AT, None) == AT


def test_the_top_up_target_is_the_accounts_else_the_parameters() -> None:
    assert top_up_target(D("1.8"), PARAMETERS) == D("1.8")
    assert top_up_target(None, PARAMETERS) == D("1.5")


# --- the regular part ------------------------------------------------------------------------


def test_user_a_regular_part_repays_everything() -> None:
    """9.0909091 BTC sold for 400,000.0004 USDC; 400,000 repaid; no takeover, no shortfall."""
    plan = plan_settlement({"BTC": D(10)}, {"USDC": D(400000)}, prices(BTC="44000"), {"BTC"})
    outcome = regular_part_outcome(plan, PARAMETERS)
    assert outcome.repaid == {"USDC": D(400000)}
    assert not outcome.takeover_needed
    assert outcome.shortfall == {}


def test_user_b_is_taken_over_with_nothing_sold() -> None:
    """500,000 SUPER is illiquid: nothing is sold, the whole debt goes to the desk."""
    holdings = {"SUPER": D(500000)}
    plan = plan_settlement(holdings, {"USDC": D(400000)}, prices(SUPER="0.88"), liquid_assets(holdings, PARAMETERS))
    outcome = regular_part_outcome(plan, PARAMETERS)
    assert outcome.repaid == {}
    assert outcome.takeover_needed
    assert outcome.shortfall == {}
    assert assets_to_take_over(holdings, PARAMETERS) == ["SUPER"]


def test_user_c_sells_bitcoin_then_is_taken_over() -> None:
    """1 BTC sold for 50,000 repays 50,000 of 400,000; 350,000 and the SUPER go to the desk."""
    holdings = {"BTC": D(1), "SUPER": D(450000)}
    sellable = liquid_assets(holdings, PARAMETERS)
    assert sellable == {"BTC"}
    plan = plan_settlement(holdings, {"USDC": D(400000)}, prices(BTC="50000", SUPER="0.866666667"), sellable)
    outcome = regular_part_outcome(plan, PARAMETERS)
    assert outcome.repaid == {"USDC": D(50000)}
    assert outcome.takeover_needed
    assert plan.remaining == {"USDC": D(350000)}


def test_a_debt_left_with_nothing_to_sell_is_a_shortfall() -> None:
    """1 BTC at 50,000 against 60,000 USDC: 50,000 repaid, 10,000 for the insurance fund."""
    plan = plan_settlement({"BTC": D(1)}, {"USDC": D(60000)}, prices(BTC="50000"), {"BTC"})
    outcome = regular_part_outcome(plan, PARAMETERS)
    assert not outcome.takeover_needed
    assert outcome.shortfall == {"USDC": D(10000)}


def test_the_fee_comes_from_what_is_left_and_not_after_a_shortfall() -> None:
    """User A: 8,000 / 44,000 = 0.181818181... -> 0.18181818 BTC, worth 7,999.99992."""
    assert fee_to_charge({}, {"BTC": D("0.9090909")}, D(8000), prices(BTC="44000")) == (
        {"BTC": D("0.18181818")},
        D("7999.99992"),
    )
    assert fee_to_charge({"USDC": D(1)}, {"BTC": D("0.9090909")}, D(8000), prices(BTC="44000")) == ({}, D(0))


# --- the takeover desk ---------------------------------------------------------------------------


def taken_over(account: str, super_held: str, owed: str, triggered_at: datetime, sequence: int = 1) -> Liquidation:
    """A liquidation whose desk holds `super_held` SUPER against `owed` USDC."""
    liquidation = Liquidation(
        account=account,
        sequence=sequence,
        mode="cross_classic",
        leverage=5,
        margin_level=D("1.1"),
        threshold=D("1.1"),
        prices={"SUPER": D("0.88")},
        parameters_version=2,
        balances={"SUPER": D(super_held)},
        principal={"USDC": D(owed)},
        interest={},
        liabilities_value=D(owed),
        fee_rate=D("0.02"),
        fee_value=D(8000),
        at=triggered_at,
        cause=CAUSE,
    )
    liquidation.end_regular_part(
        account=account, repaid={}, shortfall={}, takeover_needed=True, at=triggered_at, cause=CAUSE
    )
    liquidation.start_takeover(
        account=account,
        assets={"SUPER": D(super_held)},
        principal={"USDC": D(owed)},
        interest={},
        to_sell=["SUPER"],
        at=triggered_at,
        cause=CAUSE,
    )
    return liquidation


def test_user_b_sells_everything_into_enough_liquidity() -> None:
    """500,000 SUPER at 0.87 = 435,000 USDC; 400,000 of it repays the desk's debt."""
    b = taken_over("B", "500000", "400000", AT)
    [sale] = takeover_sales([b], "SUPER", D(600000), D("0.87"), 8)
    assert (sale.liquidation, sale.quantity, sale.proceeds) == (b, D(500000), D(435000))
    assert desk_repayments({"USDC": D(400000)}, {"USDC": D(435000)}) == {"USDC": D(400000)}


def test_offered_liquidity_serves_the_oldest_takeover_first() -> None:
    """C (older) holds 450,000 SUPER, B 500,000; 600,000 offered at 0.86: C sells all it
    holds (387,000 USDC), B the 150,000 left (129,000 USDC)."""
    b = taken_over("B", "500000", "400000", AT + timedelta(minutes=1))
    c = taken_over("C", "450000", "350000", AT)
    sales = takeover_sales([b, c], "SUPER", D(600000), D("0.86"), 8)
    assert [(s.liquidation.account, s.quantity, s.proceeds) for s in sales] == [
        ("C", D(450000), D(387000)),
        ("B", D(150000), D(129000)),
    ]
    assert sorted([b, c], key=takeover_order) == [c, b]


def test_a_sale_that_would_bring_in_nothing_is_skipped() -> None:
    """0.000000001 SUPER at 0.87 is worth less than a unit of USDC at 8 places: no sale."""
    b = taken_over("B", "500000", "400000", AT)
    assert takeover_sales([b], "SUPER", D("0.000000001"), D("0.87"), 8) == []
    assert takeover_sales([b], "BTC", D(1), D(50000), 8) == []  # the desk does not sell BTC for B


def test_the_desk_repays_only_what_it_holds_of_the_owed_asset() -> None:
    assert desk_repayments({"USDC": D(350000), "ETH": D(2)}, {"USDC": D(37000)}) == {"USDC": D(37000)}
