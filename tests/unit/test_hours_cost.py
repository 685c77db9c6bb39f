"""Issue 9, part 3: an hour costs work only for the accounts that owe (and the open
takeovers), its margin evaluations included, inline and in service mode alike.

1,000 margin accounts hold collateral, one of them owes, and one liquidation is in a
takeover: the hour's interest, and the margin evaluation after it, touch those two only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.domain.margin.account import Account
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.market import Clock
from ledger.processes.indexes import ServiceIndex
from ledger.processes.margin import evaluation
from ledger.processes.margin.step import MarginStep
from ledger.processes.routing import Reaction
from tests.conftest import LedgerSession

ACCOUNTS = 1_000
T10_00 = "2026-01-05T10:00:00Z"


def _quiet_accounts(count: int) -> list[dict[str, Any]]:
    """Margin accounts that hold BTC and owe nothing (the odd ones with auto top-up on)."""
    lines: list[dict[str, Any]] = [
        {"op": "open", "account": "S", "mode": "spot"},
        {"op": "deposit", "account": "S", "asset": "USDC", "amount": "1000"},
    ]
    for number in range(count):
        name = f"Q{number:04d}"
        lines += [
            {"op": "open", "account": name, "mode": "cross_classic", "leverage": 5},
            {"op": "deposit", "account": name, "asset": "BTC", "amount": "1"},
        ]
        if number % 2:
            lines.append({"op": "auto_topup", "account": name, "source": "S", "assets": ["USDC"]})
    return lines


def _debtor_and_takeover() -> list[dict[str, Any]]:
    """D owes 1000 USDC against 1 BTC. T (seed 004 user B's position) is liquidated at
    SUPER 0.8 and handed to the takeover desk, which has no liquidity to sell into."""
    return [
        {"op": "open", "account": "D", "mode": "cross_classic", "leverage": 5},
        {"op": "deposit", "account": "D", "asset": "BTC", "amount": "1"},
        {"op": "borrow", "account": "D", "asset": "USDC", "amount": "1000"},
        {"op": "mark", "asset": "SUPER", "price": "1"},
        {"op": "open", "account": "T", "mode": "cross_classic", "leverage": 5},
        {"op": "deposit", "account": "T", "asset": "SUPER", "amount": "100000"},
        {"op": "borrow", "account": "T", "asset": "USDC", "amount": "400000"},
        {
            "op": "fill",
            "account": "T",
            "side": "buy",
            "base": "SUPER",
            "quote": "USDC",
            "quantity": "400000",
            "price": "1",
        },
        {"op": "mark", "asset": "SUPER", "price": "0.8", "at": "2026-01-05T10:20:00Z"},
    ]


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerSession]:
    path: Path = tmp_path_factory.mktemp("hours") / "ledger.db"
    session = LedgerSession(f"sqlite:///{path}")
    session.run_lines(
        {"op": "params", "assets": {"SUPER": {"liquid": False, "precision": 8}}, "at": T10_00},
        {"op": "mark", "asset": "BTC", "price": "50000"},
        *_quiet_accounts(ACCOUNTS - 1),
        *_debtor_and_takeover(),
        {"op": "params", "assets": {"USDC": {"hourly_interest": "0.0001"}}, "at": "2026-01-05T10:30:00Z"},
    )
    report = session.report()
    assert report["accounts"]["T"]["status"] == "taken_over"
    assert sum(1 for name in report["accounts"] if name.startswith("Q")) == ACCOUNTS - 1
    yield session
    session.close()


def _takeover_id(session: LedgerSession) -> str:
    [liquidation] = session.report()["liquidations"]
    return str(liquidation["id"])


def test_an_hour_runs_interest_and_evaluations_only_for_those_who_owe(
    crowded: LedgerSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inline (`ledger run`): the reactions run and the accounts assessed for the hour,
    and the events it records, concern D and T's takeover only."""
    processes = crowded.processes
    ran: list[Reaction] = []
    assessed: list[str] = []
    run, assess = processes.run, evaluation.assess_margin

    def counting_run(uow: Any, reaction: Reaction, event: Any, cause: dict[str, Any]) -> None:
        ran.append(reaction)
        run(uow, reaction, event, cause)

    def counting_assess(uow: Any, account: Any) -> Any:
        assessed.append(account.name)
        return assess(uow, account)

    monkeypatch.setattr(processes, "run", counting_run)
    monkeypatch.setattr(evaluation, "assess_margin", counting_assess)
    before = crowded.app.recorder.max_notification_id() or 0
    crowded.run_lines({"op": "clock", "at": "2026-01-05T11:00:00Z"})

    takeover = _takeover_id(crowded)
    assert sorted((r.step, r.subject) for r in ran) == sorted(
        [
            (MarginStep.ACCRUE_INTEREST, "D"),
            (MarginStep.ACCRUE_DESK_INTEREST, takeover),
            (MarginStep.EVALUATE_MARGIN, "D"),
        ]
    )
    assert set(assessed) == {"D"}
    hour_events = [
        crowded.app.mapper.to_domain_event(n)
        for n in crowded.app.recorder.select_notifications(start=before + 1, limit=100)
    ]
    ledger_events = [e for e in hour_events if isinstance(e, (Account.Event, Liquidation.Event, Clock.Event))]
    assert sorted(type(e).__qualname__ for e in ledger_events) == [
        "Account.InterestAccrued",
        "Clock.HourBegan",
        "Liquidation.DeskInterestAccrued",
    ]
    assert {getattr(e, "account", None) for e in hour_events} <= {None, "D", "T"}


def test_the_service_fans_an_hour_out_to_those_who_owe_only(crowded: LedgerSession) -> None:
    """Service mode: the dispatcher's index, loaded from the store, answers the hour with
    interest for D and the takeover, and each of those events with (at most) D's evaluation."""
    app = crowded.app
    index = ServiceIndex.load(app)
    before = app.recorder.max_notification_id() or 0
    crowded.run_lines({"op": "clock", "at": "2026-01-05T12:00:00Z"})
    takeover = _takeover_id(crowded)
    reactions: list[tuple[str, str]] = []
    hours = 0
    for notification in app.recorder.select_notifications(start=before + 1, limit=100):
        event = app.mapper.to_domain_event(notification)
        index.observe(event)
        hours += isinstance(event, Clock.HourBegan)
        reactions += [(reaction.step, reaction.subject) for reaction in index.reactions(event)]
    assert hours == 1
    assert sorted(reactions) == sorted(
        [
            (MarginStep.ACCRUE_INTEREST, "D"),
            (MarginStep.ACCRUE_DESK_INTEREST, takeover),
            (MarginStep.EVALUATE_MARGIN, "D"),
        ]
    )
    assert not any(step == MarginStep.AUTO_TOP_UP for step, _ in reactions)
