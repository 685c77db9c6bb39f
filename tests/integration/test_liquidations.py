"""Liquidations can be found: `ledger liquidations` lists them with their ids, the
report's table shows the ids, and `ledger postmortem` takes any unique start of one."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS
from tests.integration.cli_scenarios import (
    FALL,
    OFFER,
    ledger,
    regular_liquidations,
    run_json,
    takeover_below_the_debt,
    write_scenario,
)

# 17 accounts liquidated at once: 17 ids, so two of them start with the same hex digit.
ACCOUNTS = tuple(f"L{number:02}" for number in range(1, 18))


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Any]]]:
    """One store: 17 regular liquidations at 10:20, then a takeover (account T) at 10:25:
    (store URL, its report)."""
    folder = tmp_path_factory.mktemp("liquidations")
    regular = write_scenario(folder / "regular.jsonl", regular_liquidations(*ACCOUNTS))
    takeover = write_scenario(folder / "takeover.jsonl", takeover_below_the_debt("T", start=OFFER, fall=OFFER))
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'ledger.db'}"
    else:
        url = f"{request.getfixturevalue('postgres_database')}?schema=l_{uuid.uuid4().hex[:12]}"
    run_json(regular, url)
    yield url, run_json(takeover, url)


def listed(store_url: str, *args: str) -> list[dict[str, Any]]:
    result = ledger("liquidations", "--store", store_url, "--json", *args)
    assert result.exit_code == 0, (result.stderr, result.exception)
    return json.loads(result.stdout)["liquidations"]


def test_every_liquidation_is_listed_oldest_first_as_the_report_has_it(seeded: tuple[str, dict[str, Any]]) -> None:
    store_url, report = seeded
    found = listed(store_url)
    assert found == report["liquidations"]
    assert [item["account"] for item in found] == [*ACCOUNTS, "T"]
    assert found[-1]["trigger"]["at"] > found[0]["trigger"]["at"]


def test_the_table_lists_id_account_kind_status_trigger_fee_and_shortfall(seeded: tuple[str, dict[str, Any]]) -> None:
    store_url, report = seeded
    result = ledger("liquidations", "--store", store_url, "--account", "T")
    assert result.exit_code == 0, result.stderr
    (takeover,) = [item for item in report["liquidations"] if item["account"] == "T"]
    for text in (
        takeover["id"],
        "takeover",
        "completed",
        takeover["trigger"]["at"],
        takeover["trigger"]["margin_level"],
        "150000 USDC",
        "(value 0)",
    ):
        assert text in result.stdout, text


def test_the_report_table_shows_the_ids(store_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "two.jsonl", regular_liquidations("A", "B"))
    result = ledger("run", str(scenario), "--store", store_url)
    assert result.exit_code == 0, (result.stderr, result.exception)
    for liquidation in listed(store_url):
        assert liquidation["id"] in result.stdout


@pytest.mark.parametrize(
    ("options", "accounts"),
    [
        (["--account", "L03"], ["L03"]),
        (["--kind", "takeover"], ["T"]),
        (["--kind", "regular"], list(ACCOUNTS)),
        (["--status", "completed"], [*ACCOUNTS, "T"]),
        (["--status", "in_progress"], []),
        (["--since", OFFER], ["T"]),
        (["--until", FALL], list(ACCOUNTS)),
        (["--since", FALL, "--until", FALL], list(ACCOUNTS)),
        (["--account", "T", "--until", FALL], []),
    ],
)
def test_filters_narrow_the_list(seeded: tuple[str, dict[str, Any]], options: list[str], accounts: list[str]) -> None:
    store_url, _ = seeded
    assert [item["account"] for item in listed(store_url, *options)] == accounts


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--since", "yesterday"], "--since: "),
        (["--until", "2026-01-05T10:20:00"], "--until: "),
        (["--kind", "forced"], "--kind 'forced': use regular, takeover, mixed or futures"),
        (["--status", "done"], "--status 'done': use in_progress or completed"),
        (["--since", OFFER, "--until", FALL], "is after --until"),
    ],
)
def test_bad_filters_are_refused(seeded: tuple[str, dict[str, Any]], options: list[str], message: str) -> None:
    store_url, _ = seeded
    result = ledger("liquidations", "--store", store_url, *options)
    assert result.exit_code == 2, (result.stdout, result.exception)
    assert message in result.stderr and options[1] in result.stderr, result.stderr
    assert result.stdout == ""


def test_postmortem_takes_a_unique_start_of_an_id(seeded: tuple[str, dict[str, Any]]) -> None:
    store_url, report = seeded
    ids = [item["id"] for item in report["liquidations"]]
    target = ids[-1]
    unique = next(
        target[:length] for length in range(1, 37) if sum(other.startswith(target[:length]) for other in ids) == 1
    )
    for given in (unique, unique.upper(), target, target.replace("-", "")):
        result = ledger("postmortem", given, "--store", store_url, "--json")
        assert result.exit_code == 0, (given, result.stderr)
        assert json.loads(result.stdout)["liquidation"]["id"] == target


def test_an_ambiguous_start_names_the_candidates(seeded: tuple[str, dict[str, Any]]) -> None:
    store_url, report = seeded
    ids = [item["id"] for item in report["liquidations"]]
    digit, count = Counter(found[0] for found in ids).most_common(1)[0]
    assert count > 1
    result = ledger("postmortem", digit, "--store", store_url)
    assert result.exit_code == 2, result.stdout
    assert f"{digit} starts {count} liquidation ids" in result.stderr, result.stderr
    for candidate in (found for found in ids if found.startswith(digit)):
        assert candidate in result.stderr


def test_a_start_of_no_id_says_there_is_none(seeded: tuple[str, dict[str, Any]]) -> None:
    store_url, report = seeded
    used = {found[:2] for found in (item["id"] for item in report["liquidations"])}
    unused = next(f"{number:02x}" for number in range(256) if f"{number:02x}" not in used)
    result = ledger("postmortem", unused, "--store", store_url)
    assert result.exit_code == 2, result.stdout
    assert f"no liquidation in this store has an id starting with {unused}" in result.stderr


def test_a_start_that_no_id_can_have_is_not_an_id(seeded: tuple[str, dict[str, Any]]) -> None:
    store_url, _ = seeded
    for given in ("", "xyz", "0e67%", "0e67_"):
        result = ledger("postmortem", given, "--store", store_url)
        assert result.exit_code == 2, (given, result.stdout)
        assert "is not a liquidation id" in result.stderr, result.stderr
