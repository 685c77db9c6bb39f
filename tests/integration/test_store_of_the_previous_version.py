"""Stores written by earlier versions load, read and go on.

Two stores are kept, each written by its version's own `ledger run` from a committed
scenario with a `--params` overlay, beside the report that run printed:

- `store_v0.db` by d27d9cc (`tests/fixtures/make_store_v0.py` says how): events of every
  kind that version wrote, in their old shapes (`Account.AutoTopUpApplied` of class
  version 1, before `outcome` and `reason`), and snapshots of Account (one taken with the
  since removed `topup_failed_in_descent` set), AssetMarket, Clock, ParameterSet and
  Liquidation state;
- `store_v1.db` by 8776252, the version before issue 10 moved the modules
  (`tests/fixtures/make_store_v1.py`): the same scenario in the grammar 8776252 accepts,
  its events and snapshots stored under the old layout's topics
  (`ledger.domain.accounts:Account…`, `ledger.domain.liquidation:Liquidation…`), which the
  current code finds only through the moved topics it registers; `ScenarioFile`
  aggregates, and `AutoTopUpApplied` of class version 2.

Any change to events, aggregates or modules must keep these tests passing: register the
moved topic, upcast, do not break. The tests common to both stores run once per store;
those named after one store check what only that store holds.

Every test works on a copy of the store in its own tmp_path; the committed files are only
ever read.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.store import store_environment
from projections.report import build_report
from tests.integration.cli_scenarios import ledger, write_scenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

STORE_CLOCK = datetime(2026, 1, 13, 18, 5, tzinfo=UTC)  # the time of the last input the old runs recorded

# Where the current report may differ from an old one on a key both have, and why.
# (Keys only the current report has, e.g. `warnings`, are not compared.)
KNOWN_REPORT_DIFFERENCES: dict[str, str] = {}


@dataclass(frozen=True)
class OldStore:
    """A committed store, the scenario and maker it came from, and what its version's report holds."""

    name: str  # v0, v1: the files are store_{name}.*
    commit: str  # the version that wrote it
    # Attributes an Account snapshot of that version holds and the current Account no longer has.
    removed_account_fields: frozenset[str]
    # Keys of the old report that only `ledger run` prints (the run itself), not a report of the store.
    run_only_keys: frozenset[str]

    @property
    def store(self) -> Path:
        return FIXTURES / f"store_{self.name}.db"

    @property
    def scenario(self) -> Path:
        return FIXTURES / f"store_{self.name}.jsonl"

    @property
    def expected(self) -> Path:
        return FIXTURES / f"store_{self.name}.expected.json"

    @property
    def maker(self) -> Path:
        return FIXTURES / f"make_store_{self.name}.py"


V0 = OldStore("v0", "d27d9cc", frozenset({"topup_failed_in_descent"}), frozenset())
V1 = OldStore("v1", "8776252", frozenset(), frozenset({"run"}))

only_v0 = pytest.mark.parametrize("old_store", [V0], indirect=True, ids=["v0"])
only_v1 = pytest.mark.parametrize("old_store", [V1], indirect=True, ids=["v1"])


@pytest.fixture(scope="module", params=[V0, V1], ids=["v0", "v1"])
def old_store(request: pytest.FixtureRequest) -> OldStore:
    return request.param


@pytest.fixture(scope="module")
def old_report(old_store: OldStore) -> dict[str, Any]:
    return json.loads(old_store.expected.read_text())


@pytest.fixture
def store_url(tmp_path: Path, old_store: OldStore) -> str:
    """A copy of the old store, never the committed file."""
    copy = tmp_path / old_store.store.name
    shutil.copyfile(old_store.store, copy)
    return f"sqlite:///{copy}"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, old_store: OldStore) -> Path:
    """A copy of the old store that nothing writes, for looking into its tables."""
    copy = tmp_path_factory.mktemp(f"store_{old_store.name}") / old_store.store.name
    shutil.copyfile(old_store.store, copy)
    return copy


def ok(*args: str) -> Any:
    """Runs `ledger ARGS --json`, which must exit 0, and returns its JSON document."""
    result = ledger(*args, "--json")
    assert result.exit_code == 0, (args, result.stdout[-2000:], result.stderr[-2000:], result.exception)
    return json.loads(result.stdout)


def differences_on_old_keys(old: Any, new: Any, path: str = "") -> list[str]:
    """Where `new` differs from `old` on the keys `old` has (keys only `new` has are not compared)."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{path}: {old!r} became {new!r}"]
        found: list[str] = []
        for key, value in old.items():
            if key not in new:
                found.append(f"{path}/{key}: missing")
            else:
                found += differences_on_old_keys(value, new[key], f"{path}/{key}")
        return found
    if isinstance(old, list):
        if not isinstance(new, list) or len(old) != len(new):
            return [f"{path}: {old!r} became {new!r}"]
        return [
            found
            for index, (a, b) in enumerate(zip(old, new))
            for found in differences_on_old_keys(a, b, f"{path}[{index}]")
        ]
    return [] if old == new else [f"{path}: {old!r} became {new!r}"]


def assert_same_as_old(old: Any, new: Any, what: str) -> None:
    unexplained = [
        found for found in differences_on_old_keys(old, new) if found.split(":")[0] not in KNOWN_REPORT_DIFFERENCES
    ]
    assert unexplained == [], f"{what} differs from what the previous version printed:\n" + "\n".join(unexplained)


def stored_report(old_store: OldStore, old_report: dict[str, Any]) -> dict[str, Any]:
    """The old report but for what only the run that printed it knew (the run's own figures)."""
    return {key: value for key, value in old_report.items() if key not in old_store.run_only_keys}


def stored_rows(store: Path, query: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def stored_topics(store: Path) -> Counter[str]:
    return Counter(topic for (topic,) in stored_rows(store, "SELECT topic FROM stored_events"))


def stored_snapshots(store: Path) -> list[dict[str, Any]]:
    return [json.loads(state) for (state,) in stored_rows(store, "SELECT state FROM stored_snapshots")]


def load_maker(old_store: OldStore) -> Any:
    spec = importlib.util.spec_from_file_location(old_store.maker.stem, old_store.maker)
    assert spec is not None and spec.loader is not None
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    return maker


# Events of every kind the scenario makes, with the least count each store holds (topics of
# the layout both versions shared: ledger.domain.accounts, .liquidation, .market).
OLD_TOPICS_AT_LEAST = {
    "accounts:Account.AutoTopUpApplied": 2,
    "accounts:Account.MarginCallIssued": 2,
    "accounts:Account.MarginRecovered": 2,
    "accounts:Account.ShortfallCovered": 1,
    "accounts:Account.HandedOverToTakeover": 3,
    "accounts:Account.Repaid": 5,
    "accounts:Account.InterestAccrued": 100,
    "liquidation:Liquidation.Triggered": 5,
    "liquidation:Liquidation.TakeoverSliceSold": 3,
    "liquidation:Liquidation.DeskInterestAccrued": 100,
    "market:AssetMarket.LiquidityOffered": 3,
    "market:ParameterSet.Changed": 50,
    "market:InputRejected": 6,
}


# --- the fixtures are what they say --------------------------------------------------------------


def test_the_fixture_holds_events_and_snapshots_of_every_kind(pristine: Path) -> None:
    topics = stored_topics(pristine)
    for topic, least in OLD_TOPICS_AT_LEAST.items():
        assert topics[f"ledger.domain.{topic}"] >= least, topic
    kinds = Counter(snapshot["topic"].split(":")[1] for snapshot in stored_snapshots(pristine))
    assert kinds["Account"] >= 3 and all(
        kinds[kind] for kind in ("AssetMarket", "Clock", "ParameterSet", "Liquidation")
    )


@only_v0
def test_the_v0_fixture_holds_the_old_shapes_it_is_kept_for(pristine: Path) -> None:
    topics = stored_topics(pristine)
    assert not [topic for topic in topics if "ScenarioFile" in topic]  # written before ScenarioFile
    assert topics["ledger.domain.accounts:Account.AutoTopUpFailed"] >= 1
    top_ups = [
        json.loads(state)
        for (state,) in stored_rows(
            pristine, "SELECT state FROM stored_events WHERE topic = 'ledger.domain.accounts:Account.AutoTopUpApplied'"
        )
    ]
    assert sorted(top_up["target_reached"] for top_up in top_ups) == [False, True]
    assert all("outcome" not in top_up and "class_version" not in top_up for top_up in top_ups)  # version 1
    accounts = {
        snapshot["state"]["name"]: snapshot["state"]
        for snapshot in stored_snapshots(pristine)
        if snapshot["topic"].endswith(":Account")
    }
    assert accounts["E"]["topup_failed_in_descent"] is True  # a field the current Account no longer has


@only_v1
def test_the_v1_fixture_holds_the_topics_of_the_layout_before_the_move(pristine: Path) -> None:
    """Every event and snapshot names a module of the old layout, and those modules are gone:
    the current code can load the store only through the moved topics it registers."""
    topics = stored_topics(pristine)
    modules = Counter(topic.split(":")[0] for topic in topics.elements())
    assert set(modules) == {"ledger.domain.accounts", "ledger.domain.liquidation", "ledger.domain.market"}
    snapshot_topics = {snapshot["topic"] for snapshot in stored_snapshots(pristine)}
    assert {"ledger.domain.accounts:Account", "ledger.domain.liquidation:Liquidation"} <= snapshot_topics
    for moved in ("ledger.domain.accounts", "ledger.domain.liquidation"):
        assert importlib.util.find_spec(moved) is None, f"{moved} exists again: the test no longer proves the move"
    assert topics["ledger.domain.market:ScenarioFile.Begun"] == 1  # written after ScenarioFile came
    assert topics["ledger.domain.market:ScenarioFile.LinesApplied"] >= 1
    top_ups = [
        json.loads(state)
        for (state,) in stored_rows(
            pristine, "SELECT state FROM stored_events WHERE topic = 'ledger.domain.accounts:Account.AutoTopUpApplied'"
        )
    ]
    assert sorted((top_up["class_version"], top_up["outcome"]) for top_up in top_ups) == [
        (2, "applied"),
        (2, "partial"),
    ]


def test_the_committed_scenario_is_the_one_the_maker_builds(old_store: OldStore) -> None:
    """The maker built the committed scenario: edit one, and the store must be made again
    (with the version that wrote it)."""
    assert old_store.scenario.read_text() == load_maker(old_store).scenario_text()


@only_v1
def test_the_v1_maker_refuses_the_reorganized_ledger(old_store: OldStore, tmp_path: Path) -> None:
    """Run without PYTHONPATH, the maker finds the current `ledger` and writes nothing (it is run
    from a copy of the fixtures folder, so that nothing could overwrite the committed store)."""
    for maker in (V0.maker, V1.maker):
        shutil.copyfile(maker, tmp_path / maker.name)
    made = subprocess.run(
        [sys.executable, str(tmp_path / old_store.maker.name)], capture_output=True, text=True, check=False
    )
    assert made.returncode == 1 and "newer than 8776252" in made.stderr, made.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["make_store_v0.py", "make_store_v1.py"]


# --- the current code reads it ------------------------------------------------------------------


def test_reconcile_holds_on_the_old_store(store_url: str) -> None:
    """The views the old run built equal the current code's replay of the old events, the books
    net to zero and no version is missing."""
    result = ok("reconcile", "--store", store_url)
    assert result["ok"] is True and result["differences"] == []
    assert result["lag"] == 0 and result["events_replayed"] == result["last_notification_id"]


def test_the_report_is_the_one_the_old_version_printed(
    store_url: str, old_store: OldStore, old_report: dict[str, Any]
) -> None:
    """From the old views, and from views the current code rebuilds from event 1."""
    expected = stored_report(old_store, old_report)
    app = open_ledger(store_url)
    try:
        assert_same_as_old(expected, build_report(app), "the report")
    finally:
        app.close()
    rebuilt = ok("project", "--rebuild", "--store", store_url)
    assert rebuilt["position"] == rebuilt["last_notification_id"]
    app = open_ledger(store_url)
    try:
        assert_same_as_old(expected, build_report(app), "the report from rebuilt views")
    finally:
        app.close()
    listed = ok("liquidations", "--store", store_url)["liquidations"]
    assert_same_as_old(old_report["liquidations"], listed, "ledger liquidations")
    assert [item["kind"] for item in listed] == ["mixed", "takeover", "regular", "regular", "takeover"]
    assert [item["status"] for item in listed] == ["completed"] * 4 + ["in_progress"]
    assert ok("reconcile", "--store", store_url)["ok"] is True


def test_the_history_of_every_old_account(store_url: str, old_report: dict[str, Any]) -> None:
    """`ledger history` folds each account's old events to the state the old report printed."""
    for account, reported in old_report["accounts"].items():
        history = ok("history", account, "--store", store_url)
        versions = [event["version"] for event in history["events"]]
        assert versions == list(range(1, len(versions) + 1)) and versions[-1] == history["state"]["version"], account
        state = history["state"]
        told = {key: state[key] for key in ("mode", "status", "balances", "debts")}
        assert told == {key: reported[key] for key in told}, account


@only_v0
def test_old_auto_top_ups_are_read_with_their_outcome(store_url: str) -> None:
    """AutoTopUpApplied v1 is upcast: target reached -> applied, not reached -> partial."""
    expected = {"D": (True, "applied", "target reached"), "E": (False, "partial", "target not reached")}
    for account, (reached, outcome, reason) in expected.items():
        history = ok("history", account, "--store", store_url)
        [top_up] = [event["facts"] for event in history["events"] if event["event"] == "Account.AutoTopUpApplied"]
        assert (top_up["target_reached"], top_up["outcome"], top_up["reason"]) == (reached, outcome, reason)
    history = ok("history", "E", "--store", store_url)
    assert [event["event"] for event in history["events"] if "AutoTopUp" in event["event"]] == [
        "Account.AutoTopUpEnabled",
        "Account.AutoTopUpApplied",
        "Account.AutoTopUpFailed",
    ]
    assert history["state"]["status"] == "normal"


@only_v1
def test_v2_auto_top_ups_are_read_as_they_were_stored(store_url: str, pristine: Path) -> None:
    stored = {
        top_up["account"]: top_up
        for top_up in (
            json.loads(state)
            for (state,) in stored_rows(
                pristine,
                "SELECT state FROM stored_events WHERE topic = 'ledger.domain.accounts:Account.AutoTopUpApplied'",
            )
        )
    }
    for account, outcome in (("D", "applied"), ("E", "partial")):
        history = ok("history", account, "--store", store_url)
        [top_up] = [event["facts"] for event in history["events"] if event["event"] == "Account.AutoTopUpApplied"]
        assert (top_up["outcome"], top_up["reason"]) == (outcome, stored[account]["reason"])
        assert top_up["target_reached"] is (outcome == "applied")


def test_every_old_liquidation_is_told_step_by_step(store_url: str, old_report: dict[str, Any]) -> None:
    for liquidation in old_report["liquidations"]:
        told = ok("postmortem", liquidation["id"], "--format", "json", "--store", store_url)
        assert_same_as_old(liquidation, told["liquidation"], f"the postmortem of {liquidation['id']}")
        assert told["steps"], liquidation["id"]


def test_old_snapshots_load_as_their_events_fold(store_url: str, pristine: Path, old_store: OldStore) -> None:
    """Each aggregate with an old snapshot, loaded by the current code from the snapshot and
    the events after it, is the aggregate its events alone make (but for removed fields)."""
    app = Ledger(store_environment(store_url))
    removed_fields_seen = Counter[str]()
    try:
        ids = sorted(row[0] for row in stored_rows(pristine, "SELECT DISTINCT originator_id FROM stored_snapshots"))
        assert len(ids) >= 7
        for stored_id in ids:
            aggregate_id = uuid.UUID(stored_id)
            loaded = app.repository.get(aggregate_id)  # from its latest snapshot on
            folded = None
            for event in app.events.get(aggregate_id):  # from its first event on
                folded = event.mutate(folded)
            kind = type(loaded).__name__
            state = {key: value for key, value in vars(folded).items() if key not in ("_view", "_pending_events")}
            got = {key: value for key, value in vars(loaded).items() if key not in ("_view", "_pending_events")}
            missing, extra = set(state) - set(got), set(got) - set(state)
            assert not missing, (
                f"{kind} loaded from its old snapshot lacks {sorted(missing)}: an attribute added "
                f"since must have a default for old snapshots (or upcast the snapshot)"
            )
            # An old Account snapshot may bring a field since removed along; nothing reads it.
            assert extra <= old_store.removed_account_fields, (kind, extra)
            removed_fields_seen.update(extra)
            assert {key: got[key] for key in state} == state, kind
    finally:
        app.close()
    for field in old_store.removed_account_fields:
        assert removed_fields_seen[field] >= 3  # the accounts were loaded from their snapshots


def test_a_replay_over_the_old_store_with_a_higher_fee(
    store_url: str, tmp_path: Path, old_store: OldStore, old_report: dict[str, Any]
) -> None:
    overlay = tmp_path / "higher_fee.json"
    overlay.write_text(json.dumps({"margin": {"cross_classic": {"5": {"fee": "0.03"}}}}))
    result = ok("replay", "--params", str(overlay), "--store", store_url)
    inputs = len(old_store.scenario.read_text().splitlines())
    assert result["inputs_replayed"] == inputs + 1  # and the run's --params overlay, recorded as an input
    [recorded_a] = [item for item in old_report["liquidations"] if item["account"] == "A"]
    a = result["accounts"]["A"]
    assert a["recorded"]["liquidations"][0]["fee"] == recorded_a["fee"]
    assert Decimal(a["replayed"]["liquidations"][0]["fee"]["value"]) > Decimal(recorded_a["fee"]["value"])
    assert "liquidations" in a["differs"]


def test_the_old_store_goes_on(store_url: str, tmp_path: Path, old_report: dict[str, Any]) -> None:
    """A new file after the old clock: the old takeover of H is sold and completed, the
    snapshotted busy account, parameter set and clock move on, a futures wallet (which the
    old version did not know) opens and trades beside the old accounts, and reconcile
    still holds."""
    app = open_ledger(store_url)
    try:
        assert app.store_clock() == STORE_CLOCK  # the store's one clock, read from the old records
    finally:
        app.close()
    later = write_scenario(
        tmp_path / "later.jsonl",
        [
            {"op": "liquidity", "asset": "SUPER", "price": "0.9", "quantity": "60000", "at": "2026-01-13T19:00:00Z"},
            {"op": "deposit", "account": "busy", "asset": "USDT", "amount": "1"},
            {"op": "transfer", "from": "busy", "to": "busy2", "asset": "USDT", "amount": "2"},
            {"op": "open", "account": "N", "mode": "cross_pro", "leverage": 10},
            {"op": "deposit", "account": "N", "asset": "BTC", "amount": "1"},
            {"op": "params", "assets": {"USDC": {"hourly_interest": "0.00003"}}, "at": "2026-01-13T19:10:00Z"},
            {"op": "repay", "account": "D", "asset": "USDC", "amount": "1000"},
            {"op": "mark", "asset": "ETH", "price": "2300", "at": "2026-01-13T19:20:00Z"},
            {"op": "open", "account": "FUT", "mode": "usdm"},
            {"op": "transfer", "from": "busy2", "to": "FUT", "asset": "USDT", "amount": "2"},
            {"op": "deposit", "account": "FUT", "asset": "USDT", "amount": "998"},
            {"op": "mark", "symbol": "BTCUSDT", "price": "40000"},
            {"op": "trade", "account": "FUT", "symbol": "BTCUSDT", "side": "buy", "quantity": "0.1", "price": "40000"},
            {"op": "clock", "at": "2026-01-13T22:00:00Z"},
        ],
    )
    checked = ok("check", str(later), "--store", store_url)  # what run would do: nothing refused
    assert (checked["valid"], checked["skipped"], checked["to_apply"]) == (True, 0, 14)
    report = ok("run", str(later), "--store", store_url)
    assert report["run"] == {"source": "later.jsonl", "skipped": 0, "applied": 14}
    assert report["rejections"] == old_report["rejections"] and report["conservation"] == []
    [h] = [item for item in report["liquidations"] if item["account"] == "H"]
    assert (h["kind"], h["status"]) == ("takeover", "completed") and h["returned"]
    assert report["accounts"]["H"]["status"] == "normal"
    old_accounts = old_report["accounts"]
    for account, asset, moved in (("busy", "USDT", -1), ("busy2", "USDT", 0), ("D", "USDC", -1000)):
        before = Decimal(old_accounts[account]["balances"][asset])
        assert Decimal(report["accounts"][account]["balances"][asset]) == before + moved, account
    assert report["parameters_version"] == old_report["parameters_version"] + 1
    assert report["accounts"]["N"]["mode"] == "cross_pro"
    futures = report["accounts"]["FUT"]
    assert futures["wallet_balance"] == "1000" and [p["quantity"] for p in futures["positions"]] == ["0.1"]
    result = ok("reconcile", "--store", store_url)
    assert result["ok"] is True and result["differences"] == []


def test_inputs_recorded_under_older_bounds_are_replayed_not_refused() -> None:
    """The previous version accepted an asset named `stETH` and a fill moving 1.5 x 10^10:
    a replay reads them as recorded and checks again only what other parameters change."""
    from ledger.domain.parameters import first_version_data
    from ledger.inputs import KnownState, check_restored_inputs, restore_input

    def recorded(line: int, raw: dict[str, object]) -> dict[str, object]:
        return {"source": "old.jsonl", "line": line, "at": "2026-01-05T10:00:00Z", "input": raw}

    inputs = [
        restore_input(record)
        for record in (
            recorded(1, {"op": "params", "assets": {"stETH": {"precision": 8}}}),
            recorded(2, {"op": "open", "account": "A", "mode": "spot"}),
            recorded(3, {"op": "deposit", "account": "A", "asset": "stETH", "amount": "1"}),
            recorded(
                4,
                {
                    "op": "fill",
                    "account": "A",
                    "side": "buy",
                    "base": "BTC",
                    "quote": "USDC",
                    "quantity": "300000",
                    "price": "50000",
                },
            ),
        )
    ]
    check_restored_inputs(inputs, KnownState(parameter_data=first_version_data({})))  # raises nothing
