"""`ledger replay`, `ledger reconcile` and `ledger project --rebuild` show a progress bar on
standard error when it is a terminal, and only then: with --json, standard output is one JSON document either way,
and standard error not a terminal gets no bar."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ledger_cli
from tests.integration.cli_scenarios import regular_liquidations, write_scenario


@pytest.fixture
def commands(store_url: str, tmp_path: Path) -> dict[str, list[str]]:
    """A store two liquidations happened in, and the two commands, --json, on it."""
    scenario = write_scenario(tmp_path / "two.jsonl", regular_liquidations("A", "B"))
    assert ledger_cli("run", str(scenario), "--store", store_url, "--json").returncode == 0
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"margin": {"cross_classic": {"5": {"fee": "0.03"}}}}))
    return {
        "reconcile": ["reconcile", "--store", store_url, "--json"],
        "replay": ["replay", "--params", str(params), "--store", store_url, "--json"],
        "project": ["project", "--rebuild", "--store", store_url, "--json"],
    }


BARS = {
    "reconcile": ["replaying the store's events"],
    "replay": ["reading the store's events", "replaying the inputs", "reading the replay's events"],
    "project": ["rebuilding views"],
}


@pytest.mark.parametrize("command", ["reconcile", "replay", "project"])
def test_without_a_terminal_there_is_no_bar(commands: dict[str, list[str]], command: str) -> None:
    completed = ledger_cli(*commands[command])
    assert completed.returncode == 0, completed.stderr
    json.loads(completed.stdout)  # exactly one JSON document
    assert completed.stderr == ""


@pytest.mark.parametrize("command", ["reconcile", "replay", "project"])
def test_a_terminal_on_standard_error_shows_the_bars(commands: dict[str, list[str]], command: str) -> None:
    stdout, stderr, code = run_with_terminal_stderr(commands[command])
    assert code == 0, stderr
    json.loads(stdout)  # standard output, a pipe: still exactly one JSON document
    for bar in BARS[command]:
        assert bar in stderr, stderr


def run_with_terminal_stderr(args: list[str]) -> tuple[str, str, int]:
    """Runs `ledger ARGS` with standard error on a pseudo-terminal (standard output a pipe):
    what each received and the exit code."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger", *args],
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "120"},
    )
    os.close(terminal)
    received = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 120)
        if not ready:
            process.kill()
            raise AssertionError("the command wrote nothing to its terminal for two minutes")
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: every process holding it has ended
            break
        if not chunk:
            break
        received += chunk
    os.close(controller)
    stdout, _ = process.communicate(timeout=120)
    return stdout, received.decode(errors="replace"), process.returncode
