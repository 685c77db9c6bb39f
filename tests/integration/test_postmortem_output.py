"""`ledger postmortem --output` writes a new file: an existing one only with --force,
and the store's own SQLite file (or its journals) never, --force or not. A refusal
exits 2, says why and writes nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.integration.cli_scenarios import ledger, regular_liquidations, run_json, write_scenario


@pytest.fixture
def liquidated(store_url: str, tmp_path: Path) -> tuple[str, str]:
    """(store URL, the id of its one liquidation)."""
    report = run_json(write_scenario(tmp_path / "a.jsonl", regular_liquidations("A")), store_url)
    return store_url, report["liquidations"][0]["id"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("output_format", ["table", "json", "html"])
def test_an_existing_file_is_kept_without_force(
    liquidated: tuple[str, str], tmp_path: Path, output_format: str
) -> None:
    store_url, liquidation_id = liquidated
    existing = tmp_path / "notes.txt"
    existing.write_text("my notes\n")
    result = ledger(
        "postmortem", liquidation_id, "--store", store_url, "--format", output_format, "--output", str(existing)
    )
    assert result.exit_code == 2, (result.stdout, result.exception)
    assert f"--output {existing}: the file exists; --force replaces it" in result.stderr
    assert existing.read_text() == "my notes\n"


def test_force_replaces_an_existing_file(liquidated: tuple[str, str], tmp_path: Path) -> None:
    store_url, liquidation_id = liquidated
    existing = tmp_path / "postmortem.json"
    existing.write_text("old\n")
    result = ledger(
        "postmortem", liquidation_id, "--store", store_url, "--format", "json", "--output", str(existing), "--force"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(existing.read_text())["liquidation"]["id"] == liquidation_id


def test_a_new_file_is_written(liquidated: tuple[str, str], tmp_path: Path) -> None:
    store_url, liquidation_id = liquidated
    page = tmp_path / "postmortem.html"
    result = ledger("postmortem", liquidation_id, "--store", store_url, "--format", "html", "--output", str(page))
    assert result.exit_code == 0, result.stderr
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_the_store_file_is_never_written_over(tmp_path: Path) -> None:
    database = tmp_path / "ledger.db"
    store_url = f"sqlite:///{database}"
    report = run_json(write_scenario(tmp_path / "a.jsonl", regular_liquidations("A")), store_url)
    liquidation_id = report["liquidations"][0]["id"]
    link = tmp_path / "link.db"
    link.symlink_to(database)
    before = digest(database)
    for target in (database, link, Path(f"{database}-wal"), tmp_path / "." / "ledger.db"):
        for force in ([], ["--force"]):
            result = ledger(
                "postmortem", liquidation_id, "--store", store_url, "--format", "json", "--output", str(target), *force
            )
            assert result.exit_code == 2, (target, force, result.stdout)
            assert "is the store's own file" in result.stderr and "never written over" in result.stderr
            assert digest(database) == before
    assert not Path(f"{database}-wal").exists()
    assert ledger("reconcile", "--store", store_url).exit_code == 0
