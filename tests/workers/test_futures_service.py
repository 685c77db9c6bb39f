"""Futures in the running service: funding and liquidations carried out by the workers
end as `ledger run` ends them inline, every futures step delivered again or several
times at once has one effect, and a worker killed mid-liquidation leaves one fee.

The `ledger run --json` report does not show futures wallets yet, so these tests read the
state from the store itself: each futures wallet and liquidation aggregate, every event
of their streams (without the cause, which names tasks and notifications), and the
balance sheet of every stored event's entries (conservation).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.causes import process_cause
from ledger.domain.futures.account import FuturesAccount, futures_liquidation_id
from ledger.domain.futures.liquidation import FuturesLiquidation
from ledger.domain.futures.market import SymbolMarket
from ledger.domain.identity import account_id
from ledger.log import causing_event, stored_events
from ledger.processes.futures.step import FuturesStep
from ledger.processes.inline import run_inputs
from ledger.processes.routing import Reaction, reaction_tracking_name
from ledger.processes.service_reactions import run_reactions
from ledger.processes.steps import ProcessSteps
from ledger.runs import validate
from ledger.unit_of_work import UnitOfWork
from projections.balance_sheet import BalanceSheet
from tests.conftest import LedgerSession, ledger_cli
from tests.workers.conftest import Service

TASK_SECONDS = 60
SUBMIT_SECONDS = 120
T0 = "2026-03-02T09:00:00Z"
T1 = "2026-03-02T09:30:00Z"  # within the hour: an hour would wait for the service to settle

# F: 1000 USDT, 0.5 BTC long at 30000 (fee 1.5); at 28200 a funding of 0.0001 costs it
# 1.41; at 28100 its margin balance, 47.09, is below its MM, 56.2: liquidated, the
# clearance fee (175.625 due) capped at the 47.09 left. G: 10 ETH long at 2000 with
# 1000 USDT (20x, all of it); at 1850 it has lost 1500: insurance-fund covers 500.
# H: 0.1 BTC isolated at 15x (200 USDT of margin, 0.282 of funding); at 28100 its
# margin, 9.718 after a loss of 190, is below its MM, 11.24: the fee takes the 9.718.
SCENARIO: list[dict[str, Any]] = [
    {"op": "open", "account": "F", "mode": "usdm", "at": T0},
    {"op": "deposit", "account": "F", "asset": "USDT", "amount": "1000"},
    {"op": "open", "account": "G", "mode": "usdm"},
    {"op": "deposit", "account": "G", "asset": "USDT", "amount": "1000"},
    {"op": "open", "account": "H", "mode": "usdm"},
    {"op": "deposit", "account": "H", "asset": "USDT", "amount": "1000"},
    {"op": "leverage", "account": "H", "symbol": "BTCUSDT", "leverage": 15, "margin_type": "isolated"},
    {"op": "mark", "symbol": "BTCUSDT", "price": "30000"},
    {
        "op": "trade",
        "account": "F",
        "symbol": "BTCUSDT",
        "side": "buy",
        "quantity": "0.5",
        "price": "30000",
        "fee": "1.5",
    },
    {"op": "trade", "account": "H", "symbol": "BTCUSDT", "side": "buy", "quantity": "0.1", "price": "30000"},
    {"op": "mark", "symbol": "ETHUSDT", "price": "2000"},
    {"op": "trade", "account": "G", "symbol": "ETHUSDT", "side": "buy", "quantity": "10", "price": "2000"},
    {"op": "mark", "symbol": "BTCUSDT", "price": "28200", "at": T1},
    {"op": "funding", "symbol": "BTCUSDT", "rate": "0.0001"},
    {"op": "mark", "symbol": "BTCUSDT", "price": "28100"},
    {"op": "mark", "symbol": "ETHUSDT", "price": "1850"},
]


def write_scenario(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def run_inline(tmp_path: Path, *scenarios: Path) -> tuple[str, dict[str, Any]]:
    """`ledger run` of the files, one after the other, on a SQLite store of their own:
    the store, and the last run's report."""
    url = f"sqlite:///{tmp_path / 'inline-futures.db'}"
    report: dict[str, Any] = {}
    for scenario in scenarios:
        result = ledger_cli("run", str(scenario), "--store", url, "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
    return url, report


# --- the state of a store's futures ---------------------------------------------------------

FUTURES_EVENTS = (FuturesAccount.Event, FuturesLiquidation.Event, SymbolMarket.Event)
LEFT_OUT = ("cause", "timestamp")  # a task's and a notification's ids; the wall clock


def futures_state(app: Ledger) -> dict[str, Any]:
    """Every futures wallet and liquidation as its aggregate stands, every event of their
    streams in order, and what every book holds by the stored events' entries."""
    events = list(stored_events(app))
    sheet = BalanceSheet().apply_all(events)
    assert sheet.imbalances() == [], sheet.imbalances()
    streams: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for event in sorted(
        (e for e in events if isinstance(e, FUTURES_EVENTS)), key=lambda e: (str(e.originator_id), e.originator_version)
    ):
        fields = {name: value for name, value in vars(event).items() if name not in LEFT_OUT}
        streams.setdefault(str(event.originator_id), []).append((type(event).__qualname__, fields))
    names = sorted({event.account for event in events if isinstance(event, FuturesAccount.Opened)})
    liquidation_ids = sorted(event.originator_id for event in events if isinstance(event, FuturesLiquidation.Triggered))
    with UnitOfWork(app) as uow:
        prices = uow.prices()
        accounts = {name: wallet_state(uow.get(account_id(name)), prices) for name in names}
        liquidations = {str(i): liquidation_state(uow.get(i)) for i in liquidation_ids}
    holders = sorted({holder for holder, _asset, _book in sheet.amounts})
    return {
        "accounts": accounts,
        "liquidations": liquidations,
        "streams": streams,
        "holdings": {holder: sheet.holdings(holder) for holder in holders},
    }


def wallet_state(account: FuturesAccount, prices: Any) -> dict[str, Any]:
    figures = account.figures(prices)
    return {
        "version": account.version,
        "status": account.status,
        "position_mode": account.position_mode,
        "settings": account.settings,
        "cross_wallet": account.cross_wallet,
        "positions": account.positions,
        "settling": account.settling,
        "liquidation_id": account.liquidation_id,
        "liquidations_started": account.liquidations_started,
        "fundings_settled": account.fundings_settled,
        "wallet_balance": figures.wallet_balance,
        "margin_balance": figures.margin_balance,
        "available_balance": figures.available_balance,
        "margin_ratio": figures.margin_ratio,
    }


def liquidation_state(liquidation: FuturesLiquidation) -> dict[str, Any]:
    return {
        "version": liquidation.version,
        "account": liquidation.account,
        "sequence": liquidation.sequence,
        "symbol": liquidation.symbol,
        "slot": liquidation.slot,
        "status": liquidation.status,
        "trigger": liquidation.trigger,
        "positions_at_trigger": liquidation.positions_at_trigger,
        "closed": liquidation.closed,
        "fee": liquidation.fee,
        "fee_value": liquidation.fee_value,
        "shortfall": liquidation.shortfall,
    }


def inline_state(url: str) -> dict[str, Any]:
    app = open_ledger(url, read_only=True)
    try:
        return futures_state(app)
    finally:
        app.close()


def inline_state_of(tmp_path: Path, *scenarios: Path) -> dict[str, Any]:
    """The state `ledger run` leaves, run in this process (as `tests.conftest.LedgerSession`
    does: the same inputs and process code, without a process start-up per file)."""
    session = LedgerSession(f"sqlite:///{tmp_path / 'inline-in-process.db'}")
    try:
        for scenario in scenarios:
            run_inputs(session.app, validate(session.app, scenario.read_text(), scenario.name), session.processes)
        return futures_state(session.app)
    finally:
        session.close()


def service_state(service: Service) -> dict[str, Any]:
    app = service.ledger()
    try:
        return futures_state(app)
    finally:
        app.close()


def assert_the_scenarios_figures(state: dict[str, Any]) -> None:
    """What domain.md's rules give for SCENARIO, worked out by hand (see its comment)."""
    f, g, h = (state["liquidations"][str(futures_liquidation_id(name, 1))] for name in "FGH")
    assert (f["status"], f["fee"], f["shortfall"]) == ("completed", Decimal("47.09"), 0)
    assert f["trigger"]["margin_balance"] == Decimal("47.09")
    assert f["trigger"]["maintenance_margin"] == Decimal("56.2")
    assert (g["fee"], g["shortfall"]) == (0, Decimal("500"))
    assert (h["fee"], h["shortfall"], h["symbol"]) == (Decimal("9.718"), 0, "BTCUSDT")
    assert state["holdings"]["insurance-fund"] == {"USDT": Decimal("47.09") + Decimal("9.718") - 500}
    for name, cross_wallet in (("F", 0), ("G", 0), ("H", 800)):
        account = state["accounts"][name]
        assert (account["status"], account["positions"], account["cross_wallet"]) == ("normal", {}, cross_wallet)


# --- the scenario in the service ---------------------------------------------------------------


def test_a_futures_scenario_submitted_to_the_service_ends_as_inline(service: Service, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "futures.jsonl", SCENARIO)
    service.start_worker(concurrency=2)
    service.start_dispatcher()

    report = service.submit_report(scenario, timeout=SUBMIT_SECONDS)

    inline, inline_report = run_inline(tmp_path, scenario)
    assert report == inline_report
    state = service_state(service)
    assert state == inline_state(inline)
    assert_the_scenarios_figures(state)


# --- every step delivered again, and several times at once ------------------------------------


def _send(celery: Any, task: str, subjects: list[str], notification_id: int, copies: int) -> list[dict[str, Any]]:
    """Sends `copies` of a task at once and waits for every one."""
    results = [celery.send_task(task, args=[subjects, notification_id]) for _ in range(copies)]
    return [result.get(timeout=TASK_SECONDS) for result in results]


def _ran(outcomes: list[dict[str, Any]]) -> list[str]:
    """What the copies ran (not found done already): each step and subject, the steps
    that followed on included."""
    return sorted(f"{ran['step']} {ran['subject']}" for outcome in outcomes for ran in outcome["ran"])


def test_every_futures_step_delivered_again_and_three_times_at_once_has_one_effect(
    service: Service, tmp_path: Path
) -> None:
    scenario = write_scenario(tmp_path / "futures.jsonl", SCENARIO)
    service.start_worker(concurrency=2)  # no dispatcher: this test delivers the tasks itself
    submitted = service.submit(scenario, "--settle", "none")
    assert submitted.returncode == 0, submitted.stderr
    celery = service.celery()
    [funding] = service.notification_ids("SymbolMarket.FundingAnnounced")
    *_, btc_fall, eth_fall = service.notification_ids("SymbolMarket.MarkRecorded")

    # Funding: one settlement per position (F's and H's), however often it is delivered.
    first = _send(celery, "ledger.settle_funding", ["F", "H"], funding, copies=3)
    again = _send(celery, "ledger.settle_funding", ["F", "H"], funding, copies=1)
    assert _ran(first) == ["settle_funding F", "settle_funding H"] and _ran(again) == []
    assert service.events_per_originator("FuturesAccount.FundingSettled") == {
        str(account_id("F")): 1,
        str(account_id("H")): 1,
    }

    # F's and H's triggers at the fall, recorded as a worker records them (with the
    # step's tracking record), by a worker that then died before their liquidation ran.
    evaluate_without_follow_on(service, ["F", "H"], btc_fall)
    assert service.count_events("FuturesLiquidation.Triggered") == 2
    assert service.count_events("FuturesLiquidation.Completed") == 0

    # Each liquidation delivered, then again and again: carried out once. (Copies at once
    # can crash: test_a_copy_of_a_futures_liquidation_that_read_it_before_another_finished.)
    triggered = triggered_notifications(service)
    for liquidation_id in (str(futures_liquidation_id(name, 1)) for name in "FH"):
        outcomes = [
            _send(celery, "ledger.liquidate_futures", [liquidation_id], triggered[liquidation_id], copies=1)
            for _ in range(3)
        ]
        assert [_ran(outcome) for outcome in outcomes] == [[f"liquidate_futures {liquidation_id}"], [], []]

    # The evaluations at the fall delivered after all: done already.
    for copies in (3, 1):
        assert _ran(_send(celery, "ledger.evaluate_futures", ["F", "H"], btc_fall, copies=copies)) == []

    # G's evaluation at its fall, three at once and again: one trigger, its liquidation
    # followed on in the same task.
    first = _send(celery, "ledger.evaluate_futures", ["G"], eth_fall, copies=3)
    again = _send(celery, "ledger.evaluate_futures", ["G"], eth_fall, copies=1)
    g = str(futures_liquidation_id("G", 1))
    assert _ran(first) == ["evaluate_futures G", f"liquidate_futures {g}"] and _ran(again) == []
    assert service.count_events("FuturesLiquidation.Triggered") == 3
    for copies in (3, 1):  # done by then: found done
        assert _ran(_send(celery, "ledger.liquidate_futures", [g], triggered_notifications(service)[g], copies)) == []

    effects = {
        "FuturesAccount.PositionLiquidated": 3,
        "FuturesAccount.ClearanceFeeCharged": 2,  # G's wallet had nothing left for a fee
        "FuturesAccount.ShortfallCovered": 1,
        "FuturesAccount.LiquidationEnded": 3,
        "FuturesLiquidation.Completed": 3,
    }
    assert {topic: service.count_events(topic) for topic in effects} == effects
    assert set(service.events_per_originator("FuturesAccount.LiquidationEnded").values()) == {1}

    # And the store ends as `ledger run` leaves it.
    state = service_state(service)
    assert state == inline_state_of(tmp_path, scenario)
    assert_the_scenarios_figures(state)


def evaluate_without_follow_on(service: Service, accounts: list[str], notification_id: int) -> None:
    """The futures evaluation of the accounts, saved with its tracking record as a task
    saves it (`ledger.processes.service_reactions`), without the steps that follow on."""
    app = service.ledger()
    try:
        steps = ProcessSteps(app)
        event = causing_event(app, notification_id)
        reactions = [Reaction(FuturesStep.EVALUATE_FUTURES, account) for account in accounts]
        with UnitOfWork(app) as uow:
            for reaction in reactions:
                steps.run(uow, reaction, event, process_cause(event, notification_id))
            trackings = [Tracking(reaction_tracking_name(reaction), notification_id) for reaction in reactions]
            uow.commit(tracking=trackings[0], more_tracking=trackings[1:])
    finally:
        app.close()


def triggered_notifications(service: Service) -> dict[str, int]:
    """Each liquidation's id -> the notification id of its `Triggered` event."""
    app = service.ledger()
    try:
        notifications = app.recorder.select_notifications(start=1, limit=100_000)
        events = ((n.id, app.mapper.to_domain_event(n)) for n in notifications)
        return {str(e.originator_id): i for i, e in events if isinstance(e, FuturesLiquidation.Triggered)}
    finally:
        app.close()


def test_a_copy_of_a_futures_liquidation_that_read_it_before_another_finished_finds_it_done(
    service: Service, tmp_path: Path
) -> None:
    """Two copies of one liquidation's step at once, the race made certain: this copy has
    read the liquidation (in progress) when the other carries it out and commits; it
    then reads the wallet, and must find the work done (or conflict, and be retried)."""
    submitted = service.submit(write_scenario(tmp_path / "futures.jsonl", SCENARIO), "--settle", "none")
    assert submitted.returncode == 0, submitted.stderr
    *_, btc_fall, _eth_fall = service.notification_ids("SymbolMarket.MarkRecorded")
    evaluate_without_follow_on(service, ["F"], btc_fall)
    liquidation_id = futures_liquidation_id("F", 1)
    notification_id = triggered_notifications(service)[str(liquidation_id)]
    reaction = Reaction(FuturesStep.LIQUIDATE_FUTURES, str(liquidation_id))
    this_copy, other_copy = service.ledger(), service.ledger()
    try:
        event = causing_event(this_copy, notification_id)
        with UnitOfWork(this_copy) as uow:
            assert uow.get(liquidation_id).status == "in_progress"
            [done] = run_reactions(other_copy, ProcessSteps(other_copy), [reaction], notification_id)
            assert done.events > 0
            try:
                ProcessSteps(this_copy).run(uow, reaction, event, process_cause(event, notification_id))
            except IntegrityError:
                pass  # a conflict: retried, the step finds the work done
            else:
                assert not uow.has_changes(), "carried out twice"
    finally:
        this_copy.close()
        other_copy.close()
    assert service.count_events("FuturesAccount.ClearanceFeeCharged") == 1


# --- a worker killed mid-liquidation ------------------------------------------------------------


def many_wallets(count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`count` USDⓈ-M wallets, each 0.1 BTC long at 30000 with 200 USDT (15x cross, all
    of it margin); then a mark of 28050 that liquidates them all (margin balance 200 - 195
    = 5, MM 11.22), each fee capped at the 5 left (35.0625 due)."""
    setup: list[dict[str, Any]] = [{"op": "mark", "symbol": "BTCUSDT", "price": "30000", "at": T0}]
    for index in range(count):
        name = f"W{index:03d}"
        setup += [
            {"op": "open", "account": name, "mode": "usdm"},
            {"op": "deposit", "account": name, "asset": "USDT", "amount": "200"},
            {"op": "leverage", "account": name, "symbol": "BTCUSDT", "leverage": 15, "margin_type": "cross"},
            {"op": "trade", "account": name, "symbol": "BTCUSDT", "side": "buy", "quantity": "0.1", "price": "30000"},
        ]
    return setup, [{"op": "mark", "symbol": "BTCUSDT", "price": "28050", "at": T1}]


def test_a_worker_killed_mid_futures_liquidation_finishes_with_one_fee(make_service: Any, tmp_path: Path) -> None:
    wallets = 16
    setup_lines, fall_lines = many_wallets(wallets)
    setup = write_scenario(tmp_path / "setup.jsonl", setup_lines)
    fall = write_scenario(tmp_path / "fall.jsonl", fall_lines)
    service = make_service(task_chunk="2")  # eight tasks for the 16 wallets: the kill lands between them
    worker = service.start_worker(concurrency=1)
    service.start_dispatcher()
    submitted = service.submit(setup, "--settle", "none")  # the fall's submission waits for it first
    assert submitted.returncode == 0, submitted.stderr
    submission = service.submit_in_background(fall, "--timeout", str(SUBMIT_SECONDS))

    service.wait_for_events("FuturesLiquidation.Triggered", at_least=1)
    Service.kill(worker)  # SIGKILL, pool included: no chance to hand back its task
    completed_when_killed = service.count_events("FuturesLiquidation.Completed")
    service.start_worker(concurrency=1)

    stdout, stderr = submission.communicate(timeout=SUBMIT_SECONDS)
    assert submission.returncode == 0, stderr + service.log_tail()
    assert completed_when_killed < wallets, "killed after the last liquidation: nothing was tested"
    for topic in ("FuturesAccount.ClearanceFeeCharged", "FuturesAccount.LiquidationEnded"):
        per_wallet = service.events_per_originator(topic)
        assert len(per_wallet) == wallets and set(per_wallet.values()) == {1}, topic
    assert service.count_events("FuturesLiquidation.Completed") == wallets
    state = service_state(service)
    assert state == inline_state_of(tmp_path, setup, fall)
    assert state["holdings"]["insurance-fund"] == {"USDT": wallets * Decimal("5")}
