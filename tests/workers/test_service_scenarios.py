"""The seed scenarios submitted input by input to a running service end with the
report that `ledger run` gives inline; so does a scenario of many liquidations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.workers.conftest import SEEDS, Service, inline_report
from tests.workers.mass_liquidation import mass_liquidation_lines, mass_liquidation_text


@pytest.mark.parametrize("scenario", SEEDS, ids=lambda path: path.stem)
def test_a_seed_submitted_to_the_service_ends_as_inline(service: Service, scenario: Path, tmp_path: Path) -> None:
    service.start_worker()
    service.start_dispatcher()

    assert service.submit_report(scenario) == inline_report(scenario, tmp_path)


def test_many_liquidations_from_one_mark_end_as_inline(service: Service, tmp_path: Path) -> None:
    scenario = tmp_path / "mass.jsonl"
    scenario.write_text(mass_liquidation_text(regular=12, takeovers=6))
    service.start_worker()
    service.start_dispatcher()

    report = service.submit_report(scenario)

    assert report == inline_report(scenario, tmp_path)
    assert len(report["liquidations"]) == 18
    assert service.count_events("DeskInterestAccrued") == 6  # the hour of 11:00 on each desk


def test_submitting_without_waiting_reaches_the_same_end(service: Service, tmp_path: Path) -> None:
    """Inputs appended while the workers run, within one hour and with no liquidity:
    each account's own history is the same as inline."""
    scenario = tmp_path / "mass.jsonl"
    lines = [
        line for line in mass_liquidation_lines(regular=8, takeovers=0) if line["op"] not in ("clock", "liquidity")
    ]
    scenario.write_text("\n".join(json.dumps(line) for line in lines))
    service.start_worker()
    service.start_dispatcher()

    assert service.submit_report(scenario, "--settle", "end") == inline_report(scenario, tmp_path)
