"""The steps that follow on from an event are run by the worker that saved it: the
dispatcher holds them, and sends them only once overdue (the worker died before it
followed on). Sent at once, they reached another worker process, which ran the same step
at the same moment and conflicted."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from ledger.processes.margin.step import MarginStep
from ledger.processes.service_reactions import Batch, DueReaction, _run_batch
from projections.report import build_report
from tests.conftest import ledger_cli
from tests.workers.test_dispatch_order import InProcessService, _inline_report
from workers.settings import ServiceSettings

SETUP = """{"op": "params", "at": "2026-01-05T10:00:00Z", "assets": {"USDC": {"hourly_interest": "0"}}}
{"op": "mark", "asset": "BTC", "price": "50000"}
{"op": "open", "account": "X", "mode": "cross_classic", "leverage": 5}
{"op": "deposit", "account": "X", "asset": "BTC", "amount": "2"}
{"op": "borrow", "account": "X", "asset": "USDC", "amount": "390000"}
{"op": "fill", "account": "X", "side": "buy", "base": "BTC", "quote": "USDC", "quantity": "7.8", "price": "50000"}
"""
DROP = '{"op": "mark", "asset": "BTC", "price": "43000", "at": "2026-01-05T10:20:00Z"}\n'
OVERDUE_SECONDS = 0.5


def test_a_step_that_follows_on_is_sent_only_once_overdue(service_store: str, tmp_path: Path) -> None:
    assert ledger_cli("migrate", "--store", service_store).returncode == 0
    service = InProcessService(service_store)
    try:
        service.dispatcher.settings = ServiceSettings(
            store=service_store, redispatch_after_seconds=OVERDUE_SECONDS, dispatch_collect_seconds=0
        )
        service.submit(SETUP)
        service.submit(DROP, settle_each=False)
        service.dispatcher.run_round()
        [(evaluation, notification_id)] = service.sent
        assert evaluation.step == MarginStep.EVALUATE_MARGIN
        service.sent.clear()
        # A worker saves the trigger, and dies before it follows on with the regular part.
        _run_batch(service.app, service.steps, Batch([DueReaction(evaluation, notification_id)]))

        service.dispatcher.run_round()
        assert service.sent == []  # held: the worker that saved the trigger runs it
        time.sleep(OVERDUE_SECONDS * 1.5)
        service.dispatcher.run_round()
        [(regular_part, _)] = service.sent
        assert regular_part.step == MarginStep.REGULAR_PART and uuid.UUID(regular_part.subject)

        service.settle()
        assert build_report(service.app) == _inline_report(SETUP + DROP, tmp_path)
    finally:
        service.close()
