"""Snapshots of `ledger run`'s indexes (`ledger.processes.snapshots`): a driver restored from
one and caught up holds what a driver loading every account holds; a short run on a store
with a snapshot reads few accounts; a snapshot that is corrupt, of another format or of
other index classes is ignored, and the store stays usable."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ledger.bootstrap import open_ledger, open_reading_ledger
from ledger.domain.market import AssetMarket
from ledger.processes.indexes import Driver, ServiceIndex
from ledger.processes.inline import ProcessManager, run_inputs
from ledger.processes.snapshots import FORMAT, SnapshotTable, index_classes, service_index
from ledger.runs import validate
from ledger.store import store_environment
from tests.conftest import SCENARIOS, seeds_one_after_another

PIECE = 4  # input lines per `ledger run`


def contents(processes: ProcessManager) -> dict[str, Any]:
    return {type(index).__name__: index.contents() for index in processes.each_index}


def pieces(files: list[Path]) -> list[str]:
    """The files' lines, in order, a few at a time."""
    lines = [line for path in files for line in path.read_text().splitlines() if line.strip()]
    return ["\n".join(lines[start : start + PIECE]) for start in range(0, len(lines), PIECE)]


def scenario_files(name: str, tmp_path: Path) -> list[Path]:
    if name == "margin":
        return seeds_one_after_another(tmp_path)
    return [SCENARIOS / "futures" / f"{name}.jsonl"]


@pytest.mark.parametrize(
    "scenario",
    ["margin", "binance_usdm_cross_two_symbols", "binance_coinm_liquidation_price", "seed001_coinm_cost_to_open"],
)
def test_restored_and_caught_up_indexes_equal_loaded_ones(store_url: str, scenario: str, tmp_path: Path) -> None:
    snapshot_taken = False
    for number, text in enumerate(pieces(scenario_files(scenario, tmp_path))):
        app = open_ledger(store_url)
        try:
            live = ProcessManager(app, snapshot_every=10**9)  # snapshots taken here alone
            assert live.start.source == ("snapshot" if snapshot_taken else "store")
            run_inputs(app, validate(app, text, f"piece-{number}.jsonl"), live)
            if number % 2 == 0:  # the next start catches up two pieces' events, or one
                assert live.snapshot()
                snapshot_taken = True
            restored = ProcessManager(app)
            assert restored.start.source == "snapshot"
            loaded = ProcessManager(app, use_snapshot=False)
            assert loaded.start.source == "store"
            assert contents(restored) == contents(loaded), f"after piece {number}"
            assert contents(live) == contents(loaded), f"after piece {number}"
        finally:
            app.close()
    assert snapshot_taken


def _accounts(count: int) -> str:
    lines = []
    for number in range(count):
        name = f"a{number:04d}"
        lines.append({"op": "open", "account": name, "mode": "cross_classic", "leverage": 5})
        lines.append({"op": "deposit", "account": name, "asset": "USDC", "amount": "1000"})
    lines.append({"op": "borrow", "account": "a0001", "asset": "USDC", "amount": "100"})
    return "\n".join(json.dumps(line) for line in lines)


def test_a_short_run_on_a_store_with_a_snapshot_reads_few_accounts(store_url: str) -> None:
    app = open_ledger(store_url)
    processes = ProcessManager(app, snapshot_every=100)
    run_inputs(app, validate(app, _accounts(200), "accounts.jsonl"), processes)  # due: taken at the end
    assert [found.position for found in SnapshotTable.of(app).newest(Driver.INLINE)]  # type: ignore[union-attr]
    app.close()

    app = open_ledger(store_url)
    try:
        processes = ProcessManager(app)
        assert processes.start.source == "snapshot"
        assert processes.start.aggregates_read == 0
        deposit = {"op": "deposit", "account": "a0007", "asset": "USDC", "amount": "5"}
        run_inputs(app, validate(app, json.dumps(deposit), "one.jsonl"), processes)
        after = ProcessManager(app)
        assert after.start.source == "snapshot"
        assert after.start.events_caught_up >= 1
        assert after.start.aggregates_read <= 2  # the one account the run changed
        loaded = ProcessManager(app, use_snapshot=False)
        assert loaded.start.aggregates_read >= 200
        assert contents(after) == contents(loaded)
    finally:
        app.close()


def _tampered_states(app: Any, good: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """Headers and states a store must not be made unusable by."""
    processes_classes = index_classes(ProcessManager(app, use_snapshot=False).each_index)
    header = {"format": FORMAT, "classes": processes_classes}
    state = msgspec.msgpack.decode(good)
    object_array = json.loads(json.dumps(state, default=lambda _: None))  # every array's bytes gone
    return [
        (header, b"\x00not msgpack at all"),
        (header, msgspec.msgpack.encode(object_array)),
        (header, msgspec.msgpack.encode(state[:-1])),
        ({**header, "format": FORMAT + 1}, good),
        ({**header, "classes": ["ledger.elsewhere.Index:1"]}, good),
        ({**header, "event": "another store's event"}, good),
    ]


def test_a_corrupt_or_foreign_snapshot_is_ignored(store_url: str) -> None:
    app = open_ledger(store_url)
    try:
        run_inputs(app, validate(app, _accounts(20), "accounts.jsonl"))
        processes = ProcessManager(app)
        assert processes.snapshot()
        table = SnapshotTable.of(app)
        assert table is not None
        newest = table.newest(Driver.INLINE)[0]
        good = table.state(newest.id)
        expected = contents(ProcessManager(app, use_snapshot=False))
        for header, state in _tampered_states(app, good):
            full_header = {"event": newest.header["event"], **header}
            table.write(Driver.INLINE, newest.position, full_header, state)
            table.write(Driver.INLINE, newest.position, full_header, state)  # the good one is no longer kept
            started = ProcessManager(app)
            assert started.start.source == "store", header
            assert len(started.start.faults) == 2
            assert contents(started) == expected
        beyond = app.recorder.max_notification_id() + 5  # type: ignore[operator]
        table.write(Driver.INLINE, beyond, newest.header, good)
        assert ProcessManager(app).start.source == "store"
        # The store is usable: a run, which loaded the indexes, so ends with a good snapshot again.
        deposit = {"op": "deposit", "account": "a0003", "asset": "USDC", "amount": "5"}
        run_inputs(app, validate(app, json.dumps(deposit), "one.jsonl"), ProcessManager(app, snapshot_every=10))
        restored = ProcessManager(app)
        assert restored.start.source == "snapshot"
        assert contents(restored) == contents(ProcessManager(app, use_snapshot=False))
    finally:
        app.close()


def _holders(count: int) -> str:
    lines: list[dict[str, Any]] = [{"op": "mark", "asset": "BTC", "price": "50000", "at": "2026-01-05T10:00:00Z"}]
    for number in range(count):
        name = f"h{number:03d}"
        lines.append({"op": "open", "account": name, "mode": "cross_classic", "leverage": 5})
        lines.append({"op": "deposit", "account": name, "asset": "BTC", "amount": "1"})
        lines.append({"op": "borrow", "account": name, "asset": "USDC", "amount": str(1000 * (number + 1))})
    return "\n".join(json.dumps(line) for line in lines)


def _mark(app: Any, price: str) -> Any:
    return AssetMarket.MarkRecorded(
        originator_id=AssetMarket.create_id("BTC"),
        originator_version=10**6,
        timestamp=None,
        asset="BTC",
        price=Decimal(price),
        quote="USDC",  # type: ignore[arg-type]
        at=None,
        cause={},
    )  # type: ignore[arg-type]


def test_the_dispatcher_restores_its_indexes_and_reads_only_the_accounts_it_meets(store_url: str) -> None:
    app = open_ledger(store_url)
    try:
        run_inputs(app, validate(app, _holders(30), "holders.jsonl"))
        assert ProcessManager(app).snapshot()  # `ledger run`'s: the dispatcher keeps the same classes
        later = [
            {"op": "open", "account": "late", "mode": "cross_classic", "leverage": 5},
            {"op": "deposit", "account": "late", "asset": "BTC", "amount": "2"},
            {"op": "borrow", "account": "late", "asset": "USDC", "amount": "500"},
            {"op": "repay", "account": "h003", "asset": "USDC", "amount": "4000"},
        ]
        run_inputs(app, validate(app, "\n".join(json.dumps(line) for line in later), "later.jsonl"))
        position = app.recorder.max_notification_id() or 0
        # As the dispatcher's ledger, without the single writer's cache (whose accounts
        # `ledger run` goes on changing in place).
        reading = open_reading_ledger(store_environment(store_url), store_url)
        restored, start = service_index(reading)
        loaded = ServiceIndex.load(reading)
        assert start.source == "snapshot" and start.events_caught_up > 0
        assert len(restored.accounts) == 0 and len(loaded.accounts) == 31
        both = (restored, loaded)

        def same() -> None:
            for one, other in zip(restored.each_index, loaded.each_index):
                assert one.contents() == other.contents(), type(one).__name__

        def same_routes() -> None:  # a mark concerning every holder reads each
            mark = _mark(app, "41000")
            assert [r.subject for r in restored.reactions(mark)] == [r.subject for r in loaded.reactions(mark)]

        same()
        # Events after the start, as the dispatcher reads them: the same routes.
        more = [
            {"op": "deposit", "account": "h005", "asset": "BTC", "amount": "1"},
            {"op": "open", "account": "newer", "mode": "cross_classic", "leverage": 5},
            {"op": "deposit", "account": "newer", "asset": "BTC", "amount": "1"},
            {"op": "borrow", "account": "newer", "asset": "USDC", "amount": "30000"},
        ]
        run_inputs(app, validate(app, "\n".join(json.dumps(line) for line in more), "more.jsonl"))
        for notification in app.recorder.select_notifications(start=position + 1, limit=1000):
            event = app.mapper.to_domain_event(notification)
            for index in both:
                index.observe(event)
        same()
        assert set(restored.accounts) == {"h005", "newer"}  # those the events named
        same_routes()
        reading.close()
    finally:
        app.close()
