"""Issue 9, part 2: auto top-up runs once per descent, and records its true outcome.

domain.md: the top-up runs when the margin call is triggered: the margin call is
recorded, then the top-up transfers from the source spot account, asset by asset in
rank order, until ML reaches the target or the source is empty; it is recorded as
applied (target reached), partial or failed, each with its true reason. If it lifts ML
above the margin-call level the account is normal again; otherwise it stays in margin
call and no further top-up runs until ML has recovered above the margin-call level (an
hour of interest or a deposit into the source does not start one). A line that takes
ML straight to the liquidation level starts no top-up.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from eventsourcing.persistence import StoredEvent

from ledger.domain.margin.account import Account
from ledger.domain.margin.rules import plan_auto_topup
from ledger.domain.parameters import RiskParameters, default_parameter_data
from ledger.domain.prices import Mark, PriceBook
from ledger.log import stored_events
from tests.conftest import LedgerSession
from tests.unit.test_ledger_rules import book, events_named, liquidations_of, mark

T10_00 = "2026-01-05T10:00:00Z"
T10_10 = "2026-01-05T10:10:00Z"
T10_20 = "2026-01-05T10:20:00Z"
T10_30 = "2026-01-05T10:30:00Z"
T11_00 = "2026-01-05T11:00:00Z"
T11_10 = "2026-01-05T11:10:00Z"
T11_20 = "2026-01-05T11:20:00Z"
TOP_UP_EVENTS = ("MarginCallIssued", "TransferredIn", "AutoTopUpApplied", "AutoTopUpFailed", "MarginRecovered")


def cross_classic_long(
    source_usdc: str | None,
    rate: str = "0",
    assets: tuple[str, ...] = ("USDC",),
    source_other: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """M (cross_classic 5x): 10 BTC at 50000, owes 400000 USDC; USDC's hourly rate is
    `rate` from 10:10 on. S: spot, the top-up source, target 1.5."""
    lines: list[dict[str, Any]] = [
        {"op": "open", "account": "M", "mode": "cross_classic", "leverage": 5, "at": T10_00},
        {"op": "mark", "asset": "BTC", "price": "50000"},
        {"op": "deposit", "account": "M", "asset": "BTC", "amount": "2"},
        {"op": "borrow", "account": "M", "asset": "USDC", "amount": "400000"},
        {
            "op": "fill",
            "account": "M",
            "side": "buy",
            "base": "BTC",
            "quote": "USDC",
            "quantity": "8",
            "price": "50000",
        },
        {"op": "params", "assets": {"USDC": {"hourly_interest": rate}}, "at": T10_10},
        {"op": "open", "account": "S", "mode": "spot"},
    ]
    if source_usdc is not None:
        lines.append({"op": "deposit", "account": "S", "asset": "USDC", "amount": source_usdc})
    for asset, amount in (source_other or {}).items():
        lines.append({"op": "deposit", "account": "S", "asset": asset, "amount": amount})
    lines.append({"op": "auto_topup", "account": "M", "source": "S", "assets": list(assets), "target": "1.5"})
    return lines


def story(session: LedgerSession, account: str = "M") -> list[str]:
    """The account's margin-call and top-up events, in the order recorded."""
    return [
        type(event).__name__
        for event in stored_events(session.app)
        if type(event).__name__ in TOP_UP_EVENTS and getattr(event, "account", None) == account
    ]


# --- once per descent ----------------------------------------------------------------------------


def test_an_hour_of_interest_or_a_deposit_into_the_source_starts_no_second_top_up(
    ledger_session: LedgerSession,
) -> None:
    """Mark 46000: ML 460000 / 400000 = 1.15 <= 1.16: call. Top-up: S's 2000 USDC, all it
    has (needs 1.5 x 400000 - 460000 = 140000): partial, ML 462000 / 400000 = 1.155, still
    in margin call. S then receives 100000 and an hour of interest (0.0001: 40 USDC)
    passes: ML 462000 / 400040; neither starts a top-up; S keeps 100000.
    Mark 48000: ML 482000 / 400040 = 1.2049 > 1.16, recovered. Mark 46000: a new descent:
    call, then S's 100000 moves (needs 1.5 x 400040 - 462000 = 138060): ML 562000 / 400040
    = 1.4049 > 1.16: normal again."""
    ledger_session.run_lines(*cross_classic_long("2000", rate="0.0001"), mark("BTC", "46000", T10_20))
    assert story(ledger_session) == ["MarginCallIssued", "TransferredIn", "AutoTopUpApplied"]
    report = ledger_session.run_lines(
        {"op": "deposit", "account": "S", "asset": "USDC", "amount": "100000", "at": T10_30},
        {"op": "clock", "at": T11_00},
    )
    assert book(report["accounts"]["S"]["balances"]) == {"USDC": D(100000)}
    assert book(report["accounts"]["M"]["interest"]) == {"USDC": D(40)}
    assert report["accounts"]["M"]["status"] == "margin_call"
    assert story(ledger_session) == ["MarginCallIssued", "TransferredIn", "AutoTopUpApplied"]

    report = ledger_session.run_lines(mark("BTC", "48000", T11_10), mark("BTC", "46000", T11_20))
    assert story(ledger_session) == [
        "MarginCallIssued",
        "TransferredIn",
        "AutoTopUpApplied",
        "MarginRecovered",
        "MarginCallIssued",
        "TransferredIn",
        "AutoTopUpApplied",
        "MarginRecovered",
    ]
    assert book(report["accounts"]["S"]["balances"]) == {}
    assert book(report["accounts"]["M"]["balances"]) == {"BTC": D(10), "USDC": D(102000)}
    assert report["accounts"]["M"]["status"] == "normal"
    first, second = events_named(ledger_session, "AutoTopUpApplied", "M")
    assert (first.outcome, first.transfers, first.target_reached) == ("partial", {"USDC": D(2000)}, False)
    assert (second.outcome, second.transfers, second.target_reached) == ("partial", {"USDC": D(100000)}, False)
    assert report["conservation"] == []


def test_a_top_up_that_reaches_its_target_is_not_followed_by_a_false_failure(ledger_session: LedgerSession) -> None:
    """cross_pro 10x: 2 BTC + 8 bought at 50000, owes 400000. Mark 42500: ML_pro =
    (425000 - 400000) / (0.05 x 400000) = 1.25 <= 1.5 (margin call), > 1.0. Target 1.5
    (the default): 1.5 x 20000 - 25000 = 5000 USDC move; S keeps 99500. ML_pro is then
    exactly 1.5, still at the margin-call level: the account stays in margin call, and
    neither the next hour nor the next mark runs the top-up again (no "holds none" while
    S holds 99500)."""
    lines = [
        {"op": "open", "account": "M", "mode": "cross_pro", "leverage": 10, "at": T10_00},
        {"op": "mark", "asset": "BTC", "price": "50000"},
        {"op": "deposit", "account": "M", "asset": "BTC", "amount": "2"},
        {"op": "borrow", "account": "M", "asset": "USDC", "amount": "400000"},
        {
            "op": "fill",
            "account": "M",
            "side": "buy",
            "base": "BTC",
            "quote": "USDC",
            "quantity": "8",
            "price": "50000",
        },
        {"op": "open", "account": "S", "mode": "spot"},
        {"op": "deposit", "account": "S", "asset": "USDC", "amount": "104500"},
        {"op": "auto_topup", "account": "M", "source": "S", "assets": ["USDC"]},
    ]
    report = ledger_session.run_lines(
        *lines, mark("BTC", "42500", T10_20), {"op": "clock", "at": T11_00}, mark("BTC", "42400", T11_10)
    )
    assert story(ledger_session) == ["MarginCallIssued", "TransferredIn", "AutoTopUpApplied"]
    [applied] = events_named(ledger_session, "AutoTopUpApplied", "M")
    assert (applied.outcome, applied.target_reached, applied.transfers) == ("applied", True, {"USDC": D(5000)})
    assert "reached" in applied.reason
    assert book(report["accounts"]["S"]["balances"]) == {"USDC": D(99500)}
    assert report["accounts"]["M"]["status"] == "margin_call"


def test_a_line_straight_to_the_liquidation_level_starts_no_top_up(ledger_session: LedgerSession) -> None:
    """Mark 43000: ML 430000 / 400000 = 1.075 <= 1.1: liquidated; S's 200000 stay put."""
    report = ledger_session.run_lines(*cross_classic_long("200000"), mark("BTC", "43000", T10_20))
    assert len(liquidations_of(report, "M")) == 1
    assert story(ledger_session) == []
    assert book(report["accounts"]["S"]["balances"]) == {"USDC": D(200000)}


# --- the outcome, with its true reason ---------------------------------------------------------------


def test_a_top_up_reaching_its_target_is_recorded_after_the_call_and_the_account_is_normal_again(
    ledger_session: LedgerSession,
) -> None:
    """Mark 46000: ML 460000 / 400000 = 1.15: the call is recorded, then 140000 USDC move
    (1.5 x 400000 - 460000): ML 1.5 > 1.16: applied, target reached; normal again."""
    report = ledger_session.run_lines(*cross_classic_long("200000"), mark("BTC", "46000", T10_20))
    assert story(ledger_session) == ["MarginCallIssued", "TransferredIn", "AutoTopUpApplied", "MarginRecovered"]
    [applied] = events_named(ledger_session, "AutoTopUpApplied", "M")
    assert (applied.outcome, applied.target_reached, applied.transfers) == ("applied", True, {"USDC": D(140000)})
    assert applied.reason == "target 1.5 reached"
    assert report["accounts"]["M"]["status"] == "normal"
    assert book(report["accounts"]["S"]["balances"]) == {"USDC": D(60000)}


def test_a_top_up_that_empties_the_source_is_partial_and_says_so(ledger_session: LedgerSession) -> None:
    """S holds 50000 of the 140000 needed: all of it moves, ML 510000 / 400000 = 1.275."""
    ledger_session.run_lines(*cross_classic_long("50000"), mark("BTC", "46000", T10_20))
    [applied] = events_named(ledger_session, "AutoTopUpApplied", "M")
    assert (applied.outcome, applied.target_reached) == ("partial", False)
    assert applied.reason == "source S exhausted (USDC: all 50000 moved); margin level 1.275 below the target 1.5"


def test_a_top_up_that_moves_nothing_fails_once_with_its_reason(ledger_session: LedgerSession) -> None:
    """S holds only ETH; USDC is ranked: nothing moves: failed, 'S holds no USDC'. USDC
    deposited into S afterwards, and an hour, start no top-up in this descent."""
    ledger_session.run_lines(*cross_classic_long(None, source_other={"ETH": "10"}), mark("BTC", "46000", T10_20))
    [failed] = events_named(ledger_session, "AutoTopUpFailed", "M")
    assert failed.reason == "nothing moved: source S holds no USDC"
    report = ledger_session.run_lines(
        {"op": "deposit", "account": "S", "asset": "USDC", "amount": "200000", "at": T10_30},
        {"op": "clock", "at": T11_00},
    )
    assert story(ledger_session) == ["MarginCallIssued", "AutoTopUpFailed"]
    assert book(report["accounts"]["S"]["balances"]) == {"ETH": D(10), "USDC": D(200000)}
    assert report["accounts"]["M"]["status"] == "margin_call"


def _parameters() -> RiskParameters:
    return RiskParameters(default_parameter_data(), 1)


def test_the_plan_goes_by_rank_and_names_what_it_could_not_use() -> None:
    """Isolated BTC/USDC: 1 BTC at 46000, owes 40000 USDC: ML 1.15. Needs 1.5 x 40000 -
    46000 = 14000. Ranked ETH (outside the pair: skipped), BTC (0.1 held: 4600), USDC
    (9400 of 50000): target reached."""
    prices = PriceBook({"BTC": Mark(D(46000), "USDC")}, _parameters())
    held, owed = {"BTC": D(1)}, {"USDC": D(40000)}
    plan = plan_auto_topup(
        "isolated",
        held,
        owed,
        prices,
        source="S",
        source_balances={"ETH": D(5), "BTC": D("0.1"), "USDC": D(50000)},
        ranked=["ETH", "BTC", "USDC"],
        pair=["BTC", "USDC"],
        target=D("1.5"),
    )
    assert plan.transfers == {"BTC": D("0.1"), "USDC": D(9400)}
    assert (plan.outcome, plan.target_reached, plan.reason) == ("applied", True, "target 1.5 reached")
    assert plan.position.level() == D("1.5")
    nothing = plan_auto_topup(
        "isolated",
        held,
        owed,
        prices,
        source="S",
        source_balances={"ETH": D(5)},
        ranked=["ETH", "USDC"],
        pair=["BTC", "USDC"],
        target=D("1.5"),
    )
    assert (nothing.outcome, nothing.transfers) == ("failed", {})
    assert nothing.reason == "nothing moved: ETH is outside the pair BTC/USDC; source S holds no USDC"


# --- old stores still load ---------------------------------------------------------------------------------


def test_an_auto_top_up_stored_before_outcomes_loads_with_its_outcome(ledger_session: LedgerSession) -> None:
    """An AutoTopUpApplied stored without `outcome` and `reason` (version 1) reads as
    applied when it reached its target, partial when not."""
    ledger_session.run_lines(*cross_classic_long("50000"), mark("BTC", "46000", T10_20))
    [applied] = events_named(ledger_session, "AutoTopUpApplied", "M")
    mapper = ledger_session.app.mapper
    stored = mapper.to_stored_event(applied)
    state = mapper.transcoder.decode(stored.state)
    for field in ("outcome", "reason", "class_version"):
        state.pop(field, None)
    for reached, outcome in ((False, "partial"), (True, "applied")):
        state["target_reached"] = reached
        old = StoredEvent(
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=mapper.transcoder.encode(state),
        )
        loaded = mapper.to_domain_event(old)
        assert isinstance(loaded, Account.AutoTopUpApplied)
        assert loaded.outcome == outcome
