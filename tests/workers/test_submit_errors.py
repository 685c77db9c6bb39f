"""`ledger submit` and the service's settings: bad input gets a clear error and
nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ledger.store import EXIT_STORE_BUSY, writer_lease
from tests.conftest import SCENARIOS, ledger_cli
from tests.workers.conftest import Service
from workers.settings import ServiceSettings


def test_a_faulty_scenario_is_refused_whole(service: Service, tmp_path: Path) -> None:
    scenario = tmp_path / "faulty.jsonl"
    scenario.write_text(
        '{"op": "open", "account": "A", "mode": "cross_classic"}\n'
        '{"op": "deposit", "account": "A", "asset": "BTC", "amount": "-1"}\n'
    )
    before = service.count_events("")

    result = service.submit(scenario)

    assert result.returncode == 2
    assert "line 2" in result.stderr and "amount" in result.stderr
    assert service.count_events("") == before


def test_a_sqlite_store_is_not_a_service_store(tmp_path: Path) -> None:
    result = ledger_cli("submit", str(SCENARIOS / "seed004_user_a.jsonl"), "--store", f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 2
    assert "needs a PostgreSQL store" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_a_store_not_migrated_is_named(service_store: str) -> None:
    result = ledger_cli("submit", str(SCENARIOS / "seed004_user_a.jsonl"), "--store", service_store)
    assert result.returncode == 2
    assert "ledger migrate" in result.stderr


def test_an_unknown_settle_mode_is_refused(service: Service) -> None:
    result = service.submit(SCENARIOS / "seed004_user_a.jsonl", "--settle", "sometimes")
    assert result.returncode == 2 and "--settle sometimes" in result.stderr


def test_without_a_dispatcher_submit_says_what_is_missing(service: Service) -> None:
    result = service.submit(SCENARIOS / "seed004_user_a.jsonl", "--timeout", "1")
    assert result.returncode == 1
    assert "is `ledger dispatcher` running" in result.stderr


def test_the_visibility_timeout_must_outlast_every_task_and_retry() -> None:
    with pytest.raises(ValidationError, match="VISIBILITY_TIMEOUT"):
        ServiceSettings(task_time_limit_seconds=60, retry_backoff_max_seconds=30, visibility_timeout_seconds=80)
    with pytest.raises(ValidationError, match="SOFT_TIME_LIMIT"):
        ServiceSettings(task_soft_time_limit_seconds=60, task_time_limit_seconds=60)


def test_bad_settings_stop_a_worker_with_a_clear_error() -> None:
    result = ledger_cli("worker", env={"LEDGER_VISIBILITY_TIMEOUT_SECONDS": "10"})
    assert result.returncode == 2
    assert "LEDGER_VISIBILITY_TIMEOUT_SECONDS" in result.stderr


def test_submit_is_a_writer_of_inputs_and_waits_its_turn_for_none(service: Service) -> None:
    """Inputs enter a store one writer after the other: while `ledger run` (or a request)
    holds the writer lease, `ledger submit` is refused with the busy store's own exit code
    and writes nothing (a `ledger run` that knows which aggregates exist must not miss one
    that a submission made meanwhile: found by an audit)."""
    before = service.count_events("")
    with writer_lease(service.store):
        result = service.submit(SCENARIOS / "seed004_user_a.jsonl", "--settle", "none")
    assert result.returncode == EXIT_STORE_BUSY, result.stderr
    assert "is being written by another ledger process" in result.stderr
    assert service.count_events("") == before
