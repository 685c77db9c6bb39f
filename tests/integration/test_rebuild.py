"""A rebuild builds each view row once per batch and the secondary indexes once at its end:
what it writes equals, row for row and table by table, what the runner writes projecting
the same store one event a batch (every row built after every event), and the indexes the
migrations create are all there after it, or after the next run when it was killed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from projections import tables
from projections.report import StoreViews
from projections.runner import secondary_indexes
from tests.conftest import SCENARIOS, apply_lines, seeds_one_after_another
from tests.integration.test_projection_runner import (
    differences,
    generated,
    replayed,
    view_rows,
)

FUTURES = SCENARIOS / "futures"


def scenario_lines(name: str, tmp_path: Path) -> list[str]:
    if name == "margin seeds":
        return [line for path in seeds_one_after_another(tmp_path) for line in path.read_text().splitlines()]
    if name == "generated":  # liquidations of every kind, margin calls, rejections
        return generated(tmp_path, accounts=30, inputs=1500, seed=5)
    return (FUTURES / name).read_text().splitlines()


def index_names(views: StoreViews) -> set[str]:
    catalog = inspect(views.engine)
    return {
        index["name"]
        for table in {index.table.name for index in secondary_indexes()}
        for index in catalog.get_indexes(table)
    }


@pytest.mark.parametrize(
    "scenario",
    [
        "margin seeds",
        "generated",
        *sorted(path.name for path in FUTURES.glob("*.jsonl")),
    ],
)
def test_a_rebuild_equals_the_views_projected_one_event_a_batch(store_url: str, tmp_path: Path, scenario: str) -> None:
    apply_lines(store_url, scenario_lines(scenario, tmp_path), scenario.replace(" ", "-"))
    with StoreViews(store_url) as views:
        views.runner.batch_size = 1
        assert views.runner.run_once() == views.runner.last_notification_id()
        one_by_one = view_rows(views.engine)
        assert differences(view_rows(views.engine, exact=False), replayed(views.app)) == []

        assert views.runner.rebuild() == views.runner.last_notification_id()
        rebuilt = view_rows(views.engine)

        # In batches of 7 over rows earlier batches wrote: an asset or position a batch
        # empties has its row deleted, whichever of the batch's events emptied it.
        views.runner.store.clear()
        views.runner.batch_size = 7
        views.runner.run_once()
        in_sevens = view_rows(views.engine)
    assert all(one_by_one[table.name] for table in (tables.events, tables.accounts, tables.book_totals))
    assert differences(rebuilt, one_by_one) == []
    assert rebuilt == one_by_one
    assert differences(in_sevens, one_by_one) == []


def test_a_rebuild_leaves_every_secondary_index_and_a_killed_one_has_them_built_by_the_next_run(
    store_url: str, tmp_path: Path
) -> None:
    apply_lines(store_url, scenario_lines("margin seeds", tmp_path), "seeds")
    expected = {index.name for index in secondary_indexes()}
    with StoreViews(store_url) as views:
        assert index_names(views) == expected  # as the migrations made them
        views.runner.rebuild()
        assert index_names(views) == expected
        views.runner.store.drop_secondary_indexes()  # as a rebuild killed before its end leaves them
        assert index_names(views) == set()
    with StoreViews(store_url) as views:
        views.runner.run_once()
        assert index_names(views) == expected
