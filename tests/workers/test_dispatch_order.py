"""The dispatcher's order and its own bookkeeping, driven in this process: tasks are
recorded instead of sent, and run here one by one, in the order a test chooses."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from ledger.bootstrap import open_service_ledger
from ledger.processes import service
from ledger.processes.margin.step import MarginStep
from ledger.processes.routing import Reaction
from ledger.processes.service import DISPATCHER_TRACKING, Submission, is_settled
from ledger.processes.service_reactions import run_reactions
from ledger.processes.steps import ProcessSteps, registered_steps
from projections.report import build_report
from tests.conftest import ledger_cli
from workers.dispatcher import Dispatcher
from workers.settings import ServiceSettings

ACCOUNTS = """{"op": "params", "at": "2026-01-05T10:00:00Z", "assets": {"USDC": {"hourly_interest": "0"}}}
{"op": "mark", "asset": "BTC", "price": "50000"}
{"op": "open", "account": "S", "mode": "spot"}
{"op": "deposit", "account": "S", "asset": "USDC", "amount": "20000"}
{"op": "open", "account": "X1", "mode": "cross_classic", "leverage": 5}
{"op": "deposit", "account": "X1", "asset": "BTC", "amount": "2"}
{"op": "borrow", "account": "X1", "asset": "USDC", "amount": "390000"}
{"op": "fill", "account": "X1", "side": "buy", "base": "BTC", "quote": "USDC", "quantity": "7.8", "price": "50000"}
{"op": "open", "account": "X2", "mode": "cross_classic", "leverage": 5}
{"op": "deposit", "account": "X2", "asset": "BTC", "amount": "2"}
{"op": "borrow", "account": "X2", "asset": "USDC", "amount": "390000"}
{"op": "fill", "account": "X2", "side": "buy", "base": "BTC", "quote": "USDC", "quantity": "7.8", "price": "50000"}
{"op": "auto_topup", "account": "X1", "source": "S", "assets": ["USDC"]}
{"op": "auto_topup", "account": "X2", "source": "S", "assets": ["USDC"]}
"""
DROP = '{"op": "mark", "asset": "BTC", "price": "46000", "at": "2026-01-05T10:20:00Z"}\n'


class RecordedTask:
    def __init__(self, step: str, sent: list[tuple[Reaction, int]]):
        self.name = f"ledger.{step}"
        self.step = step
        self.sent = sent

    def apply_async(self, args: list[Any], kwargs: dict[str, Any], **_options: Any) -> None:
        subjects, notification_id = args
        for subject in subjects:
            self.sent.append((Reaction(self.step, subject, tuple(kwargs.get("takeovers", ()))), notification_id))


class RecordingCelery:
    def producer_or_acquire(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class InProcessService:
    def __init__(self, store: str):
        self.app = open_service_ledger(store)
        self.steps = ProcessSteps(self.app)
        self.sent: list[tuple[Reaction, int]] = []
        tasks = {spec.step.value: RecordedTask(spec.step.value, self.sent) for spec in registered_steps()}
        self.dispatcher = Dispatcher(
            self.app,
            RecordingCelery(),  # type: ignore[arg-type]
            ServiceSettings(store=store, redispatch_after_seconds=3600, dispatch_collect_seconds=0),
            tasks=tasks,
        )

    def run_sent(self) -> None:
        while self.sent:
            reaction, notification_id = self.sent.pop(0)
            run_reactions(self.app, self.steps, [reaction], notification_id)

    def settle(self) -> None:
        for _ in range(1000):
            self.dispatcher.run_round()
            if not self.sent and is_settled(self.app):
                return
            self.run_sent()
        raise AssertionError("the service did not settle")

    def submit(self, text: str, settle_each: bool = True) -> None:
        inputs = _validated(self.app, text)
        list(Submission(self.app, self.settle, settle_each=settle_each).submit(inputs))

    def close(self) -> None:
        self.dispatcher.close()
        self.app.close()


def _validated(app: Any, text: str) -> Any:
    from ledger.runs import validate

    return validate(app, text, f"scenario-{uuid.uuid4().hex[:8]}.jsonl")  # a file of its own each time


@pytest.fixture
def in_process(service_store: str) -> Any:
    assert ledger_cli("migrate", "--store", service_store).returncode == 0
    service = InProcessService(service_store)
    yield service
    service.close()


def _inline_report(text: str, tmp_path: Path) -> dict[str, Any]:
    scenario = tmp_path / "scenario.jsonl"
    scenario.write_text(text)
    result = ledger_cli("run", str(scenario), "--store", f"sqlite:///{tmp_path / 'inline.db'}", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    del report["run"]  # how the run went, not what the ledger holds
    return report


def test_accounts_sharing_a_top_up_source_top_up_one_after_the_other(in_process: Any, tmp_path: Path) -> None:
    in_process.submit(ACCOUNTS)
    in_process.submit(DROP, settle_each=False)

    in_process.dispatcher.run_round()
    assert [(reaction.step, reaction.subject) for reaction, _ in in_process.sent] == [(MarginStep.AUTO_TOP_UP, "X1")]
    in_process.run_sent()
    in_process.dispatcher.run_round()
    assert (MarginStep.AUTO_TOP_UP, "X2") in [(reaction.step, reaction.subject) for reaction, _ in in_process.sent]
    in_process.settle()

    report = build_report(in_process.app)
    assert report == _inline_report(ACCOUNTS + DROP, tmp_path)
    assert report["accounts"]["X1"]["status"] == "normal" and report["accounts"]["X2"]["status"] == "margin_call"


def test_a_margin_call_that_owes_nothing_recovers_when_its_asset_is_marked(in_process: Any, tmp_path: Path) -> None:
    params = {
        "op": "params",
        "at": "2026-01-05T10:00:00Z",
        "assets": {"USDC": {"hourly_interest": "0"}, "ZZZ": {"precision": 8}},
    }
    text = (
        json.dumps(params)
        + """
{"op": "mark", "asset": "BTC", "price": "50000"}
{"op": "open", "account": "X", "mode": "cross_classic", "leverage": 5}
{"op": "deposit", "account": "X", "asset": "BTC", "amount": "2"}
{"op": "borrow", "account": "X", "asset": "USDC", "amount": "390000"}
{"op": "fill", "account": "X", "side": "buy", "base": "BTC", "quote": "USDC", "quantity": "7.8", "price": "50000"}
{"op": "mark", "asset": "BTC", "price": "46000", "at": "2026-01-05T10:10:00Z"}
{"op": "deposit", "account": "X", "asset": "ZZZ", "amount": "10"}
{"op": "fill", "account": "X", "side": "sell", "base": "BTC", "quote": "USDC", "quantity": "9.8", "price": "46000"}
{"op": "repay", "account": "X", "asset": "USDC", "amount": "390000"}
{"op": "mark", "asset": "ZZZ", "price": "1", "at": "2026-01-05T10:20:00Z"}
"""
    )
    in_process.submit(text)

    report = build_report(in_process.app)
    assert report == _inline_report(text, tmp_path)
    assert report["accounts"]["X"]["status"] == "normal"


def test_a_position_recorded_already_is_taken_as_recorded(in_process: Any) -> None:
    """The library retries a commit whose reply was lost; the row is there already."""
    in_process.app.recorder.insert_tracking(Tracking(DISPATCHER_TRACKING, 7))
    in_process.dispatcher.done_position = 7

    in_process.dispatcher.record_position()

    assert in_process.dispatcher.recorded_position == 7


def test_an_input_whose_commit_reply_was_lost_is_stored_once(in_process: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The save commits, then the library's retry finds its rows there (IntegrityError):
    `submit` finds the input in the store's record of inputs and goes on."""
    app = in_process.app
    apply = service.apply_input
    lost_replies = {"open": 1}

    def apply_then_lose_the_reply(ledger: Any, item: Any) -> Any:
        recordings = apply(ledger, item)
        if lost_replies.get(item.op, 0):
            lost_replies[item.op] -= 1
            raise IntegrityError("duplicate key value violates unique constraint (the retried insert)")
        return recordings

    monkeypatch.setattr(service, "apply_input", apply_then_lose_the_reply)
    in_process.submit(ACCOUNTS)

    lines = sorted(record["line"] for record in app.recorded_inputs())
    assert lines == list(range(1, len(ACCOUNTS.splitlines()) + 1))
    assert sorted(build_report(app)["accounts"]) == ["S", "X1", "X2"]
