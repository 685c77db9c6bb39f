"""Snapshots of `ledger run`'s indexes (`ledger.processes.snapshots`): a driver restored from
one and caught up holds what a driver loading every account holds; a short run on a store
with a snapshot reads few accounts; a snapshot that is corrupt, of another format or of
other index classes is ignored, and the store stays usable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ledger.bootstrap import open_ledger
from ledger.processes.indexes import Driver
from ledger.processes.inline import ProcessManager, run_inputs
from ledger.processes.snapshots import FORMAT, SnapshotTable, index_classes
from ledger.runs import validate
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
        # The store is usable: a run, and a good snapshot again.
        deposit = {"op": "deposit", "account": "a0003", "asset": "USDC", "amount": "5"}
        run_inputs(app, validate(app, json.dumps(deposit), "one.jsonl"), ProcessManager(app))
        assert ProcessManager(app).snapshot()
        restored = ProcessManager(app)
        assert restored.start.source == "snapshot"
        assert contents(restored) == contents(ProcessManager(app, use_snapshot=False))
    finally:
        app.close()
