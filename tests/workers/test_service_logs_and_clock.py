"""The service's logs are JSON lines that name what they are about; Celery beat moves
the ledger's clock, which starts each hour's interest; the dispatcher picks up after a
restart from its tracked position."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.store import writer_lease
from tests.conftest import SCENARIOS
from tests.workers.conftest import Service, inline_report
from tests.workers.mass_liquidation import mass_liquidation_text


def test_logs_are_json_lines_with_task_account_liquidation_and_notification_ids(service: Service) -> None:
    service.start_worker()
    service.start_dispatcher()
    service.submit_report(SCENARIOS / "seed004_user_b.jsonl")

    worker_lines = [json.loads(line) for line in service.log_lines("worker")]
    dispatcher_lines = [json.loads(line) for line in service.log_lines("dispatcher")]

    reactions = [line for line in worker_lines if line.get("component") == "worker"]
    assert reactions and all(
        {"task_id", "task", "notification_id", "level", "timestamp"} <= set(line) for line in reactions
    )
    assert any(line.get("account") == "B" for line in reactions)
    liquidation_steps = {line["task"] for line in reactions if "liquidation_id" in line}
    assert {"ledger.regular_part", "ledger.takeover_sales"} & liquidation_steps or any(
        line["event"] == "followed on" for line in reactions
    )
    assert any(line["event"] == "started" for line in dispatcher_lines)


def test_beat_begins_the_hours_passed_and_their_interest_accrues(make_service: Any, tmp_path: Path) -> None:
    heartbeat = tmp_path / "heartbeat"
    service = make_service(clock_tick_seconds="1", heartbeat_file=str(heartbeat))
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=30, second=0, microsecond=0)
    scenario = tmp_path / "recent.jsonl"
    scenario.write_text(
        "\n".join(
            json.dumps(line)
            for line in [
                {
                    "op": "params",
                    "at": start.isoformat().replace("+00:00", "Z"),
                    "assets": {"USDC": {"hourly_interest": "0.0001"}},
                },
                {"op": "open", "account": "D", "mode": "cross_classic", "leverage": 5},
                {"op": "mark", "asset": "BTC", "price": "50000"},
                {"op": "deposit", "account": "D", "asset": "BTC", "amount": "1"},
                {"op": "borrow", "account": "D", "asset": "USDC", "amount": "10000"},
            ]
        )
    )
    service.start_worker()
    service.start_dispatcher()
    service.submit_report(scenario)
    accrued_before = service.count_events("Account.InterestAccrued")

    service.start_beat()
    hours = service.wait_for_events("Clock.HourBegan", at_least=3, seconds=60)
    service.wait_for_events("Account.InterestAccrued", at_least=accrued_before + hours, seconds=60)

    assert hours == 3  # 30 past, three hours ago: three hh:00 since
    assert subprocess.run([sys.executable, "-m", "workers.heartbeat", str(heartbeat), "30"]).returncode == 0


def test_a_restarted_dispatcher_resumes_from_its_position(service: Service, tmp_path: Path) -> None:
    scenario = tmp_path / "mass.jsonl"
    scenario.write_text(mass_liquidation_text(regular=10, takeovers=4))
    service.start_worker()
    dispatcher = service.start_dispatcher()
    submission = service.submit_in_background(scenario, "--timeout", "120")

    service.wait_for_events("Liquidation.Triggered", at_least=1)
    Service.kill(dispatcher)
    time.sleep(1)
    service.start_dispatcher()  # its index rebuilt from the store

    stdout, stderr = submission.communicate(timeout=300)
    assert submission.returncode == 0, stderr + service.log_tail()
    assert json.loads(stdout) == inline_report(scenario, tmp_path)


def test_an_hour_begins_only_once_the_service_has_settled(service: Service, tmp_path: Path) -> None:
    """Interest is owed on what was owed at hh:00: neither `submit` nor beat begins an
    hour while reactions to what came before it are still due."""
    scenario = tmp_path / "mass.jsonl"
    scenario.write_text(mass_liquidation_text(regular=2, takeovers=1))
    service.start_worker()  # and no dispatcher: nothing settles

    stopped = service.submit(scenario, "--settle", "none", "--timeout", "2")

    assert stopped.returncode == 1 and "is `ledger dispatcher` running" in stopped.stderr
    assert service.count_events("Clock.HourBegan") == 0
    tick = service.celery().send_task("ledger.tick_clock").get(timeout=60)
    assert tick == {"hour": None, "waiting": True}
    assert service.count_events("Clock.HourBegan") == 0


def test_beat_begins_no_hour_while_another_writer_holds_the_store(service: Service) -> None:
    """An hour begun is an input of the clock: beat takes the writer lease to begin it, and
    while `ledger run` or a submission holds it, the tick begins nothing and says why."""
    service.start_worker()
    with writer_lease(service.store):
        tick = service.celery().send_task("ledger.tick_clock").get(timeout=60)
    assert tick == {"hour": None, "busy": True}
    assert service.count_events("Clock.HourBegan") == 0
