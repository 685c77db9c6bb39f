"""Inputs arriving as requests (`ledger.requests`, what `POST /inputs` calls): validated as a
scenario's lines, timed by the server when they carry no `at`, applied once per
`Idempotency-Key`, serialized by the writer lease, and recorded with their actor."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from ledger.causes import actor_of
from ledger.inputs import InputErrors
from ledger.log import stored_events
from ledger.requests import InputRequest, RequestConflict, apply_request
from projections.report import build_report
from tests.integration.cli_scenarios import ledger

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPEN = [
    {"op": "open", "account": "A", "mode": "cross_classic", "leverage": 3, "at": "2026-03-02T08:00:00Z"},
    {"op": "deposit", "account": "A", "asset": "USDC", "amount": "100"},
]


def send(url: str, items: Any, key: str | None = None, actor: str = "desk", at: datetime = NOW) -> Any:
    return apply_request(url, InputRequest(json.dumps(items).encode(), actor, at, key))


def report(url: str) -> dict[str, Any]:
    app = open_ledger(url)
    try:
        return build_report(app)
    finally:
        app.close()


def position(url: str) -> int:
    app = open_ledger(url)
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def balance(url: str, account: str = "A", asset: str = "USDC") -> Decimal:
    return Decimal(report(url)["accounts"][account]["balances"].get(asset, "0"))


@pytest.fixture
def opened(store_url: str) -> str:
    """A store with account A. On PostgreSQL the inputs are appended for a service, whose
    tables `ledger migrate` makes first; deposits set off nothing a worker must run."""
    assert ledger("migrate", "--store", store_url).exit_code == 0
    outcome = send(store_url, OPEN)
    assert (outcome.items, outcome.applied) == (2, 2)
    return store_url


def test_a_batch_is_applied_and_recorded_with_its_actor(opened: str) -> None:
    assert balance(opened) == Decimal("100")
    app = open_ledger(opened)
    try:
        actors = {actor_of(event.cause) for event in stored_events(app) if getattr(event, "cause", None)}
        recorded = list(app.recorded_inputs())
    finally:
        app.close()
    assert actors - {None} == {"desk"}
    assert [(record["source"], record["line"], record["actor"]) for record in recorded] == [
        ("api", 1, "desk"),
        ("api", 2, "desk"),
    ]


def test_an_input_without_a_time_takes_the_time_of_acceptance(opened: str) -> None:
    send(opened, {"op": "deposit", "account": "A", "asset": "USDC", "amount": "1"}, at=NOW + timedelta(hours=1))
    app = open_ledger(opened)
    try:
        assert app.store_clock() == NOW + timedelta(hours=1)
        # A server clock behind the store's: the store's clock, never earlier.
        send(opened, {"op": "deposit", "account": "A", "asset": "USDC", "amount": "1"}, at=NOW)
        assert app.store_clock() == NOW + timedelta(hours=1)
    finally:
        app.close()


def test_an_input_earlier_than_the_store_clock_is_refused_naming_the_item(opened: str) -> None:
    before = position(opened)
    with pytest.raises(InputErrors) as refused:
        send(
            opened,
            [
                {"op": "deposit", "account": "A", "asset": "USDC", "amount": "1"},
                {"op": "deposit", "account": "A", "asset": "USDC", "amount": "1", "at": "2026-03-01T00:00:00Z"},
            ],
        )
    assert [(error.line, error.field) for error in refused.value.errors] == [(2, "at")]
    assert position(opened) == before


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (b'[{"op": "deposit"}, 3]', "item"),
        (b'{"op": "deposit", "account": "A", "asset": "USDC", "amount": "1.0000000000000000001"}', "amount"),
        (b'{"op": "teleport", "account": "A"}', "op"),
    ],
)
def test_bad_input_names_what_is_wrong_and_writes_nothing(opened: str, body: bytes, where: str) -> None:
    before = position(opened)
    with pytest.raises(InputErrors) as refused:
        apply_request(opened, InputRequest(body, "desk", NOW))
    assert where in {error.field for error in refused.value.errors}, refused.value.errors
    assert position(opened) == before


def test_without_a_key_the_same_request_is_new_inputs_each_time(opened: str) -> None:
    deposit = {"op": "deposit", "account": "A", "asset": "USDC", "amount": "5"}
    send(opened, deposit)
    send(opened, deposit)
    assert balance(opened) == Decimal("110")


def test_a_key_applies_its_request_once_whatever_the_times(opened: str) -> None:
    deposit = {"op": "deposit", "account": "A", "asset": "USDC", "amount": "5", "at": "2026-03-02T09:00:00Z"}
    first = send(opened, [deposit], key="k-1")
    after_first = position(opened)
    again = send(opened, [{**deposit, "at": "2026-03-02T09:30:00Z"}], key="k-1", actor="someone else")
    assert (first.applied, again.status, again.applied) == (1, "repeat", 0)
    assert first.status == ("appended" if opened.startswith("postgresql") else "applied")
    assert position(opened) == after_first and balance(opened) == Decimal("105")


def test_a_key_reused_with_another_body_is_refused_and_recorded(opened: str) -> None:
    send(opened, {"op": "deposit", "account": "A", "asset": "USDC", "amount": "5"}, key="k-2")
    with pytest.raises(RequestConflict, match="k-2"):
        send(opened, {"op": "deposit", "account": "A", "asset": "USDC", "amount": "6"}, key="k-2", actor="eve")
    assert balance(opened) == Decimal("105")
    [rejection] = report(opened)["rejections"]
    assert rejection["op"] == "request" and "k-2" in rejection["error"] and "eve" in rejection["error"]


def test_concurrent_requests_with_one_key_have_one_effect(opened: str) -> None:
    deposit = {"op": "deposit", "account": "A", "asset": "USDC", "amount": "7"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: send(opened, deposit, key="k-3"), range(8)))
    assert sorted(outcome.status == "repeat" for outcome in outcomes) == [False] + [True] * 7
    assert balance(opened) == Decimal("107")


def test_a_receipt_is_no_ledger_time(opened: str) -> None:
    """A keyed request's receipt keeps when it arrived (wall clock), which is not the ledger's
    time, and a request refused for its key is recorded at the ledger's time: `history
    --as-of` and the balances export cut the history by ledger time."""
    late = NOW + timedelta(days=30)
    deposit = {"op": "deposit", "account": "A", "asset": "USDC", "amount": "5", "at": "2026-03-02T09:00:00Z"}
    apply_request(opened, InputRequest(json.dumps(deposit).encode(), "desk", late, "k-4"))
    with pytest.raises(RequestConflict):  # its rejection is at the ledger's time too
        apply_request(opened, InputRequest(json.dumps({**deposit, "amount": "6"}).encode(), "eve", late, "k-4"))
    send(opened, {**deposit, "at": "2026-03-02T09:10:00Z"}, at=late)
    as_of = ledger("history", "A", "--as-of", "2026-03-02T09:30:00Z", "--store", opened, "--json")
    assert as_of.exit_code == 0, as_of.output
    assert json.loads(as_of.stdout)["state"]["balances"] == {"USDC": "110"}
