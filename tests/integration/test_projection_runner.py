"""The projection runner against real stores and real processes: it resumes exactly
where a killed run stopped, never passes an id a running transaction may still
commit, rebuilds what it built incrementally, and applies each batch once when two
runners race.

Every check compares the view tables, row by row, with what the store's events say:
a replay of every event into memory (`projections.views.replay_rows`), or the same
tables after `ledger project --rebuild`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, select

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.domain.margin.account import Account
from ledger.processes.inline import run_inputs
from ledger.runs import validate
from ledger.store import parse_postgres
from projections import tables
from projections.report import StoreViews
from projections.runner import ProjectionConflict
from projections.views import replay_rows
from tests.conftest import SCENARIOS, apply_lines, ledger_cli, seeds_one_after_another

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "bench" / "generate_scenario.py"
SEED_SCENARIOS = sorted(SCENARIOS.glob("seed004_user_*.jsonl"))

Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


# --- stores and scenarios ---------------------------------------------------------------


@pytest.fixture
def pg_url(postgres_database: str) -> str:
    """A fresh PostgreSQL store (a schema of its own in the session's database)."""
    return f"{postgres_database}?schema=t_{uuid.uuid4().hex[:12]}"


def generated(tmp_path: Path, accounts: int, inputs: int, seed: int = 11) -> list[str]:
    """The lines of a scenario from bench/generate_scenario.py (deterministic for a seed)."""
    out = tmp_path / f"generated_{accounts}_{inputs}_{seed}.jsonl"
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--accounts",
            str(accounts),
            "--inputs",
            str(inputs),
            "--seed",
            str(seed),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.read_text().splitlines()


def chunks(lines: list[str], parts: int) -> Iterator[list[str]]:
    size = -(-len(lines) // parts)
    for first in range(0, len(lines), size):
        yield lines[first : first + size]


def project_once(url: str, batch: int | None = None) -> dict[str, Any]:
    completed = ledger_cli(
        "project", "--once", "--store", url, "--json", env={"LEDGER_PROJECTION_BATCH": str(batch)} if batch else None
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


# --- the view tables, row by row ---------------------------------------------------------


def canonical(value: Any, exact: bool) -> Any:
    """A value as both sides of a comparison hold it. Amounts: their exact text when both
    sides went through the database (`exact`), their value against a replay in memory."""
    if isinstance(value, Decimal):
        return str(value) if exact else value.normalize()
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, (list, tuple)):
        return [canonical(item, exact) for item in value]
    if isinstance(value, dict):
        return {key: canonical(item, exact) for key, item in value.items()}
    return value


def view_rows(engine: Engine, exact: bool = True) -> Rows:
    """Every row of every view table, by table and key (a doubled key fails here)."""
    found: Rows = {}
    with engine.connect() as connection:
        for table in tables.VIEW_TABLES:
            keys = tables.key_columns(table)
            rows: dict[tuple[Any, ...], dict[str, Any]] = {}
            for row in connection.execute(select(table)).mappings():
                key = tuple(row[name] for name in keys)
                assert key not in rows, f"{table.name}: row {key} twice"
                rows[key] = {name: canonical(value, exact) for name, value in row.items()}
            found[table.name] = rows
    return found


def stored_events(app: Ledger, page: int = 5000) -> Iterator[tuple[int, Any]]:
    start = 1
    while True:
        notifications = app.recorder.select_notifications(start=start, limit=page)
        for notification in notifications:
            yield notification.id, app.mapper.to_domain_event(notification)
        if len(notifications) < page:
            return
        start = notifications[-1].id + 1


def replayed(app: Ledger) -> Rows:
    """What every view table must hold: every stored event replayed into memory."""
    changes = replay_rows(stored_events(app))
    expected: Rows = {}
    for table in tables.VIEW_TABLES:
        expected[table.name] = {
            key: {column.name: canonical(row.get(column.name), exact=False) for column in table.columns}
            for key, row in changes.by_table[table.name].items()
            if row is not None
        }
    return expected


def differences(actual: Rows, expected: Rows, limit: int = 10) -> list[str]:
    found = []
    for name in expected:
        for key in sorted(set(actual[name]) | set(expected[name]), key=repr):
            if actual[name].get(key) != expected[name].get(key):
                found.append(f"{name} {key}: {actual[name].get(key)} != {expected[name].get(key)}")
    return found[:limit] + ([f"... {len(found) - limit} more"] if len(found) > limit else [])


def assert_views_match_the_events(url: str) -> None:
    """The views equal a replay of every event, and stand at the last notification."""
    with StoreViews(url) as views:
        actual = view_rows(views.engine, exact=False)
        assert differences(actual, replayed(views.app)) == []
        assert len(actual[tables.events.name]) == sum(1 for _ in stored_events(views.app))
        assert views.runner.position() == views.runner.last_notification_id()


def tracked_position(url: str) -> int:
    target = parse_postgres(url)
    with psycopg.connect(target.conninfo(), autocommit=True) as connection:
        try:
            row = connection.execute(
                sql.SQL("SELECT notification_id FROM {}.view_tracking").format(sql.Identifier(target.schema))
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return 0 if row is None else row[0]


# --- 1. killed in the middle of a batch -----------------------------------------------------


def kill_while_writing(url: str, watcher: psycopg.Connection[Any]) -> tuple[int, int]:
    """Starts `ledger project --once`; once it has written a batch, kills it (SIGKILL) as
    soon as it has the next write transaction open. Returns the position then and the
    position once it is dead."""
    name = f"kill-{uuid.uuid4().hex[:12]}"  # libpq gives the process's sessions this name
    started_from = tracked_position(url)
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger", "project", "--once", "--store", url],
        env={**os.environ, "LEDGER_PROJECTION_BATCH": "100", "PGAPPNAME": name},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            assert process.poll() is None, f"it finished before it was killed: {process.stderr.read()!r}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "it never wrote"
            position, writing = watcher.execute(
                sql.SQL(
                    "SELECT (SELECT coalesce(max(notification_id), 0) FROM {}.view_tracking), "
                    "(SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                    "AND backend_xid IS NOT NULL)"
                ).format(sql.Identifier(parse_postgres(url).schema)),
                (name,),
            ).fetchone()  # type: ignore[misc]
            if position > started_from and writing:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    return position, tracked_position(url)


def test_a_projector_killed_mid_batch_resumes_without_losing_or_doubling_a_row(pg_url: str, tmp_path: Path) -> None:
    apply_lines(pg_url, generated(tmp_path, accounts=150, inputs=5000), "load")
    with StoreViews(pg_url) as views:
        last = views.runner.last_notification_id()
    assert last > 5000

    kills: list[tuple[int, int]] = []
    with psycopg.connect(parse_postgres(pg_url).conninfo(), autocommit=True) as watcher:
        # At least three kills, one of them certainly inside a batch's transaction (the
        # position it was writing never showed).
        while len(kills) < 3 or all(before != after for before, after in kills):
            assert len(kills) < 10, f"no kill landed inside a batch's transaction: {kills}"
            kills.append(kill_while_writing(pg_url, watcher))
    positions = [after for _, after in kills]
    assert positions == sorted(positions) and positions[-1] < last, f"positions {kills} of {last}"

    summary = project_once(pg_url, batch=100)
    assert summary["position"] == last == summary["last_notification_id"]
    assert summary["projected"] == last - positions[-1]
    assert_views_match_the_events(pg_url)


# --- 2. a transaction still open below a committed notification ------------------------------


class RawWriter:
    """Inserts stored events as a writer that takes no table lock would: the
    notification id comes from the sequence when the insert runs, the row is
    visible when the transaction commits."""

    def __init__(self, url: str, app: Ledger):
        self.target = parse_postgres(url)
        self.app = app
        self.connection = psycopg.connect(self.target.conninfo())
        self.insert = sql.SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s) RETURNING notification_id"
        ).format(sql.Identifier(self.target.schema), sql.Identifier(app.recorder.events_table_name))  # type: ignore[attr-defined]

    def open_account_and_deposit(self, name: str, amount: str) -> list[int]:
        """An account opened and a deposit made to it: two events, not committed yet."""
        at = datetime(2026, 1, 6, tzinfo=UTC)
        account = Account(account=name, mode="spot", leverage=None, pair=None, at=at, cause={"kind": "test"})
        account.deposit("USDC", Decimal(amount), at, {"kind": "test"})
        ids = []
        for event in account.collect_events():
            stored = self.app.mapper.to_stored_event(event)
            row = self.connection.execute(
                self.insert, (stored.originator_id, stored.originator_version, stored.topic, stored.state)
            ).fetchone()
            assert row is not None
            ids.append(row[0])
        return ids

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def seeded_views(pg_url: str) -> Iterator[StoreViews]:
    apply_lines(pg_url, (SCENARIOS / "seed004_user_a.jsonl").read_text().splitlines(), "seed")
    views = StoreViews(pg_url)
    views.runner.gaps.wait_seconds = 0.3
    views.runner.run_once()
    yield views
    views.close()


def test_the_runner_waits_below_an_insert_still_in_flight_then_projects_it_once(
    seeded_views: StoreViews, pg_url: str
) -> None:
    runner = seeded_views.runner
    start = runner.position()
    held, later = RawWriter(pg_url, seeded_views.app), RawWriter(pg_url, seeded_views.app)
    try:
        held_ids = held.open_account_and_deposit("held", "100")
        later_ids = later.open_account_and_deposit("later", "200")
        later.connection.commit()
        assert held_ids == [start + 1, start + 2] and later_ids == [start + 3, start + 4]

        assert runner.run_once() == 0  # a higher id is visible, a lower one may still commit
        assert runner.position() == start
        with seeded_views.engine.connect() as connection:
            assert (
                connection.execute(
                    select(tables.events.c.notification_id).where(tables.events.c.notification_id > start)
                ).all()
                == []
            )

        held.connection.commit()
        assert runner.run_once() == 4
        assert runner.position() == start + 4
        assert runner.run_once() == 0
    finally:
        held.close()
        later.close()
    with seeded_views.engine.connect() as connection:
        assert connection.execute(select(tables.settled_gaps)).all() == []
        indexed = connection.execute(
            select(tables.events.c.notification_id, tables.events.c.account)
            .where(tables.events.c.notification_id > start)
            .order_by(tables.events.c.notification_id)
        ).all()
    assert [tuple(row) for row in indexed] == [
        (start + 1, "held"),
        (start + 2, "held"),
        (start + 3, "later"),
        (start + 4, "later"),
    ]
    assert_views_match_the_events(pg_url)


def test_the_runner_passes_an_insert_that_rolled_back_and_records_the_gap(
    seeded_views: StoreViews, pg_url: str
) -> None:
    runner = seeded_views.runner
    start = runner.position()
    held, later = RawWriter(pg_url, seeded_views.app), RawWriter(pg_url, seeded_views.app)
    try:
        held_ids = held.open_account_and_deposit("held", "100")
        later.open_account_and_deposit("later", "200")
        later.connection.commit()
        assert runner.run_once() == 0
        assert runner.position() == start

        held.connection.rollback()
        assert runner.run_once() == 2
        assert runner.position() == start + 4
    finally:
        held.close()
        later.close()
    with seeded_views.engine.connect() as connection:
        gaps = connection.execute(select(tables.settled_gaps).order_by(tables.settled_gaps.c.notification_id)).all()
    assert [tuple(gap) for gap in gaps] == [(held_ids[0], start + 3), (held_ids[1], start + 3)]
    assert_views_match_the_events(pg_url)


# --- 3. a rebuild from zero equals the views built as the store grew ---------------------------


def rebuild_and_compare(url: str) -> None:
    with StoreViews(url) as views:
        live = view_rows(views.engine)
        position = views.runner.position()
    assert position > 0 and all(live[table.name] for table in (tables.events, tables.accounts, tables.book_totals))
    completed = ledger_cli("project", "--rebuild", "--store", url, "--json")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["position"] == position
    with StoreViews(url) as views:
        rebuilt = view_rows(views.engine)
    assert differences(rebuilt, live) == []


def test_a_rebuild_equals_the_views_built_as_the_seed_scenarios_ran(store_url: str, tmp_path: Path) -> None:
    for scenario in seeds_one_after_another(tmp_path):
        completed = ledger_cli("run", str(scenario), "--store", store_url, "--json")
        assert completed.returncode == 0, completed.stderr  # the report brings the views up to date
    rebuild_and_compare(store_url)
    assert_views_match_the_events(store_url)


@pytest.mark.soak
@pytest.mark.skipif(os.environ.get("LEDGER_SOAK") != "1", reason="a soak test: set LEDGER_SOAK=1")
def test_a_rebuild_equals_the_views_built_as_a_large_scenario_ran(pg_url: str, tmp_path: Path) -> None:
    """A soak variant (about 100 s): tests/integration/test_rebuild.py compares rebuilds with
    incremental views on a generated scenario of 1,500 inputs in the default run."""
    lines = generated(tmp_path, accounts=200, inputs=20000, seed=23)
    for number, part in enumerate(chunks(lines, 4)):
        apply_lines(pg_url, part, f"part-{number}")
        project_once(pg_url, batch=500 if number % 2 else None)
    rebuild_and_compare(pg_url)
    assert_views_match_the_events(pg_url)


# --- 4. two runners on one store --------------------------------------------------------------


def test_a_runner_that_lost_a_race_applies_nothing_and_then_finds_nothing(store_url: str, tmp_path: Path) -> None:
    apply_lines(store_url, generated(tmp_path, accounts=20, inputs=600), "load")
    first, second = StoreViews(store_url), StoreViews(store_url)
    first.runner.batch_size = second.runner.batch_size = 50
    raced = []

    def the_other_runner_catches_up(count: int, position: int) -> None:
        if not raced:
            raced.append(second.runner.run_once())

    with pytest.raises(ProjectionConflict):
        first.runner.run_once(on_batch=the_other_runner_catches_up)
    assert raced[0] == first.runner.last_notification_id() - 50
    assert first.runner.run_once() == 0
    first.close()
    second.close()
    assert_views_match_the_events(store_url)


def test_a_runner_resumes_correctly_after_another_runner_moved_the_views(store_url: str, tmp_path: Path) -> None:
    """What a runner holds in memory is as of the position it wrote: once another runner
    has moved the views, it must read them again, not go on from what it held."""
    parts = list(chunks(generated(tmp_path, accounts=20, inputs=900), 3))
    apply_lines(store_url, parts[0], "part-0")
    first, second = StoreViews(store_url), StoreViews(store_url)
    assert first.runner.run_once() > 0
    apply_lines(store_url, parts[1], "part-1")
    assert second.runner.run_once() > 0
    apply_lines(store_url, parts[2], "part-2")
    assert first.runner.run_once() > 0
    first.close()
    second.close()
    assert_views_match_the_events(store_url)


class Tally:
    """An on_batch callback: adds the events of each batch written to applied[number]."""

    def __init__(self, applied: list[int], number: int):
        self.applied, self.number, self.counted = applied, number, 0

    def __call__(self, count: int, _position: int) -> None:
        self.applied[self.number] += count - self.counted
        self.counted = count


def test_two_runners_racing_apply_every_event_exactly_once(store_url: str, tmp_path: Path) -> None:
    apply_lines(store_url, generated(tmp_path, accounts=40, inputs=1500), "load")
    runners = [StoreViews(store_url), StoreViews(store_url)]
    runners[0].runner.batch_size, runners[1].runner.batch_size = 37, 53
    applied = [0, 0]
    conflicts = [0, 0]
    failures: list[BaseException] = []

    def race(number: int) -> None:
        runner = runners[number].runner
        deadline = time.monotonic() + 60
        try:
            while runner.position() < runner.last_notification_id():
                assert time.monotonic() < deadline, f"runner {number} made no progress"
                try:
                    runner.run_once(on_batch=Tally(applied, number))
                except ProjectionConflict:
                    conflicts[number] += 1
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=race, args=(number,)) for number in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for views in runners:
        views.close()
    assert failures == []
    with StoreViews(store_url) as views:
        assert sum(applied) == sum(1 for _ in stored_events(views.app))  # each event applied by one runner
    assert_views_match_the_events(store_url)


def test_two_projector_processes_racing_leave_exact_views(pg_url: str, tmp_path: Path) -> None:
    apply_lines(pg_url, generated(tmp_path, accounts=60, inputs=3000), "load")
    commands = [[sys.executable, "-m", "ledger", "project", "--once", "--store", pg_url, "--json"]] * 2
    processes = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "LEDGER_PROJECTION_BATCH": batch},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command, batch in zip(commands, ("40", "70"))
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        # The loser of a race stops with exit 1 and says so; nothing it held is written.
        assert process.returncode == 0 or (process.returncode == 1 and "run again" in err), err
    project_once(pg_url)
    assert_views_match_the_events(pg_url)


def test_a_runner_that_loses_a_race_catches_up_from_where_the_winner_left(store_url: str) -> None:
    """`ledger run`'s report and `history` bring the views up to date beside a running
    projector: the one that writes second finds the position moved, writes nothing of its
    batch, and tries again from there (`catch_up`) instead of failing."""
    app = open_ledger(store_url)
    run_inputs(app, validate(app, (SCENARIOS / "seed004_user_c.jsonl").read_text(), "c"))
    app.close()
    with StoreViews(store_url) as first, StoreViews(store_url) as second:
        write = first.runner.store.write

        def write_after_the_other_runner(*args: Any, **kwargs: Any) -> None:
            first.runner.store.write = write  # the race happens once
            second.runner.run_once()
            write(*args, **kwargs)

        first.runner.store.write = write_after_the_other_runner  # type: ignore[method-assign]
        assert first.runner.catch_up() == 0  # the winner projected everything
        assert first.runner.position() == first.runner.last_notification_id()
    assert_views_match_the_events(store_url)
