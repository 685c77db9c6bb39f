"""The events' transcoder (`ledger.transcodings`): every type the events and snapshots carry
comes back as the same type and value, Decimal exactly as written; the old JSON still reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.application import Ledger
from ledger.transcodings import LedgerTranscoder


@pytest.fixture(scope="module")
def transcoder() -> LedgerTranscoder:
    app = Ledger({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    assert isinstance(app.mapper.transcoder, LedgerTranscoder)
    return app.mapper.transcoder


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down (Decimal("1.50") is not Decimal("1.5"))."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, datetime):
        return a == b and a.tzinfo == b.tzinfo and a.isoformat() == b.isoformat()
    return bool(a == b)


def test_every_type_the_events_carry_comes_back_as_written(transcoder: LedgerTranscoder) -> None:
    state = {
        "amount": Decimal("1.50"),
        "tiny": Decimal("-0.00000001"),
        "huge": Decimal("123456789012345678901234567890.123456789"),
        "exponent": Decimal("1E+3"),
        "at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "elsewhere": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        "naive": datetime(2026, 1, 2, 3, 4, 5),
        "id": uuid4(),
        "entry_price": Fraction(100, 3),
        "count": 7,
        "big": 2**70,
        "negative_big": -(2**70),
        "ratio": 0.25,
        "flag": True,
        "none": None,
        "text": "1.50",  # a string that looks like a number stays a string
        "cause": {"kind": "input", "line": 3, "prices": {"BTC": Decimal("30000.00")}},
        "closed": [{"mark": Decimal("2"), "entry_price": Fraction(9800)}],
    }
    stored = transcoder.encode(state)
    assert stored[:1] != b"{"
    assert same(transcoder.decode(stored), state)


def test_a_tuple_reads_back_as_a_list_as_from_json(transcoder: LedgerTranscoder) -> None:
    assert transcoder.decode(transcoder.encode({"pair": ("a", Decimal("1"))})) == {"pair": ["a", Decimal("1")]}


def test_what_the_old_json_transcoder_wrote_still_reads(transcoder: LedgerTranscoder) -> None:
    state = {"amount": Decimal("1.50"), "at": datetime(2026, 1, 2, tzinfo=UTC), "id": UUID(int=5), "p": Fraction(1, 3)}
    old = transcoder.legacy.encode(state)
    assert old[:1] == b"{"
    assert same(transcoder.decode(old), state)


def test_a_type_it_cannot_store_is_refused_by_name(transcoder: LedgerTranscoder) -> None:
    with pytest.raises(TypeError, match="set"):
        transcoder.encode({"odd": {1, 2}})


@pytest.mark.parametrize(
    "key", [1, Decimal("1.5"), UUID(int=7), True, None, (1, 2)], ids=["int", "decimal", "uuid", "bool", "none", "tuple"]
)
def test_a_key_that_is_not_text_is_refused_by_name(transcoder: LedgerTranscoder, key: Any) -> None:
    """A key would not read back as the type it was written (JSON made every key text; MessagePack
    would keep an int and make a UUID text): the domain's keys are text, so any other is refused."""
    for state in ({key: "x"}, {"outer": [{key: 1}]}, {"deep": {"er": {key: Decimal(1)}}}):
        with pytest.raises(TypeError, match="key"):
            transcoder.encode(state)


decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None)
leaves = (
    decimals
    | st.integers()
    | st.text()
    | st.booleans()
    | st.none()
    | st.uuids()
    | st.fractions()
    | st.datetimes(timezones=st.just(UTC))
)
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4))


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(), values, max_size=6))
def test_any_state_of_these_types_round_trips(transcoder: LedgerTranscoder, state: dict[str, Any]) -> None:
    assert same(transcoder.decode(transcoder.encode(state)), state)
