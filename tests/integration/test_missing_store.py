"""A missing store is created by a valid run, and not at all by a file with input errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ledger.store import store_exists


def _run(scenario: Path, store_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger", "run", str(scenario), "--store", store_url, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )


def test_an_input_error_does_not_create_the_store(store_url: str, tmp_path: Path) -> None:
    scenario = tmp_path / "bad.jsonl"
    scenario.write_text('{"op": "open", "account": "A", "mode": "spot"}\n{"op": "teleport"}\n')
    completed = _run(scenario, store_url)
    assert completed.returncode == 2
    assert completed.stderr.strip() == 'line 2: op: unknown op "teleport"'
    assert not store_exists(store_url)


def test_a_valid_run_creates_the_store(store_url: str, tmp_path: Path) -> None:
    scenario = tmp_path / "good.jsonl"
    scenario.write_text('{"op": "open", "account": "A", "mode": "spot"}\n')
    assert _run(scenario, store_url).returncode == 0
    assert store_exists(store_url)
