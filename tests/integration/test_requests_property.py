"""Whatever a request's body holds, `POST /inputs`' command side (`ledger.requests`) either
applies it or refuses it naming what is wrong, and a refused request writes nothing.

Bodies found by hypothesis: valid inputs of every op (`malformed.VALID`) with one field
replaced by any JSON value, dropped, or a key added; arrays of them; JSON Lines; any JSON
value; any bytes. After each, the store is byte for byte what it was when the request was
refused, and a valid deposit still applies (no body makes the store unusable).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from ledger.inputs import InputErrors
from ledger.requests import InputRequest, RequestConflict, apply_request
from tests.integration.malformed import BASE, VALID, assert_ok, run_file, store_snapshot, write_lines

RECEIVED = datetime(2026, 6, 1, tzinfo=UTC)  # after BASE's clock: items without `at` take it
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def an_input(draw: st.DrawFn) -> dict[str, Any]:
    line = dict(draw(st.sampled_from(sorted(VALID.items())))[1])
    change = draw(st.sampled_from(["keep", "replace", "drop", "add"]))
    if change == "replace":
        line[draw(st.sampled_from(sorted(line)))] = draw(JSON_VALUES)
    elif change == "drop":
        line.pop(draw(st.sampled_from(sorted(line))))
    elif change == "add":
        line[draw(st.text(min_size=1, max_size=8))] = draw(JSON_VALUES)
    return line


BODIES = st.one_of(
    an_input().map(lambda item: (json.dumps(item).encode(), False)),
    st.lists(an_input(), min_size=1, max_size=4).map(lambda items: (json.dumps(items).encode(), False)),
    st.lists(an_input(), min_size=1, max_size=4).map(
        lambda items: ("\n".join(json.dumps(item) for item in items).encode(), True)
    ),
    JSON_VALUES.map(lambda value: (json.dumps(value).encode(), False)),
    st.binary(max_size=64).map(lambda data: (data, False)),
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("requests")
    url = f"sqlite:///{directory / 'ledger.db'}"
    assert_ok(run_file(url, write_lines(directory / "base.jsonl", list(BASE))))
    return url


@settings(
    max_examples=int(os.environ.get("REQUEST_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(body=BODIES, key=st.none() | st.sampled_from(["k-1", "k-2"]))
def test_a_request_is_applied_or_refused_naming_the_fault_and_writing_nothing(
    store: str, body: tuple[bytes, bool], key: str | None
) -> None:
    data, json_lines = body
    note(repr(data[:300]))
    before = store_snapshot(store)
    try:
        outcome = apply_request(store, InputRequest(data, "fuzz", RECEIVED, key, json_lines))
    except InputErrors as refused:
        assert refused.errors and all(error.field and error.message for error in refused.errors)
        assert store_snapshot(store) == before, "a refused request wrote something"
    except RequestConflict:
        pass  # the key was used by another body: recorded as a rejection, as a scenario's id is
    else:
        assert outcome.status in {"applied", "repeat"}
    deposit = {"op": "deposit", "account": "B", "asset": "USDC", "amount": "1"}
    assert apply_request(store, InputRequest(json.dumps(deposit).encode(), "fuzz", RECEIVED)).applied == 1


def test_the_store_reports_after_the_search(store: str, tmp_path: Path) -> None:
    """The store still runs a file and reports (whatever the search left in it)."""
    report = assert_ok(run_file(store, write_lines(tmp_path / "after.jsonl", [VALID["deposit"]])))
    assert report["conservation"] == []
