"""`ledger reconcile` through the CLI, on both backends: a store the seed
scenarios built reconciles; a view row changed, deleted or added by hand, a
book total that breaks conservation and an event deleted from the store are
each listed with where, expected and found, and the command exits 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from ledger.entrypoints.cli import app as cli_app
from ledger.processes.inline import run_inputs
from ledger.runs import validate
from ledger.store import sql_engine
from projections.reconcile import reconcile_store
from tests.conftest import LedgerSession, seeds_one_after_another


def ledger(*args: str) -> Any:
    """The real `ledger` command, run in this process (one import, fast tests)."""
    return CliRunner().invoke(cli_app, list(args), catch_exceptions=False)


def reconcile(store_url: str) -> tuple[int, dict[str, Any]]:
    result = ledger("reconcile", "--store", store_url, "--json")
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def seeded(store_url: str, tmp_path: Path) -> str:
    for seed in seeds_one_after_another(tmp_path):
        assert ledger("run", str(seed), "--store", store_url, "--json").exit_code == 0
    return store_url


@pytest.fixture
def engine(seeded: str) -> Iterator[Engine]:
    engine = sql_engine(seeded)
    yield engine
    engine.dispose()


def execute(engine: Engine, statement: str, **params: Any) -> list[Any]:
    with engine.begin() as connection:
        result = connection.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def delete_event(engine: Engine, notification_id: int) -> None:
    """By hand, as nothing in the ledger ever would: the store's own table."""
    if engine.dialect.name == "sqlite":  # the library's SQLite table keys notifications by rowid
        execute(engine, "DELETE FROM stored_events WHERE rowid = :id", id=notification_id)
    else:
        execute(engine, "DELETE FROM ledger_events WHERE notification_id = :id", id=notification_id)


def middle_event(engine: Engine, event: str) -> tuple[int, str, int]:
    """(notification id, aggregate id, version) of an `event` that its aggregate has later events after."""
    return execute(
        engine,
        """
        SELECT e.notification_id, e.originator_id, e.originator_version FROM view_events e
        WHERE e.event = :event AND e.originator_version > 1 AND EXISTS (
            SELECT 1 FROM view_events later
            WHERE later.originator_id = e.originator_id AND later.originator_version > e.originator_version)
        ORDER BY e.notification_id LIMIT 1""",
        event=event,
    )[0]


def of_check(result: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [difference for difference in result["differences"] if difference["check"] == check]


def failed_checks(result: dict[str, Any]) -> set[str]:
    return {check for check, outcome in result["checks"].items() if outcome == "failed"}


def test_the_seeded_store_reconciles(seeded: str) -> None:
    code, result = reconcile(seeded)
    assert code == 0
    assert result["ok"] is True and result["differences"] == []
    assert set(result["checks"].values()) == {"ok"}
    assert result["position"] == result["last_notification_id"] == result["events_replayed"] > 0
    assert result["lag"] == 0
    human = ledger("reconcile", "--store", seeded)
    assert human.exit_code == 0 and "every check holds" in human.stdout


def test_a_changed_balance_is_listed_with_account_asset_expected_and_found(engine: Engine, seeded: str) -> None:
    execute(engine, "UPDATE view_account_assets SET balance = '0.5' WHERE account = 'A' AND asset = 'BTC'")
    code, result = reconcile(seeded)
    assert code == 1 and result["ok"] is False
    assert failed_checks(result) == {"views", "accounts_match_books"}
    assert of_check(result, "views") == [
        {
            "check": "views",
            "table": "view_account_assets",
            "key": {"account": "A", "asset": "BTC"},
            "column": "balance",
            "expected": "0.72727273",
            "found": "0.5",
        }
    ]
    # the books still say 0.72727273: the row disagrees with them too
    assert of_check(result, "accounts_match_books") == [
        {
            "check": "accounts_match_books",
            "table": "view_account_assets",
            "key": {"account": "A", "asset": "BTC"},
            "column": "balance",
            "expected": "0.72727273",
            "found": "0.5",
        }
    ]
    human = ledger("reconcile", "--store", seeded)
    assert human.exit_code == 1
    assert "account=A asset=BTC" in human.stdout and "0.72727273" in human.stdout


def test_a_deleted_view_row_is_listed_as_missing(engine: Engine, seeded: str) -> None:
    execute(engine, "DELETE FROM view_accounts WHERE account = 'B'")
    code, result = reconcile(seeded)
    assert code == 1
    [missing] = of_check(result, "views")
    assert missing["table"] == "view_accounts" and missing["key"] == {"account": "B"}
    assert missing["found"] == "no row"
    assert json.loads(missing["expected"])["mode"] == "cross_classic"


def test_an_extra_view_row_is_listed(engine: Engine, seeded: str) -> None:
    execute(engine, "INSERT INTO view_marks (asset, notification_id, price, quote) VALUES ('BTC', 999999, '1', 'USDC')")
    code, result = reconcile(seeded)
    assert code == 1
    assert of_check(result, "views") == [
        {
            "check": "views",
            "table": "view_marks",
            "key": {"asset": "BTC", "notification_id": "999999"},
            "column": None,
            "expected": "no row",
            "found": '{"price":"1","quote":"USDC","at":null}',
        }
    ]


def test_a_changed_book_total_breaks_conservation(engine: Engine, seeded: str) -> None:
    [(before,)] = execute(
        engine, "SELECT amount FROM view_book_totals WHERE holder = 'world' AND asset = 'BTC' AND book = 'balance'"
    )
    execute(
        engine, "UPDATE view_book_totals SET amount = '1' WHERE holder = 'world' AND asset = 'BTC' AND book = 'balance'"
    )
    code, result = reconcile(seeded)
    assert code == 1
    assert failed_checks(result) == {"conservation", "views"}
    assert of_check(result, "conservation") == [
        {"check": "conservation", "asset": "BTC", "book": "balance", "expected": "0", "found": str(1 - Decimal(before))}
    ]
    [changed] = of_check(result, "views")
    assert (changed["table"], changed["key"], changed["column"], changed["found"]) == (
        "view_book_totals",
        {"holder": "world", "asset": "BTC", "book": "balance"},
        "amount",
        "1",
    )


def test_a_deleted_event_is_an_unexplained_gap_and_a_version_hole(engine: Engine, seeded: str) -> None:
    notification_id, market, version = middle_event(engine, "AssetMarket.MarkRecorded")
    delete_event(engine, notification_id)
    code, result = reconcile(seeded)
    assert code == 1
    assert failed_checks(result) == {"views", "gaps", "versions"}
    assert of_check(result, "gaps") == [
        {
            "check": "gaps",
            "notification_ids": str(notification_id),
            "expected": "committed, or settled as never committed",
            "found": "missing, not settled",
        }
    ]
    [hole] = of_check(result, "versions")
    assert (hole["originator_id"], hole["versions"], hole["found"]) == (market, str(version), "missing")
    # the views still hold what the deleted mark set: rows a replay does not make
    extra = {(difference["table"], difference["found"] != "no row") for difference in of_check(result, "views")}
    assert extra == {("view_events", True), ("view_marks", True)}


def test_a_deleted_account_event_is_listed_not_a_crash(engine: Engine, seeded: str) -> None:
    notification_id, account, version = middle_event(engine, "Account.Deposited")
    delete_event(engine, notification_id)
    code, result = reconcile(seeded)
    assert code == 1
    [replay] = of_check(result, "views")  # the account cannot be followed past the hole
    assert replay["originator_id"] == account and replay["found"].startswith("OriginatorVersionError")
    assert of_check(result, "gaps")[0]["notification_ids"] == str(notification_id)
    assert of_check(result, "versions")[0]["versions"] == str(version)


def test_a_settled_gap_explains_a_missing_id_and_a_settled_id_in_the_store_is_listed(
    engine: Engine, seeded: str
) -> None:
    notification_id, _, _ = middle_event(engine, "AssetMarket.MarkRecorded")
    delete_event(engine, notification_id)
    execute(
        engine,
        "INSERT INTO view_settled_gaps (notification_id, settled_below) VALUES (:gap, :gap + 1), (1, 2)",
        gap=notification_id,
    )
    code, result = reconcile(seeded)
    assert code == 1
    assert of_check(result, "gaps") == [
        {
            "check": "gaps",
            "notification_ids": "1",
            "expected": "never committed (settled below 2)",
            "found": "committed after the runner passed it: the views skipped it",
        }
    ]


def test_events_after_the_views_position_are_lag_not_differences(store_url: str, tmp_path: Path) -> None:
    seeds = seeds_one_after_another(tmp_path)
    session = LedgerSession(store_url)
    session.run(seeds[0].read_text())  # projected by the report
    run_inputs(session.app, validate(session.app, seeds[1].read_text(), "later"), session.processes)
    engine = sql_engine(store_url)
    try:
        result = reconcile_store(session.app, engine)
    finally:
        engine.dispose()
        session.close()
    assert result["ok"] is True
    assert result["lag"] > 0 and result["position"] < result["last_notification_id"]
    assert result["events_replayed"] == result["position"]  # the store holds every id the views passed
