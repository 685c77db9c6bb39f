"""The numeric risk index (`ledger.processes.risk_index`, fed for margin by `MarginRisk`):
a mark is decided by float only where the error bound allows, exactly elsewhere, and
its decisions are those of evaluating every account exactly (`margin_decision`).

Accounts are built in memory through the domain's aggregates, as the benchmark does."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.domain.margin.account import Account, AccountStatus
from ledger.domain.margin.decisions import MarginAction
from ledger.domain.margin.rules import level_weights
from ledger.domain.market import AssetMarket
from ledger.domain.parameters import RiskParameters, default_parameter_data
from ledger.domain.prices import Mark, PriceBook
from ledger.log import stored_events
from ledger.processes import risk_index
from ledger.processes.indexes import ServiceIndex
from ledger.processes.inline import ProcessManager, run_inputs
from ledger.processes.margin.assessment import margin_decision
from ledger.processes.margin.indexes import MarginRisk
from ledger.processes.risk_index import LevelWeights, RiskIndex, Verdict, error_scale
from ledger.runs import validate
from ledger.unit_of_work import UnitOfWork
from tests.unit.test_mark_watch import _random_scenario

PARAMETERS = RiskParameters(default_parameter_data(), 1)
AT = datetime(2026, 1, 5, 10, tzinfo=UTC)
OPENING = {"BTC": Decimal(50000), "ETH": Decimal(3000)}


def _prices(**marks: Decimal) -> PriceBook:
    return PriceBook({asset: Mark(price, "USDC") for asset, price in {**OPENING, **marks}.items()}, PARAMETERS)


def _account(name: str, mode: str, leverage: int, held_btc: Decimal, borrowed_usdc: Decimal) -> Account:
    """Holds `held_btc` BTC and the USDC it borrowed, owes that USDC (no interest by default)."""
    account = Account(account=name, mode=mode, leverage=leverage, pair=None, at=AT, cause={})
    account.deposit("BTC", held_btc, AT, {})
    account.borrow("USDC", borrowed_usdc, _prices(BTC=Decimal(10**6)), PARAMETERS, AT, {})  # within its initial level
    account.collect_events()
    return account


def _index(accounts: list[Account]) -> MarginRisk:
    risk = MarginRisk()
    for account in accounts:
        risk.note_account(account)
    return risk


def _exact(accounts: list[Account], prices: PriceBook) -> dict[str, MarginAction]:
    decided = {account.name: margin_decision(account, prices) for account in accounts}
    return {name: decision.action for name, decision in decided.items() if decision is not None}


# --- accounts planted at the thresholds -----------------------------------------------------

MARK = Decimal(20000)
BORROWED = Decimal(10) ** 9  # large, so that the smallest unit (10^-18) is within the error bound


def _planted_classic(threshold: Decimal, unit: Decimal) -> list[Account]:
    """cross_classic 5x: (q x 20000 + b) / b = t exactly at q = b (t - 1) / 20000; and q one
    unit either side."""
    at_threshold = BORROWED * (threshold - 1) / MARK
    return [
        _account(f"{label}-{threshold}-{unit}", "cross_classic", 5, at_threshold + shift, BORROWED)
        for label, shift in (("below", -unit), ("at", Decimal(0)), ("above", unit))
    ]


def _planted_pro(threshold: Decimal, unit: Decimal) -> list[Account]:
    """cross_pro 10x: (A - L) / (L x 0.05) = q x 20000 / (0.05 b) = t at q = 0.05 b t / 20000."""
    at_threshold = Decimal("0.05") * BORROWED * threshold / MARK
    return [
        _account(f"pro-{label}-{threshold}-{unit}", "cross_pro", 10, at_threshold + shift, BORROWED)
        for label, shift in (("below", -unit), ("at", Decimal(0)), ("above", unit))
    ]


def test_accounts_at_each_threshold_take_the_exact_path_and_are_decided_right() -> None:
    tiny, btc_unit = Decimal("1E-18"), Decimal("1E-8")
    accounts = [
        *_planted_classic(Decimal("1.16"), tiny),
        *_planted_classic(Decimal("1.1"), tiny),
        *_planted_classic(Decimal("1.16"), btc_unit),
        *_planted_classic(Decimal("1.1"), btc_unit),
        *_planted_pro(Decimal("1.5"), tiny),
        *_planted_pro(Decimal("1.0"), tiny),
        *_planted_pro(Decimal("1.5"), btc_unit),
    ]
    prices = _prices(BTC=MARK)
    decisions = _index(accounts).decide("BTC", prices, {a.name: a for a in accounts}.__getitem__)

    assert decisions.actions() == _exact(accounts, prices)
    exact = set(decisions.exact_names)
    # At a threshold, and 10^-18 BTC either side, the float cannot tell: the exact rules decide.
    assert {a.name for a in accounts if a.name.endswith("-1E-18")} <= exact
    # One BTC unit (10^-8) away is far outside the bound: the float decides.
    assert (
        not {a.name for a in accounts if a.name.endswith("-1E-8") and not a.name.startswith(("at-", "pro-at-"))} & exact
    )
    assert decisions.actions()["at-1.16-1E-18"] == MarginAction.MARGIN_CALL  # ML <= 1.16
    assert "above-1.16-1E-18" not in decisions.actions()
    assert decisions.actions()["at-1.1-1E-18"] == MarginAction.LIQUIDATE
    assert decisions.actions()["above-1.1-1E-18"] == MarginAction.MARGIN_CALL
    assert decisions.actions()["pro-at-1.0-1E-18"] == MarginAction.LIQUIDATE
    assert decisions.screened == len(accounts)
    assert decisions.evaluated_exactly == len(exact)


def test_a_screen_in_chunks_decides_as_one_in_a_single_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The screen works through its rows a chunk at a time (`CHUNK_ROWS`): chunks of 2 rows,
    which split the planted accounts anywhere, give the verdicts of one chunk of them all."""
    accounts = [
        *_planted_classic(Decimal("1.16"), Decimal("1E-18")),
        *_planted_classic(Decimal("1.1"), Decimal("1E-8")),
        *_planted_pro(Decimal("1.5"), Decimal("1E-18")),
        *_planted_pro(Decimal("1.0"), Decimal("1E-8")),
        _account("far", "cross_classic", 5, Decimal(3), Decimal(1000)),
    ]
    risk, prices = _index(accounts), _prices(BTC=MARK)
    whole = risk.index.screen("BTC", *risk.screen_inputs(prices))
    whole_verdicts = dict(zip(whole.names.tolist(), whole.verdicts.tolist(), strict=True))
    monkeypatch.setattr(risk_index, "CHUNK_ROWS", 2)
    risk.index.forms.clear()
    chunked = risk.index.screen("BTC", *risk.screen_inputs(prices))
    assert dict(zip(chunked.names.tolist(), chunked.verdicts.tolist(), strict=True)) == whole_verdicts
    assert len(set(whole_verdicts.values())) >= 3  # nothing, margin call or liquidation, exact
    decisions = risk.decide("BTC", prices, {a.name: a for a in accounts}.__getitem__)
    assert decisions.actions() == _exact(accounts, prices)


def test_an_account_in_margin_call_recovers_or_is_liquidated_at_the_thresholds() -> None:
    accounts = [
        *_planted_classic(Decimal("1.16"), Decimal("1E-18")),
        *_planted_classic(Decimal("1.1"), Decimal("1E-18")),
    ]
    for account in accounts:
        account.status = AccountStatus.MARGIN_CALL
    prices = _prices(BTC=MARK)
    decisions = _index(accounts).decide("BTC", prices, {a.name: a for a in accounts}.__getitem__)
    assert decisions.actions() == _exact(accounts, prices)
    assert decisions.actions()["above-1.16-1E-18"] == MarginAction.RECOVER
    assert "at-1.16-1E-18" not in decisions.actions()  # still in margin call
    assert decisions.actions()["at-1.1-1E-18"] == MarginAction.LIQUIDATE


def test_a_mark_quoted_in_another_asset_is_evaluated_exactly() -> None:
    accounts = [_account("A", "cross_classic", 5, Decimal(1), Decimal(30000))]
    prices = PriceBook({"BTC": Mark(Decimal(5000), "USDT"), "USDT": Mark(Decimal(1), "USDC")}, PARAMETERS)
    decisions = _index(accounts).decide("BTC", prices, {"A": accounts[0]}.__getitem__)
    assert decisions.exact_names == ["A"]
    assert decisions.actions() == _exact(accounts, prices)


def test_the_worst_accounts_come_first() -> None:
    accounts = [
        _account(name, "cross_classic", 5, Decimal(held), Decimal(40000))
        for name, held in (("a", "0.3"), ("b", "0.04"), ("c", "0.24"), ("d", "3"))
    ]
    prices = _prices(BTC=MARK)
    decisions = _index(accounts).decide("BTC", prices, {a.name: a for a in accounts}.__getitem__)
    assert decisions.worst_first() == ["b", "c", "a"]  # ML 1.15, 1.02, 1.12 (and the 40000 USDC held); d is quiet


def test_the_linear_forms_follow_the_accounts_between_marks() -> None:
    """A mark's slacks are kept as linear forms in the BTC price: rows written since are
    patched, a row newly exposed to BTC rebuilds them; decisions stay exact throughout."""
    accounts = {
        account.name: account
        for account in (
            _account(f"L{number}", "cross_classic", 5, Decimal(held), Decimal(40000))
            for number, held in enumerate(["0.3", "0.04", "0.24", "3"])
        )
    }
    risk = _index(list(accounts.values()))

    def decided_as_exactly(price: str) -> None:
        prices = _prices(BTC=Decimal(price))
        decisions = risk.decide("BTC", prices, accounts.__getitem__)
        assert decisions.actions() == _exact(list(accounts.values()), prices)

    decided_as_exactly("20000")
    forms = risk.index.forms[risk.index.column_of["BTC"]]
    accounts["L0"].deposit("BTC", Decimal(1), AT, {})
    risk.note_account(accounts["L0"])
    decided_as_exactly("19000")
    assert risk.index.forms[risk.index.column_of["BTC"]] is forms  # patched, not rebuilt
    accounts["L1"].repay("USDC", Decimal(40000), AT, {})  # no debt left: its row is freed
    risk.note_account(accounts["L1"])
    decided_as_exactly("18000")
    newcomer = _account("N", "cross_classic", 5, Decimal("0.1"), Decimal(40000))  # takes L1's row
    accounts["N"] = newcomer
    risk.note_account(newcomer)
    decided_as_exactly("17000")
    assert "N" in risk.decide("BTC", _prices(BTC=Decimal(17000)), accounts.__getitem__).actions()


# --- the index itself -------------------------------------------------------------------------


def test_an_asset_that_adds_a_column_is_written_into_the_grown_columns() -> None:
    """The fifth asset doubles the columns as the account's row is written: its quantity must
    land in the new arrays, not in the ones they replaced (found by a replay of an old store)."""
    index = RiskIndex()
    classic = LevelWeights(*level_weights("cross_classic"))
    held = {asset: Decimal(index_number + 1) for index_number, asset in enumerate(("BTC", "ETH", "SOL", "BNB", "XRP"))}
    index.put("x", held, {"USDC": Decimal(1000)}, classic, ("cross_classic", 5), in_descent=False)
    row = index.row_of["x"]
    assert {asset: index.held[row, index.column_of[asset]] for asset in held} == {
        asset: float(quantity) for asset, quantity in held.items()
    }
    assert index.owed[row, index.column_of["USDC"]] == 1000.0


def test_rows_are_reused_columns_added_and_the_bound_grows_with_the_columns() -> None:
    index = RiskIndex()
    classic = LevelWeights(*level_weights("cross_classic"))
    index.put("x", {"BTC": Decimal(1)}, {"USDC": Decimal(1000)}, classic, ("cross_classic", 5), in_descent=False)
    index.put("y", {"ETH": Decimal(2)}, {"USDC": Decimal(1000)}, classic, ("cross_classic", 5), in_descent=False)
    assert index.exposed_to("BTC") == ["x"] and index.exposed_to("USDC") == ["x", "y"]
    index.remove("x")
    index.put("z", {"SOL": Decimal(3)}, {"USDC": Decimal(1)}, classic, ("cross_classic", 3), in_descent=True)
    assert index.row_of["z"] == 0  # x's row, freed
    assert index.exposed_to("BTC") == [] and sorted(index.rows()) == ["y", "z"]
    assert error_scale(4) > error_scale(1) > 0
    screen = index.screen("USDC", {"ETH": 3000.0, "SOL": None, "USDC": 1.0}, {}, {("cross_classic", 5): (1.16, 1.1)})
    verdicts = dict(zip(screen.names, screen.verdicts, strict=True))
    assert verdicts == {"y": Verdict.NOTHING, "z": Verdict.EXACT}  # z: no price for SOL, no thresholds


# --- decisions equal evaluating every account exactly ----------------------------------------

MODES = [("cross_classic", 3), ("cross_classic", 5), ("cross_pro", 10)]


@st.composite
def _books(draw: st.DrawFn) -> tuple[list[Account], Decimal]:
    """Accounts whose level at the drawn mark sits at, or a few units from, one of
    their thresholds (or anywhere)."""
    mark = Decimal(draw(st.integers(1000, 60000)))
    accounts = []
    for number in range(draw(st.integers(1, 6))):
        mode, leverage = draw(st.sampled_from(MODES))
        tier = PARAMETERS.margin_tier(mode, leverage)
        threshold = draw(st.sampled_from([tier.margin_call, tier.liquidation]))
        borrowed = Decimal(draw(st.integers(1000, 10**9)))
        if mode == "cross_pro":
            at_threshold = Decimal("0.05") * borrowed * threshold / mark
        else:
            at_threshold = borrowed * (threshold - 1) / mark
        places = draw(st.sampled_from([8, 12, 18]))
        shift = Decimal(draw(st.integers(-3, 3))).scaleb(-places)
        far = Decimal(draw(st.integers(0, 3))) * at_threshold * draw(st.sampled_from([0, 0, Decimal("0.01")]))
        held = max((at_threshold + shift + far).quantize(Decimal(1).scaleb(-places)), Decimal("1E-8"))
        account = Account(account=f"A{number}", mode=mode, leverage=leverage, pair=None, at=AT, cause={})
        account.deposit("BTC", held, AT, {})
        account.borrow("USDC", borrowed, _prices(BTC=Decimal(10**6)), PARAMETERS, AT, {})  # within its initial level
        if draw(st.booleans()):
            account.status = AccountStatus.MARGIN_CALL
        account.collect_events()
        accounts.append(account)
    return accounts, mark


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_books())
def test_the_index_decides_as_evaluating_every_account_exactly(book: tuple[list[Account], Decimal]) -> None:
    accounts, mark = book
    prices = _prices(BTC=mark)
    decisions = _index(accounts).decide("BTC", prices, {a.name: a for a in accounts}.__getitem__)
    assert decisions.actions() == _exact(accounts, prices)


# --- a rebuilt index equals the live one --------------------------------------------------------


def test_the_index_loaded_from_the_store_equals_the_one_followed_through_the_events(tmp_path: Path) -> None:
    app = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    live = ProcessManager(app)
    run_inputs(app, validate(app, _random_scenario(3), "random"), live)
    rebuilt = ProcessManager(app)
    live_rows = live.indexes[MarginRisk].index.rows()
    assert live_rows, "the random walk leaves debtors"
    assert live_rows == rebuilt.indexes[MarginRisk].index.rows()
    app.close()


@st.composite
def _storms(draw: st.DrawFn) -> tuple[list[Account], list[tuple[str, str, Decimal]]]:
    """Accounts holding BTC and ETH against USDC, and a sequence of marks of either asset
    and deposits between them: the linear forms are built, patched and rebuilt."""
    accounts = []
    for number in range(draw(st.integers(2, 5))):
        mode, leverage = draw(st.sampled_from(MODES))
        account = Account(account=f"S{number}", mode=mode, leverage=leverage, pair=None, at=AT, cause={})
        account.deposit("BTC", Decimal(draw(st.integers(1, 300))) / 100, AT, {})
        account.deposit("ETH", Decimal(draw(st.integers(0, 30))), AT, {})
        account.borrow("USDC", Decimal(draw(st.integers(1000, 60000))), _prices(BTC=Decimal(10**6)), PARAMETERS, AT, {})
        account.collect_events()
        accounts.append(account)
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["BTC", "ETH", "deposit"]),
                st.sampled_from([f"S{number}" for number in range(len(accounts))]),
                st.integers(1, 60000).map(Decimal),
            ),
            min_size=1,
            max_size=8,
        )
    )
    return accounts, steps


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_storms())
def test_marks_of_several_assets_with_deposits_between_decide_as_exactly(
    storm: tuple[list[Account], list[tuple[str, str, Decimal]]],
) -> None:
    accounts, steps = storm
    by_name = {account.name: account for account in accounts}
    risk = _index(accounts)
    marks = dict(OPENING)
    for what, name, amount in steps:
        if what == "deposit":
            by_name[name].deposit("USDC", amount, AT, {})
            risk.note_account(by_name[name])
            continue
        marks[what] = amount if what == "BTC" else amount / 10
        prices = _prices(**marks)
        decisions = risk.decide(what, prices, by_name.__getitem__)
        exposed = [account for account in accounts if account.balance(what) or account.owed(what)]
        assert decisions.actions() == _exact(exposed, prices)
        for name, action in decisions.actions().items():  # as the evaluations would leave them
            _apply(by_name[name], action)
            risk.note_account(by_name[name])


def _apply(account: Account, action: MarginAction) -> None:
    if action == MarginAction.LIQUIDATE:
        account.liquidation_id = uuid.uuid4()  # locked: no mark changes it any more
    else:
        account.status = AccountStatus.MARGIN_CALL if action == MarginAction.MARGIN_CALL else AccountStatus.NORMAL


# --- a mark reaches the assets quoted in it ------------------------------------------------------

_ONE_HOP = [
    {"op": "params", "at": "2026-01-05T10:00:00Z", "assets": {"ALT": {"precision": 8}}},
    {"op": "mark", "asset": "BTC", "price": "50000"},
    {"op": "mark", "asset": "ALT", "price": "0.001", "quote": "BTC"},  # ALT is worth 50 USDC
    {"op": "open", "account": "H", "mode": "cross_classic", "leverage": 5},
    {"op": "deposit", "account": "H", "asset": "ALT", "amount": "100"},
    {"op": "borrow", "account": "H", "asset": "USDC", "amount": "3000"},
    {"op": "mark", "asset": "BTC", "price": "10000"},  # level (1000 + 3000) / 3000: quiet
]
_BTC_CRASH = {"op": "mark", "asset": "BTC", "price": "1000"}  # level (100 + 3000) / 3000 = 1.033: liquidate


def _one_hop_store(tmp_path: Path, *more: dict[str, object]) -> Ledger:
    app = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    lines = "\n".join(json.dumps(line) for line in (*_ONE_HOP, *more))
    run_inputs(app, validate(app, lines, "one-hop"))
    return app


def test_a_mark_of_an_asset_reaches_the_accounts_holding_an_asset_quoted_in_it(tmp_path: Path) -> None:
    """H holds no BTC, but its ALT is marked in BTC: a BTC crash is a crash of its collateral
    (found by an audit: the fan-out named only the accounts holding or owing BTC itself)."""
    app = _one_hop_store(tmp_path, _BTC_CRASH)
    with UnitOfWork(app) as uow:
        assert uow.account("H").liquidations_started == 1, "the crash liquidates H"
    app.close()


def test_the_dispatcher_routes_a_mark_to_the_accounts_holding_an_asset_quoted_in_it(tmp_path: Path) -> None:
    app = _one_hop_store(tmp_path)
    index = ServiceIndex.load(app)
    btc_mark = [event for event in stored_events(app) if isinstance(event, AssetMarket.MarkRecorded)][-1]
    assert btc_mark.asset == "BTC"
    assert [reaction.subject for reaction in index.reactions(btc_mark)] == ["H"]
    app.close()
