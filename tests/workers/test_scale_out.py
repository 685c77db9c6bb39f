"""Two worker processes liquidating the accounts of one mark at once, in small tasks: every
liquidation is recorded once, the store ends as `ledger run` ends it, and the list of
liquidations (derived from the accounts, with no stream that every liquidation appends
to) names each liquidation the store holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ledger.domain.margin.liquidation import Liquidation
from tests.workers.conftest import Service, inline_report
from tests.workers.mass_liquidation import mass_liquidation_text


def test_two_workers_liquidating_at_once_record_every_liquidation_once(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    regular, takeovers = 24, 4
    service = make_service(task_chunk="3")
    scenario = tmp_path / "mass.jsonl"
    scenario.write_text(mass_liquidation_text(regular, takeovers))
    service.start_worker(concurrency=1)
    service.start_worker(concurrency=1)
    service.start_dispatcher()

    report = service.submit_report(scenario)

    assert report == inline_report(scenario, tmp_path)
    assert len(report["liquidations"]) == regular + takeovers
    triggered = service.events_per_originator("Liquidation.Triggered")
    assert len(triggered) == regular + takeovers and set(triggered.values()) == {1}
    assert set(service.events_per_originator("Account.LiquidationStarted").values()) == {1}
    assert set(service.events_per_originator("Account.LiquidationEnded").values()) == {1}
    assert service.count_events("LiquidationLogged") == 0
    app = service.ledger()
    try:
        listed = app.liquidation_ids()
        assert sorted(map(str, listed)) == sorted(triggered)
        assert all(isinstance(app.repository.get(i), Liquidation) for i in listed)
    finally:
        app.close()
    # Both worker processes took part (each writes a log of its own).
    reacting = [log.name for log in service.logs.glob("worker-*.log") if '"reacted"' in log.read_text(errors="replace")]
    assert len(reacting) == 2, service.log_tail()
