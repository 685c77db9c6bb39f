"""A `ledger run` killed (SIGKILL) part way through its file, then run again on the same
file, the natural retry (issue 9, defect 4): each retry resumes where the store stopped
(it says how many inputs it skipped: exactly the file's mark), and in the end the store
holds what an uninterrupted run leaves: the same `--json` report (liquidation ids
included; only the `run` key differs), the same events of every kind (no input applied
twice, no process step run twice), every line recorded once, and `ledger reconcile`
exits 0. On SQLite and on PostgreSQL.

Where it kills: no hook in the ledger. The test polls the store while the command runs
and kills it once the store holds the k-th event of a kind, for kill points drawn by a
`random.Random(seed)` from an uninterrupted run's events: after a liquidation is
triggered (mid-liquidation, its next steps not yet run), after a takeover slice is sold,
after an hour began (its interest not yet accrued), and after the k-th deposit (inside a
stretch of quiet inputs saved in batches). The killed command runs at a lower priority
(`nice`) so that the poller notices a commit before many more follow.

The scenario comes from bench/generate_scenario.py (50 accounts, 2,000 inputs: 13
liquidations, regular, mixed and takeovers waiting for `liquidity` inputs). The
uninterrupted run is made once, on SQLite; both backends' resumed runs are compared with
it (so they also agree with each other). Each kill is printed with what it interrupted
(`-s` shows it). The soak variant (LEDGER_SOAK=1: 200 accounts, 20,000 inputs, 16 kill
points) kills a larger file many more times. LEDGER_CRASH_SEED picks other kill points.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.conftest import ledger_cli
from tests.integration.test_rerun import events_table, recorded_inputs, run_ok, topic_counts, without_run

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "bench" / "generate_scenario.py"
SEED = int(os.environ.get("LEDGER_CRASH_SEED", "20260105"))
SOAK = os.environ.get("LEDGER_SOAK") == "1"
soak = pytest.mark.soak
skip_unless_soak = pytest.mark.skipif(not SOAK, reason="a soak test: set LEDGER_SOAK=1")

# Kinds of event a kill point follows: what the kill interrupts.
KILL_AFTER = {
    "Liquidation.Triggered": "mid-liquidation",
    "Liquidation.TakeoverSliceSold": "mid-takeover",
    "Clock.HourBegan": "mid-interest",
    "Account.Deposited": "mid-batch",
}
# Bookkeeping that depends on where saves began and ended, not on what was applied.
PER_SAVE = {"InputsRecorded", "InputsSaved", "ScenarioFile.LinesApplied"}
RELEASE_WAIT_SECONDS = 15  # PostgreSQL frees a killed writer's lease once it notices the closed socket
POLL_SECONDS = 0.001


# --- the scenario and its uninterrupted run ------------------------------------------------


@dataclass(frozen=True)
class Reference:
    scenario: Path
    report: dict[str, Any]
    counts: Counter[str]
    ops: Counter[str]
    inputs: int
    kinds_in_order: list[str]  # the kind of each event, in notification order


def generate(directory: Path, accounts: int, inputs: int, seed: int) -> Path:
    out = directory / f"crash_{accounts}_{inputs}_{seed}.jsonl"
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--accounts",
            str(accounts),
            "--inputs",
            str(inputs),
            "--seed",
            str(seed),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def uninterrupted(directory: Path, accounts: int, inputs: int, seed: int) -> Reference:
    scenario = generate(directory, accounts, inputs, seed)
    url = f"sqlite:///{directory / 'uninterrupted.db'}"
    report, _ = run_ok(scenario, url)
    with sqlite3.connect(directory / "uninterrupted.db") as connection:
        topics = [topic for (topic,) in connection.execute("SELECT topic FROM stored_events ORDER BY rowid")]
    connection.close()
    lines = [json.loads(line) for line in scenario.read_text().splitlines() if line.strip()]
    return Reference(
        scenario=scenario,
        report=report,
        counts=topic_counts(url),
        ops=Counter(line["op"] for line in lines),
        inputs=len(lines),
        kinds_in_order=[topic.rsplit(":", 1)[-1] for topic in topics],
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return uninterrupted(tmp_path_factory.mktemp("uninterrupted"), accounts=50, inputs=2000, seed=11)


@pytest.fixture(scope="module")
def soak_reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return uninterrupted(tmp_path_factory.mktemp("uninterrupted_soak"), accounts=200, inputs=20000, seed=5)


def kill_points(reference: Reference, rng: random.Random, kinds: list[str]) -> list[tuple[str, int]]:
    """(kind, k) pairs, one per kind in `kinds`: kill once the store holds k events of that
    kind, k drawn from `rng`; in the order the uninterrupted run reached them."""
    seen: Counter[str] = Counter()
    positions: dict[tuple[str, int], int] = {}
    for position, kind in enumerate(reference.kinds_in_order):
        seen[kind] += 1
        positions[(kind, seen[kind])] = position
    chosen: set[tuple[str, int]] = set()
    for kind, times in Counter(kinds).items():
        total = reference.counts[kind]
        assert total > 1, f"the scenario has too few {kind} events ({total})"
        # Not the last one: a kill must land before the run ends.
        chosen.update((kind, k) for k in rng.sample(range(1, total), min(times, total - 1)))
    return sorted(chosen, key=positions.__getitem__)


# --- killing a run at a point ----------------------------------------------------------------


class StoreWatch:
    """Counts a store's events of one kind, from another connection, while a run writes."""

    def __init__(self, url: str):
        self.target, self.schema, self.table = events_table(url)
        self.connection: Any = None

    def count(self, kind: str) -> int:
        topic_suffix = f"%:{kind}"
        try:
            if self.connection is None:
                self._connect()
            if self.connection is None:
                return 0
            if self.schema is None:
                row = self.connection.execute(
                    f"SELECT count(*) FROM {self.table} WHERE topic LIKE ?", (topic_suffix,)
                ).fetchone()
            else:
                row = self.connection.execute(
                    sql.SQL("SELECT count(*) FROM {}.{} WHERE topic LIKE %s").format(
                        sql.Identifier(self.schema), sql.Identifier(self.table)
                    ),
                    (topic_suffix,),
                ).fetchone()
            return int(row[0])
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
            return 0  # not created yet

    def _connect(self) -> None:
        if self.schema is None:
            if os.path.exists(self.target):  # never create the file: the run would find an empty store
                self.connection = sqlite3.connect(f"file:{self.target}?mode=rw", uri=True, timeout=30)
        else:
            self.connection = psycopg.connect(self.target, autocommit=True)

    def unprocessed(self) -> Counter[str]:
        """The kinds of the events beyond the store's tracked position: what the run's
        process manager had not yet (or not yet recorded as) processed when it stopped."""
        if self.connection is None:
            self._connect()
        if self.connection is None:
            return Counter()
        if self.schema is None:
            query = (
                f"SELECT topic FROM {self.table} WHERE rowid > "
                "(SELECT coalesce(max(notification_id), 0) FROM tracking WHERE application_name = 'ledger')"
            )
            rows = self.connection.execute(query).fetchall()
        else:
            rows = self.connection.execute(
                sql.SQL(
                    "SELECT topic FROM {schema}.{table} WHERE notification_id > "
                    "(SELECT coalesce(max(notification_id), 0) FROM {schema}.{tracking} "
                    "WHERE application_name = 'ledger')"
                ).format(
                    schema=sql.Identifier(self.schema),
                    table=sql.Identifier(self.table),
                    tracking=sql.Identifier("ledger_tracking"),
                )
            ).fetchall()
        return Counter(topic.rsplit(":", 1)[-1] for (topic,) in rows)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass
class Attempt:
    kind: str
    k: int
    returncode: int
    stderr: str
    stdout: str
    landed: Counter[str]  # the store's events by kind once killed
    unprocessed: Counter[str]  # the kinds of the events beyond the tracked position then


def run_until(scenario: Path, url: str, kind: str, k: int, workdir: Path) -> Attempt:
    """`ledger run` of the scenario, killed (SIGKILL) as soon as the store holds `k` events of
    `kind`; or left to finish, if it gets there first."""
    out, err = workdir / "stdout", workdir / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "ledger", "run", str(scenario), "--store", url, "--json"],
            stdout=stdout,
            stderr=stderr,
            cwd=ROOT,
            preexec_fn=lambda: os.nice(10),
        )
        watch = StoreWatch(url)
        try:
            while process.poll() is None:
                if watch.count(kind) >= k:
                    process.send_signal(signal.SIGKILL)
                    break
                time.sleep(POLL_SECONDS)
            process.wait(timeout=120)
            unprocessed = watch.unprocessed()
        finally:
            watch.close()
            if process.poll() is None:
                process.kill()
                process.wait()
    return Attempt(kind, k, process.returncode, err.read_text(), out.read_text(), topic_counts(url), unprocessed)


def mark_of(url: str, source: str) -> int:
    """How many of the file's inputs the store applied: the inputs it recorded from the file,
    which its `ScenarioFile` mark counts too."""
    from ledger.bootstrap import open_ledger

    app = open_ledger(url)
    try:
        recorded = sum(
            1 for record in app.recorded_inputs() if record["source"] == source and not record.get("overlay")
        )
        mark = app.file_mark(source) if hasattr(app, "file_mark") else None  # (none before the fix)
        if mark is not None:
            assert mark.inputs_applied == recorded, (mark, recorded)
        return recorded
    finally:
        app.close()


def run_when_free(scenario: Path, url: str) -> tuple[dict[str, Any], str]:
    """The next run; a killed PostgreSQL writer's lease may take a moment to be freed (exit 3)."""
    deadline = time.monotonic() + RELEASE_WAIT_SECONDS
    while True:
        result = ledger_cli("run", str(scenario), "--store", url, "--json")
        if result.returncode != 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-3000:]}"
    return json.loads(result.stdout), result.stderr


# --- the test ----------------------------------------------------------------------------------


def kill_and_resume(reference: Reference, url: str, workdir: Path, rng: random.Random, kinds: list[str]) -> list[str]:
    """Runs the file, killed once per kind of `kinds` at points drawn from `rng`, then once
    more to the end; checks every retry resumed from the store's mark. Returns what each
    kill interrupted."""
    source = reference.scenario.name
    landed: list[str] = []
    for kind, k in kill_points(reference, rng, kinds):
        before = topic_counts(url)
        if before[kind] >= k:
            continue  # an earlier kill landed past this point already
        applied_before = mark_of(url, source)
        attempt = run_until(reference.scenario, url, kind, k, workdir)
        deadline = time.monotonic() + RELEASE_WAIT_SECONDS
        while attempt.returncode == 3 and time.monotonic() < deadline:  # the killed writer's lease
            time.sleep(0.2)
            attempt = run_until(reference.scenario, url, kind, k, workdir)
        if applied_before:
            assert f"skipped {applied_before} inputs of {source}" in attempt.stderr, attempt.stderr[-2000:]
        else:
            assert "skipped" not in attempt.stderr, attempt.stderr[-2000:]
        if attempt.returncode == 0:
            landed.append(f"{KILL_AFTER[kind]} {kind} #{k}: finished before the kill")
            continue
        assert attempt.returncode == -signal.SIGKILL, f"exit {attempt.returncode}: {attempt.stderr[-3000:]}"
        assert attempt.stdout == ""
        # Nothing was applied twice, up to where it stopped either.
        for counted in ("Account.Deposited", "Account.Filled", "InputRejected"):
            assert attempt.landed[counted] <= reference.counts[counted], (counted, attempt)
        landed.append(
            f"{KILL_AFTER[kind]} {kind} #{k}: killed with {attempt.landed[kind]} of them, "
            f"{mark_of(url, source)} inputs applied, "
            f"{attempt.landed['Liquidation.Triggered'] - attempt.landed['Liquidation.Completed']} "
            f"liquidations open, {sum(attempt.landed.values())} events, not yet processed: "
            f"{dict(attempt.unprocessed)}"
        )

    applied_before = mark_of(url, source)
    assert 0 < applied_before, f"no kill left anything applied: {landed}"
    report, stderr = run_when_free(reference.scenario, url)
    assert f"skipped {applied_before} inputs of {source}" in stderr or applied_before == 0, stderr[-2000:]
    assert report["run"] == {
        "source": source,
        "skipped": applied_before,
        "applied": reference.inputs - applied_before,
    }, landed
    check_as_uninterrupted(reference, url, report, landed)
    return landed


def check_as_uninterrupted(reference: Reference, url: str, report: dict[str, Any], landed: list[str]) -> None:
    assert [(liquidation["id"], liquidation["account"]) for liquidation in report["liquidations"]] == [
        (liquidation["id"], liquidation["account"]) for liquidation in reference.report["liquidations"]
    ], landed
    assert without_run(report) == without_run(reference.report), landed

    counts = topic_counts(url)
    assert counts["Account.Deposited"] == reference.ops["deposit"], landed
    assert counts["Account.Filled"] == reference.ops["fill"], landed
    assert counts["AssetMarket.MarkRecorded"] == reference.ops["mark"], landed
    assert counts["AssetMarket.LiquidityOffered"] == reference.ops["liquidity"], landed
    domain_events = lambda found: {kind: n for kind, n in found.items() if kind not in PER_SAVE}  # noqa: E731
    assert domain_events(counts) == domain_events(reference.counts), landed

    records = [record for record in recorded_inputs(url) if not record.get("overlay")]
    lines = [(record["source"], record["line"]) for record in records]
    assert len(lines) == len(set(lines)) == reference.inputs, "a line was recorded twice, or not at all"

    reconciled = ledger_cli("reconcile", "--store", url, "--json")
    assert reconciled.returncode == 0, reconciled.stdout[-3000:] + reconciled.stderr[-2000:]
    assert json.loads(reconciled.stdout)["ok"] is True


def test_a_killed_run_run_again_ends_as_an_uninterrupted_run(
    reference: Reference, store_url: str, tmp_path: Path
) -> None:
    rng = random.Random(f"{SEED}:{store_url.split(':', 1)[0]}")
    kinds = [
        "Account.Deposited",
        "Liquidation.Triggered",
        rng.choice(["Liquidation.TakeoverSliceSold", "Clock.HourBegan"]),
    ]
    landed = kill_and_resume(reference, store_url, tmp_path, rng, kinds)
    print("\n".join(landed))


@soak
@skip_unless_soak
def test_soak_many_kills_of_a_larger_file(soak_reference: Reference, store_url: str, tmp_path: Path) -> None:
    rng = random.Random(f"soak:{SEED}:{store_url.split(':', 1)[0]}")
    kinds = [kind for kind in KILL_AFTER for _ in range(4)]
    landed = kill_and_resume(soak_reference, store_url, tmp_path, rng, kinds)
    print("\n".join(landed))
