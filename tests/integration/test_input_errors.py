"""Input errors through `ledger run` (shared/spec/scenario.md, "Inputs").

A file with a faulty line is checked whole before anything is applied: the run
writes nothing, prints nothing on stdout, exits 2, and lists every error on
stderr as `line N: FIELD: message`. A rejection by a business rule is not an
input error: the run goes on and reports it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from projections.report import build_report

SETUP = (
    {"op": "open", "account": "A", "mode": "cross_classic", "leverage": 5},
    {"op": "deposit", "account": "A", "asset": "BTC", "amount": "2"},
    {"op": "mark", "asset": "BTC", "price": "50000", "at": "2026-01-05T10:00:00Z"},
)

VALID_PREFIX = (
    {"op": "open", "account": "B", "mode": "spot"},
    {"op": "deposit", "account": "B", "asset": "USDC", "amount": "1000", "at": "2026-01-05T11:00:00Z"},
    {"op": "mark", "asset": "BTC", "price": "51000"},
)
BAD_LINE_NUMBER = len(VALID_PREFIX) + 1

ANY_FIELD = r"[^:\s]+"


def deposit(**changes: Any) -> dict[str, Any]:
    return {"op": "deposit", "account": "A", "asset": "BTC", "amount": "1", **changes}


def mark(**changes: Any) -> dict[str, Any]:
    return {"op": "mark", "asset": "BTC", "price": "50000", **changes}


def fill(**changes: Any) -> dict[str, Any]:
    return {
        "op": "fill",
        "account": "A",
        "side": "buy",
        "base": "BTC",
        "quote": "USDC",
        "quantity": "0.1",
        "price": "50000",
        **changes,
    }


def transfer(**changes: Any) -> dict[str, Any]:
    return {"op": "transfer", "from": "A", "to": "B", "asset": "BTC", "amount": "1", **changes}


def without(line: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in line.items() if key != field}


def as_text(line: dict[str, Any] | str) -> str:
    return line if isinstance(line, str) else json.dumps(line)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if re.match(r"line \d+: ", line)]


def ledger_run(store_url: str, directory: Path, *lines: dict[str, Any] | str) -> Run:
    scenario = directory / "scenario.jsonl"
    scenario.write_text("".join(as_text(line) + "\n" for line in lines))
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "run", str(scenario), "--store", store_url, "--json"],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=60,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def store_state(store_url: str) -> tuple[int | None, dict[str, Any]]:
    app = open_ledger(store_url)
    try:
        return app.recorder.max_notification_id(), build_report(app)
    finally:
        app.close()


@pytest.fixture
def seeded_store(ledger_session: Any) -> str:
    """A store holding SETUP, applied and closed."""
    ledger_session.run_lines(*SETUP)
    ledger_session.close()
    return ledger_session.url


def assert_input_errors(run: Run, expected: list[tuple[int, str]]) -> None:
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    found = run.error_lines()
    assert len(found) == len(expected), run.stderr
    for text, (number, field) in zip(found, expected):
        assert re.fullmatch(rf"line {number}: {field}: \S.*", text), (text, number, field)


def assert_rejected_whole(store_url: str, directory: Path, bad_line: dict[str, Any] | str, field: str) -> None:
    before = store_state(store_url)
    run = ledger_run(store_url, directory, *VALID_PREFIX, bad_line)
    assert_input_errors(run, [(BAD_LINE_NUMBER, field)])
    assert store_state(store_url) == before


@pytest.mark.parametrize(
    "bad_line",
    [
        pytest.param('{"op": "deposit", "account": "A"', id="truncated-object"),
        pytest.param("deposit A BTC 1", id="plain-text"),
        pytest.param('{"op": "deposit", "account": "A", "asset": "BTC", "amount": NaN}', id="bare-NaN"),
    ],
)
def test_invalid_json(seeded_store: str, tmp_path: Path, bad_line: str) -> None:
    assert_rejected_whole(seeded_store, tmp_path, bad_line, ANY_FIELD)


@pytest.mark.parametrize("bad_line", ['["op", "deposit"]', '"deposit"', "42"])
def test_json_that_is_not_an_object(seeded_store: str, tmp_path: Path, bad_line: str) -> None:
    assert_rejected_whole(seeded_store, tmp_path, bad_line, ANY_FIELD)


@pytest.mark.parametrize(
    "bad_line",
    [
        pytest.param(deposit(op="teleport"), id="unknown-op"),
        pytest.param(without(deposit(), "op"), id="no-op"),
    ],
)
def test_unknown_or_missing_op(seeded_store: str, tmp_path: Path, bad_line: dict[str, Any]) -> None:
    assert_rejected_whole(seeded_store, tmp_path, bad_line, "op")


def test_a_renamed_field_is_named_as_unknown_and_as_missing(seeded_store: str, tmp_path: Path) -> None:
    """Every fault of a line is named, not only the first one: a mark whose asset is written
    `asset_` names its unknown field and its missing asset (found by hypothesis: the
    either-asset-or-symbol rule was asked only of lines that parsed)."""
    renamed = {"op": "mark", "asset_": "BTC", "price": "50000", "quote": "USDC"}
    before = store_state(seeded_store)
    run = ledger_run(seeded_store, tmp_path, *VALID_PREFIX, renamed)
    assert_input_errors(run, [(BAD_LINE_NUMBER, "asset_"), (BAD_LINE_NUMBER, "asset")])
    assert store_state(seeded_store) == before


@pytest.mark.parametrize(
    "bad_line, field",
    [
        pytest.param(without(deposit(), "amount"), "amount", id="deposit-without-amount"),
        pytest.param(without(transfer(), "to"), "to", id="transfer-without-to"),
        pytest.param(without(mark(), "price"), "price", id="mark-without-price"),
    ],
)
def test_missing_field(seeded_store: str, tmp_path: Path, bad_line: dict[str, Any], field: str) -> None:
    assert_rejected_whole(seeded_store, tmp_path, bad_line, field)


@pytest.mark.parametrize(
    "bad_line, field",
    [
        pytest.param(deposit(amount=0.5), "amount", id="amount-0.5"),
        pytest.param(mark(price=50000), "price", id="mark-price-50000"),
        pytest.param(fill(price=50000), "price", id="fill-price-50000"),
        pytest.param(fill(quantity=0.1), "quantity", id="fill-quantity-0.1"),
    ],
)
def test_json_number_instead_of_decimal_string(
    seeded_store: str, tmp_path: Path, bad_line: dict[str, Any], field: str
) -> None:
    assert_rejected_whole(seeded_store, tmp_path, bad_line, field)


@pytest.mark.parametrize("amount", ["-1", "-0.5"])
def test_negative_amount(seeded_store: str, tmp_path: Path, amount: str) -> None:
    assert_rejected_whole(seeded_store, tmp_path, deposit(amount=amount), "amount")


@pytest.mark.parametrize("amount", ["0", "-0"])
def test_zero_amount(seeded_store: str, tmp_path: Path, amount: str) -> None:
    assert_rejected_whole(seeded_store, tmp_path, deposit(amount=amount), "amount")


@pytest.mark.parametrize(
    "make_line, field, value",
    [
        pytest.param(deposit, "amount", "NaN", id="amount-NaN"),
        pytest.param(deposit, "amount", "Infinity", id="amount-Infinity"),
        pytest.param(deposit, "amount", "-Infinity", id="amount--Infinity"),
        pytest.param(mark, "price", "NaN", id="mark-price-NaN"),
        pytest.param(fill, "price", "Infinity", id="fill-price-Infinity"),
    ],
)
def test_non_finite_decimal(
    seeded_store: str, tmp_path: Path, make_line: Callable[..., dict[str, Any]], field: str, value: str
) -> None:
    assert_rejected_whole(seeded_store, tmp_path, make_line(**{field: value}), field)


@pytest.mark.parametrize(
    "bad_line",
    [
        pytest.param(mark(price="0"), id="mark"),
        pytest.param(fill(price="0"), id="fill"),
    ],
)
def test_zero_price(seeded_store: str, tmp_path: Path, bad_line: dict[str, Any]) -> None:
    assert_rejected_whole(seeded_store, tmp_path, bad_line, "price")


@pytest.mark.parametrize(
    "bad_line, field",
    [
        pytest.param(deposit(account="Z"), "account", id="deposit"),
        pytest.param(transfer(to="Z"), "to", id="transfer-to"),
    ],
)
def test_unknown_account(seeded_store: str, tmp_path: Path, bad_line: dict[str, Any], field: str) -> None:
    assert_rejected_whole(seeded_store, tmp_path, bad_line, field)


@pytest.mark.parametrize(
    "bad_line, field",
    [
        pytest.param(deposit(asset="SUPER"), "asset", id="deposit"),
        pytest.param(fill(base="SUPER"), "base", id="fill-base"),
    ],
)
def test_undeclared_asset(seeded_store: str, tmp_path: Path, bad_line: dict[str, Any], field: str) -> None:
    assert_rejected_whole(seeded_store, tmp_path, bad_line, field)


def test_asset_declared_earlier_in_the_file_is_accepted(seeded_store: str, tmp_path: Path) -> None:
    run = ledger_run(
        seeded_store,
        tmp_path,
        *VALID_PREFIX,
        {"op": "params", "assets": {"SUPER": {"liquid": False, "precision": 8}}},
        {"op": "deposit", "account": "B", "asset": "SUPER", "amount": "3"},
    )
    assert run.returncode == 0, run.stderr
    assert run.error_lines() == []
    report = json.loads(run.stdout)
    assert report["accounts"]["B"]["balances"]["SUPER"] == "3"
    assert report["rejections"] == []


@pytest.mark.parametrize(
    "bad_line, field",
    [
        pytest.param(deposit(amount="0.123456789"), "amount", id="deposit-amount"),
        pytest.param(fill(quantity="0.000000001"), "quantity", id="fill-quantity"),
    ],
)
def test_more_decimals_than_precision(seeded_store: str, tmp_path: Path, bad_line: dict[str, Any], field: str) -> None:
    assert_rejected_whole(seeded_store, tmp_path, bad_line, field)


def test_more_decimals_than_a_declared_precision(seeded_store: str, tmp_path: Path) -> None:
    before = store_state(seeded_store)
    run = ledger_run(
        seeded_store,
        tmp_path,
        {"op": "params", "assets": {"CENT": {"liquid": False, "precision": 2}}},
        {"op": "deposit", "account": "A", "asset": "CENT", "amount": "1.25"},
        {"op": "deposit", "account": "A", "asset": "CENT", "amount": "1.001"},
    )
    assert_input_errors(run, [(3, "amount")])
    assert store_state(seeded_store) == before


@pytest.mark.parametrize("at", ["2026-01-05T10:59:59Z", "2025-12-31T23:00:00Z"])
def test_time_earlier_than_the_input_before(seeded_store: str, tmp_path: Path, at: str) -> None:
    assert_rejected_whole(seeded_store, tmp_path, mark(at=at), "at")


@pytest.mark.parametrize("at", ["2026-01-05T13:00:00+01:00", "2026-01-05T12:00:00"])
def test_time_not_in_utc(seeded_store: str, tmp_path: Path, at: str) -> None:
    assert_rejected_whole(seeded_store, tmp_path, mark(at=at), "at")


@pytest.mark.parametrize(
    "bad_line, field",
    [
        pytest.param(deposit(memo="hello"), "memo", id="deposit-memo"),
        pytest.param(mark(amount="1"), "amount", id="mark-amount"),
    ],
)
def test_unknown_field(seeded_store: str, tmp_path: Path, bad_line: dict[str, Any], field: str) -> None:
    assert_rejected_whole(seeded_store, tmp_path, bad_line, field)


def test_every_bad_line_is_listed_in_line_order(seeded_store: str, tmp_path: Path) -> None:
    before = store_state(seeded_store)
    run = ledger_run(
        seeded_store,
        tmp_path,
        {"op": "open", "account": "B", "mode": "spot"},
        deposit(amount=0.5),
        {"op": "deposit", "account": "B", "asset": "USDC", "amount": "10"},
        "not json",
        deposit(account="Z"),
        "",
        mark(price="0"),
        {"op": "withdraw", "account": "B", "asset": "USDC", "amount": "1"},
        '["a", "list"]',
    )
    assert_input_errors(run, [(2, "amount"), (4, ANY_FIELD), (5, "account"), (7, "price"), (9, ANY_FIELD)])
    assert store_state(seeded_store) == before


def test_a_business_rejection_is_not_an_input_error(seeded_store: str, tmp_path: Path) -> None:
    run = ledger_run(
        seeded_store,
        tmp_path,
        *VALID_PREFIX,
        {"op": "withdraw", "account": "A", "asset": "BTC", "amount": "5"},
        {"op": "deposit", "account": "A", "asset": "BTC", "amount": "1"},
    )
    assert run.returncode == 0, run.stderr
    assert run.error_lines() == []
    report = json.loads(run.stdout)
    assert [(r["line"], r["op"]) for r in report["rejections"]] == [(BAD_LINE_NUMBER, "withdraw")]
    assert report["accounts"]["A"]["balances"]["BTC"] == "3"
    assert report["accounts"]["B"]["balances"]["USDC"] == "1000"
