"""A task delivered twice, or two copies of it at once, has one effect: the event
store's expected versions, deterministic ids and tracking records see to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCENARIOS
from tests.workers.conftest import SEEDS, Service, inline_report
from tests.workers.mass_liquidation import mass_liquidation_text

TASK_SECONDS = 60


def _send(celery: Any, task: str, *args: Any, copies: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
    """Sends `copies` of a task at once and waits for every one."""
    subject, notification_id = args
    results = [celery.send_task(task, args=[[subject], notification_id], kwargs=kwargs) for _ in range(copies)]
    return [result.get(timeout=TASK_SECONDS) for result in results]


def test_every_step_of_a_takeover_delivered_again_and_twice_at_once_has_one_effect(
    service: Service, tmp_path: Path
) -> None:
    scenario = SCENARIOS / "seed004_user_b.jsonl"
    service.start_worker(concurrency=2)  # no dispatcher: this test delivers the tasks itself
    submitted = service.submit(scenario, "--settle", "none")
    assert submitted.returncode == 0, submitted.stderr
    celery = service.celery()
    drop = service.notification_ids("AssetMarket.MarkRecorded")[-1]

    first = _send(celery, "ledger.evaluate_margin", "B", drop, copies=2)
    again = _send(celery, "ledger.evaluate_margin", "B", drop)
    assert service.count_events("Liquidation.Triggered") == 1
    assert sum(ran["events"] for outcome in first + again for ran in outcome["ran"]) > 0
    assert again[0]["ran"] == []  # done already: nothing ran

    [liquidation_id] = service.events_per_originator("Liquidation.Triggered")
    steps = [
        ("ledger.regular_part", "Liquidation.Triggered", "Liquidation.RegularPartEnded"),
        ("ledger.hand_off", "Liquidation.RegularPartEnded", "Liquidation.TakeoverStarted"),
    ]
    for task, cause, effect in steps:
        [cause_id] = service.notification_ids(cause)
        _send(celery, task, liquidation_id, cause_id, copies=2)
        _send(celery, task, liquidation_id, cause_id)
        assert service.count_events(effect) == 1, task

    offer = service.notification_ids("AssetMarket.LiquidityOffered")[-1]
    for copies in (2, 1):
        _send(celery, "ledger.takeover_sales", "SUPER", offer, copies=copies, takeovers=[liquidation_id])
    assert service.count_events("Liquidation.TakeoverSliceSold") == 1
    assert service.count_events("Liquidation.TakeoverSalesEnded") == 1

    steps = [
        ("ledger.fee", "Liquidation.TakeoverSalesEnded", "Liquidation.FeeCharged"),
        ("ledger.return", "Liquidation.FeeCharged", "Liquidation.ProceedsReturned"),
        ("ledger.unlock", "Liquidation.Completed", "Account.LiquidationEnded"),
    ]
    for task, cause, effect in steps:
        [cause_id] = service.notification_ids(cause)
        _send(celery, task, liquidation_id, cause_id, copies=2)
        _send(celery, task, liquidation_id, cause_id)
        assert service.count_events(effect) == 1, task
    assert service.count_events("Liquidation.Completed") == 1

    # The liquidation ends as `ledger run` ends it.
    [expected] = inline_report(scenario, tmp_path)["liquidations"]
    ledger = service.ledger()
    try:
        from projections.report import build_report

        [found] = build_report(ledger)["liquidations"]
    finally:
        ledger.close()
    assert found == expected


@pytest.mark.parametrize("scenario", [*SEEDS, "mass"], ids=lambda s: getattr(s, "stem", s))
def test_every_reaction_sent_three_times_at_once_changes_nothing(
    make_service: Any, scenario: Any, tmp_path: Path
) -> None:
    if scenario == "mass":
        scenario = tmp_path / "mass.jsonl"
        scenario.write_text(mass_liquidation_text(regular=6, takeovers=4))
    service = make_service(dispatch_copies="3")
    service.start_worker(concurrency=2)
    service.start_dispatcher()

    assert service.submit_report(scenario) == inline_report(scenario, tmp_path)
