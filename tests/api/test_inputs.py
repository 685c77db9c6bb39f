"""`POST /inputs` on the real server: the seed scenarios give the reports `ledger run`
gives (inline on SQLite servers, and one through a running service on PostgreSQL with
`settle=true`); one input, a batch, JSON Lines; the Idempotency-Key under 20 concurrent
requests and with another body; the server's time for an item without `at`; bad input
(422 naming item and field, nothing written); roles (params need admin); the key's name
recorded as the actor of the inputs and of the process steps they set off; `settle=true`
with no dispatcher (503 naming it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from ledger.bootstrap import open_ledger, open_service_ledger
from ledger.causes import actor_of
from ledger.log import stored_events
from ledger.store import sql_engine
from projections.api_keys import Role, create_key
from projections.report import StoreViews, build_report
from tests.api.conftest import TEST_ACTOR, bearer, running_server
from tests.api.endpoints import unique_name, what_is_written
from tests.integration.cli_scenarios import run_json
from tests.workers.conftest import SEEDS, Service

pytestmark = pytest.mark.postgres

JSON_LINES = {"Content-Type": "application/x-ndjson"}
SEED_A = next(seed for seed in SEEDS if seed.name == "seed004_user_a.jsonl")


def report(url: str, service: bool = False) -> dict[str, Any]:
    app = open_service_ledger(url) if service else open_ledger(url)
    try:
        return build_report(app)
    finally:
        app.close()


def without_run(found: dict[str, Any]) -> dict[str, Any]:
    """A report without its `run` (the source's name differs: a file, or the API)."""
    return {key: value for key, value in found.items() if key != "run"}


def actors(url: str, service: bool = False) -> dict[str, set[str | None]]:
    """Who each event's cause names, for inputs and for process steps apart."""
    app = open_service_ledger(url) if service else open_ledger(url)
    try:
        causes = [event.cause for event in stored_events(app) if getattr(event, "cause", None)]
    finally:
        app.close()
    return {
        "inputs": {actor_of(cause) for cause in causes if cause["kind"] == "input"},
        "steps": {actor_of(cause) for cause in causes if cause["kind"] == "process"},
    }


def balance(url: str, account: str, asset: str = "USDC") -> Decimal:
    return Decimal(report(url)["accounts"][account]["balances"].get(asset, "0"))


def store_clock(url: str) -> datetime | None:
    app = open_ledger(url)
    try:
        return app.store_clock()
    finally:
        app.close()


def opened_account(client: httpx.Client, key: str) -> str:
    account = unique_name("acct")
    answer = client.post("/inputs", json=account_opening(account), headers=bearer(key))
    assert answer.status_code == 202, answer.text
    return account


def account_opening(account: str) -> list[dict[str, Any]]:
    return [
        {"op": "open", "account": account, "mode": "cross_classic", "leverage": 3},
        {"op": "deposit", "account": account, "asset": "USDC", "amount": "100"},
    ]


def deposit(account: str, amount: str = "1", **more: Any) -> dict[str, Any]:
    return {"op": "deposit", "account": account, "asset": "USDC", "amount": amount, **more}


# --- the seed scenarios -------------------------------------------------------------------


@dataclass(frozen=True)
class SeedServer:
    url: str
    store: str
    key: str  # an admin's: the seeds hold params inputs
    server: AbstractContextManager[str]


def admin_key_of(store: str, name: str) -> str:
    engine = sql_engine(store)
    try:
        return create_key(engine, name, Role.ADMIN, created_by=TEST_ACTOR)[1]
    finally:
        engine.dispose()


def seed_store(seed: Path, directory: Path) -> str:
    """A SQLite store of the seed's own, made as `ledger migrate` makes it (one at a
    time: Alembic's context is the process's)."""
    store = f"sqlite:///{directory / seed.stem}.db"
    with StoreViews(store):
        pass
    return store


def seed_server(store: str, directory: Path) -> SeedServer:
    server = running_server(store, directory)
    return SeedServer(server.__enter__(), store, admin_key_of(store, "seed-admin"), server)


@pytest.fixture(scope="module")
def seed_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SeedServer]]:
    """A server for each seed, started side by side (a cold start is most of the time)."""
    directory = tmp_path_factory.mktemp("seeds")
    stores = [seed_store(seed, directory) for seed in SEEDS]
    with ThreadPoolExecutor(len(SEEDS)) as pool:
        starting = [pool.submit(seed_server, store, directory) for store in stores]
    try:
        yield {seed.name: started.result() for seed, started in zip(SEEDS, starting)}
    finally:
        for started in starting:
            if started.exception() is None:
                started.result().server.__exit__(None, None, None)


@pytest.mark.parametrize("scenario", SEEDS, ids=lambda path: path.stem)
def test_a_seed_through_the_api_on_sqlite_reports_as_ledger_run(
    seed_servers: dict[str, SeedServer], scenario: Path, tmp_path: Path
) -> None:
    served = seed_servers[scenario.name]
    answer = httpx.post(
        f"{served.url}/inputs", content=scenario.read_bytes(), headers={**JSON_LINES, **bearer(served.key)}, timeout=120
    )
    assert answer.status_code == 200, answer.text
    outcome = answer.json()
    lines = len(scenario.read_text().splitlines())
    assert (outcome["status"], outcome["items"], outcome["applied"], outcome["source"]) == (
        "applied",
        lines,
        lines,
        "api",
    )
    assert without_run(report(served.store)) == without_run(ledger_run(scenario, tmp_path))
    # The key's name is the actor of every input, and of every process step they set off.
    assert actors(served.store) == {"inputs": {"seed-admin"}, "steps": {"seed-admin"}}


def ledger_run(scenario: Path, directory: Path) -> dict[str, Any]:
    """What `ledger run` reports for the scenario, on a SQLite store of its own."""
    return run_json(scenario, f"sqlite:///{directory / 'inline.db'}")


def test_a_seed_through_the_api_on_postgres_settled_by_the_service_reports_as_ledger_run(
    postgres_database: str, tmp_path: Path
) -> None:
    store = f"{postgres_database}?schema=apiw_{uuid.uuid4().hex[:12]}"
    service = Service(store, tmp_path)  # migrates the store
    try:
        key = admin_key_of(store, "service-admin")
        with ThreadPoolExecutor(2) as pool:  # started side by side with the server
            worker, dispatcher = pool.submit(service.start_worker), pool.submit(service.start_dispatcher)
            with running_server(store, tmp_path) as url:
                worker.result(), dispatcher.result()
                answer = httpx.post(
                    f"{url}/inputs",
                    params={"settle": "true", "timeout": "60"},
                    content=SEED_A.read_bytes(),
                    headers={**JSON_LINES, **bearer(key)},
                    timeout=300,
                )
        assert answer.status_code == 200, answer.text + service.log_tail()
        assert answer.json()["status"] == "appended"
        assert without_run(report(store, service=True)) == without_run(ledger_run(SEED_A, tmp_path))
        assert actors(store, service=True) == {"inputs": {"service-admin"}, "steps": {"service-admin"}}
    finally:
        service.stop()


# --- one input, a batch, JSON Lines (the session's PostgreSQL server: appended, 202) -------


def test_one_input_a_batch_and_json_lines_are_appended(
    client: httpx.Client, operator_key: str, api_store_url: str, api_engine: Engine
) -> None:
    account = unique_name("acct")
    one = client.post("/inputs", json=account_opening(account)[0], headers=bearer(operator_key))
    assert one.status_code == 202, one.text
    assert one.json()["position"] == what_is_written(api_engine)[-1]  # the log's last notification id
    batch = client.post("/inputs", json=[deposit(account, "2"), deposit(account, "3")], headers=bearer(operator_key))
    assert batch.status_code == 202, batch.text
    lines = b'{"op": "deposit", "account": "%s", "asset": "USDC", "amount": "4.5"}\n' % account.encode()
    as_lines = client.post("/inputs", content=lines * 2, headers={**JSON_LINES, **bearer(operator_key)})
    assert as_lines.status_code == 202, as_lines.text
    assert [answer.json()["applied"] for answer in (one, batch, as_lines)] == [1, 2, 2]
    assert {answer.json()["status"] for answer in (one, batch, as_lines)} == {"appended"}
    assert balance(api_store_url, account) == Decimal("14")
    assert actors_of_account(api_store_url, account) == {"test-operator"}


def actors_of_account(url: str, account: str) -> set[str | None]:
    """Who the store's record of inputs says submitted the account's inputs."""
    app = open_ledger(url)
    try:
        return {record.get("actor") for record in app.recorded_inputs() if record["input"].get("account") == account}
    finally:
        app.close()


def test_an_item_without_at_takes_the_servers_time(client: httpx.Client, operator_key: str, api_store_url: str) -> None:
    account = opened_account(client, operator_key)
    before = datetime.now(UTC)
    answer = client.post("/inputs", json=deposit(account), headers=bearer(operator_key))
    after = datetime.now(UTC)
    assert answer.status_code == 202, answer.text
    clock = store_clock(api_store_url)
    assert clock is not None and before <= clock <= after


def test_an_item_earlier_than_the_store_clock_is_422_naming_it(
    client: httpx.Client, operator_key: str, api_engine: Engine
) -> None:
    account = opened_account(client, operator_key)
    before = what_is_written(api_engine)
    answer = client.post(
        "/inputs",
        json=[deposit(account), deposit(account, at="2026-01-01T00:00:00Z")],
        headers=bearer(operator_key),
    )
    assert answer.status_code == 422, answer.text
    assert [(error["item"], error["field"]) for error in answer.json()["errors"]] == [(2, "at")]
    assert what_is_written(api_engine) == before


# --- the Idempotency-Key ------------------------------------------------------------------


def test_twenty_concurrent_requests_with_one_key_have_one_effect(
    api_url: str, operator_key: str, api_store_url: str
) -> None:
    with httpx.Client(base_url=api_url, timeout=60) as client:
        account = opened_account(client, operator_key)
    key = unique_name("same")

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=api_url, timeout=60) as own:
            return own.post(
                "/inputs", json=deposit(account, "7"), headers={"Idempotency-Key": key, **bearer(operator_key)}
            )

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, range(20)))
    assert all(answer.status_code < 300 for answer in answers), [answer.text for answer in answers]
    statuses = sorted(answer.json()["status"] for answer in answers)
    assert statuses == ["appended"] + ["repeat"] * 19
    assert balance(api_store_url, account) == Decimal("107")


def test_a_key_reused_with_another_body_is_409_and_recorded(
    client: httpx.Client, operator_key: str, admin_key: str, api_store_url: str
) -> None:
    account = opened_account(client, operator_key)
    key = unique_name("reused")
    first = client.post("/inputs", json=deposit(account, "5"), headers={"Idempotency-Key": key, **bearer(operator_key)})
    assert first.status_code == 202, first.text
    other = client.post("/inputs", json=deposit(account, "6"), headers={"Idempotency-Key": key, **bearer(admin_key)})
    assert other.status_code == 409, other.text
    assert key in other.json()["detail"]
    assert balance(api_store_url, account) == Decimal("105")
    [rejection] = [found for found in report(api_store_url)["rejections"] if key in found["error"]]
    assert rejection["op"] == "request" and "test-admin" in rejection["error"]


# --- bad input, roles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "item", "field"),
    [
        (b"{not json", {}, 0, "body"),
        (b"[]", {}, 0, "body"),
        (b'[{"op": "deposit", "account": "A", "asset": "USDC", "amount": "1"}, 3]', {}, 2, "item"),
        (b'{"op": "deposit", "account": "A", "asset": "USDC", "amount": "1.0000000000000000001"}', {}, 1, "amount"),
        (b'{"op": "teleport", "account": "A"}', {}, 1, "op"),
        (b'{"op": "deposit", "account": "A", "asset": "USDC", "amount": "1"}\n{oops', JSON_LINES, 0, "line 2"),
        (
            b'{"op": "deposit", "account": "A", "asset": "USDC", "amount": "1"}',
            {"Idempotency-Key": ""},
            0,
            "Idempotency-Key",
        ),
    ],
    ids=["not-json", "empty", "not-an-object", "amount", "op", "json-lines", "empty-key"],
)
def test_bad_input_is_422_naming_item_and_field_and_writes_nothing(
    client: httpx.Client,
    operator_key: str,
    api_engine: Engine,
    body: bytes,
    headers: dict[str, str],
    item: int,
    field: str,
) -> None:
    before = what_is_written(api_engine)
    answer = client.post(
        "/inputs", content=body, headers={"Content-Type": "application/json", **headers, **bearer(operator_key)}
    )
    assert answer.status_code == 422, answer.text
    assert (item, field) in {(error["item"], error["field"]) for error in answer.json()["errors"]}, answer.text
    assert all(error["message"] for error in answer.json()["errors"])
    assert what_is_written(api_engine) == before


def test_a_body_of_another_type_is_415(client: httpx.Client, operator_key: str) -> None:
    answer = client.post(
        "/inputs", content=b"op=deposit", headers={"Content-Type": "text/plain", **bearer(operator_key)}
    )
    assert answer.status_code == 415 and "application/x-ndjson" in answer.json()["detail"]


def test_a_body_too_large_is_413(client: httpx.Client, operator_key: str, api_engine: Engine) -> None:
    before = what_is_written(api_engine)
    answer = client.post(
        "/inputs",
        content=b" " * (17 * 1024 * 1024),
        headers={"Content-Type": "application/json", **bearer(operator_key)},
    )
    assert answer.status_code == 413, answer.text
    assert what_is_written(api_engine) == before


PARAMS = {"op": "params", "assets": {"USDC": {"hourly_interest": "0"}}}


def test_params_need_an_admin(client: httpx.Client, operator_key: str, admin_key: str, api_engine: Engine) -> None:
    account = opened_account(client, operator_key)
    before = what_is_written(api_engine)
    refused = client.post("/inputs", json=[deposit(account), PARAMS], headers=bearer(operator_key))
    assert refused.status_code == 403, refused.text
    assert "params" in refused.json()["detail"] and "item 2" in refused.json()["detail"]
    assert "admin" in refused.json()["detail"]
    assert what_is_written(api_engine) == before
    allowed = client.post("/inputs", json=[deposit(account), PARAMS], headers=bearer(admin_key))
    assert allowed.status_code == 202, allowed.text


def test_no_key_is_401_and_a_viewer_403(client: httpx.Client, viewer_key: str, api_engine: Engine) -> None:
    before = what_is_written(api_engine)
    assert client.post("/inputs", json=deposit("A")).status_code == 401
    refused = client.post("/inputs", json=deposit("A"), headers=bearer(viewer_key))
    assert refused.status_code == 403 and "operator" in refused.json()["detail"]
    assert what_is_written(api_engine) == before


# --- settle with no service ---------------------------------------------------------------


def test_settle_with_no_dispatcher_is_503_naming_it(client: httpx.Client, operator_key: str) -> None:
    """The session's server has no service: nothing settles what it appends; a keyed
    request appended without waiting, sent again with `settle`, waits too (not a repeat
    answered as if settled)."""
    settle = {"settle": "true", "timeout": "0.5"}
    first = account_opening(unique_name("acct"))[0]
    answer = client.post("/inputs", params=settle, json=first, headers=bearer(operator_key))
    assert answer.status_code == 503, answer.text
    assert "`ledger dispatcher`" in answer.json()["detail"] and "0.5 s" in answer.json()["detail"]
    keyed = {"Idempotency-Key": unique_name("settle"), **bearer(operator_key)}
    second = account_opening(unique_name("acct"))[0]
    assert client.post("/inputs", json=second, headers=keyed).status_code == 202
    again = client.post("/inputs", params=settle, json=second, headers=keyed)
    assert again.status_code == 503 and "`ledger dispatcher`" in again.json()["detail"], again.text
