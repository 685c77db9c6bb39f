"""`ledger export`: the journal, the balances as of a time and the liquidations as CSV and
Parquet, on the three seed scenarios run on one store (a day apart) and on a futures store
(the shared two-symbol scenario, then a wallet the marks liquidate).

The journal is both sides of every posting, so it nets to zero per asset and book, exactly
(Decimal sums of the CSV's text and of Parquet's decimal128(38, 18) column); the balances
as of a time are what `ledger history --as-of` gives then, for every account.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import uuid
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger.domain.entries import SYSTEM_ACCOUNTS
from ledger.processes.inline import run_inputs
from ledger.runs import validate
from projections.presentation.exports import SCHEMAS, open_export
from projections.queries import ViewReader
from projections.report import StoreViews
from tests.conftest import BACKENDS, SCENARIOS, LedgerSession, seeds_one_after_another
from tests.integration.cli_scenarios import ledger, write_scenario
from tests.integration.test_futures_postmortem import CROSS

STORE_V2 = Path(__file__).resolve().parents[1] / "fixtures" / "store_v2.db"
FUTURES = SCENARIOS / "futures" / "binance_usdm_cross_two_symbols.jsonl"
# test_futures_postmortem's cross liquidation, by another wallet beside the scenario's: a
# USDⓈ-M wallet of 1000 USDT buys 0.5 BTCUSDT at 30000; the mark's fall to 28100 liquidates it.
FUTURES_LIQUIDATED = [{**line, "account": "L"} if "account" in line else line for line in CROSS[1:]]
# Points of the seeds' days B and C: B's takeover under way (A done, C not opened yet), C's liquidation under way.
MOMENTS = ("2026-01-06T10:20:00Z", "2026-01-07T10:22:00Z")


def run(scenario: Path, url: str) -> None:
    result = ledger("run", str(scenario), "--store", url, "--json")
    assert result.exit_code == 0, result.stderr


def new_store(request: pytest.FixtureRequest, directory: Path, name: str) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{directory / f'{name}.db'}"
    return f"{request.getfixturevalue('postgres_database')}?schema={name}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module", params=BACKENDS)
def seeds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The three seeds on one store, run once for the module: the exports only read."""
    directory = tmp_path_factory.mktemp("exports")
    url = new_store(request, directory, "seeds")
    for scenario in seeds_one_after_another(directory):
        run(scenario, url)
    return url


@pytest.fixture(scope="module")
def seed_a(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Seed A on SQLite alone, for what does not depend on the backend: refusals."""
    url = f"sqlite:///{tmp_path_factory.mktemp('exports_refused') / 'seed_a.db'}"
    run(SCENARIOS / "seed004_user_a.jsonl", url)
    return url


@pytest.fixture(scope="module", params=BACKENDS)
def futures(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("exports_futures")
    url = new_store(request, directory, "futures")
    run(FUTURES, url)
    run(write_scenario(directory / "liquidated.jsonl", FUTURES_LIQUIDATED), url)
    return url


def export(url: str, *args: str) -> bytes:
    result = ledger("export", *args, "--store", url)
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def csv_rows(url: str, *args: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(export(url, *args, "--format", "csv").decode())))


def parquet_table(url: str, *args: str) -> pa.Table:
    return pq.read_table(io.BytesIO(export(url, *args, "--format", "parquet")))


def net(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> dict[Any, Decimal]:
    totals: dict[Any, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[key(row)] += Decimal(row["amount"])
    return dict(totals)


def assert_journal_balances(url: str) -> list[dict[str, str]]:
    """The CSV and the Parquet journal hold the same rows with the same exact amounts, net
    to zero per asset and book (and per event), and sum per account to the views' books."""
    rows = csv_rows(url, "journal")
    table = parquet_table(url, "journal")
    assert table.schema == SCHEMAS["journal"]
    assert table.schema.field("amount").type == pa.decimal128(38, 18)
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    parquet = table.to_pylist()
    assert [Decimal(row["amount"]) for row in rows] == [row["amount"] for row in parquet]
    assert [row["account"] for row in rows] == [row["account"] for row in parquet]
    assert {row["at"].isoformat().replace("+00:00", "Z") for row in parquet} == {row["at"] for row in rows}
    for source in (rows, parquet):
        assert source, "the journal is empty"
        assert set(net(source, lambda row: (row["asset"], row["book"])).values()) == {Decimal(0)}
        assert set(net(source, lambda row: (row["notification_id"], row["asset"], row["book"])).values()) == {
            Decimal(0)
        }
    with StoreViews(url) as views:
        views.runner.catch_up()
        books = {
            (row["holder"], row["asset"], row["book"]): row["amount"] for row in ViewReader(views.engine).book_totals()
        }
    assert net(rows, lambda row: (row["account"], row["asset"], row["book"])) == books
    for row in rows:  # each side names the other, with the opposite amount
        assert row["counter_account"] != row["account"]
    return rows


def test_journal_of_the_seeds_nets_to_zero_exactly(seeds: str) -> None:
    rows = assert_journal_balances(seeds)
    assert {row["account"] for row in rows} >= {"A", "B", "C", *SYSTEM_ACCOUNTS}
    assert {row["book"] for row in rows} == {"balance", "debt"}
    assert all(row["actor"] for row in rows)  # `ledger run`'s, by default the OS user
    deposited = [row for row in rows if row["event"] == "Account.Deposited" and row["account"] == "A"]
    assert [(row["counter_account"], row["asset"], row["amount"]) for row in deposited] == [("world", "BTC", "2")]


def test_journal_of_a_futures_store_nets_to_zero_exactly(futures: str) -> None:
    rows = assert_journal_balances(futures)
    assert {row["account"] for row in rows} >= {"F", "L", "world", "market", "insurance-fund"}
    assert {row["asset"] for row in rows} == {"USDT"}
    liquidations = csv_rows(futures, "liquidations", "--account", "L")
    assert {row["kind"] for row in liquidations} == {"futures"}
    figures = {row["figure"]: row for row in liquidations}
    assert figures["fee.amounts.USDT"]["value"] == "50"
    assert figures["closed.0.side"]["text"] == "long"
    assert figures["trigger.margin_ratio"]["value"] == "1.124"
    exported = balances_by_account(csv_rows(futures, "balances"))
    for account in ("F", "L"):
        assert exported[account] == history_books(futures, account), account


def test_the_actor_of_every_row_is_who_submitted_its_input(tmp_path: Path) -> None:
    """Seed A submitted by alice: her deposit, and the liquidation's process steps it set off."""
    session = LedgerSession(f"sqlite:///{tmp_path / 'actors.db'}")
    try:
        inputs = validate(session.app, (SCENARIOS / "seed004_user_a.jsonl").read_text(), "seed004_user_a.jsonl")
        run_inputs(session.app, [dataclasses.replace(each, actor="alice") for each in inputs], session.processes)
    finally:
        session.close()
    rows = csv_rows(session.url, "journal")
    assert {row["event"] for row in rows} >= {"Account.Deposited", "Account.CollateralSold"}
    assert {row["actor"] for row in rows} == {"alice"}


def test_a_store_written_before_actors_exports_them_as_not_recorded(tmp_path: Path) -> None:
    """store_v2.db (margin and futures, every kind of liquidation, no actors): its journal nets
    to zero with every actor empty, and its liquidations of both products are listed."""
    copy = tmp_path / STORE_V2.name
    shutil.copyfile(STORE_V2, copy)
    rows = assert_journal_balances(f"sqlite:///{copy}")
    assert {row["actor"] for row in rows} == {""}
    kinds = {row["kind"] for row in csv_rows(f"sqlite:///{copy}", "liquidations")}
    assert kinds == {"regular", "takeover", "mixed", "futures"}


def balances_by_account(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Decimal]]]:
    """account -> book -> asset -> amount, zero amounts left out."""
    found: dict[str, dict[str, dict[str, Decimal]]] = defaultdict(lambda: {"balance": {}, "debt": {}})
    for row in rows:
        if Decimal(row["amount"]) != 0:
            found[row["account"]][row["book"]][row["asset"]] = Decimal(row["amount"])
    return found


def history_books(url: str, account: str, *point: str) -> dict[str, dict[str, Decimal]] | None:
    """The account's balances and debts (principal and interest) as `ledger history` gives them."""
    result = ledger("history", account, "--store", url, "--json", *point)
    if result.exit_code == 2 and "did not exist yet" in result.stderr:
        return None
    assert result.exit_code == 0, result.stderr
    state = json.loads(result.stdout)["state"]
    debts: dict[str, Decimal] = defaultdict(Decimal)
    for part in ("debts", "interest"):
        for asset, amount in state.get(part, {}).items():
            debts[asset] += Decimal(amount)
    return {
        "balance": {asset: Decimal(amount) for asset, amount in state["balances"].items() if Decimal(amount) != 0},
        "debt": {asset: amount for asset, amount in debts.items() if amount != 0},
    }


@pytest.mark.parametrize("moment", [*MOMENTS, None])
def test_balances_as_of_a_time_are_the_history_then(seeds: str, moment: str | None) -> None:
    point = () if moment is None else ("--until", moment)
    rows = csv_rows(seeds, "balances", *point)
    parquet = parquet_table(seeds, "balances", *point)
    assert parquet.schema.field("amount").type == pa.decimal128(38, 18)
    assert [Decimal(row["amount"]) for row in rows] == parquet.column("amount").to_pylist()
    exported = balances_by_account(rows)
    for book in ("balance", "debt"):
        assert sum(amount for account in exported.values() for amount in account[book].values()) == 0
    for account in ("A", "B", "C"):
        told = history_books(seeds, account, *(() if moment is None else ("--as-of", moment)))
        if told is None:
            assert account not in exported
            continue
        assert exported.get(account, {"balance": {}, "debt": {}}) == told, account


def test_filters(seeds: str) -> None:
    everything = csv_rows(seeds, "journal")
    of_b = csv_rows(seeds, "journal", "--account", "B")
    assert of_b == [row for row in everything if row["account"] == "B"]
    assert of_b and {row["account"] for row in of_b} == {"B"}
    since, until = "2026-01-06T10:00:00Z", "2026-01-06T10:25:00Z"
    window = csv_rows(seeds, "journal", "--since", since, "--until", until)
    assert window == [row for row in everything if since <= row["at"] <= until]
    assert {row["at"] for row in window} == {"2026-01-06T10:00:00Z", "2026-01-06T10:20:00Z", "2026-01-06T10:25:00Z"}
    desk = csv_rows(seeds, "balances", "--account", "takeover-desk", "--until", "2026-01-06T10:20:00Z")
    assert {row["account"] for row in desk} == {"takeover-desk"}
    liquidations = csv_rows(seeds, "liquidations")
    assert {row["account"] for row in liquidations} == {"A", "B", "C"}
    assert {row["account"] for row in csv_rows(seeds, "liquidations", "--account", "C")} == {"C"}
    on_day_b = csv_rows(seeds, "liquidations", "--since", "2026-01-06T00:00:00Z", "--until", "2026-01-06T23:00:00Z")
    assert {row["account"] for row in on_day_b} == {"B"}
    figures = {row["figure"]: row for row in on_day_b}
    assert figures["returned.USDC"]["value"] == "27000"
    assert figures["trigger.at"]["text"] == "2026-01-06T10:20:00Z"
    table = parquet_table(seeds, "liquidations", "--account", "A")
    assert table.schema == SCHEMAS["liquidations"]
    assert {row["figure"]: row["value"] for row in table.to_pylist()}["fee.amounts.BTC"] == Decimal("0.18181817")


def test_a_small_batch_makes_several_row_groups(seeds: str, tmp_path: Path) -> None:
    output = tmp_path / "journal.parquet"
    export(seeds, "journal", "--format", "parquet", "--batch-size", "7", "--output", str(output))
    journal = pq.ParquetFile(output)
    rows = journal.metadata.num_rows
    assert rows > 14 and journal.metadata.num_row_groups == -(-rows // 7)
    with StoreViews(seeds) as views:
        views.runner.catch_up()
        made = open_export(views.app, views.engine, "journal", "parquet", batch_size=7)
        chunks = list(made.chunks)
    assert (made.filename, made.media_type) == ("journal.parquet", "application/vnd.apache.parquet")
    # A chunk a full row group as it is written; the last one's rows come with the footer.
    assert len(chunks) == rows // 7 + 1
    assert b"".join(chunks) == output.read_bytes()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("ledgers",), "kind 'ledgers'"),
        (("journal", "--format", "xlsx"), "--format 'xlsx'"),
        (("journal", "--since", "2026-01-05 10:00"), "--since"),
        (("balances", "--until", "yesterday"), "--until"),
        (("journal", "--account", "nobody"), "--account 'nobody'"),
        (("journal", "--since", "2026-01-07T00:00:00Z", "--until", "2026-01-06T00:00:00Z"), "--since"),
        (("balances", "--since", "2026-01-06T00:00:00Z"), "--since"),
        (("liquidations", "--account", "B"), "--account 'B'"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(seed_a: str, tmp_path: Path, args: tuple[str, ...], named: str) -> None:
    output = tmp_path / "export.csv"
    result = ledger("export", *args, "--store", seed_a, "--output", str(output))
    assert result.exit_code == 2, result.stdout
    assert named in result.stderr
    assert not output.exists()
    to_stdout = ledger("export", *args, "--store", seed_a)
    assert to_stdout.exit_code == 2 and to_stdout.stdout_bytes == b""


def test_an_existing_file_is_kept_without_force(seed_a: str, tmp_path: Path) -> None:
    output = tmp_path / "kept.csv"
    output.write_text("mine")
    refused = ledger("export", "journal", "--store", seed_a, "--output", str(output))
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert output.read_text() == "mine"
    assert ledger("export", "journal", "--store", seed_a, "--output", str(output), "--force").exit_code == 0
    assert output.read_text().startswith("notification_id,event,at,actor,account")
    store_file = Path(seed_a.removeprefix("sqlite:///"))
    size = store_file.stat().st_size
    over_the_store = ledger("export", "journal", "--store", seed_a, "--output", str(store_file), "--force")
    assert over_the_store.exit_code == 2 and "never written over" in over_the_store.stderr
    assert store_file.stat().st_size == size
