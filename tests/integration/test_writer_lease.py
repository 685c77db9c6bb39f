"""The writer lease: one writer per store at a time; a second one is refused at once
(StoreBusy, naming the holder's pid), and a holder that dies frees the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from ledger.store import (
    EXIT_STORE_BUSY,
    StoreBusy,
    StoreUnavailable,
    StoreURLError,
    lease_key,
    parse_postgres,
    redacted,
    store_exists,
    writer_lease,
)
from tests.conftest import BACKENDS, POSTGRES_ADMIN, SCENARIOS, ledger_cli

RELEASE_WAIT_SECONDS = 10  # PostgreSQL ends a dead client's session when it notices the closed socket

HOLDER = """
import sys, time
from ledger.store import writer_lease
with writer_lease(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def start_holder(url: str) -> subprocess.Popen[str]:
    """Another process holding the lease until it is killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2]
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def refusal(url: str) -> StoreBusy:
    started = time.monotonic()
    with pytest.raises(StoreBusy) as busy:
        with writer_lease(url):
            pytest.fail("a second writer got the lease")
    assert time.monotonic() - started < 2, "a second writer must be refused at once, not wait"
    return busy.value


def take_when_free(url: str) -> None:
    """The lease is taken once the store is free again (a dead holder may need a moment)."""
    deadline = time.monotonic() + RELEASE_WAIT_SECONDS
    while True:
        try:
            with writer_lease(url):
                return
        except StoreBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def other_store(url: str, tmp_path: Path) -> str:
    if url.startswith("sqlite:///"):
        return f"sqlite:///{tmp_path / 'other.db'}"
    return f"{url.split('?')[0]}?schema=t_{uuid.uuid4().hex[:12]}"


def test_the_exit_code_of_a_busy_store_is_its_own() -> None:
    assert EXIT_STORE_BUSY == 3


def test_a_second_writer_in_the_same_process_is_refused_at_once(store_url: str) -> None:
    with writer_lease(store_url):
        busy = refusal(store_url)
    message = str(busy)
    assert message == (
        f"store {redacted(store_url)} is being written by another ledger process "
        f"(pid {os.getpid()}); try again when it has finished"
    )
    assert busy.pid == os.getpid()
    with writer_lease(store_url):  # released on exit
        pass


def test_a_lease_is_released_when_its_block_raises(store_url: str) -> None:
    with pytest.raises(RuntimeError):
        with writer_lease(store_url):
            raise RuntimeError("the run failed")
    with writer_lease(store_url):
        pass


def test_a_writer_in_another_process_is_named_and_its_death_frees_the_store(store_url: str) -> None:
    holder = start_holder(store_url)
    try:
        assert refusal(store_url).pid == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)  # no clean-up runs: the OS or the server must free it
        holder.wait()
    take_when_free(store_url)


def test_two_stores_have_two_leases(store_url: str, tmp_path: Path) -> None:
    with writer_lease(store_url), writer_lease(other_store(store_url, tmp_path)):
        pass


def test_the_lease_does_not_create_the_store(store_url: str) -> None:
    with writer_lease(store_url):
        assert not store_exists(store_url)
    assert not store_exists(store_url)


def test_a_bad_url_is_refused_before_any_lock_is_taken(tmp_path: Path) -> None:
    scenario = tmp_path / "seed.jsonl"
    scenario.write_bytes((SCENARIOS / "seed004_user_a.jsonl").read_bytes())
    for url, fragment in (
        (f"sqlite:///{tmp_path / 'missing' / 'ledger.db'}", "does not exist"),
        (f"sqlite:///{scenario}", "is not a ledger store"),
        ("postgresql://postgres@127.0.0.1:99999/db", "port"),
        ("mysql://root@localhost/ledger", "neither"),
    ):
        with pytest.raises(StoreURLError, match=fragment):
            with writer_lease(url):
                pytest.fail(f"a lease on {url}")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["seed.jsonl"]


def test_the_sqlite_lease_is_a_file_beside_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with writer_lease(url):
        assert (tmp_path / "ledger.db.lock").read_text().strip() == str(os.getpid())
        assert not (tmp_path / "ledger.db").exists()
    assert (tmp_path / "ledger.db.lock").exists()  # kept: removing it would race the next writer


# --- PostgreSQL only ----------------------------------------------------------------------


@pytest.fixture
def postgres_base(postgres_database: str) -> str:
    if "postgres" not in BACKENDS:
        pytest.skip("PostgreSQL is not among the test backends")
    return postgres_database


def test_a_lease_on_a_database_not_yet_created_creates_nothing(postgres_base: str) -> None:
    server = postgres_base.rsplit("/", 1)[0]
    name = f"ledger_lease_{uuid.uuid4().hex[:12]}"
    with writer_lease(f"{server}/{name}"):
        refusal(f"{server}/{name}")
    with psycopg.connect(POSTGRES_ADMIN) as connection:
        assert connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None


def test_a_busy_message_does_not_show_the_password(postgres_base: str) -> None:
    # the machine's server trusts local connections: the password is carried, not checked
    url = postgres_base.replace("postgresql://postgres@", "postgresql://postgres:s3cret@") + "?schema=t_secret"
    with writer_lease(url):
        message = str(refusal(url))
    assert "postgresql://postgres:***@" in message and "s3cret" not in message


def test_a_lease_its_last_holder_is_still_letting_go_of_is_taken_not_refused(postgres_base: str) -> None:
    """PostgreSQL frees a closed session's advisory locks when its backend exits, a
    moment after the client has gone: the next writer (`ledger run` after `ledger run`)
    must not be refused for it."""
    url = f"{postgres_base}?schema=t_{uuid.uuid4().hex[:12]}"
    leaving = psycopg.connect(postgres_base.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    leaving.execute("SELECT pg_advisory_lock(%s)", (lease_key(parse_postgres(url)),))
    letting_go = threading.Timer(0.2, leaving.close)
    letting_go.start()
    try:
        with writer_lease(url):
            pass
    finally:
        letting_go.join()


def test_an_unreachable_server_is_named(postgres_base: str) -> None:
    with pytest.raises(StoreUnavailable, match=r"postgresql://postgres:\*\*\*@127\.0\.0\.1:1/db"):
        with writer_lease("postgresql://postgres:s3cret@127.0.0.1:1/db"):
            pass


# --- through the command ------------------------------------------------------------------


def test_a_losing_ledger_run_exits_at_once_with_its_own_code(store_url: str) -> None:
    with writer_lease(store_url):
        completed = ledger_cli("run", str(SCENARIOS / "seed004_user_a.jsonl"), "--store", store_url, "--json")
        assert completed.returncode == EXIT_STORE_BUSY, completed.stderr
        assert "is being written by another ledger process" in completed.stderr
        assert "Traceback" not in completed.stderr and completed.stdout == ""
        assert not store_exists(store_url)
