"""Fixtures: a fresh store per test, on SQLite and on the machine's PostgreSQL.

Every test that takes `store_url` runs twice, once per backend. PostgreSQL
tests share one database created for this session (dropped at the end), each
test in a schema of its own, so runs never see each other's data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ledger.application import Ledger
from ledger.bootstrap import open_ledger
from ledger.processes.inline import ProcessManager, run_inputs
from ledger.runs import validate
from projections.report import StoreViews

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SCENARIOS = SHARED / "scenarios"
POSTGRES_ADMIN = os.environ.get("LEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = os.environ.get("LEDGER_TEST_BACKENDS", "sqlite,postgres").split(",")


def ledger_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The `ledger` command as other tools run it: a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def seeds_one_after_another(directory: Path) -> list[Path]:
    """The three seed scenarios as files for one store: the store has one clock, so seed B
    runs a day after seed A and seed C a day after B (each a file of its own name)."""
    files = []
    for days, name in enumerate(("a", "b", "c")):
        lines = (SCENARIOS / f"seed004_user_{name}.jsonl").read_text().splitlines()
        shifted = directory / f"seed004_user_{name}.jsonl"
        shifted.write_text(
            "".join(json.dumps(_later_by(json.loads(line), days)) + "\n" for line in lines if line.strip())
        )
        files.append(shifted)
    return files


def _later_by(line: dict[str, Any], days: int) -> dict[str, Any]:
    if "at" not in line:
        return line
    moment = datetime.fromisoformat(line["at"].replace("Z", "+00:00")) + timedelta(days=days)
    return {**line, "at": moment.isoformat().replace("+00:00", "Z")}


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database for this test session: its base URL, without schema. With
    LEDGER_TEST_BACKENDS=sqlite, the tests that need PostgreSQL are skipped."""
    if "postgres" not in BACKENDS:
        pytest.skip("PostgreSQL is not among LEDGER_TEST_BACKENDS")
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    database = request.getfixturevalue("postgres_database")
    return f"{database}?schema=t_{uuid.uuid4().hex[:12]}"


def apply_lines(url: str, lines: list[dict[str, Any]] | list[str], source: str) -> None:
    """Applies inputs (objects, or lines already written) as `ledger run` does, without the views."""
    app = open_ledger(url)
    try:
        text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
        run_inputs(app, validate(app, text, source))
    finally:
        app.close()


class LedgerSession:
    """A store opened as `ledger run` opens it, for tests that feed inputs."""

    def __init__(self, url: str):
        self.url = url
        self.app: Ledger = open_ledger(url)
        self.processes = ProcessManager(self.app)
        self.views: StoreViews | None = None  # opened at the first report
        self.runs = 0

    def run(self, text: str, source: str | None = None) -> dict[str, Any]:
        self.runs += 1
        # Each run a file of its own: a store skips the lines of a file it applied before.
        inputs = validate(self.app, text, source or f"test-{self.runs}-{uuid.uuid4().hex[:8]}")
        run_inputs(self.app, inputs, self.processes)
        return self.report()

    def report(self) -> dict[str, Any]:
        """The report of `ledger run`, from the store's views brought up to date."""
        if self.views is None:
            self.views = StoreViews(self.url)
        return self.views.report()

    def run_lines(self, *lines: dict[str, Any]) -> dict[str, Any]:
        return self.run("\n".join(json.dumps(line) for line in lines))

    def reopen(self) -> LedgerSession:
        self.close()
        return LedgerSession(self.url)

    def close(self) -> None:
        self.app.close()
        if self.views is not None:
            self.views.close()
            self.views = None


@pytest.fixture
def ledger_session(store_url: str) -> Iterator[LedgerSession]:
    session = LedgerSession(store_url)
    yield session
    session.close()


@pytest.fixture
def make_session(store_url: str) -> Callable[[], LedgerSession]:
    return lambda: LedgerSession(store_url)
