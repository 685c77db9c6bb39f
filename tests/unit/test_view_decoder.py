"""The runner's decoder (`projections.decoding.ViewDecoder`) builds the event the
application's mapper builds; of an InputsRecorded, only what the views read of it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from ledger.application import Ledger
from ledger.domain.market import AssetMarket, InputsRecorded
from projections.decoding import ViewDecoder
from projections.views import INPUTS_APPLIED, LedgerViews


@pytest.fixture(scope="module")
def app() -> Ledger:
    return Ledger({"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_an_event_decodes_as_the_mapper_decodes_it(app: Ledger) -> None:
    at, cause = datetime(2026, 1, 2, tzinfo=UTC), {"kind": "input", "line": 1, "actor": "ops"}
    market = AssetMarket(asset="BTC", at=at, cause=cause)
    market.record_mark("BTC", Decimal("30000.50"), "USDT", at, cause)
    for event in market.collect_events():
        stored = app.mapper.to_stored_event(event)
        decoded = ViewDecoder(app.mapper)(stored)
        expected = app.mapper.to_domain_event(stored)
        assert type(decoded) is type(expected)
        assert list(vars(decoded).items()) == list(vars(expected).items())


def recorded_inputs() -> InputsRecorded:
    records = [
        {"op": "deposit", "account": "alice", "asset": "USDT", "amount": Decimal("100.5"), "line": 1},
        {"op": "params", "overlay": True, "data": {"rate": Decimal("0.01")}},
        {"op": "fill", "account": "bob", "price": Decimal("30000"), "id": uuid4(), "line": 2},
    ]
    return InputsRecorded(originator_id=uuid4(), originator_version=1, timestamp=datetime.now(UTC), inputs=records)


@pytest.mark.parametrize("written_as", ["msgpack", "json"])
def test_the_views_count_the_inputs_of_a_partly_decoded_inputs_recorded(app: Ledger, written_as: str) -> None:
    event = recorded_inputs()
    stored = app.mapper.to_stored_event(event)
    if written_as == "json":
        state = dict(vars(event))
        del state["originator_id"], state["originator_version"]
        legacy = app.mapper.transcoder.legacy  # type: ignore[attr-defined]
        stored = type(stored)(stored.originator_id, stored.originator_version, stored.topic, legacy.encode(state))
    decoded = ViewDecoder(app.mapper)(stored)
    assert type(decoded) is InputsRecorded
    if written_as == "msgpack":
        assert decoded.inputs == [{"overlay": None}, {"overlay": True}, {"overlay": None}]  # nothing else decoded
    views, full = LedgerViews(), LedgerViews()
    views.process(7, decoded)
    full.process(7, app.mapper.to_domain_event(stored))
    assert views.take_changes().by_table == full.take_changes().by_table
    assert views.counter_values[(INPUTS_APPLIED, "")] == 2
