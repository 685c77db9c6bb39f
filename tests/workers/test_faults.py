"""Faults while the service runs: a worker killed mid-liquidation, Redis lost and
back, PostgreSQL restarted during a burst of inputs. Nothing is lost, nothing is
done twice, and the books end as `ledger run` leaves them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.workers.conftest import Service, inline_report
from tests.workers.mass_liquidation import mass_liquidation_lines, mass_liquidation_text
from tests.workers.private_services import PrivatePostgres, PrivateRedis

SUBMIT_SECONDS = 300


def _finished_report(submission: Any, service: Service) -> dict[str, Any]:
    stdout, stderr = submission.communicate(timeout=SUBMIT_SECONDS)
    assert submission.returncode == 0, stderr + service.log_tail()
    return json.loads(stdout)


def _one_of_each_per_liquidation(service: Service, liquidations: int, takeovers: int) -> None:
    fees = service.events_per_originator("Liquidation.FeeCharged")
    completions = service.events_per_originator("Liquidation.Completed")
    returns = service.events_per_originator("Liquidation.ProceedsReturned")
    assert len(fees) == len(completions) == liquidations
    assert set(fees.values()) == set(completions.values()) == {1}
    assert len(returns) == takeovers and set(returns.values()) == {1}


def test_a_worker_killed_mid_liquidation_finishes_with_one_fee_and_one_return(service: Service, tmp_path: Path) -> None:
    regular, takeovers = 30, 10
    scenario = tmp_path / "mass.jsonl"
    scenario.write_text(mass_liquidation_text(regular, takeovers))
    worker = service.start_worker(concurrency=1)
    service.start_dispatcher()
    submission = service.submit_in_background(scenario, "--timeout", str(SUBMIT_SECONDS))

    service.wait_for_events("Liquidation.Triggered", at_least=1)
    Service.kill(worker)  # SIGKILL, pool included: no chance to hand back its task
    completed_when_killed = service.count_events("Liquidation.Completed")
    service.start_worker(concurrency=1)

    assert _finished_report(submission, service) == inline_report(scenario, tmp_path)
    assert completed_when_killed < regular + takeovers  # it was killed mid-way
    _one_of_each_per_liquidation(service, regular + takeovers, takeovers)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


def test_redis_lost_mid_scenario_loses_nothing(make_service: Any, private_redis: PrivateRedis, tmp_path: Path) -> None:
    regular, takeovers = 20, 6
    scenario = tmp_path / "mass.jsonl"
    scenario.write_text(mass_liquidation_text(regular, takeovers))
    service = make_service(redis_url=private_redis.url)
    service.start_worker(concurrency=2)
    service.start_dispatcher()
    submission = service.submit_in_background(scenario, "--timeout", str(SUBMIT_SECONDS))

    service.wait_for_events("Liquidation.Triggered", at_least=1)
    private_redis.stop()  # queued tasks and results are gone with it
    time.sleep(2)
    private_redis.start()

    assert _finished_report(submission, service) == inline_report(scenario, tmp_path)
    _one_of_each_per_liquidation(service, regular + takeovers, takeovers)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    postgres = PrivatePostgres()
    postgres.start()
    yield postgres
    postgres.close()


def test_postgres_restarted_during_a_burst_keeps_every_acknowledged_input_once(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    lines = [
        line for line in mass_liquidation_lines(regular=150, takeovers=0) if line["op"] not in ("clock", "liquidity")
    ]
    scenario = tmp_path / "burst.jsonl"
    scenario.write_text("\n".join(json.dumps(line) for line in lines))
    service = Service(private_postgres.url, tmp_path)
    try:
        service.start_worker(concurrency=2)
        service.start_dispatcher()
        submission = service.submit_in_background(scenario, "--settle", "end", "--timeout", str(SUBMIT_SECONDS))

        service.wait_for_events("InputsSaved", at_least=100)
        private_postgres.restart()

        report = _finished_report(submission, service)
        ledger = service.ledger()
        try:
            recorded = [(item["source"], item["line"]) for item in ledger.recorded_inputs()]
        finally:
            ledger.close()
    finally:
        service.stop()
    assert sorted(recorded) == [("burst.jsonl", line) for line in range(1, len(lines) + 1)]
    assert report == inline_report(scenario, tmp_path)
