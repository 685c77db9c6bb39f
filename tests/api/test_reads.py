"""The read endpoints and replay jobs on a real server over a PostgreSQL store filled by
`ledger run` (the three seeds and a COIN-M liquidation): each answers what the CLI's
`--json` prints for the same store; pages walk every account and liquidation once;
unknown names are 404, bad query values 422 naming the parameter; a replay is a job
that ends with `ledger replay --json`'s result, a bad overlay a 422 and no job."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select, update
from typer.testing import CliRunner

from ledger.application import Ledger
from ledger.domain.margin.liquidation import liquidation_id
from ledger.entrypoints.cli import app as cli_app
from ledger.store import sql_engine, store_environment
from projections.api_keys import Role, create_key
from projections.jobs import ABANDONED, record_job
from projections.metrics import read_metrics
from projections.presentation.html import FOOTER_ID
from projections.tables import api_jobs
from tests.api.conftest import bearer, running_server
from tests.conftest import SCENARIOS, seeds_one_after_another

pytestmark = pytest.mark.postgres

# A COIN-M wallet at its liquidation price (33599.41860562), then a mark below it.
FUTURES_POSITION = SCENARIOS / "futures" / "binance_coinm_liquidation_price.jsonl"
MARK_BELOW = {"op": "mark", "symbol": "BTCUSD_PERP", "price": "33000", "at": "2026-03-02T10:00:00Z"}
OVERLAY = {"assets": {"BTC": {"pro_mmr": "0.06"}}}
JOB_SECONDS = 60


def ledger(*args: str) -> Any:
    """The real `ledger` command, run in this process (one import, fast tests)."""
    return CliRunner().invoke(cli_app, list(args), catch_exceptions=False)


def cli_json(*args: str) -> Any:
    result = ledger(*args)
    return json.loads(result.stdout)


class Reads:
    def __init__(self, store: str, engine: Engine, client: httpx.Client, report: dict[str, Any]):
        self.store = store
        self.engine = engine
        self.client = client
        self.report = report  # the last `ledger run --json`: every account, the system, liquidations

    def get(self, path: str, **params: Any) -> Any:
        answer = self.client.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def cli(self, *args: str) -> Any:
        return cli_json(*args, "--store", self.store)


@pytest.fixture(scope="module")
def reads(postgres_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reads]:
    store = f"{postgres_database}?schema=reads"
    directory = tmp_path_factory.mktemp("reads")
    futures_liquidation = directory / "coinm_liquidated.jsonl"
    futures_liquidation.write_text(FUTURES_POSITION.read_text() + json.dumps(MARK_BELOW) + "\n")
    for scenario in [*seeds_one_after_another(directory), seed_a_again(directory), futures_liquidation]:
        ran = ledger("run", str(scenario), "--store", store, "--json", "--actor", "api-tests")
        assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    engine = sql_engine(store)
    _, key = create_key(engine, "reads-operator", Role.OPERATOR, created_by="api-tests")
    with running_server(store, directory) as url, httpx.Client(base_url=url, headers=bearer(key), timeout=60) as client:
        yield Reads(store, engine, client, report)
    engine.dispose()


def seed_a_again(directory: Path) -> Path:
    """Seed A once more, a day after seed C, for an account whose liquidation's id starts as
    A's does: a start of an id that two liquidations share."""
    first = str(liquidation_id("A", 1))[0]
    twin = next(name for n in range(2, 1000) if str(liquidation_id(name := f"A{n}", 1))[0] == first)
    lines = [json.loads(line) for line in (SCENARIOS / "seed004_user_a.jsonl").read_text().splitlines() if line]
    again = directory / "seed004_user_a_again.jsonl"
    again.write_text("".join(json.dumps(_renamed(line, twin, "2026-01-08")) + "\n" for line in lines))
    return again


def _renamed(line: dict[str, Any], account: str, day: str) -> dict[str, Any]:
    """A line of seed A for `account`, on `day` instead of 2026-01-05."""
    moved = {**line, "account": account} if line.get("account") == "A" else dict(line)
    if "at" in moved:
        moved["at"] = moved["at"].replace("2026-01-05", day)
    return moved


def walk(reads: Reads, path: str, key: str, **params: Any) -> tuple[list[Any], int]:
    """Every item of a paged list, and how many pages it took."""
    found: list[Any] = []
    after: Any = None
    pages = 0
    while True:
        page = reads.get(path, **params, **({} if after is None else {"after": after}))
        found += page[key]
        pages += 1
        after = page["next"]
        if after is None:
            return found, pages


# --- accounts -------------------------------------------------------------------------------


def test_the_pages_of_accounts_hold_every_account_once_as_the_report_shows_it(reads: Reads) -> None:
    found, pages = walk(reads, "/accounts", "accounts", limit=2)
    names = [account["name"] for account in found]
    assert len(names) == len(set(names)) and pages == (len(names) + 1) // 2
    opened = [account.pop("opened_at_event") for account in found]
    assert opened == sorted(opened)
    assert {account.pop("name"): account for account in found} == reads.report["accounts"]
    assert {"A", "B", "C", "F"} <= set(names) and len(names) == 5


def test_an_account_is_its_report_section_margin_and_futures_alike(reads: Reads) -> None:
    for name in ("A", "F"):
        assert reads.get(f"/accounts/{name}") == {"name": name, **reads.report["accounts"][name]}


def test_accounts_are_filtered_by_product_mode_and_status(reads: Reads) -> None:
    accounts = reads.report["accounts"]
    by = {
        "product=futures": [name for name, account in accounts.items() if account["mode"] in ("usdm", "coinm")],
        "mode=cross_classic": [name for name, account in accounts.items() if account["mode"] == "cross_classic"],
        "status=normal": [name for name, account in accounts.items() if account["status"] == "normal"],
    }
    for query, expected in by.items():
        parameter, value = query.split("=")
        found = reads.get("/accounts", **{parameter: value})["accounts"]
        assert sorted(account["name"] for account in found) == sorted(expected), query
    assert reads.get("/accounts", product="margin", mode="coinm")["accounts"] == []


def test_history_at_an_event_and_at_a_time_is_ledger_historys(reads: Reads) -> None:
    assert reads.get("/accounts/A/history", at_event=12) == reads.cli("history", "A", "--at-event", "12", "--json")
    moment = "2026-01-06T10:10:00Z"  # seed B runs a day after A
    assert reads.get("/accounts/B/history", as_of=moment) == reads.cli("history", "B", "--as-of", moment, "--json")
    assert reads.get("/accounts/F/history") == reads.cli("history", "F", "--json")


# --- liquidations -------------------------------------------------------------------------


def test_liquidations_with_filters_are_ledger_liquidations(reads: Reads) -> None:
    everything = reads.cli("liquidations", "--json")["liquidations"]
    assert reads.get("/liquidations") == {"liquidations": everything, "next": None}
    assert everything == reads.report["liquidations"] and {row["kind"] for row in everything} >= {"futures"}
    for options in (
        {"kind": "futures"},
        {"account": "B", "status": "completed"},
        {"since": "2026-01-06T00:00:00Z", "until": "2026-01-07T23:00:00Z"},
    ):
        cli_options = [part for name, value in options.items() for part in (f"--{name}", value)]
        expected = reads.cli("liquidations", *cli_options, "--json")["liquidations"]
        assert reads.get("/liquidations", **options)["liquidations"] == expected, options
        assert expected, f"{options} matches nothing in the store: the test proves nothing"


def test_the_pages_of_liquidations_hold_each_once_in_order(reads: Reads) -> None:
    found, pages = walk(reads, "/liquidations", "liquidations", limit=1)
    assert found == reads.report["liquidations"] and pages == len(found)


def test_a_liquidation_and_its_postmortem_as_json_and_html(reads: Reads) -> None:
    liquidation = reads.report["liquidations"][0]
    whole, start = liquidation["id"], liquidation["id"][:8]
    assert reads.get(f"/liquidations/{start}") == liquidation == reads.get(f"/liquidations/{whole}")
    assert reads.get(f"/liquidations/{start}/postmortem") == reads.cli("postmortem", whole, "--format", "json")
    page = reads.client.get(f"/liquidations/{start}/postmortem.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    printed = ledger("postmortem", whole, "--format", "html", "--store", reads.store).stdout
    footer = re.compile(f'<footer id="{FOOTER_ID}">.*?</footer>', re.DOTALL)
    assert footer.sub("", page.text) == footer.sub("", printed)
    made = footer.search(page.text)
    assert made is not None and "by reads-operator" in made.group() and "schema=reads" in made.group()


def test_a_start_of_several_ids_is_409_listing_them(reads: Reads) -> None:
    ids = [row["id"] for row in reads.report["liquidations"]]
    shared = next(a[:1] for a in ids for b in ids if a != b and a[0] == b[0])
    answer = reads.client.get(f"/liquidations/{shared}/postmortem")
    assert answer.status_code == 409
    assert sorted(answer.json()["detail"]["candidates"]) == sorted(i for i in ids if i.startswith(shared))


# --- the store as a whole -------------------------------------------------------------------


def test_reconcile_is_ledger_reconciles(reads: Reads) -> None:
    found = reads.get("/reconcile")
    assert found["ok"] is True
    assert found == reads.cli("reconcile", "--json")


def test_parameters_list_every_version_with_its_actor(reads: Reads) -> None:
    versions = reads.get("/parameters")["parameters"]
    assert [version["version"] for version in versions] == list(range(1, len(versions) + 1))
    assert versions[-1]["version"] == reads.report["parameters_version"]
    assert {version["actor"] for version in versions[1:]} == {"api-tests"}
    assert all(isinstance(version["data"], dict) and version["at"].endswith("Z") for version in versions)


def test_system_accounts_are_the_reports_the_insurance_fund_first(reads: Reads) -> None:
    system = reads.get("/system-accounts")
    assert system == reads.report["system"]
    assert next(iter(system)) == "insurance-fund"


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/accounts/nobody", "/accounts/nobody/history", "/liquidations/abcdef12", "/liquidations/not-an-id/postmortem"],
)
def test_an_unknown_name_is_404_naming_it(reads: Reads, path: str) -> None:
    answer = reads.client.get(path)
    assert answer.status_code == 404, answer.text
    assert path.split("/")[2] in answer.json()["detail"]


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/accounts", {"status": "asleep"}, "status"),
        ("/accounts", {"mode": "futures"}, "mode"),
        ("/accounts", {"limit": "0"}, "limit"),
        ("/accounts", {"after": "first"}, "after"),
        ("/accounts/A/history", {"at_event": "100000"}, "at_event"),
        ("/accounts/A/history", {"as_of": "yesterday"}, "as_of"),
        ("/accounts/A/history", {"as_of": "2020-01-01T00:00:00Z"}, "as_of"),
        ("/liquidations", {"kind": "gentle"}, "kind"),
        ("/liquidations", {"status": "done"}, "status"),
        ("/liquidations", {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ("/liquidations", {"after": "ffffffff"}, "after"),
    ],
)
def test_a_bad_query_value_is_422_naming_the_parameter(
    reads: Reads, path: str, params: dict[str, str], parameter: str
) -> None:
    answer = reads.client.get(path, params=params)
    assert answer.status_code == 422, answer.text
    assert [error["loc"] for error in answer.json()["detail"]] == [["query", parameter]]


# --- replay jobs ----------------------------------------------------------------------------


def jobs_written(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(api_jobs)).scalar_one())


def finished(reads: Reads, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_SECONDS
    while time.monotonic() < deadline:
        job: dict[str, Any] = reads.get(location)
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    pytest.fail(f"the job {location} did not finish in {JOB_SECONDS} s")


def test_a_replay_is_a_job_that_ends_with_ledger_replays_result(reads: Reads, tmp_path: Path) -> None:
    answer = reads.client.post("/replay", json={"params": OVERLAY, "account": "A"})
    assert answer.status_code == 202, answer.text
    location = answer.headers["Location"]
    assert location == answer.json()["status_url"] == f"/jobs/{answer.json()['job_id']}"
    assert answer.json()["status"] in ("queued", "running")
    job = finished(reads, location)
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps(OVERLAY))
    expected = reads.cli("replay", "--params", str(overlay), "--account", "A", "--json")
    assert job["status"] == "done" and job["error"] is None, job
    assert job["result"] == expected
    assert job["requested_by"] == "reads-operator" and job["finished_at"] >= job["requested_at"]
    assert job["request"] == {"params": OVERLAY, "account": "A"}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"params": {"assets": {"BTC": {"bogus": "1"}}}}, ["body", "params", "assets", "BTC", "bogus"]),
        ({"params": {"margin_call_level": "1.5"}}, ["body", "params", "margin_call_level"]),
        ({"params": []}, ["body", "params"]),
        ({"params": OVERLAY, "accounts": "A"}, ["body", "accounts"]),
    ],
    ids=["asset-field", "unknown-parameter", "not-an-object", "extra-field"],
)
def test_a_bad_overlay_is_422_naming_the_field_and_no_job(reads: Reads, body: dict[str, Any], loc: list[str]) -> None:
    before = jobs_written(reads.engine)
    answer = reads.client.post("/replay", json=body)
    assert answer.status_code == 422, answer.text
    assert [error["loc"] for error in answer.json()["detail"]] == [loc]
    assert jobs_written(reads.engine) == before


def test_a_replay_of_an_unknown_account_is_404_and_no_job(reads: Reads) -> None:
    before = jobs_written(reads.engine)
    answer = reads.client.post("/replay", json={"params": OVERLAY, "account": "nobody"})
    assert answer.status_code == 404 and "nobody" in answer.json()["detail"]
    assert jobs_written(reads.engine) == before


def test_a_job_left_running_by_a_server_that_stopped_is_failed_saying_so(reads: Reads) -> None:
    job = record_job(reads.engine, "replay", "a-server-gone", {"params": OVERLAY, "account": None})
    with reads.engine.begin() as connection:
        connection.execute(
            update(api_jobs)
            .where(api_jobs.c.job_id == job.job_id)
            .values(status="running", requested_at=datetime.now(UTC) - timedelta(days=1))
        )
    found = reads.get(f"/jobs/{job.job_id}")
    assert found["status"] == "failed" and found["error"] == ABANDONED and found["finished_at"] is not None


def test_an_unknown_job_is_404(reads: Reads) -> None:
    assert reads.client.get("/jobs/no-such-job").status_code == 404


# --- concurrent reads -----------------------------------------------------------------------


def test_concurrent_reads_while_events_arrive_catch_up_one_at_a_time(reads: Reads, tmp_path: Path) -> None:
    """Reads in many threads while `ledger run` appends (seed A for another account, after
    the store's last event: the last test of the module, as it adds to the store): each
    catches the views up first, no two catch-ups collide, and the end is the CLI's report."""
    scenario = tmp_path / "seed004_user_a_later.jsonl"
    lines = [json.loads(line) for line in (SCENARIOS / "seed004_user_a.jsonl").read_text().splitlines() if line]
    scenario.write_text("".join(json.dumps(_renamed(line, "A-later", "2026-03-03")) + "\n" for line in lines))
    writer = subprocess.Popen(
        [sys.executable, "-m", "ledger", "run", str(scenario), "--store", reads.store, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    statuses: list[int] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        while writer.poll() is None:
            paths = ["/accounts", "/system-accounts", "/liquidations", "/accounts/A"] * 2
            statuses += pool.map(lambda path: reads.client.get(path).status_code, paths)
    report = json.loads(writer.communicate()[0])
    assert writer.returncode == 0 and statuses and set(statuses) == {200}
    accounts = {account["name"]: account for account in reads.get("/accounts")["accounts"]}
    assert {name: without(account, "name", "opened_at_event") for name, account in accounts.items()} == report[
        "accounts"
    ]
    assert reads.get("/system-accounts") == report["system"]


def without(item: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in keys}


# --- exports and metrics --------------------------------------------------------------------


def exported(reads: Reads, kind: str, fmt: str, **params: Any) -> httpx.Response:
    answer = reads.client.get(f"/exports/{kind}", params={"format": fmt, **params})
    assert answer.status_code == 200, answer.text
    return answer


def cli_export(reads: Reads, kind: str, fmt: str, *options: str) -> bytes:
    result = CliRunner().invoke(
        cli_app, ["export", kind, "--format", fmt, "--store", reads.store, *options], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_the_exports_are_ledger_exports_streamed(reads: Reads) -> None:
    csv_answer = exported(reads, "journal", "csv")
    assert "content-length" not in csv_answer.headers  # streamed as it is made
    assert csv_answer.headers["content-disposition"] == 'attachment; filename="journal.csv"'
    assert csv_answer.content == cli_export(reads, "journal", "csv")
    as_of = "2026-01-06T10:20:00Z"
    assert exported(reads, "balances", "csv", until=as_of).content == cli_export(
        reads, "balances", "csv", "--until", as_of
    )
    assert exported(reads, "liquidations", "csv", account="A").content == cli_export(
        reads, "liquidations", "csv", "--account", "A"
    )


def test_a_parquet_journal_from_the_api_sums_to_zero_per_asset_and_book(reads: Reads) -> None:
    table = pq.read_table(io.BytesIO(exported(reads, "journal", "parquet").content))
    assert table.schema.field("amount").type == pa.decimal128(38, 18)
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in table.to_pylist():
        totals[(row["asset"], row["book"])] += row["amount"]
    assert totals and set(totals.values()) == {Decimal(0)}


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/exports/journal?since=yesterday", "since"),
        ("/exports/journal?account=nobody-at-all", "account"),
        ("/exports/balances?since=2026-01-05T00:00:00Z", "since"),
        ("/exports/journal?format=xlsx", "format"),
        ("/exports/ledgers", "kind"),
    ],
)
def test_a_bad_export_is_422_naming_the_parameter(reads: Reads, path: str, parameter: str) -> None:
    answer = reads.client.get(path)
    assert answer.status_code == 422, answer.text
    assert parameter in json.dumps(answer.json()["detail"])


def test_metrics_need_no_key_and_read_the_counters(reads: Reads) -> None:
    reads.get("/accounts")  # the views up to date, and one request timed
    with httpx.Client(base_url=str(reads.client.base_url), timeout=30) as anonymous:
        answer = anonymous.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples = dict(re.findall(r"^(ledger_[a-z_]+(?:\{[^}]*\})?) (\S+)$", answer.text, flags=re.M))
    app = Ledger(store_environment(reads.store))
    try:
        expected = read_metrics(app, reads.engine)
    finally:
        app.close()
    assert float(samples["ledger_inputs_applied_total"]) == expected.inputs_applied > 0
    assert float(samples["ledger_rejections_total"]) == expected.rejections
    assert samples["ledger_projection_lag_events"] == "0.0"
    completed = {count.kind: count.count for count in expected.liquidations if count.status == "completed"}
    for kind in ("regular", "takeover", "mixed", "futures"):
        assert float(samples[f'ledger_liquidations{{kind="{kind}",status="completed"}}']) == completed[kind] > 0
    assert 'ledger_api_request_duration_seconds_count{method="GET",route="/accounts",status="200"}' in samples
    assert "ledger_dispatcher_backlog_events" not in samples  # `ledger run` stores have no dispatcher
