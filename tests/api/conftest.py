"""The API's tests run against one real server per session: `python -m ledger api` (uvicorn)
on 127.0.0.1 and a free port, serving a PostgreSQL store of its own (a schema of the
session's database, `postgres_database`, dropped with it). Fixtures:

- `api_url`: the server's base URL, once `/health` answers 200;
- `client`: an httpx client on it (no key: pass `headers=bearer(key)`);
- `role_keys` / `viewer_key` / `operator_key` / `admin_key`: a key of each role, made
  with `projections.api_keys.create_key` as `ledger keys create` makes them;
- `api_store_url` and `api_engine`: the store, to look at what was (not) written.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from ledger.store import sql_engine
from projections.api_keys import Role, create_key
from projections.report import StoreViews

SERVER_START_SECONDS = 90  # the machine is shared: a cold start of Python may take a while
TEST_ACTOR = "api-tests"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def api_store_url(postgres_database: str) -> str:
    url = f"{postgres_database}?schema=api"
    with StoreViews(url):  # creates the store and its tables, as `ledger migrate` does
        pass
    return url


@pytest.fixture(scope="session")
def api_engine(api_store_url: str) -> Iterator[Engine]:
    engine = sql_engine(api_store_url)
    yield engine
    engine.dispose()


@contextmanager
def running_server(store: str, log_directory: Path) -> Iterator[str]:
    """`python -m ledger api` on a free port of 127.0.0.1, serving `store`: its URL once it
    answers /health (any answer: a store that cannot serve is answered 503), until the block ends."""
    port = free_port()
    log_path = log_directory / f"server-{port}.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "ledger", "api", "--port", str(port), "--store", store],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, server, log_path)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for_health(url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"`ledger api` exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            httpx.get(f"{url}/health", timeout=5)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"`ledger api` did not answer /health in {SERVER_START_SECONDS} s:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def api_url(api_store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(api_store_url, tmp_path_factory.mktemp("api")) as url:
        assert httpx.get(f"{url}/health").status_code == 200
        yield url


@pytest.fixture(scope="session")
def client(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as session_client:
        yield session_client


@pytest.fixture(scope="session")
def role_keys(api_engine: Engine) -> dict[Role, str]:
    """A key of each role, named after it (`test-viewer`, ...)."""
    return {role: create_key(api_engine, f"test-{role.value}", role, created_by=TEST_ACTOR)[1] for role in Role}


@pytest.fixture(scope="session")
def viewer_key(role_keys: dict[Role, str]) -> str:
    return role_keys[Role.VIEWER]


@pytest.fixture(scope="session")
def operator_key(role_keys: dict[Role, str]) -> str:
    return role_keys[Role.OPERATOR]


@pytest.fixture(scope="session")
def admin_key(role_keys: dict[Role, str]) -> str:
    return role_keys[Role.ADMIN]
