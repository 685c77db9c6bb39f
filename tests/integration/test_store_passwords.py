"""A password in a store URL is never echoed in an error message: each command that
cannot use a store names its URL with the password as `***`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import POSTGRES_ADMIN
from tests.conftest import ledger_cli as ledger

PASSWORD = "s3cr3t-pw"


@pytest.fixture
def missing_store() -> str:
    """A PostgreSQL store URL with a password, naming a database that does not exist (the
    machine's server trusts local connections, so the password is not what fails)."""
    server = urlsplit(POSTGRES_ADMIN)
    user = server.username or "postgres"
    netloc = f"{user}:{PASSWORD}@{server.netloc.rpartition('@')[2]}"
    return urlunsplit(server._replace(netloc=netloc, path=f"/ledger_missing_{uuid.uuid4().hex[:12]}"))


def commands(tmp_path: Path) -> list[list[str]]:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({}))
    return [
        ["history", "A"],
        ["postmortem", "0e67"],
        ["reconcile"],
        ["liquidations"],
        ["project", "--once"],
        ["replay", "--params", str(params)],
    ]


@pytest.mark.parametrize(
    "index", range(6), ids=["history", "postmortem", "reconcile", "liquidations", "project", "replay"]
)
def test_no_command_echoes_the_password(missing_store: str, tmp_path: Path, index: int) -> None:
    completed = ledger(*commands(tmp_path)[index], "--store", missing_store)
    assert completed.returncode == 2, completed.stdout
    assert f"no store at {missing_store.replace(PASSWORD, '***')}" in completed.stderr, completed.stderr
    assert PASSWORD not in completed.stderr + completed.stdout
