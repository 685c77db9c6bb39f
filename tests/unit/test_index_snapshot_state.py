"""The indexes' snapshot state (`DriverIndex.snapshot`/`restore`, `RiskIndex.snapshot`):
through msgpack and back, an index holds and decides what it did; a state that does not
fit is refused (SnapshotFault), never unpickled."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from ledger.domain.margin.account import Account
from ledger.domain.margin.rules import level_weights
from ledger.processes.margin.indexes import MarginRisk
from ledger.processes.plain_state import SnapshotFault, array_state, restored_array
from ledger.processes.risk_index import LevelWeights, RiskIndex
from tests.unit.test_risk_index import _books, _exact, _index, _prices


def _through_msgpack(state: Any) -> Any:
    return msgspec.msgpack.decode(msgspec.msgpack.encode(state))


def _restored_risk(risk: MarginRisk) -> MarginRisk:
    restored = MarginRisk()
    restored.restore(_through_msgpack(risk.snapshot()))
    return restored


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_books())
def test_a_restored_margin_risk_decides_as_the_live_one(book: tuple[list[Account], Decimal]) -> None:
    accounts, mark = book
    live = _index(accounts)
    prices = _prices(BTC=mark)
    by_name = {a.name: a for a in accounts}.__getitem__
    before = live.decide("BTC", prices, by_name)  # the live one holds thresholds and forms
    restored = _restored_risk(live)
    assert restored.contents() == live.contents()
    assert restored.index.row_of == live.index.row_of  # same rows: ties come out in the same order
    decided = restored.decide("BTC", prices, by_name)
    assert decided.actions() == before.actions() == _exact(accounts, prices)
    assert decided.worst_first() == before.worst_first()


def test_free_rows_groups_and_thresholds_survive_and_the_index_grows_after() -> None:
    index = RiskIndex()
    classic = LevelWeights(*level_weights("cross_classic"))
    for number in range(100):  # beyond the first rows: grown once
        index.put(
            f"a{number}", {"BTC": Decimal(1)}, {"USDC": Decimal(number + 1)}, classic, ("cross_classic", 5), False
        )
    for number in range(0, 100, 3):
        index.remove(f"a{number}")
    index.screen("BTC", {"BTC": 50000.0, "USDC": 1.0}, {}, {("cross_classic", 5): (1.16, 1.1)})
    restored = RiskIndex()
    restored.restore(_through_msgpack(index.snapshot()))
    assert restored.rows() == index.rows()
    assert restored.free == index.free and restored.thresholds == index.thresholds
    assert restored.groups == [("cross_classic", 5)]
    for one in (index, restored):  # the same next row, and a new column and group, alike
        one.put("new", {"ETH": Decimal(2)}, {"SOL": Decimal(1)}, classic, ("cross_pro", 10), True)
    assert restored.row_of["new"] == index.row_of["new"]
    assert restored.rows() == index.rows()
    prices = {"BTC": 20000.0, "USDC": 1.0, "ETH": 3000.0, "SOL": None}
    thresholds = {("cross_classic", 5): (1.16, 1.1), ("cross_pro", 10): (1.5, 1.0)}
    for asset in ("BTC", "USDC"):
        live, again = index.screen(asset, prices, {}, thresholds), restored.screen(asset, prices, {}, thresholds)
        assert list(live.names) == list(again.names) and list(live.verdicts) == list(again.verdicts)


def test_an_empty_index_round_trips() -> None:
    restored = _restored_risk(MarginRisk())
    assert restored.contents() == MarginRisk().contents() and restored.index.used == 0


def test_arrays_of_objects_or_mismatched_bytes_are_refused() -> None:
    with pytest.raises(SnapshotFault):
        array_state(np.array(["x"], dtype=object))
    good = array_state(np.arange(6, dtype=np.float64).reshape(2, 3, order="F"))
    assert restored_array(_through_msgpack(good)).flags.f_contiguous
    for bad in ({**good, "dtype": "object"}, {**good, "data": good["data"][:-1]}, {**good, "shape": [-1, 3]}):
        with pytest.raises(SnapshotFault):
            restored_array(bad)


def test_a_risk_index_whose_rows_do_not_fit_is_refused() -> None:
    index = RiskIndex()
    classic = LevelWeights(*level_weights("cross_classic"))
    index.put("x", {"BTC": Decimal(1)}, {}, classic, ("cross_classic", 5), False)
    state = _through_msgpack(index.snapshot())
    too_large = {**state, "capacity": [10**12, 4]}  # never allocated
    for bad in ({**state, "row_of": {"x": 5}}, {**state, "free": [0]}, {**state, "groups": []}, too_large):
        with pytest.raises(SnapshotFault):
            RiskIndex().restore(bad)
