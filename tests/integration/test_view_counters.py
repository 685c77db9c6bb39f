"""The running counters of `/metrics` (view_counters) and the figures `projections.metrics`
reads, on both backends.

After the seed scenarios (margin seeds A, B and C one after another, then futures wallets,
a futures liquidation and a few rejected inputs), every counter equals what a count of the
views (or of the lines run) gives; they are the same after `ledger project --rebuild`, and
`ledger reconcile` holds, and finds a counter changed by hand. The metrics' projection lag
follows the views, and the dispatcher's backlog and oldest unfinished reaction its position.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Tracking
from sqlalchemy import Engine, func, select, text

from ledger.bootstrap import open_ledger
from ledger.processes.inline import run_inputs
from ledger.processes.service import DISPATCHER_TRACKING
from ledger.runs import validate
from projections import tables
from projections.metrics import LiquidationCount, read_metrics
from projections.report import StoreViews
from tests.conftest import SCENARIOS, seeds_one_after_another
from tests.integration.cli_scenarios import ledger, run_json, write_scenario
from tests.integration.test_futures_postmortem import CROSS

FUTURES_SCENARIOS = ("seed001_coinm_cost_to_open", "binance_usdm_cross_two_symbols")
# The day after seed C (the store has one clock; fewer hours to begin than until March).
FUTURES_DAY = "2026-01-08T09:00:00Z"
# A wallet of its own ("G"), its liquidation set off by the last mark.
FUTURES_LIQUIDATION = [{**line, "account": "G"} if "account" in line else line for line in CROSS]
REJECTED = [
    {"op": "withdraw", "account": "A", "asset": "BTC", "amount": "1000", "at": "2026-01-08T10:00:00Z"},
    {"op": "deposit", "id": "once", "account": "A", "asset": "BTC", "amount": "1"},
    {"op": "deposit", "id": "once", "account": "A", "asset": "BTC", "amount": "2"},  # the id used again
    {"op": "borrow", "account": "A", "asset": "USDC", "amount": "100000000"},  # beyond what A may borrow
]


def seed(store_url: str, directory: Path) -> int:
    """Runs every scenario into one store; returns how many inputs (lines) were run."""
    files = [
        *seeds_one_after_another(directory),
        *(
            write_scenario(directory / f"{name}.jsonl", on_futures_day(SCENARIOS / "futures" / f"{name}.jsonl"))
            for name in FUTURES_SCENARIOS
        ),
        write_scenario(directory / "futures_liquidation.jsonl", on_futures_day(FUTURES_LIQUIDATION)),
        write_scenario(directory / "rejected.jsonl", REJECTED),
    ]
    for scenario in files:
        run_json(scenario, store_url)
    return sum(1 for scenario in files for line in scenario.read_text().splitlines() if line.strip())


def on_futures_day(lines: Path | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines with their times on FUTURES_DAY (each futures scenario gives one time)."""
    if isinstance(lines, Path):
        lines = [json.loads(line) for line in lines.read_text().splitlines() if line.strip()]
    return [{**line, "at": FUTURES_DAY} if "at" in line else line for line in lines]


def counters(engine: Engine) -> dict[tuple[str, str], int]:
    with engine.connect() as connection:
        return {(row.name, row.labels): row.value for row in connection.execute(select(tables.counters))}


def counted_in_views(engine: Engine) -> dict[tuple[str, str], int]:
    """What the counters must say, counted from the view rows themselves."""
    liquidation = tables.liquidations
    with engine.connect() as connection:
        rejections = connection.execute(select(func.count()).select_from(tables.rejections)).scalar()
        by_kind = connection.execute(
            select(liquidation.c.kind, liquidation.c.status, func.count()).group_by(
                liquidation.c.kind, liquidation.c.status
            )
        ).all()
    return {
        ("rejections", ""): rejections,
        **{("liquidations", f"kind={kind},status={status}"): count for kind, status, count in by_kind},
    }


def nonzero(found: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """A label whose liquidations all moved on keeps its row, at 0."""
    return {key: value for key, value in found.items() if value}


def test_counters_equal_the_views_survive_a_rebuild_and_reconcile(store_url: str, tmp_path: Path) -> None:
    lines_run = seed(store_url, tmp_path)
    with StoreViews(store_url) as views:
        views.runner.catch_up()
        found = counters(views.engine)
        expected = counted_in_views(views.engine)
        assert nonzero(found) == {("inputs_applied", ""): lines_run, **expected}
        assert found[("rejections", "")] == len(REJECTED) - 1  # the first deposit of `once` is applied
        assert {labels for name, labels in nonzero(found) if name == "liquidations"} == {
            "kind=regular,status=completed",
            "kind=takeover,status=completed",
            "kind=mixed,status=completed",
            "kind=futures,status=completed",
        }
        # Each liquidation was counted in progress first, then moved on.
        assert found[("liquidations", "kind=futures,status=in_progress")] == 0

        assert ledger("project", "--rebuild", "--store", store_url).exit_code == 0
        assert counters(views.engine) == found

        result = ledger("reconcile", "--store", store_url, "--json")
        assert result.exit_code == 0, result.stdout
        assert json.loads(result.stdout)["checks"]["views"] == "ok"

        with views.engine.begin() as connection:
            connection.execute(text("UPDATE view_counters SET value = value + 1 WHERE name = 'rejections'"))
        result = ledger("reconcile", "--store", store_url, "--json")
        assert result.exit_code == 1
        (difference,) = json.loads(result.stdout)["differences"]
        assert difference["table"] == "view_counters" and difference["column"] == "value"
        assert (difference["expected"], difference["found"]) == ("3", "4")


def apply(store_url: str, lines: list[dict[str, Any]], source: str) -> None:
    """Inputs applied as `ledger run` applies them, without bringing the views up to date."""
    app = open_ledger(store_url)
    try:
        run_inputs(app, validate(app, "".join(json.dumps(line) + "\n" for line in lines), source))
    finally:
        app.close()


def test_metrics_follow_the_views_and_the_dispatcher(store_url: str, tmp_path: Path) -> None:
    run_json(SCENARIOS / "seed004_user_a.jsonl", store_url)
    with StoreViews(store_url) as views:
        views.runner.catch_up()
        metrics = read_metrics(views.app, views.engine)
        assert (metrics.inputs_applied, metrics.rejections, metrics.projection_lag_events) == (7, 0, 0)
        assert metrics.liquidations == (
            LiquidationCount("regular", "completed", 1),
            LiquidationCount("regular", "in_progress", 0),
        )
        # `ledger run` reacts inline: no dispatcher ever ran, and nothing waits for one.
        assert metrics.dispatcher_backlog_events is None
        assert metrics.oldest_unfinished_reaction_age_seconds is None

        before = views.runner.last_notification_id()
        made_from = datetime.now(UTC)
        apply(store_url, REJECTED[:2], "later")
        made_until = datetime.now(UTC)
        last = views.runner.last_notification_id()
        assert last > before
        lagging = read_metrics(views.app, views.engine)
        assert lagging.projection_lag_events == last - before
        assert (lagging.inputs_applied, lagging.rejections) == (7, 0)  # the views have not seen them yet

        views.runner.catch_up()
        caught_up = read_metrics(views.app, views.engine)
        assert (caught_up.projection_lag_events, caught_up.inputs_applied, caught_up.rejections) == (0, 9, 1)

        # A dispatcher that has seen every reaction finish up to `before`: the events after it wait.
        views.app.recorder.insert_tracking(Tracking(DISPATCHER_TRACKING, before))
        now = datetime.now(UTC)
        waiting = read_metrics(views.app, views.engine, now=now)
        assert waiting.dispatcher_backlog_events == last - before
        age = waiting.oldest_unfinished_reaction_age_seconds
        assert age is not None
        assert (now - made_until).total_seconds() <= age <= (now - made_from).total_seconds()

        views.app.recorder.insert_tracking(Tracking(DISPATCHER_TRACKING, last))
        settled = read_metrics(views.app, views.engine)
        assert settled.dispatcher_backlog_events == 0
        assert settled.oldest_unfinished_reaction_age_seconds is None
