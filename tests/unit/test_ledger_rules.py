"""The spot-margin rules of domain.md, end to end: inputs applied as `ledger run` applies
them (on SQLite and on PostgreSQL), checked on the JSON report and the recorded events.

Numbers are computed by hand in each test's docstring. Unless a test says otherwise,
interest rates are 0 (the default set) and the valuation asset is USDC.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from ledger.log import stored_events
from tests.conftest import LedgerSession

T10_00 = "2026-01-05T10:00:00Z"
T10_10 = "2026-01-05T10:10:00Z"
T10_20 = "2026-01-05T10:20:00Z"
T10_25 = "2026-01-05T10:25:00Z"
T10_30 = "2026-01-05T10:30:00Z"
T10_40 = "2026-01-05T10:40:00Z"

SUPER_ILLIQUID = {"op": "params", "assets": {"SUPER": {"liquid": False, "precision": 8}}}
USDC_RATE = {"op": "params", "assets": {"USDC": {"hourly_interest": "0.0001"}}}


# --- helpers ---------------------------------------------------------------------------------------


def btc_long(account: str = "A", deposit: str = "2", leverage: int = 5) -> list[dict[str, Any]]:
    """Seed 004 user A's position: deposit 2 BTC at 50000 (100000), borrow 400000 USDC,
    buy 8 BTC at 50000. Holds 10 BTC, owes 400000 USDC; ML at price p = 10p / 400000."""
    return [
        {"op": "open", "account": account, "mode": "cross_classic", "leverage": leverage},
        {"op": "mark", "asset": "BTC", "price": "50000"},
        {"op": "deposit", "account": account, "asset": "BTC", "amount": deposit},
        {"op": "borrow", "account": account, "asset": "USDC", "amount": "400000"},
        {
            "op": "fill",
            "account": account,
            "side": "buy",
            "base": "BTC",
            "quote": "USDC",
            "quantity": "8",
            "price": "50000",
        },
    ]


def super_long(account: str = "B", deposit: str = "100000") -> list[dict[str, Any]]:
    """Seed 004 user B's position (SUPER must be declared illiquid first): deposit SUPER at 1,
    borrow 400000 USDC, buy 400000 SUPER at 1. Holds deposit + 400000 SUPER, owes 400000 USDC."""
    return [
        {"op": "open", "account": account, "mode": "cross_classic", "leverage": 5},
        {"op": "mark", "asset": "SUPER", "price": "1"},
        {"op": "deposit", "account": account, "asset": "SUPER", "amount": deposit},
        {"op": "borrow", "account": account, "asset": "USDC", "amount": "400000"},
        {
            "op": "fill",
            "account": account,
            "side": "buy",
            "base": "SUPER",
            "quote": "USDC",
            "quantity": "400000",
            "price": "1",
        },
    ]


def mark(asset: str, price: str, at: str) -> dict[str, Any]:
    return {"op": "mark", "asset": asset, "price": price, "at": at}


def book(amounts: dict[str, str]) -> dict[str, D]:
    """A report's balances/debts/interest as decimals, zero entries dropped."""
    return {asset: D(amount) for asset, amount in amounts.items() if D(amount) != 0}


def events_named(session: LedgerSession, name: str, account: str | None = None) -> list[Any]:
    return [
        event
        for event in stored_events(session.app)
        if type(event).__name__ == name and (account is None or getattr(event, "account", None) == account)
    ]


def liquidations_of(report: dict[str, Any], account: str) -> list[dict[str, Any]]:
    return [liquidation for liquidation in report["liquidations"] if liquidation["account"] == account]


def rejections_for(report: dict[str, Any], op: str) -> list[str]:
    return [rejection["error"] for rejection in report["rejections"] if rejection["op"] == op]


def assert_conserved(report: dict[str, Any]) -> None:
    assert report["conservation"] == []


# --- thresholds ------------------------------------------------------------------------------------


def test_liquidates_at_exactly_the_liquidation_level(ledger_session: LedgerSession) -> None:
    """10 BTC at 44000 = 440000; 440000 / 400000 = 1.1 <= 1.1 (cross_classic 5x): liquidated.
    Trigger records ML 1.1, threshold 1.1, BTC 44000, liabilities 400000 USDC."""
    report = ledger_session.run_lines(*btc_long(), mark("BTC", "44000", T10_20))
    [liquidation] = liquidations_of(report, "A")
    assert D(liquidation["trigger"]["margin_level"]) == D("1.1")
    assert D(liquidation["trigger"]["threshold"]) == D("1.1")
    assert D(liquidation["trigger"]["prices"]["BTC"]) == D(44000)
    assert book(liquidation["liabilities"]) == {"USDC": D(400000)}
    assert liquidation["kind"] == "regular"
    assert liquidation["status"] == "completed"
    assert_conserved(report)


def test_one_price_unit_above_the_liquidation_level_is_only_a_margin_call(ledger_session: LedgerSession) -> None:
    """10 x 44000.00000001 = 440000.0000001 > 1.1 x 400000 = 440000: no liquidation;
    440000.0000001 <= 1.16 x 400000 = 464000: margin call."""
    report = ledger_session.run_lines(*btc_long(), mark("BTC", "44000.00000001", T10_20))
    assert liquidations_of(report, "A") == []
    assert report["accounts"]["A"]["status"] == "margin_call"
    assert len(events_named(ledger_session, "MarginCallIssued", "A")) == 1


def test_margin_call_at_exactly_the_margin_call_level(ledger_session: LedgerSession) -> None:
    """10 x 46400 = 464000 = 1.16 x 400000: ML 1.16 <= 1.16, margin call.
    At 46400.00000001 the level is above 1.16: no call."""
    report = ledger_session.run_lines(*btc_long(), mark("BTC", "46400.00000001", T10_10))
    assert report["accounts"]["A"]["status"] == "normal"
    report = ledger_session.run_lines(mark("BTC", "46400", T10_20))
    assert report["accounts"]["A"]["status"] == "margin_call"
    assert D(report["accounts"]["A"]["margin_level"]) == D("1.16")


def test_margin_call_recorded_once_per_descent(ledger_session: LedgerSession) -> None:
    """46000 -> ML 1.15 (call #1); 45500 -> 1.1375 (same descent: no new call);
    47000 -> 1.175 > 1.16 (recovered, status normal); 46000 -> 1.15 (call #2)."""
    ledger_session.run_lines(*btc_long(), mark("BTC", "46000", T10_10), mark("BTC", "45500", T10_20))
    assert len(events_named(ledger_session, "MarginCallIssued", "A")) == 1
    report = ledger_session.run_lines(mark("BTC", "47000", T10_30))
    assert report["accounts"]["A"]["status"] == "normal"
    report = ledger_session.run_lines(mark("BTC", "46000", T10_40))
    assert report["accounts"]["A"]["status"] == "margin_call"
    assert len(events_named(ledger_session, "MarginCallIssued", "A")) == 2


def test_a_mark_through_both_levels_records_only_the_liquidation(ledger_session: LedgerSession) -> None:
    """50000 -> 43000 at once: ML 430000 / 400000 = 1.075, below 1.16 and 1.1.
    No MarginCallIssued; one liquidation; after the regular liquidation the account is normal."""
    report = ledger_session.run_lines(*btc_long(), mark("BTC", "43000", T10_20))
    assert events_named(ledger_session, "MarginCallIssued", "A") == []
    assert len(liquidations_of(report, "A")) == 1
    assert report["accounts"]["A"]["status"] == "normal"


# --- interest ----------------------------------------------------------------------------------------


def _usdc_borrower(amount: str, account: str = "A") -> list[dict[str, Any]]:
    """Collateral 1 BTC at 50000 (50000), then a USDC borrow of `amount` (well within 5x)."""
    return [
        {"op": "open", "account": account, "mode": "cross_classic", "leverage": 5},
        {"op": "mark", "asset": "BTC", "price": "50000"},
        {"op": "deposit", "account": account, "asset": "BTC", "amount": "1"},
        {"op": "borrow", "account": account, "asset": "USDC", "amount": amount},
    ]


def test_interest_one_hour_at_borrow_and_one_per_hour_boundary(ledger_session: LedgerSession) -> None:
    """Rate 0.0001/h; borrow 10000 at 10:30: 10000 x 0.0001 = 1 at borrowing;
    clock 12:05 crosses 11:00 and 12:00: +1 +1. Interest 3 USDC, principal 10000."""
    report = ledger_session.run_lines(
        {**USDC_RATE, "at": T10_30}, *_usdc_borrower("10000"), {"op": "clock", "at": "2026-01-05T12:05:00Z"}
    )
    assert book(report["accounts"]["A"]["interest"]) == {"USDC": D(3)}
    assert book(report["accounts"]["A"]["debts"]) == {"USDC": D(10000)}
    assert_conserved(report)


def test_interest_does_not_accrue_before_the_hour_boundary(ledger_session: LedgerSession) -> None:
    """Borrow 10000 at 10:30: 1 at borrowing; 10:59 crosses no hh:00 (still 1);
    11:00 is a full hour: +1 = 2."""
    report = ledger_session.run_lines(
        {**USDC_RATE, "at": T10_30}, *_usdc_borrower("10000"), {"op": "clock", "at": "2026-01-05T10:59:59Z"}
    )
    assert book(report["accounts"]["A"]["interest"]) == {"USDC": D(1)}
    report = ledger_session.run_lines({"op": "clock", "at": "2026-01-05T11:00:00Z"})
    assert book(report["accounts"]["A"]["interest"]) == {"USDC": D(2)}


def test_interest_rounds_half_even_each_hour(ledger_session: LedgerSession) -> None:
    """Rate 0.0001, borrow at 10:30, clock 12:05 = 3 hours.
    A borrows 123.45005: 0.012345005 per hour -> half-even 0.01234500; x3 = 0.037035.
    B borrows 123.45015: 0.012345015 per hour -> half-even 0.01234502; x3 = 0.03703506.
    (Half-up would give 0.03703503 for A.)"""
    report = ledger_session.run_lines(
        {**USDC_RATE, "at": T10_30},
        *_usdc_borrower("123.45005", "A"),
        *_usdc_borrower("123.45015", "B"),
        {"op": "clock", "at": "2026-01-05T12:05:00Z"},
    )
    assert book(report["accounts"]["A"]["interest"]) == {"USDC": D("0.037035")}
    assert book(report["accounts"]["B"]["interest"]) == {"USDC": D("0.03703506")}


def test_interest_rate_change_applies_from_its_time(ledger_session: LedgerSession) -> None:
    """Borrow 10000 at 10:30 at 0.0001: 1; 11:00: 1; rate set to 0.0002 at 11:30;
    12:00: 10000 x 0.0002 = 2. Total 4."""
    report = ledger_session.run_lines(
        {**USDC_RATE, "at": T10_30},
        *_usdc_borrower("10000"),
        {"op": "params", "assets": {"USDC": {"hourly_interest": "0.0002"}}, "at": "2026-01-05T11:30:00Z"},
        {"op": "clock", "at": "2026-01-05T12:05:00Z"},
    )
    assert book(report["accounts"]["A"]["interest"]) == {"USDC": D(4)}


# --- repayment -----------------------------------------------------------------------------------------


def test_repayment_pays_interest_first(ledger_session: LedgerSession) -> None:
    """Borrow 10000 at 0.0001: interest 1. Repay 0.5: interest 0.5, principal 10000.
    Repay 100.5: 0.5 interest + 100 principal -> interest 0, principal 9900.
    USDC balance 10000 - 0.5 - 100.5 = 9899."""
    report = ledger_session.run_lines(
        {**USDC_RATE, "at": T10_30},
        *_usdc_borrower("10000"),
        {"op": "repay", "account": "A", "asset": "USDC", "amount": "0.5"},
    )
    assert book(report["accounts"]["A"]["interest"]) == {"USDC": D("0.5")}
    assert book(report["accounts"]["A"]["debts"]) == {"USDC": D(10000)}
    report = ledger_session.run_lines({"op": "repay", "account": "A", "asset": "USDC", "amount": "100.5"})
    assert book(report["accounts"]["A"]["interest"]) == {}
    assert book(report["accounts"]["A"]["debts"]) == {"USDC": D(9900)}
    assert book(report["accounts"]["A"]["balances"])["USDC"] == D(9899)
    assert report["rejections"] == []


def test_repaying_more_than_owed_is_rejected(ledger_session: LedgerSession) -> None:
    """Owes 10000 + 1 interest = 10001; holds 10000 + 5000 deposited = 15000 USDC.
    Repay 10001.00000001 is refused (nothing changes); repay 10001 clears the debt."""
    report = ledger_session.run_lines(
        {**USDC_RATE, "at": T10_30},
        *_usdc_borrower("10000"),
        {"op": "deposit", "account": "A", "asset": "USDC", "amount": "5000"},
        {"op": "repay", "account": "A", "asset": "USDC", "amount": "10001.00000001"},
    )
    assert len(rejections_for(report, "repay")) == 1
    assert book(report["accounts"]["A"]["debts"]) == {"USDC": D(10000)}
    assert book(report["accounts"]["A"]["interest"]) == {"USDC": D(1)}
    report = ledger_session.run_lines({"op": "repay", "account": "A", "asset": "USDC", "amount": "10001"})
    assert len(rejections_for(report, "repay")) == 1
    assert book(report["accounts"]["A"]["debts"]) == {}
    assert book(report["accounts"]["A"]["interest"]) == {}
    assert book(report["accounts"]["A"]["balances"]) == {"BTC": D(1), "USDC": D(4999)}


# --- initial level: borrow and withdraw ------------------------------------------------------------------


def _at_limit_borrow(amount: str) -> list[dict[str, Any]]:
    """Rate 0.0001. Deposit 2.001 BTC at 50000 = 100050. Borrow 400000: first hour 40,
    liabilities 400040; assets 100050 + 400000 = 500050.
    5x: 500050 x 4 = 2000200 >= 400040 x 5 = 2000200: exactly at the limit."""
    return [
        {**USDC_RATE, "at": T10_30},
        {"op": "open", "account": "A", "mode": "cross_classic", "leverage": 5},
        {"op": "mark", "asset": "BTC", "price": "50000"},
        {"op": "deposit", "account": "A", "asset": "BTC", "amount": "2.001"},
        {"op": "borrow", "account": "A", "asset": "USDC", "amount": amount},
    ]


def test_borrow_exactly_at_the_initial_level_is_accepted(ledger_session: LedgerSession) -> None:
    """500050 x 4 = 2000200 = 400040 x 5: accepted; ML = 500050 / 400040 = 1.25."""
    report = ledger_session.run_lines(*_at_limit_borrow("400000"))
    assert report["rejections"] == []
    assert book(report["accounts"]["A"]["debts"]) == {"USDC": D(400000)}
    assert book(report["accounts"]["A"]["interest"]) == {"USDC": D(40)}
    assert D(report["accounts"]["A"]["margin_level"]) == D("1.25")


def test_borrow_one_unit_over_the_initial_level_is_rejected(ledger_session: LedgerSession) -> None:
    """Borrow 400000.00000001: interest 40.000000001 -> 40.00000000; liabilities 400040.00000001;
    assets 500050.00000001; 4 x assets = 2000200.00000004 < 5 x liabilities = 2000200.00000005."""
    report = ledger_session.run_lines(*_at_limit_borrow("400000.00000001"))
    assert len(rejections_for(report, "borrow")) == 1
    assert book(report["accounts"]["A"]["debts"]) == {}


def test_borrow_limit_counts_the_first_hour_of_interest(ledger_session: LedgerSession) -> None:
    """Without the 40 of interest, 400008 would pass (500058 x 4 = 2000232 >= 400008 x 5 = 2000040).
    With it: interest 400008 x 0.0001 = 40.0008; liabilities 400048.0008;
    500058 x 4 = 2000232 < 400048.0008 x 5 = 2000240.004: refused."""
    report = ledger_session.run_lines(*_at_limit_borrow("400008"))
    assert len(rejections_for(report, "borrow")) == 1


def test_withdraw_down_to_exactly_the_initial_level_is_accepted(ledger_session: LedgerSession) -> None:
    """Deposit 2.1 BTC: after the buy 10.1 BTC at 50000 = 505000 vs 400000.
    Withdraw 0.1 BTC: 500000 x 4 = 2000000 >= 400000 x 5 = 2000000: accepted."""
    report = ledger_session.run_lines(
        *btc_long(deposit="2.1"), {"op": "withdraw", "account": "A", "asset": "BTC", "amount": "0.1"}
    )
    assert report["rejections"] == []
    assert book(report["accounts"]["A"]["balances"]) == {"BTC": D(10)}


def test_withdraw_below_the_initial_level_is_rejected(ledger_session: LedgerSession) -> None:
    """At exactly 1.25 (10 BTC at 50000 vs 400000), withdrawing 0.00000001 BTC leaves
    499999.9995 x 4 = 1999999.998 < 2000000: refused, balance unchanged."""
    report = ledger_session.run_lines(
        *btc_long(), {"op": "withdraw", "account": "A", "asset": "BTC", "amount": "0.00000001"}
    )
    assert len(rejections_for(report, "withdraw")) == 1
    assert book(report["accounts"]["A"]["balances"]) == {"BTC": D(10)}


def test_transfer_out_below_the_initial_level_is_rejected(ledger_session: LedgerSession) -> None:
    """Same level rule as a withdraw: 10 BTC at 1.25 exactly, moving 0.00000001 BTC to spot is refused."""
    report = ledger_session.run_lines(
        *btc_long(),
        {"op": "open", "account": "S", "mode": "spot"},
        {"op": "transfer", "from": "A", "to": "S", "asset": "BTC", "amount": "0.00000001"},
    )
    assert len(rejections_for(report, "transfer")) == 1
    assert book(report["accounts"]["S"]["balances"]) == {}


# --- auto top-up -------------------------------------------------------------------------------------------


def _topped_up(source_deposits: list[tuple[str, str]], assets: list[str]) -> list[dict[str, Any]]:
    lines = [*btc_long("M"), {"op": "open", "account": "S", "mode": "spot"}]
    lines += [{"op": "deposit", "account": "S", "asset": a, "amount": q} for a, q in source_deposits]
    lines.append({"op": "auto_topup", "account": "M", "source": "S", "assets": assets, "target": "1.5"})
    return lines


def test_auto_topup_restores_the_target_in_rank_order(ledger_session: LedgerSession) -> None:
    """M: 10 BTC, owes 400000. Mark 46000: ML 1.15 <= 1.16. Need 1.5 x 400000 - 460000 = 140000.
    Rank BTC first: S's 1 BTC (46000) moves; still 94000 short; then 94000 USDC.
    ML = (11 x 46000 + 94000) / 400000 = 600000 / 400000 = 1.5. S keeps 200000 - 94000 = 106000 USDC."""
    report = ledger_session.run_lines(
        *_topped_up([("BTC", "1"), ("USDC", "200000")], ["BTC", "USDC"]), mark("BTC", "46000", T10_20)
    )
    assert book(report["accounts"]["M"]["balances"]) == {"BTC": D(11), "USDC": D(94000)}
    assert book(report["accounts"]["S"]["balances"]) == {"USDC": D(106000)}
    assert D(report["accounts"]["M"]["margin_level"]) == D("1.5")
    assert report["accounts"]["M"]["status"] == "normal"
    [applied] = events_named(ledger_session, "AutoTopUpApplied", "M")
    assert applied.transfers == {"BTC": D(1), "USDC": D(94000)}
    assert applied.target_reached is True
    # Once per descent (domain.md): the margin call is recorded, then the top-up lifts ML out of it.
    assert len(events_named(ledger_session, "MarginCallIssued", "M")) == 1
    assert len(events_named(ledger_session, "MarginRecovered", "M")) == 1
    assert_conserved(report)


def test_auto_topup_with_too_small_a_source_transfers_everything(ledger_session: LedgerSession) -> None:
    """Needs 140000 (as above), S holds 50000 USDC: all of it moves.
    ML = (460000 + 50000) / 400000 = 1.275 < 1.5: target not reached (but above 1.16)."""
    report = ledger_session.run_lines(*_topped_up([("USDC", "50000")], ["USDC"]), mark("BTC", "46000", T10_20))
    assert book(report["accounts"]["S"]["balances"]) == {}
    assert book(report["accounts"]["M"]["balances"]) == {"BTC": D(10), "USDC": D(50000)}
    assert D(report["accounts"]["M"]["margin_level"]) == D("1.275")
    [applied] = events_named(ledger_session, "AutoTopUpApplied", "M")
    assert applied.transfers == {"USDC": D(50000)}
    assert applied.target_reached is False


def test_auto_topup_that_cannot_help_is_recorded_as_failed(ledger_session: LedgerSession) -> None:
    """S holds only ETH, the ranked asset is USDC: nothing to move at ML 1.15.
    AutoTopUpFailed is recorded; the margin call stands."""
    report = ledger_session.run_lines(*_topped_up([("ETH", "10")], ["USDC"]), mark("BTC", "46000", T10_20))
    assert len(events_named(ledger_session, "AutoTopUpFailed", "M")) == 1
    assert events_named(ledger_session, "AutoTopUpApplied", "M") == []
    assert report["accounts"]["M"]["status"] == "margin_call"
    assert book(report["accounts"]["S"]["balances"]) == {"ETH": D(10)}


# --- regular liquidation: fee and shortfall ------------------------------------------------------------------


def test_fee_larger_than_what_remains_takes_what_remains(ledger_session: LedgerSession) -> None:
    """Mark 40500: ML 405000 / 400000 = 1.0125. Sold: 400000 / 40500 = 9.876543209... -> 9.87654321 BTC,
    proceeds 9.87654321 x 40500 = 400000.000005; 400000 repaid.
    Left: BTC 0.12345679 (x 40500 = 4999.999995) + USDC 0.000005 = 5000.
    Fee due 2% x 400000 = 8000 > 5000: fee takes USDC 0.000005 and BTC 0.12345679, value 5000."""
    report = ledger_session.run_lines(*btc_long(), mark("BTC", "40500", T10_20))
    [liquidation] = liquidations_of(report, "A")
    assert book(liquidation["fee"]["amounts"]) == {"USDC": D("0.000005"), "BTC": D("0.12345679")}
    assert D(liquidation["fee"]["value"]) == D(5000)
    assert book(report["accounts"]["A"]["balances"]) == {}
    assert book(report["accounts"]["A"]["debts"]) == {}
    assert book(report["system"]["insurance-fund"]["balances"]) == {"USDC": D("0.000005"), "BTC": D("0.12345679")}
    assert_conserved(report)


def test_shortfall_is_covered_by_the_insurance_fund_and_the_fee_is_zero(ledger_session: LedgerSession) -> None:
    """Mark 38000: 10 BTC = 380000 < 400000 owed. All 10 BTC sold for 380000 and repaid;
    20000 remains: insurance-fund pays it to the pool (its balance -20000 USDC),
    a ShortfallCovered event is recorded; fee {} / 0."""
    report = ledger_session.run_lines(*btc_long(), mark("BTC", "38000", T10_20))
    [liquidation] = liquidations_of(report, "A")
    assert liquidation["status"] == "completed"
    assert book(liquidation["shortfall"]) == {"USDC": D(20000)}
    assert liquidation["fee"]["amounts"] == {}
    assert D(liquidation["fee"]["value"]) == 0
    assert len(events_named(ledger_session, "ShortfallCovered", "A")) == 1
    assert book(report["accounts"]["A"]["balances"]) == {}
    assert book(report["accounts"]["A"]["debts"]) == {}
    assert book(report["system"]["insurance-fund"]["balances"]) == {"USDC": D(-20000)}
    assert book(report["system"]["lending-pool"]["claims"]) == {}
    assert_conserved(report)


# --- takeover --------------------------------------------------------------------------------------------


def test_takeover_sold_in_several_slices(ledger_session: LedgerSession) -> None:
    """B: 500000 SUPER, owes 400000. Mark 0.88: ML 440000 / 400000 = 1.1: taken over whole.
    Slice 1: 200000 at 0.87 = 174000 -> desk owes 226000, holds 300000 SUPER.
    Slice 2: 100000 at 0.86 = 86000 -> owes 140000, holds 200000 SUPER.
    Slice 3: offer 300000 at 0.85, the desk sells its 200000 = 170000 -> 140000 repaid, 30000 left;
    fee 2% x 400000 = 8000; returned 30000 - 8000 = 22000 USDC."""
    report = ledger_session.run_lines({**SUPER_ILLIQUID, "at": T10_00}, *super_long(), mark("SUPER", "0.88", T10_20))
    assert report["accounts"]["B"]["status"] == "taken_over"
    [liquidation] = report["liquidations"]
    assert liquidation["kind"] == "takeover"
    assert book(liquidation["desk"]["balances"]) == {"SUPER": D(500000)}

    report = ledger_session.run_lines(
        {"op": "liquidity", "asset": "SUPER", "price": "0.87", "quantity": "200000", "at": T10_25}
    )
    [liquidation] = report["liquidations"]
    assert liquidation["status"] == "in_progress"
    assert book(liquidation["desk"]["balances"]) == {"SUPER": D(300000)}
    assert book(liquidation["desk"]["liabilities"]) == {"USDC": D(226000)}
    assert report["accounts"]["B"]["status"] == "taken_over"

    report = ledger_session.run_lines(
        {"op": "liquidity", "asset": "SUPER", "price": "0.86", "quantity": "100000", "at": T10_30}
    )
    [liquidation] = report["liquidations"]
    assert book(liquidation["desk"]["balances"]) == {"SUPER": D(200000)}
    assert book(liquidation["desk"]["liabilities"]) == {"USDC": D(140000)}

    report = ledger_session.run_lines(
        {"op": "liquidity", "asset": "SUPER", "price": "0.85", "quantity": "300000", "at": T10_40}
    )
    [liquidation] = report["liquidations"]
    assert liquidation["status"] == "completed"
    assert D(liquidation["fee"]["value"]) == D(8000)
    assert book(liquidation["returned"]) == {"USDC": D(22000)}
    assert book(report["accounts"]["B"]["balances"]) == {"USDC": D(22000)}
    assert report["accounts"]["B"]["status"] == "normal"
    slices = events_named(ledger_session, "TakeoverSliceSold", "B")
    assert [(s.quantity, s.price, s.proceeds) for s in slices] == [
        (D(200000), D("0.87"), D(174000)),
        (D(100000), D("0.86"), D(86000)),
        (D(200000), D("0.85"), D(170000)),
    ]
    assert_conserved(report)


def test_liquidity_offered_before_any_takeover_lapses(ledger_session: LedgerSession) -> None:
    """1000000 SUPER of liquidity at 0.9 is offered before B is taken over: it lapses, the desk
    still holds all 500000 SUPER after the hand-off. Later 500000 at 0.87 = 435000:
    400000 repaid, fee 8000, return 27000."""
    report = ledger_session.run_lines(
        {**SUPER_ILLIQUID, "at": T10_00},
        {"op": "liquidity", "asset": "SUPER", "price": "0.9", "quantity": "1000000"},
        *super_long(),
        mark("SUPER", "0.88", T10_20),
    )
    [liquidation] = report["liquidations"]
    assert liquidation["status"] == "in_progress"
    assert book(liquidation["desk"]["balances"]) == {"SUPER": D(500000)}
    assert events_named(ledger_session, "TakeoverSliceSold") == []

    report = ledger_session.run_lines(
        {"op": "liquidity", "asset": "SUPER", "price": "0.87", "quantity": "500000", "at": T10_25}
    )
    assert book(report["accounts"]["B"]["balances"]) == {"USDC": D(27000)}


def test_two_takeovers_are_served_oldest_first(ledger_session: LedgerSession) -> None:
    """B1: 500000 SUPER / 400000 (liquidates at 0.88). B2: 550000 SUPER / 400000:
    at 0.88 ML 484000 / 400000 = 1.21 (safe); at 0.8, 440000 / 400000 = 1.1 (taken over, later).
    Liquidity 600000 at 0.9: B1 (older) sells all 500000 = 450000 -> 400000 repaid, fee 8000,
    returns 42000; B2 gets the other 100000 = 90000 -> owes 310000, holds 450000.
    (Newest first would have sold 550000 of B2's and only 50000 of B1's.)"""
    report = ledger_session.run_lines(
        {**SUPER_ILLIQUID, "at": T10_00},
        *super_long("B1", "100000"),
        *super_long("B2", "150000"),
        mark("SUPER", "0.88", T10_10),
        mark("SUPER", "0.8", T10_20),
    )
    assert report["accounts"]["B1"]["status"] == "taken_over"
    assert report["accounts"]["B2"]["status"] == "taken_over"

    report = ledger_session.run_lines(
        {"op": "liquidity", "asset": "SUPER", "price": "0.9", "quantity": "600000", "at": T10_30}
    )
    [first] = liquidations_of(report, "B1")
    [second] = liquidations_of(report, "B2")
    assert first["status"] == "completed"
    assert book(first["returned"]) == {"USDC": D(42000)}
    assert second["status"] == "in_progress"
    assert book(second["desk"]["balances"]) == {"SUPER": D(450000)}
    assert book(second["desk"]["liabilities"]) == {"USDC": D(310000)}
    assert_conserved(report)


def test_interest_keeps_accruing_on_liabilities_handed_to_the_desk(ledger_session: LedgerSession) -> None:
    """Rate 0.0001. B deposits 100100 SUPER, borrows 400000 at 10:00 (interest 40; check
    500100 x 4 = 2000400 >= 400040 x 5 = 2000200), buys 400000 SUPER: 500100 SUPER.
    Mark 0.8 at 10:20: ML 400080 / 400040 <= 1.1, taken over with 400000 + 40 owed.
    11:00 and 12:00 on the desk: +40 +40 -> 400120 owed.
    Liquidity 500100 at 0.9 at 12:05 = 450090; repay 400120; fee 2% x 400040 = 8000.8;
    return 450090 - 400120 - 8000.8 = 41969.2."""
    report = ledger_session.run_lines(
        {**SUPER_ILLIQUID, "assets": {**SUPER_ILLIQUID["assets"], **USDC_RATE["assets"]}, "at": T10_00},
        *super_long("B", "100100"),
        mark("SUPER", "0.8", T10_20),
        {"op": "clock", "at": "2026-01-05T12:05:00Z"},
    )
    [liquidation] = report["liquidations"]
    assert book(liquidation["liabilities"]) == {"USDC": D(400040)}
    assert book(liquidation["desk"]["liabilities"]) == {"USDC": D(400120)}
    report = ledger_session.run_lines({"op": "liquidity", "asset": "SUPER", "price": "0.9", "quantity": "500100"})
    [liquidation] = report["liquidations"]
    assert D(liquidation["fee"]["value"]) == D("8000.8")
    assert book(report["accounts"]["B"]["balances"]) == {"USDC": D("41969.2")}
    assert_conserved(report)


# --- the lock during a liquidation -------------------------------------------------------------------------


def test_locked_account_refuses_borrow_withdraw_transfer_out_and_trade(ledger_session: LedgerSession) -> None:
    """B is taken over at 0.88; while the desk holds its assets, borrow, withdraw, transfer out
    and fill are refused with an error naming the lock."""
    report = ledger_session.run_lines(
        {**SUPER_ILLIQUID, "at": T10_00},
        *super_long(),
        {"op": "open", "account": "S", "mode": "spot"},
        {"op": "deposit", "account": "S", "asset": "USDC", "amount": "5000"},
        mark("SUPER", "0.88", T10_20),
        {"op": "deposit", "account": "B", "asset": "USDC", "amount": "1000"},
        {"op": "borrow", "account": "B", "asset": "USDC", "amount": "1"},
        {"op": "withdraw", "account": "B", "asset": "USDC", "amount": "1"},
        {"op": "transfer", "from": "B", "to": "S", "asset": "USDC", "amount": "1"},
        {
            "op": "fill",
            "account": "B",
            "side": "buy",
            "base": "BTC",
            "quote": "USDC",
            "quantity": "0.001",
            "price": "50000",
        },
    )
    for op in ("borrow", "withdraw", "transfer", "fill"):
        [error] = rejections_for(report, op)
        assert "locked" in error, (op, error)
        assert report["liquidations"][0]["id"] in error, (op, error)
    assert book(report["accounts"]["B"]["balances"]) == {"USDC": D(1000)}


def test_deposit_and_transfer_in_while_locked_stay_the_users(ledger_session: LedgerSession) -> None:
    """During B's takeover: deposit 1000 USDC and a 500 USDC transfer in from S are accepted.
    Liquidity 500000 at 0.87 = 435000; 400000 repaid; fee 8000; return 27000.
    B ends with 27000 + 1000 + 500 = 28500 USDC."""
    report = ledger_session.run_lines(
        {**SUPER_ILLIQUID, "at": T10_00},
        *super_long(),
        {"op": "open", "account": "S", "mode": "spot"},
        {"op": "deposit", "account": "S", "asset": "USDC", "amount": "5000"},
        mark("SUPER", "0.88", T10_20),
        {"op": "deposit", "account": "B", "asset": "USDC", "amount": "1000"},
        {"op": "transfer", "from": "S", "to": "B", "asset": "USDC", "amount": "500"},
        {"op": "liquidity", "asset": "SUPER", "price": "0.87", "quantity": "500000", "at": T10_25},
    )
    assert report["rejections"] == []
    [liquidation] = report["liquidations"]
    assert book(liquidation["returned"]) == {"USDC": D(27000)}
    assert book(report["accounts"]["B"]["balances"]) == {"USDC": D(28500)}
    assert report["accounts"]["B"]["status"] == "normal"
    assert_conserved(report)


# --- parameter changes -------------------------------------------------------------------------------------


def test_raised_liquidation_threshold_liquidates_from_the_change(ledger_session: LedgerSession) -> None:
    """Mark 45000 at 10:10: ML 450000 / 400000 = 1.125 > 1.1: only a margin call.
    At 10:30 the 5x liquidation level becomes 1.13 (version 2): 1.125 <= 1.13, liquidated then,
    with threshold 1.13, parameters version 2, prices BTC 45000."""
    report = ledger_session.run_lines(*btc_long(), mark("BTC", "45000", T10_10))
    assert report["accounts"]["A"]["status"] == "margin_call"
    assert report["liquidations"] == []
    report = ledger_session.run_lines(
        {"op": "params", "margin": {"cross_classic": {"5": {"liquidation": "1.13"}}}, "at": T10_30}
    )
    [liquidation] = report["liquidations"]
    assert D(liquidation["trigger"]["threshold"]) == D("1.13")
    assert D(liquidation["trigger"]["margin_level"]) == D("1.125")
    assert liquidation["trigger"]["parameters_version"] == 2
    assert liquidation["trigger"]["at"] == T10_30
    assert D(liquidation["trigger"]["prices"]["BTC"]) == D(45000)


def test_lowered_liquidation_threshold_spares_the_default_level(ledger_session: LedgerSession) -> None:
    """5x liquidation level set to 1.05 at 10:00 (version 2). Mark 44000: ML 1.1 > 1.05:
    margin call only (the default 1.1 would liquidate). Mark 42000: 420000 / 400000 = 1.05:
    liquidated with threshold 1.05, version 2."""
    report = ledger_session.run_lines(
        {"op": "params", "margin": {"cross_classic": {"5": {"liquidation": "1.05"}}}, "at": T10_00},
        *btc_long(),
        mark("BTC", "44000", T10_20),
    )
    assert report["liquidations"] == []
    assert report["accounts"]["A"]["status"] == "margin_call"
    report = ledger_session.run_lines(mark("BTC", "42000", T10_30))
    [liquidation] = report["liquidations"]
    assert D(liquidation["trigger"]["threshold"]) == D("1.05")
    assert liquidation["trigger"]["parameters_version"] == 2


# --- isolated and cross_pro ----------------------------------------------------------------------------------


def test_isolated_account_refuses_assets_outside_its_pair(ledger_session: LedgerSession) -> None:
    """I is isolated BTC/USDC: an ETH deposit, an ETH transfer in, an ETH borrow and an
    ETH/USDC fill are refused; a BTC deposit is accepted."""
    report = ledger_session.run_lines(
        {"op": "open", "account": "I", "mode": "isolated", "leverage": 5, "pair": "BTC/USDC"},
        {"op": "open", "account": "S", "mode": "spot"},
        {"op": "mark", "asset": "BTC", "price": "50000"},
        {"op": "mark", "asset": "ETH", "price": "3000"},
        {"op": "deposit", "account": "S", "asset": "ETH", "amount": "1"},
        {"op": "deposit", "account": "I", "asset": "BTC", "amount": "1"},
        {"op": "deposit", "account": "I", "asset": "ETH", "amount": "1"},
        {"op": "transfer", "from": "S", "to": "I", "asset": "ETH", "amount": "1"},
        {"op": "borrow", "account": "I", "asset": "ETH", "amount": "1"},
        {"op": "fill", "account": "I", "side": "buy", "base": "ETH", "quote": "USDC", "quantity": "1", "price": "3000"},
    )
    assert [r["op"] for r in report["rejections"]] == ["deposit", "transfer", "borrow", "fill"]
    assert book(report["accounts"]["I"]["balances"]) == {"BTC": D(1)}
    assert book(report["accounts"]["S"]["balances"]) == {"ETH": D(1)}


def test_isolated_5x_uses_its_own_thresholds(ledger_session: LedgerSession) -> None:
    """Isolated BTC/USDC 5x (call 1.19, liquidation 1.15), 10 BTC vs 400000:
    47600 -> 476000 / 400000 = 1.19: margin call; 46000.00000001 -> above 1.15: still only a call;
    46000 -> 1.15: liquidated with threshold 1.15."""
    lines = btc_long("I")
    lines[0] = {"op": "open", "account": "I", "mode": "isolated", "leverage": 5, "pair": "BTC/USDC"}
    report = ledger_session.run_lines(*lines, mark("BTC", "47600", T10_10), mark("BTC", "46000.00000001", T10_20))
    assert report["accounts"]["I"]["status"] == "margin_call"
    assert report["liquidations"] == []
    report = ledger_session.run_lines(mark("BTC", "46000", T10_30))
    [liquidation] = report["liquidations"]
    assert D(liquidation["trigger"]["threshold"]) == D("1.15")


def _pro_long() -> list[dict[str, Any]]:
    """P cross_pro 10x: deposit 2 BTC at 50000, borrow 400000 (500000 x 9 >= 400000 x 10),
    buy 8 BTC: 10 BTC vs 400000. ML_pro at p = (10p - 400000) / (400000 x 0.05 = 20000)."""
    lines = btc_long("P", leverage=10)
    lines[0] = {"op": "open", "account": "P", "mode": "cross_pro", "leverage": 10}
    return lines


def test_cross_pro_margin_call_uses_the_pro_level(ledger_session: LedgerSession) -> None:
    """At 44000: ML_pro = 40000 / 20000 = 2 > 1.5: no call (the classic 1.1 would be <= 1.5).
    At 43000: ML_pro = 30000 / 20000 = 1.5 <= 1.5: margin call."""
    report = ledger_session.run_lines(*_pro_long(), mark("BTC", "44000", T10_10))
    assert report["accounts"]["P"]["status"] == "normal"
    assert D(report["accounts"]["P"]["margin_level"]) == D(2)
    report = ledger_session.run_lines(mark("BTC", "43000", T10_20))
    assert report["accounts"]["P"]["status"] == "margin_call"
    assert D(report["accounts"]["P"]["margin_level"]) == D("1.5")


def test_cross_pro_liquidates_at_pro_level_one(ledger_session: LedgerSession) -> None:
    """At 42000: ML_pro = 20000 / 20000 = 1 <= 1.0 (classic would be 1.05 > 1.0).
    Sold 400000 / 42000 = 9.5238095238... -> 9.52380953 BTC for 400000.00026; 400000 repaid.
    Left USDC 0.00026, BTC 0.47619047. Fee 3% x 400000 = 12000: USDC 0.00026, then
    11999.99974 / 42000 = 0.2857142795... -> 0.28571427 BTC; value 0.00026 + 11999.99934 = 11999.9996.
    User keeps 0.47619047 - 0.28571427 = 0.1904762 BTC."""
    report = ledger_session.run_lines(*_pro_long(), mark("BTC", "42000", T10_20))
    [liquidation] = report["liquidations"]
    assert D(liquidation["trigger"]["margin_level"]) == D(1)
    assert D(liquidation["trigger"]["threshold"]) == D(1)
    assert book(liquidation["fee"]["amounts"]) == {"USDC": D("0.00026"), "BTC": D("0.28571427")}
    assert D(liquidation["fee"]["value"]) == D("11999.9996")
    assert book(report["accounts"]["P"]["balances"]) == {"BTC": D("0.1904762")}
    assert_conserved(report)


# --- more edges ------------------------------------------------------------------------------------------------


def test_an_hour_of_interest_can_trigger_the_liquidation(ledger_session: LedgerSession) -> None:
    """Borrow at 10:00 at rate 0 (10 BTC vs 400000). Rate 0.001 from 10:05. Mark 44044 at 10:10:
    ML 440440 / 400000 = 1.1011 > 1.1. At 11:00: 400000 x 0.001 = 400 interest, liabilities 400400;
    440440 / 400400 = 1.1 <= 1.1: liquidated at 11:00 with liabilities 400400 USDC."""
    report = ledger_session.run_lines(
        {"op": "clock", "at": T10_00},
        *btc_long(),
        {"op": "params", "assets": {"USDC": {"hourly_interest": "0.001"}}, "at": "2026-01-05T10:05:00Z"},
        mark("BTC", "44044", T10_10),
    )
    assert report["liquidations"] == []
    report = ledger_session.run_lines({"op": "clock", "at": "2026-01-05T11:00:00Z"})
    [liquidation] = report["liquidations"]
    assert liquidation["trigger"]["at"] == "2026-01-05T11:00:00Z"
    assert D(liquidation["trigger"]["margin_level"]) == D("1.1")
    assert book(liquidation["liabilities"]) == {"USDC": D(400400)}


def test_takeover_fee_is_capped_at_the_proceeds_left(ledger_session: LedgerSession) -> None:
    """B taken over at 0.88 (500000 SUPER, owes 400000). Liquidity 500000 at 0.81 = 405000;
    400000 repaid; 5000 left < fee 8000: the fee is 5000 USDC, nothing is returned."""
    report = ledger_session.run_lines(
        {**SUPER_ILLIQUID, "at": T10_00},
        *super_long(),
        mark("SUPER", "0.88", T10_20),
        {"op": "liquidity", "asset": "SUPER", "price": "0.81", "quantity": "500000", "at": T10_25},
    )
    [liquidation] = report["liquidations"]
    assert liquidation["status"] == "completed"
    assert book(liquidation["fee"]["amounts"]) == {"USDC": D(5000)}
    assert D(liquidation["fee"]["value"]) == D(5000)
    assert book(liquidation["returned"]) == {}
    assert book(report["accounts"]["B"]["balances"]) == {}
    assert report["accounts"]["B"]["status"] == "normal"
    assert_conserved(report)


def test_takeover_shortfall_is_covered_and_the_fee_is_zero(ledger_session: LedgerSession) -> None:
    """Liquidity 500000 at 0.7 = 350000 < 400000: 350000 repaid, the insurance fund covers 50000;
    fee 0; nothing returned."""
    report = ledger_session.run_lines(
        {**SUPER_ILLIQUID, "at": T10_00},
        *super_long(),
        mark("SUPER", "0.88", T10_20),
        {"op": "liquidity", "asset": "SUPER", "price": "0.7", "quantity": "500000", "at": T10_25},
    )
    [liquidation] = report["liquidations"]
    assert liquidation["status"] == "completed"
    assert book(liquidation["shortfall"]) == {"USDC": D(50000)}
    assert D(liquidation["fee"]["value"]) == 0
    assert book(liquidation["returned"]) == {}
    assert book(report["system"]["insurance-fund"]["balances"]) == {"USDC": D(-50000)}
    assert book(report["system"]["takeover-desk"]["debts"]) == {}
    assert_conserved(report)


def test_borrow_against_unpriced_collateral_is_a_rejection_and_the_run_goes_on(
    ledger_session: LedgerSession,
) -> None:
    """ETH has no mark, so the level after the borrow cannot be shown to be >= 1.25: the borrow is
    refused by a business rule (a rejection, listed in the report), and the next line still applies."""
    report = ledger_session.run_lines(
        {"op": "open", "account": "A", "mode": "cross_classic", "leverage": 5, "at": T10_00},
        {"op": "deposit", "account": "A", "asset": "ETH", "amount": "1"},
        {"op": "borrow", "account": "A", "asset": "USDC", "amount": "100"},
        {"op": "deposit", "account": "A", "asset": "BTC", "amount": "1"},
    )
    assert len(rejections_for(report, "borrow")) == 1
    assert book(report["accounts"]["A"]["debts"]) == {}
    assert book(report["accounts"]["A"]["balances"]) == {"ETH": D(1), "BTC": D(1)}


def test_a_short_is_liquidated_on_the_mark_of_the_borrowed_asset(ledger_session: LedgerSession) -> None:
    """Deposit 16000 USDC, borrow 1 BTC at 50000 ((16000 + 50000) x 4 = 264000 >= 50000 x 5 = 250000),
    sell it for 50000: holds 66000 USDC, owes 1 BTC. Mark BTC 60000: ML 66000 / 60000 = 1.1: liquidated.
    60000 USDC buys back 1 BTC and repays it; fee 2% x 60000 = 1200 USDC; user keeps 4800 USDC."""
    report = ledger_session.run_lines(
        {"op": "open", "account": "A", "mode": "cross_classic", "leverage": 5, "at": T10_00},
        {"op": "mark", "asset": "BTC", "price": "50000"},
        {"op": "deposit", "account": "A", "asset": "USDC", "amount": "16000"},
        {"op": "borrow", "account": "A", "asset": "BTC", "amount": "1"},
        {
            "op": "fill",
            "account": "A",
            "side": "sell",
            "base": "BTC",
            "quote": "USDC",
            "quantity": "1",
            "price": "50000",
        },
        mark("BTC", "60000", T10_20),
    )
    [liquidation] = report["liquidations"]
    assert book(liquidation["liabilities"]) == {"BTC": D(1)}
    assert D(liquidation["fee"]["value"]) == D(1200)
    assert book(report["accounts"]["A"]["balances"]) == {"USDC": D(4800)}
    assert book(report["accounts"]["A"]["debts"]) == {}
    assert report["accounts"]["A"]["margin_level"] == "999"
    assert_conserved(report)


def test_a_fill_is_evaluated_and_can_trigger_the_liquidation(ledger_session: LedgerSession) -> None:
    """Mark 45000: ML 1.125 (margin call). Sell 1 BTC at 35000: 9 x 45000 + 35000 = 440000;
    440000 / 400000 = 1.1: liquidated by the fill. 35000 USDC repays directly, 365000 left:
    365000 / 45000 = 8.1111... -> 8.11111112 BTC sold for 365000.0004. Left BTC 0.88888888, USDC 0.0004.
    Fee 8000: USDC 0.0004, then 7999.9996 / 45000 = 0.17777776 BTC; value 7999.9996.
    User keeps 0.88888888 - 0.17777776 = 0.71111112 BTC."""
    report = ledger_session.run_lines(
        *btc_long(),
        mark("BTC", "45000", T10_10),
        {
            "op": "fill",
            "account": "A",
            "side": "sell",
            "base": "BTC",
            "quote": "USDC",
            "quantity": "1",
            "price": "35000",
            "at": T10_20,
        },
    )
    [liquidation] = report["liquidations"]
    assert D(liquidation["trigger"]["margin_level"]) == D("1.1")
    assert liquidation["trigger"]["at"] == T10_20
    assert book(liquidation["fee"]["amounts"]) == {"USDC": D("0.0004"), "BTC": D("0.17777776")}
    assert D(liquidation["fee"]["value"]) == D("7999.9996")
    assert book(report["accounts"]["A"]["balances"]) == {"BTC": D("0.71111112")}
    assert_conserved(report)
