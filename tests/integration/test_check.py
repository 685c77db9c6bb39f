"""`ledger check FILE`: what `ledger run` would refuse and skip, with nothing written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import psycopg
from psycopg import sql

from tests.conftest import SCENARIOS, ledger_cli

SEED_B = SCENARIOS / "seed004_user_b.jsonl"


def store_state(store_url: str) -> str:
    """The store as bytes (SQLite) or as rows (PostgreSQL), to compare before and after."""
    if store_url.startswith("sqlite:///"):
        path = Path(store_url[len("sqlite:///") :])
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
    base, _, schema = store_url.partition("?schema=")
    with psycopg.connect(base) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (schema,)
            )
        ]
        counts = [
            connection.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchone()[0]
            for table in tables
        ]
    return json.dumps(dict(zip(tables, counts)))


def check(store_url: str, scenario: Path) -> tuple[int, dict | None, str]:
    completed = ledger_cli("check", str(scenario), "--store", store_url, "--json")
    document = json.loads(completed.stdout) if completed.returncode == 0 else None
    return completed.returncode, document, completed.stderr


def test_a_new_store_is_not_created(store_url: str) -> None:
    before = store_state(store_url)
    code, summary, _ = check(store_url, SEED_B)
    assert code == 0
    assert summary == {
        "source": SEED_B.name,
        "valid": True,
        "skipped": 0,
        "skipped_through_line": 0,
        "to_apply": 8,
        "first_line": 1,
        "last_line": 8,
    }
    assert store_state(store_url) == before


def test_applied_lines_are_named_as_skipped_and_nothing_is_written(store_url: str, tmp_path: Path) -> None:
    scenario = tmp_path / SEED_B.name
    scenario.write_text(SEED_B.read_text())
    assert ledger_cli("run", str(scenario), "--store", store_url, "--json").returncode == 0
    with scenario.open("a") as file:
        file.write(json.dumps({"op": "deposit", "account": "B", "asset": "USDC", "amount": "5"}) + "\n")
    before = store_state(store_url)
    code, summary, _ = check(store_url, scenario)
    assert code == 0
    assert summary["skipped"] == 8 and summary["skipped_through_line"] == 8
    assert (summary["to_apply"], summary["first_line"], summary["last_line"]) == (1, 9, 9)
    assert store_state(store_url) == before


def test_what_run_would_refuse_is_listed_with_exit_2(store_url: str, tmp_path: Path) -> None:
    assert ledger_cli("run", str(SEED_B), "--store", store_url, "--json").returncode == 0
    before = store_state(store_url)
    scenario = tmp_path / "later.jsonl"
    scenario.write_text(
        json.dumps({"op": "deposit", "account": "B", "asset": "USDC", "amount": "1e52"})
        + "\n"
        + json.dumps({"op": "deposit", "account": "nobody", "asset": "USDC", "amount": "1"})
        + "\n"
    )
    code, _, stderr = check(store_url, scenario)
    assert code == 2
    assert [line.split(":")[0] for line in stderr.splitlines()] == ["line 1", "line 2"]
    assert "unknown account" in stderr
    assert store_state(store_url) == before
