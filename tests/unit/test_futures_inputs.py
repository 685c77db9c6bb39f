"""Futures inputs through `ledger run --json` (shared/spec/scenario.md, "Futures inputs";
domain.md, "Futures").

An input error (what a line's shape and the known accounts, assets and symbols tell) is
found before anything is applied: the run exits 2, writes nothing, prints nothing on
standard output and one `line N: FIELD: message` a line on standard error, naming the
faulty line and field. A rejection (what depends on a wallet's state, its positions, its
balance, the marks) is recorded, listed in the report's `rejections` with a reason that
says what was refused and why, changes nothing, and the run goes on.

The command runs in this process (typer's runner), on SQLite.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from ledger.domain.futures.account import FuturesAccount
from ledger.domain.identity import account_id
from ledger.log import stored_events
from ledger.unit_of_work import UnitOfWork
from tests.integration.malformed import (
    ERROR_LINE,
    Outcome,
    assert_ok,
    error_lines,
    frozen_heap,
    run_file,
    store_snapshot,
    write_lines,
)

T0 = "2026-03-02T09:00:00Z"

# F: USDⓈ-M (USDT), C: COIN-M (BTC), M: cross margin, S: spot.
BASE: list[dict[str, Any]] = [
    {"op": "open", "account": "F", "mode": "usdm", "at": T0},
    {"op": "open", "account": "C", "mode": "coinm", "asset": "BTC"},
    {"op": "open", "account": "M", "mode": "cross_classic", "leverage": 5},
    {"op": "open", "account": "S", "mode": "spot"},
    {"op": "deposit", "account": "F", "asset": "USDT", "amount": "1000"},
    {"op": "deposit", "account": "C", "asset": "BTC", "amount": "1"},
    {"op": "deposit", "account": "M", "asset": "BTC", "amount": "1"},
]


def trade(**changes: Any) -> dict[str, Any]:
    return {
        "op": "trade",
        "account": "F",
        "symbol": "BTCUSDT",
        "side": "buy",
        "quantity": "0.1",
        "price": "30000",
        **changes,
    }


def leverage(value: Any = 10, **changes: Any) -> dict[str, Any]:
    return {"op": "leverage", "account": "F", "symbol": "BTCUSDT", "leverage": value, "margin_type": "cross", **changes}


def mark(price: str = "30000", symbol: str = "BTCUSDT") -> dict[str, Any]:
    return {"op": "mark", "symbol": symbol, "price": price}


# --- input errors ----------------------------------------------------------------------------

# (the faulty line, the field its error names, words the message holds)
INPUT_ERRORS = [
    pytest.param(trade(symbol="NOPEUSDT"), "symbol", "unknown symbol", id="unknown-symbol"),
    pytest.param(
        trade(account="C", symbol="BTCUSD_PERP", quantity="1.5"), "quantity", "whole contracts", id="coinm-fraction"
    ),
    pytest.param(trade(fee="0.000000001"), "fee", "precision", id="fee-beyond-usdt-precision"),
    pytest.param(
        trade(account="C", symbol="BTCUSD_PERP", quantity="1", fee="0.000000001"),
        "fee",
        "precision",
        id="fee-beyond-btc-precision",
    ),
    pytest.param(trade(fee="-1"), "fee", ">= 0", id="fee-negative"),
    pytest.param(trade(fee=1), "fee", "decimal string", id="fee-number"),
    pytest.param(leverage(0), "leverage", "from 1", id="leverage-0"),
    pytest.param(leverage("5"), "leverage", "JSON integer", id="leverage-string"),
    pytest.param(leverage(5.0), "leverage", "JSON integer", id="leverage-float"),
    pytest.param(leverage(True), "leverage", "JSON integer", id="leverage-boolean"),
    pytest.param(leverage(margin_type="crossed"), "margin_type", "cross", id="margin-type"),
    pytest.param(trade(position_side="both"), "position_side", "long", id="position-side-both"),
    pytest.param(trade(reduce_only="true"), "reduce_only", "boolean", id="reduce-only-string"),
    pytest.param(trade(reduce_only=1), "reduce_only", "boolean", id="reduce-only-number"),
    pytest.param({"op": "funding", "symbol": "BTCUSDT", "rate": 0.0001}, "rate", "decimal string", id="rate-number"),
    pytest.param({"op": "funding", "symbol": "NOPE", "rate": "0.0001"}, "symbol", "unknown symbol", id="rate-symbol"),
    pytest.param(
        {"op": "open", "account": "N", "mode": "usdm", "leverage": 5}, "leverage", "no leverage", id="open-lev"
    ),
    pytest.param({"op": "open", "account": "N", "mode": "coinm"}, "asset", "margin coin", id="coinm-without-asset"),
    pytest.param({"op": "open", "account": "N", "mode": "coinm", "asset": "NOPE"}, "asset", "unknown", id="coinm-nope"),
    pytest.param({"op": "position_mode", "account": "F", "mode": "both"}, "mode", "one_way", id="position-mode"),
    pytest.param(
        {"op": "isolated_margin", "account": "F", "symbol": "BTCUSDT", "amount": "0"}, "amount", "not 0", id="margin-0"
    ),
    pytest.param(trade(account="M"), "account", "not a futures wallet", id="trade-on-margin"),
    pytest.param(leverage(account="M"), "account", "not a futures wallet", id="leverage-on-margin"),
    pytest.param(
        {"op": "position_mode", "account": "S", "mode": "hedge"}, "account", "not a futures wallet", id="mode-on-spot"
    ),
    pytest.param(
        {"op": "isolated_margin", "account": "M", "symbol": "BTCUSDT", "amount": "1"},
        "account",
        "not a futures wallet",
        id="isolated-margin-on-margin",
    ),
    pytest.param(
        {"op": "borrow", "account": "F", "asset": "USDT", "amount": "1"}, "account", "futures", id="borrow-on-futures"
    ),
    pytest.param(
        {"op": "fill", "account": "F", "side": "buy", "base": "BTC", "quote": "USDT", "quantity": "0.1", "price": "1"},
        "account",
        "futures",
        id="fill-on-futures",
    ),
    pytest.param(trade(account="NOBODY"), "account", "NOBODY", id="unknown-account"),
    pytest.param(
        {"op": "mark", "asset": "BTC", "symbol": "BTCUSDT", "price": "30000"},
        ("asset", "symbol"),
        "either an asset or a symbol",
        id="mark-asset-and-symbol",
    ),
]


class Store:
    """A store BASE was applied to (module-wide: an input error writes nothing)."""

    def __init__(self, directory: Path):
        self.url = f"sqlite:///{directory / 'ledger.db'}"
        self.directory = directory
        self.files = itertools.count(1)
        assert_ok(self.run(BASE))

    def run(self, lines: list[dict[str, Any]]) -> Outcome:
        return run_file(self.url, write_lines(self.directory / f"case-{next(self.files)}.jsonl", list(lines)))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with frozen_heap():
        yield Store(tmp_path_factory.mktemp("futures-inputs"))


def assert_input_errors(result: Outcome, expected: list[tuple[int, str | tuple[str, ...]]]) -> list[str]:
    """Exit 2, nothing on standard output, no traceback, and exactly one error line per
    (line, field) expected, in that order."""
    shown = f"exit {result.exit_code}\nstdout: {result.stdout[:300]!r}\nstderr: {result.stderr!r}"
    assert result.exception is None, shown
    assert result.exit_code == 2, shown
    assert result.stdout == "", shown
    assert "Traceback" not in result.stderr, shown
    found = error_lines(result.stderr)
    assert len(found) == len(expected), shown
    for text, (line, field) in zip(found, expected, strict=True):
        matched = ERROR_LINE.fullmatch(text)
        assert matched, shown
        assert int(matched.group(1)) == line, shown
        assert matched.group(2) in ((field,) if isinstance(field, str) else field), shown
    return found


@pytest.mark.parametrize(("line", "field", "words"), INPUT_ERRORS)
def test_a_faulty_futures_line_names_line_and_field_and_writes_nothing(
    store: Store, line: dict[str, Any], field: str | tuple[str, ...], words: str
) -> None:
    before = store_snapshot(store.url)
    result = store.run([mark(), line, {"op": "deposit", "account": "F", "asset": "USDT", "amount": "1"}])
    [error] = assert_input_errors(result, [(2, field)])
    assert words in error, error
    assert store_snapshot(store.url) == before, "a file with an input error changed the store"


def test_every_faulty_line_of_a_file_has_its_own_error_line(store: Store) -> None:
    before = store_snapshot(store.url)
    lines = [
        mark(),
        trade(symbol="NOPEUSDT"),
        trade(),
        leverage(0),
        {"op": "funding", "symbol": "BTCUSDT", "rate": 0.0001},
        trade(account="C", symbol="BTCUSD_PERP", quantity="2.5"),
        trade(account="M"),
    ]
    assert_input_errors(
        store.run(lines), [(2, "symbol"), (4, "leverage"), (5, "rate"), (6, "quantity"), (7, "account")]
    )
    assert store_snapshot(store.url) == before


def test_a_futures_line_after_an_account_opened_in_the_same_file_is_checked_against_it(store: Store) -> None:
    """A wallet opened earlier in the file is known to the lines after it, with its mode:
    a COIN-M quantity in fractions is an error there too, and a margin op on it as well."""
    before = store_snapshot(store.url)
    lines = [
        {"op": "open", "account": "K", "mode": "coinm", "asset": "ETH"},
        trade(account="K", symbol="ETHUSD_PERP", quantity="0.5", price="2000"),
        {"op": "borrow", "account": "K", "asset": "ETH", "amount": "1"},
    ]
    assert_input_errors(store.run(lines), [(2, "quantity"), (3, "account")])
    assert store_snapshot(store.url) == before


WALLET_ASSET = {"F": "USDT", "C": "BTC"}

# --- rejections -----------------------------------------------------------------------------


def opened(*lines: dict[str, Any]) -> list[dict[str, Any]]:
    return [mark(), *lines]


def isolated(value: int = 20) -> dict[str, Any]:
    return leverage(value, margin_type="isolated")


# (the lines before, the refused line, words its reason holds). F holds 1000 USDT, C 1 BTC;
# BTCUSDT is marked at 30000 unless the lines before say otherwise.
REJECTIONS = [
    pytest.param([], trade(), ["BTCUSDT", "no mark price"], id="trade-before-any-mark"),
    pytest.param(
        [mark("2000", "ETHUSD_PERP")],
        trade(account="C", symbol="ETHUSD_PERP", quantity="1", price="2000"),
        ["ETHUSD_PERP", "not an inverse symbol of BTC"],
        id="coinm-trade-on-another-coin",
    ),
    pytest.param(
        [mark("30000", "BTCUSD_PERP")],
        trade(symbol="BTCUSD_PERP", quantity="1"),
        ["BTCUSD_PERP", "not a linear symbol quoted in USDT"],
        id="usdm-trade-on-an-inverse-symbol",
    ),
    pytest.param([], leverage(126), ["126x", "max leverage", "125x"], id="leverage-above-the-bracket"),
    pytest.param(
        # 20 BTC at 30000 is a notional of 600000: the second bracket, max 100x.
        opened(leverage(100)),
        trade(quantity="20.1"),
        ["notional", "100x"],
        id="trade-beyond-the-bracket-of-its-leverage",
    ),
    pytest.param(
        opened(),
        trade(quantity="1"),
        ["costs 1500", "available balance 1000"],
        id="cost-beyond-the-available-balance",
    ),
    pytest.param(
        opened(),
        trade(quantity="0.66666", fee="1"),
        ["costs 999.99", "fee of 1", "available balance 1000"],
        id="cost-with-fee-beyond-the-available-balance",
    ),
    pytest.param(
        opened(isolated(20), trade()),
        isolated(10),
        ["leverage", "isolated", "cannot be lowered"],
        id="lowering-isolated-leverage-with-a-position-open",
    ),
    pytest.param(
        opened(trade()),
        {"op": "position_mode", "account": "F", "mode": "hedge"},
        ["open position", "position mode"],
        id="position-mode-with-a-position-open",
    ),
    pytest.param(
        opened(trade()),
        isolated(20),
        ["open position", "margin type"],
        id="margin-type-with-a-position-open",
    ),
    pytest.param(
        # 0.1 BTC at 20x isolated: 150 USDT of margin, all of it its initial margin.
        opened(isolated(20), trade()),
        {"op": "isolated_margin", "account": "F", "symbol": "BTCUSDT", "amount": "-1"},
        ["removing 1 USDT", "below its initial margin 150"],
        id="removing-too-much-isolated-margin",
    ),
    pytest.param(
        opened(isolated(20)),
        {"op": "isolated_margin", "account": "F", "symbol": "BTCUSDT", "amount": "10"},
        ["no", "position in BTCUSDT"],
        id="isolated-margin-without-a-position",
    ),
    pytest.param(
        # +1000 unrealized at 40000; the cross wallet 1000 less the IM at the mark, 200.
        opened(trade(), mark("40000")),
        {"op": "withdraw", "account": "F", "asset": "USDT", "amount": "801"},
        ["withdraw of 801 USDT", "800", "unrealized profit is not withdrawable"],
        id="withdrawal-of-unrealized-profit",
    ),
    pytest.param(
        opened(trade(), mark("40000")),
        {"op": "transfer", "from": "F", "to": "S", "asset": "USDT", "amount": "801"},
        ["transfer out of 801 USDT", "800"],
        id="transfer-out-of-unrealized-profit",
    ),
    pytest.param(opened(), trade(reduce_only=True), ["reduce_only", "would open"], id="reduce-only-that-would-open"),
    pytest.param(
        opened(trade()),
        trade(side="sell", quantity="0.2", reduce_only=True),
        ["reduce_only", "would open"],
        id="reduce-only-that-would-flip",
    ),
    pytest.param(
        opened(trade()),
        trade(reduce_only=True),
        ["reduce_only", "grow"],
        id="reduce-only-that-would-grow",
    ),
    pytest.param(
        [{"op": "position_mode", "account": "F", "mode": "hedge"}, mark()],
        trade(),
        ["hedge mode", "position_side"],
        id="hedge-trade-without-position-side",
    ),
    pytest.param(opened(), trade(position_side="long"), ["one-way mode", "position_side"], id="one-way-with-side"),
    pytest.param(
        [{"op": "position_mode", "account": "F", "mode": "hedge"}, mark(), trade(position_side="long")],
        trade(side="sell", quantity="0.2", position_side="long"),
        ["reduces the long leg", "0.2", "its size 0.1"],
        id="hedge-reduce-beyond-the-leg",
    ),
    pytest.param(
        [{"op": "position_mode", "account": "F", "mode": "hedge"}, mark()],
        trade(side="sell", position_side="long"),
        ["reduces the long leg", "its size 0"],
        id="hedge-reduce-of-an-empty-leg",
    ),
    pytest.param(
        [],
        {"op": "withdraw", "account": "F", "asset": "BTC", "amount": "1"},
        ["holds USDT only", "BTC"],
        id="withdrawal-of-another-asset",
    ),
]


def futures_state(url: str, name: str) -> dict[str, Any]:
    app = open_ledger(url, read_only=True)
    try:
        with UnitOfWork(app) as uow:
            account = uow.get(account_id(name))
            assert isinstance(account, FuturesAccount)
            return {
                "version": account.version,
                "cross_wallet": account.cross_wallet,
                "positions": account.positions,
                "settings": account.settings,
                "position_mode": account.position_mode,
            }
    finally:
        app.close()


def events_of_line(url: str, source: str, line: int) -> list[str]:
    app = open_ledger(url, read_only=True)
    try:
        return [
            type(event).__qualname__
            for event in stored_events(app)
            if (getattr(event, "cause", None) or {}).get("source") == source and (event.cause or {}).get("line") == line
        ]
    finally:
        app.close()


@pytest.mark.parametrize(("before", "refused", "words"), REJECTIONS)
def test_a_futures_line_refused_by_a_rule_is_a_rejection_and_the_run_goes_on(
    tmp_path: Path, before: list[dict[str, Any]], refused: dict[str, Any], words: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert_ok(run_file(url, write_lines(tmp_path / "base.jsonl", [*BASE, *before])))
    account = refused.get("account", refused.get("from"))
    state_before = futures_state(url, account)
    after = {"op": "deposit", "account": account, "asset": WALLET_ASSET[account], "amount": "1"}

    report = assert_ok(run_file(url, write_lines(tmp_path / "case.jsonl", [refused, after])))

    [rejection] = report["rejections"]
    assert (rejection["source"], rejection["line"], rejection["op"]) == ("case.jsonl", 1, refused["op"])
    assert rejection["account"] == (None if refused["op"] == "transfer" else account)
    for word in words:
        assert word in rejection["error"], (word, rejection["error"])
    assert report["run"]["applied"] == 2  # the run went on: the deposit after it was applied
    # Its one event is the rejection itself, which names its input as its cause.
    assert events_of_line(url, "case.jsonl", 1) == ["InputRejected"], "a rejection changed something"
    assert events_of_line(url, "case.jsonl", 2) == ["FuturesAccount.Deposited"]
    state = futures_state(url, account)
    assert state == {**state_before, "version": state_before["version"] + 1, "cross_wallet": state["cross_wallet"]}
    assert state["cross_wallet"] == state_before["cross_wallet"] + 1  # the deposit alone


NUMBER_IN_EXPONENT_FORM = re.compile(r"\d(\.\d+)?E[-+]?\d")


def test_a_rejection_reason_writes_its_amounts_as_decimals(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    path = write_lines(tmp_path / "case.jsonl", [*BASE, mark(), trade(quantity="1")])
    [rejection] = assert_ok(run_file(url, path))["rejections"]
    assert "available balance" in rejection["error"]
    assert not NUMBER_IN_EXPONENT_FORM.search(rejection["error"]), rejection["error"]


def test_funding_before_any_mark_is_a_rejection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    lines = [*BASE, {"op": "funding", "symbol": "ETHUSDT", "rate": "0.0001"}, mark("2000", "ETHUSDT")]
    result = run_file(url, write_lines(tmp_path / "case.jsonl", lines))
    assert result.exception is None, result.exception
    [rejection] = assert_ok(result)["rejections"]
    assert rejection["line"] == len(BASE) + 1 and "no mark price" in rejection["error"]


def test_a_rejected_futures_file_run_again_is_not_applied_twice(tmp_path: Path) -> None:
    """The rejections and the accepted lines of a file run a second time: skipped, not
    applied or refused again."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    path = write_lines(tmp_path / "case.jsonl", [*BASE, mark(), trade(quantity="1"), trade(fee="0.5")])
    first = assert_ok(run_file(url, path))
    state = futures_state(url, "F")
    second = assert_ok(run_file(url, path))
    assert second["rejections"] == first["rejections"]
    assert second["run"]["skipped"] == len(BASE) + 3 and second["run"]["applied"] == 0
    assert futures_state(url, "F") == state
    assert state["cross_wallet"] == Decimal(
        "999.5"
    )  # a cross position's margin stays in the cross wallet; the fee left
