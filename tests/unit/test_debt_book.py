"""The debt book's rules (`ledger.domain.books`), one by one, and the proof that the
account and the takeover desk keep their books through it: a change made through the
view is a change of the owner's own dicts, the ones its snapshots store."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from ledger.domain.books import DebtBook, HourlyInterest, direct_repayments, exchange_in, take_all
from ledger.domain.margin.account import Account

H10 = datetime(2026, 1, 5, 10, tzinfo=UTC)
H11 = datetime(2026, 1, 5, 11, tzinfo=UTC)
RATES = {"USDC": D("0.0001"), "BTC": D("0.00002")}
PRECISIONS = {"USDC": 8, "BTC": 8}


def book(principal: dict[str, D], interest: dict[str, D], hours: dict[str, datetime] | None = None) -> DebtBook:
    return DebtBook(dict(principal), dict(interest), dict(hours or {}))


def test_liabilities_are_principal_plus_interest_per_asset() -> None:
    debts = book({"USDC": D(1000), "BTC": D(1)}, {"USDC": D("0.1"), "ETH": D("0.5")})
    assert debts.liabilities() == {"USDC": D("1000.1"), "BTC": D(1), "ETH": D("0.5")}
    assert debts.owed("USDC") == D("1000.1")
    assert debts.owed("XRP") == 0


def test_a_repayment_pays_interest_first() -> None:
    debts = book({"USDC": D(1000)}, {"USDC": D(3)})
    assert debts.split_repayment("USDC", D(2), held=D(50)) == (D(2), D(0))
    assert debts.split_repayment("USDC", D(10), held=D(50)) == (D(3), D(7))


def test_a_repayment_beyond_the_debt_or_the_holding_is_refused() -> None:
    debts = book({"USDC": D(1000)}, {"USDC": D(3)})
    with pytest.raises(AssertionError):
        debts.split_repayment("USDC", D(1004), held=D(2000))
    with pytest.raises(AssertionError):
        debts.split_repayment("USDC", D(20), held=D(10))


def test_the_hours_interest_is_due_once_per_asset_and_hour_rounded_half_even() -> None:
    debts = book({"USDC": D("123.45005"), "BTC": D(2)}, {}, {"BTC": H11})
    due = debts.interest_due(H11, RATES.__getitem__, PRECISIONS.__getitem__)
    assert due == [HourlyInterest("USDC", D("123.45005"), D("0.0001"), D("0.01234500"))]
    debts.accrue("USDC", due[0].amount, H11)
    assert debts.interest_due(H11, RATES.__getitem__, PRECISIONS.__getitem__) == []
    assert debts.interest == {"USDC": D("0.012345")}


def test_a_settled_debt_stops_accruing() -> None:
    debts = book({"USDC": D(100)}, {"USDC": D(1)}, {"USDC": H10})
    debts.settle("USDC", interest=D("0.5"), principal=D(0))
    assert debts.last_interest_hour == {"USDC": H10}
    debts.settle("USDC", interest=D("0.5"), principal=D(100))
    assert debts.liabilities() == {} and debts.last_interest_hour == {}


def test_taken_over_debts_accrue_again_from_the_hand_off() -> None:
    desk = book({}, {})
    desk.take_over({"USDC": D(100)}, {"USDC": D(1)}, H10)
    assert desk.liabilities() == {"USDC": D(101)} and desk.last_interest_hour == {"USDC": H10}
    assert [d.asset for d in desk.interest_due(H11, RATES.__getitem__, PRECISIONS.__getitem__)] == ["USDC"]


def test_a_cleared_book_owes_nothing() -> None:
    debts = book({"USDC": D(100)}, {"USDC": D(1)}, {"USDC": H10})
    debts.clear()
    assert debts.liabilities() == {} and debts.last_interest_hour == {}


def test_what_is_held_of_an_owed_asset_repays_it_directly() -> None:
    assert direct_repayments({"USDC": D(50), "BTC": D(1)}, {"USDC": D(80), "ETH": D(2)}) == {"USDC": D(50)}
    assert direct_repayments({"USDC": D(90)}, {"USDC": D(80)}) == {"USDC": D(80)}


def test_balance_moves_never_take_more_than_is_held() -> None:
    held = {"BTC": D(1)}
    exchange_in(held, "BTC", D(1), "USDC", D(50000))
    assert held == {"USDC": D(50000)}
    with pytest.raises(AssertionError):
        exchange_in(held, "BTC", D(1), "USDC", D(1))
    with pytest.raises(AssertionError):
        take_all(held, {"USDC": D(50001)})


def test_the_accounts_debt_book_is_a_view_over_its_own_dicts() -> None:
    account = Account(account="A", mode="cross_classic", leverage=3, pair=None, at=H10, cause={})
    account.debts.borrow("USDC", D(100))
    account.debts.accrue("USDC", D(1), H10)
    assert account.principal == {"USDC": D(100)} and account.interest == {"USDC": D(1)}
    assert account.last_interest_hour == {"USDC": H10}
    assert account.liabilities() == {"USDC": D(101)}
