"""A negative insurance fund is the exchange's loss: the report and `ledger reconcile`
show it first, as a warning, in their tables and their JSON; `reconcile` still exits 0
when everything else holds (the books still net to zero)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_scenarios import (
    ledger,
    regular_liquidations,
    run_json,
    takeover_below_the_debt,
    write_scenario,
)

NEGATIVE = "insurance-fund is negative: USDC -150000"


@pytest.fixture
def short(store_url: str, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """A takeover whose SUPER fetches 250,000 USDC against a 400,000 USDC debt: (store URL, report)."""
    return store_url, run_json(write_scenario(tmp_path / "short.jsonl", takeover_below_the_debt()), store_url)


def first_line(text: str) -> str:
    return text.lstrip("\n").splitlines()[0]


def test_the_report_warns_of_a_negative_fund(short: tuple[str, dict[str, Any]]) -> None:
    _, report = short
    assert report["warnings"] == [NEGATIVE]
    assert report["system"]["insurance-fund"]["balances"] == {"USDC": "-150000"}
    assert report["liquidations"][0]["shortfall"] == {"USDC": "150000"}
    assert report["conservation"] == []


def test_the_report_table_shows_the_warning_first(store_url: str, tmp_path: Path) -> None:
    result = ledger(
        "run", str(write_scenario(tmp_path / "short.jsonl", takeover_below_the_debt())), "--store", store_url
    )
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert first_line(result.stdout) == f"warning: {NEGATIVE}"


def test_reconcile_warns_first_and_still_holds(short: tuple[str, dict[str, Any]]) -> None:
    store_url, _ = short
    result = ledger("reconcile", "--store", store_url, "--json")
    assert result.exit_code == 0, result.stdout
    reconciled = json.loads(result.stdout)
    assert reconciled["ok"] is True and reconciled["differences"] == []
    assert list(reconciled)[:2] == ["ok", "warnings"] and reconciled["warnings"] == [NEGATIVE]
    table = ledger("reconcile", "--store", store_url)
    assert table.exit_code == 0
    assert first_line(table.stdout) == f"warning: {NEGATIVE}"
    assert "every check holds" in table.stdout


def test_a_fund_in_credit_warns_of_nothing(store_url: str, tmp_path: Path) -> None:
    report = run_json(write_scenario(tmp_path / "a.jsonl", regular_liquidations("A")), store_url)
    assert report["warnings"] == []
    result = ledger("reconcile", "--store", store_url, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["warnings"] == []
    assert "warning" not in ledger("reconcile", "--store", store_url).stdout
