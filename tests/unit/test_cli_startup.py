"""What a `ledger` command imports as it starts: tests and users start the CLI many
times, and each start pays for every module it imports. The service's Celery and Redis,
Alembic (when the views are at the latest migration already), FastAPI and uvicorn are
imported only by the commands that use them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from projections.database import alembic_config, head_revision, migrate

# Only `ledger worker`, `beat`, `dispatcher`, `submit`, `api` and a migration need these.
SERVICE_AND_SERVER_MODULES = ("celery", "kombu", "redis", "alembic", "fastapi", "uvicorn", "pydantic_settings")


def modules_loaded_by(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported once it ran `code`."""
    printed = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name.split(".")[0] for name in printed.split()}


def test_the_head_read_from_the_scripts_is_alembics_head() -> None:
    engine = create_engine("sqlite://")
    try:
        assert head_revision() == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    finally:
        engine.dispose()


def test_a_command_of_the_ledger_imports_no_service_or_server_module() -> None:
    # what `ledger run` imports: its command's module alone (the service's commands import
    # Celery at their module's top, as project modules are never imported inside a function)
    loaded = modules_loaded_by(
        "import ledger.entrypoints.cli\nledger.entrypoints.cli.app(['run', '--help'], standalone_mode=False)"
    )
    assert loaded.isdisjoint(SERVICE_AND_SERVER_MODULES), sorted(loaded & set(SERVICE_AND_SERVER_MODULES))


def test_views_at_the_latest_migration_are_opened_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'views.db'}"
    engine = create_engine(url)
    try:
        migrate(engine)  # a new store: Alembic creates the tables
    finally:
        engine.dispose()
    opened = (
        "from sqlalchemy import create_engine\n"
        "from projections.database import migrate\n"
        f"migrate(create_engine({url!r}))"
    )
    assert "alembic" not in modules_loaded_by(opened)
