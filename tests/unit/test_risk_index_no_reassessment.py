"""Issue 13: no inline re-assessment after an account event that cannot change any
decision. A deposit (or a transfer in) raises a normal account's level; a repay lowers
asset value and liabilities by the same value, which raises a classic level above 1
and leaves cross_pro's net equity as it was while its weighted liabilities fall. An
account in margin call is still assessed: the deposit may end its descent."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.domain.margin.account import Account, AccountStatus
from ledger.domain.margin.decisions import event_cannot_change_margin_decision
from ledger.domain.parameters import MarginTier, RiskParameters, default_parameter_data
from ledger.processes.margin import evaluation
from tests.conftest import LedgerSession

PARAMETERS = RiskParameters(default_parameter_data(), 1)
T10 = "2026-01-05T10:00:00Z"


def _session(tmp_path: Path) -> LedgerSession:
    session = LedgerSession(f"sqlite:///{tmp_path / 'ledger.db'}")
    session.run_lines(
        {"op": "mark", "asset": "BTC", "price": "50000", "at": T10},
        {"op": "open", "account": "C", "mode": "cross_classic", "leverage": 5},
        {"op": "deposit", "account": "C", "asset": "BTC", "amount": "1"},
        {"op": "borrow", "account": "C", "asset": "USDC", "amount": "30000"},
        {"op": "open", "account": "P", "mode": "cross_pro", "leverage": 10},
        {"op": "deposit", "account": "P", "asset": "BTC", "amount": "1"},
        {"op": "borrow", "account": "P", "asset": "USDC", "amount": "30000"},
    )
    return session


def _assessed(session: LedgerSession, monkeypatch: pytest.MonkeyPatch, *lines: dict[str, Any]) -> list[str]:
    assessed: list[str] = []
    assess = evaluation.assess_margin

    def counting_assess(uow: Any, account: Any) -> Any:
        assessed.append(account.name)
        return assess(uow, account)

    monkeypatch.setattr(evaluation, "assess_margin", counting_assess)
    session.run_lines(*lines)
    monkeypatch.setattr(evaluation, "assess_margin", assess)
    return assessed


def test_a_deposit_or_repay_into_a_normal_account_is_not_assessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = _session(tmp_path)
    assessed = _assessed(
        session,
        monkeypatch,
        {"op": "deposit", "account": "C", "asset": "USDC", "amount": "100"},
        {"op": "repay", "account": "C", "asset": "USDC", "amount": "100"},
        {"op": "deposit", "account": "P", "asset": "BTC", "amount": "0.1"},
        {"op": "repay", "account": "P", "asset": "USDC", "amount": "1000"},
    )
    assert assessed == []
    session.close()


def test_a_deposit_into_an_account_in_margin_call_is_assessed_and_ends_its_descent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = _session(tmp_path)
    # C: 1 BTC at 4000 and the 30000 USDC borrowed, against 30000 owed: ML 1.133, at or below 1.16.
    report = session.run_lines({"op": "mark", "asset": "BTC", "price": "4000", "at": "2026-01-05T10:10:00Z"})
    assert report["accounts"]["C"]["status"] == AccountStatus.MARGIN_CALL
    assessed = _assessed(session, monkeypatch, {"op": "deposit", "account": "C", "asset": "USDC", "amount": "5000"})
    assert "C" in assessed
    assert session.report()["accounts"]["C"]["status"] == AccountStatus.NORMAL
    session.close()


def _account(mode: str, status: str = AccountStatus.NORMAL) -> Account:
    account = Account(account="A", mode=mode, leverage=5, pair=None, at=None, cause={})  # type: ignore[arg-type]
    account.status = status
    return account


def _event(kind: type, **fields: Any) -> Any:
    return kind(
        originator_id=uuid.uuid4(), originator_version=2, timestamp=None, account="A", at=None, cause={}, **fields
    )


DEPOSIT = {"asset": "USDC", "amount": Decimal(1)}
REPAY = {"asset": "USDC", "interest_paid": Decimal(0), "principal_paid": Decimal(1), "liquidation_id": None}
TIER_BELOW_ONE = MarginTier("cross_classic", 5, Decimal("0.9"), Decimal("0.8"), Decimal("0.02"))


def test_the_rule_as_a_pure_function() -> None:
    tier = PARAMETERS.margin_tier("cross_classic", 5)
    classic, pro = _account("cross_classic"), _account("cross_pro")
    assert event_cannot_change_margin_decision(_event(Account.Deposited, **DEPOSIT), classic, None)
    assert event_cannot_change_margin_decision(_event(Account.Repaid, **REPAY), classic, tier)
    assert event_cannot_change_margin_decision(_event(Account.Repaid, **REPAY), pro, None)
    # A classic repay raises the level only above 1: without the tier, or with thresholds
    # below 1, it is assessed.
    assert not event_cannot_change_margin_decision(_event(Account.Repaid, **REPAY), classic, None)
    assert not event_cannot_change_margin_decision(_event(Account.Repaid, **REPAY), classic, TIER_BELOW_ONE)
    # In margin call, a deposit may end the descent.
    called = _account("cross_classic", AccountStatus.MARGIN_CALL)
    assert not event_cannot_change_margin_decision(_event(Account.Deposited, **DEPOSIT), called, tier)
    # A withdrawal lowers the level.
    withdrawn = _event(Account.Withdrawn, **DEPOSIT)
    assert not event_cannot_change_margin_decision(withdrawn, classic, tier)
