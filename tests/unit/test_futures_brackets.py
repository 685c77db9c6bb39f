"""Futures brackets: cum derived from the formula, boundaries, max leverage."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.domain.futures.brackets import bracket_table, derived_cums

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "brackets.json"
SYMBOLS: dict[str, Any] = {
    name: spec for name, spec in json.loads(SPEC.read_text()).items() if not name.startswith("_")
}


@pytest.mark.parametrize("name", sorted(SYMBOLS))
def test_the_cum_of_every_default_table_is_the_formula(name: str) -> None:
    """For each row n (floor_n = cap_(n-1), floor_0 = 0), by hand in the loop:
    cum_n = floor_n x (MMR_n - MMR_(n-1)) + cum_(n-1); the file's `cum` if it carries one."""
    rows = SYMBOLS[name]["brackets"]
    table = bracket_table(rows)
    expected, previous_rate, previous_cap = Decimal(0), Decimal(0), Decimal(0)
    for row, bracket in zip(rows, table.brackets):
        expected += previous_cap * (Decimal(row["mmr"]) - previous_rate)
        assert bracket.floor == previous_cap
        assert bracket.cum == expected
        if "cum" in row:
            assert Decimal(row["cum"]) == bracket.cum
        previous_rate, previous_cap = Decimal(row["mmr"]), Decimal(row["cap"])


def test_btcusd_perp_cum_at_12_5_percent_is_the_published_11_605() -> None:
    """0.005 = 5 x (0.005 - 0.004); 0.055 = 10 x 0.005 + 0.005; 0.355 = 20 x 0.015 + 0.055;
    1.605 = 50 x 0.025 + 0.355; 6.605 = 100 x 0.05 + 1.605; 11.605 = 200 x 0.025 + 6.605."""
    table = bracket_table(SYMBOLS["BTCUSD_PERP"]["brackets"])
    assert [b.cum for b in table.brackets[:7]] == [
        Decimal(x) for x in ("0", "0.005", "0.055", "0.355", "1.605", "6.605", "11.605")
    ]


def test_the_2021_btcusdt_table_by_hand() -> None:
    """Floors 0, 50,000, 250,000, 1,000,000; rates 0.4, 0.5, 1, 2.5 %:
    cum 0; 50,000 x 0.001 = 50; 250,000 x 0.005 + 50 = 1,300; 1,000,000 x 0.015 + 1,300 = 16,300."""
    cums = derived_cums(
        [Decimal(0), Decimal(50000), Decimal(250000), Decimal(1000000)],
        [Decimal("0.004"), Decimal("0.005"), Decimal("0.01"), Decimal("0.025")],
    )
    assert cums == [Decimal(0), Decimal(50), Decimal(1300), Decimal(16300)]


TABLE = bracket_table(
    [
        {"cap": "50000", "max_leverage": 125, "mmr": "0.004"},
        {"cap": "600000", "max_leverage": 100, "mmr": "0.005"},
    ]
)


def test_a_notional_exactly_at_a_cap_is_in_the_lower_bracket() -> None:
    """50,000 <= cap 50,000: first bracket, 125x, MM = 50,000 x 0.004 - 0 = 200."""
    assert TABLE.bracket_of(Decimal(50000)) is TABLE.brackets[0]
    assert TABLE.max_leverage(Decimal(50000)) == 125
    assert TABLE.maintenance_margin(Decimal(50000)) == Decimal(200)


def test_one_unit_above_a_cap_is_in_the_next_bracket() -> None:
    """50,000.00000001 > 50,000: second bracket, 100x, cum = 50,000 x 0.001 = 50,
    MM = 50,000.00000001 x 0.005 - 50 = 200.00000000005 (continuous at the cap)."""
    notional = Decimal("50000.00000001")
    assert TABLE.bracket_of(notional) is TABLE.brackets[1]
    assert TABLE.max_leverage(notional) == 100
    assert TABLE.maintenance_margin(notional) == Decimal("200.00000000005")


def test_zero_notional_is_the_first_bracket_with_no_maintenance_margin() -> None:
    """0 x 0.004 - 0 = 0."""
    assert TABLE.maintenance_margin(Decimal(0)) == 0


def test_leverage_above_the_bracket_max_and_beyond_the_last_cap_are_refused() -> None:
    """60,000 is in the 100x bracket: 100 allowed, 101 not; 600,000.01 is beyond the table:
    refused whatever the leverage, though its MM uses the last bracket
    (600,000.01 x 0.005 - 50 = 2,950.00005)."""
    assert TABLE.within_leverage(Decimal(60000), 100)
    assert not TABLE.within_leverage(Decimal(60000), 101)
    assert TABLE.within_leverage(Decimal(600000), 1)
    assert not TABLE.within_leverage(Decimal("600000.01"), 1)
    assert TABLE.maintenance_margin(Decimal("600000.01")) == Decimal("2950.00005")
