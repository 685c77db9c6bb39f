"""Every event says who is behind it: an input's events name the actor who submitted it
(`ledger run --actor`, by default the OS user), a process step's events name the step and
the input that set it off, with its actor (`ledger.causes`). The actor is not part of an
input's fingerprint: the same input by someone else is the same input."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

from ledger.bootstrap import open_ledger
from ledger.causes import actor_of
from ledger.log import stored_events
from tests.integration.cli_scenarios import ledger, regular_liquidations, write_scenario


def run(tmp_path: Path, store_url: str, lines: list[dict[str, Any]], *options: str, name: str = "s.jsonl") -> Any:
    result = ledger("run", str(write_scenario(tmp_path / name, lines)), "--store", store_url, "--json", *options)
    assert result.exit_code == 0, (result.stdout[-2000:], result.stderr[-2000:], result.exception)
    return json.loads(result.stdout)


def events_with_causes(store_url: str) -> list[Any]:
    app = open_ledger(store_url)
    try:
        return [event for event in stored_events(app) if isinstance(getattr(event, "cause", None), dict)]
    finally:
        app.close()


def test_an_inputs_events_and_the_steps_it_sets_off_name_its_actor(tmp_path: Path, store_url: str) -> None:
    lines = regular_liquidations("A")
    run(tmp_path, store_url, lines[:-1], "--actor", "alice", name="setup.jsonl")
    run(tmp_path, store_url, lines[-1:], "--actor", "bob", name="fall.jsonl")  # the fall liquidates A
    events = events_with_causes(store_url)
    by_input = [event for event in events if event.cause["kind"] == "input"]
    assert by_input and {event.cause["actor"] for event in by_input} == {"alice", "bob"}
    steps = [event for event in events if event.cause["kind"] == "process"]
    liquidation_steps = [event for event in steps if "Liquidation" in type(event).__qualname__]
    assert liquidation_steps, "the fall sets off a liquidation"
    for event in liquidation_steps:
        origin = event.cause["origin"]
        told = (origin["kind"], origin["source"], origin["op"], origin["actor"])
        assert told == ("input", "fall.jsonl", "mark", "bob")
        assert event.cause["step"] and actor_of(event.cause) == "bob"
    app = open_ledger(store_url)
    try:
        recorded = list(app.recorded_inputs())
    finally:
        app.close()
    assert {record["actor"] for record in recorded} == {"alice", "bob"}  # a replay keeps who submitted


def test_the_os_user_is_the_actor_by_default(tmp_path: Path, store_url: str) -> None:
    run(tmp_path, store_url, regular_liquidations("A")[:3])
    assert {actor_of(event.cause) for event in events_with_causes(store_url)} - {None} == {getpass.getuser()}


def test_a_parameter_change_names_its_actor(tmp_path: Path, store_url: str) -> None:
    run(tmp_path, store_url, regular_liquidations("A")[:2], "--actor", "risk desk")
    changes = [event for event in events_with_causes(store_url) if type(event).__qualname__ == "ParameterSet.Changed"]
    assert changes and all(actor_of(event.cause) == "risk desk" for event in changes)


def test_the_actor_is_not_part_of_an_inputs_identity(tmp_path: Path, store_url: str) -> None:
    """The same input id submitted again by someone else has no effect, and is no conflict."""
    deposit = {"op": "deposit", "account": "A", "asset": "BTC", "amount": "1", "id": "dep-1"}
    first = run(tmp_path, store_url, [*regular_liquidations("A")[:3], deposit], "--actor", "alice", name="a.jsonl")
    again = run(tmp_path, store_url, [deposit], "--actor", "bob", name="b.jsonl")
    assert again["accounts"]["A"]["balances"] == first["accounts"]["A"]["balances"]
    assert again["rejections"] == first["rejections"] == []


def test_an_actor_that_is_not_a_name_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    store = tmp_path / "never.db"
    result = ledger(
        "run", str(write_scenario(tmp_path / "s.jsonl", regular_liquidations("A")[:2])), "--store", f"sqlite:///{store}"
    )
    assert result.exit_code == 0
    written = store.read_bytes()
    refused = ledger("run", str(tmp_path / "s.jsonl"), "--again", "--store", f"sqlite:///{store}", "--actor", "a\nb")
    assert refused.exit_code == 2 and "--actor" in refused.stderr
    assert store.read_bytes() == written
