"""A running service for tests: `ledger worker` and `ledger dispatcher` as processes of
their own, against the machine's Redis and PostgreSQL (or a private Redis, for tests
that stop it), each test with a store schema and a Celery queue of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

from ledger.bootstrap import open_service_ledger
from ledger.store import parse_postgres
from tests.conftest import SCENARIOS, ledger_cli
from workers.app import create_celery_app
from workers.settings import ServiceSettings

MACHINE_REDIS = os.environ.get("LEDGER_TEST_REDIS", "redis://127.0.0.1:6379")
READY_SECONDS = 60.0


class Service:
    """A store and the processes that serve it."""

    def __init__(self, store: str, logs: Path, redis_url: str = MACHINE_REDIS, **settings: str):
        self.store = store
        self.logs = logs
        self.env = {
            "LEDGER_STORE": store,
            "LEDGER_QUEUE": f"test-{uuid.uuid4().hex[:12]}",
            "LEDGER_BROKER_URL": f"{redis_url}/0",
            "LEDGER_RESULT_BACKEND": f"{redis_url}/1",
            "LEDGER_REDISPATCH_AFTER_SECONDS": "3",
            "LEDGER_DISPATCH_POLL_SECONDS": "0.01",
            **{f"LEDGER_{name.upper()}": value for name, value in settings.items()},
        }
        self.workers: list[subprocess.Popen[bytes]] = []
        self.dispatchers: list[subprocess.Popen[bytes]] = []
        self.started = 0
        result = ledger_cli("migrate", "--store", store)
        assert result.returncode == 0, result.stderr

    # --- processes ---

    def start_worker(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        process = self._start("worker", "--concurrency", str(concurrency), ready="ready.")
        self.workers.append(process)
        return process

    def start_dispatcher(self) -> subprocess.Popen[bytes]:
        process = self._start("dispatcher", ready='"started"')
        self.dispatchers.append(process)
        return process

    def start_beat(self) -> subprocess.Popen[bytes]:
        process = self._start("beat", ready="beat: Starting")
        self.dispatchers.append(process)
        return process

    def log_lines(self, command: str) -> list[str]:
        return [
            line
            for log in sorted(self.logs.glob(f"{command}-*.log"))
            for line in log.read_text(errors="replace").splitlines()
            if line.strip()
        ]

    def _start(self, command: str, *args: str, ready: str) -> subprocess.Popen[bytes]:
        self.started += 1
        log = self.logs / f"{command}-{self.started}.log"  # standard error: the JSON log lines
        with log.open("wb") as errors, (self.logs / f"{command}-{self.started}.out").open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "ledger", command, *args],
                env={**os.environ, **self.env},
                stdout=output,
                stderr=errors,
                start_new_session=True,
            )  # its own process group, children included
        deadline = time.monotonic() + READY_SECONDS
        while ready not in log.read_text(errors="replace"):
            assert process.poll() is None, f"{command} exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"{command} not ready:\n{log.read_text()}"
            time.sleep(0.05)
        return process

    @staticmethod
    def kill(process: subprocess.Popen[bytes], signal_number: int = signal.SIGKILL) -> None:
        """The process and every child it forked (a worker's pool)."""
        try:
            os.killpg(process.pid, signal_number)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def stop(self) -> None:
        for process in self.workers + self.dispatchers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.workers + self.dispatchers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(process)
        self._delete_queue()

    def _delete_queue(self) -> None:
        """What this test left in Redis: its queue and the queue's bindings."""
        queue = self.env["LEDGER_QUEUE"]
        try:
            client = redis.Redis.from_url(self.env["LEDGER_BROKER_URL"], socket_connect_timeout=2)
            client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        except redis.exceptions.ConnectionError:
            pass  # a private Redis, stopped already

    # --- driving it ---

    def submit(self, scenario: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return ledger_cli("submit", str(scenario), *args, env=self.env)

    def submit_in_background(self, scenario: Path, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "ledger", "submit", str(scenario), "--json", *args],
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_for_events(self, topic_suffix: str, at_least: int, seconds: float = 120.0) -> int:
        deadline = time.monotonic() + seconds
        while (count := self.count_events(topic_suffix)) < at_least:
            assert time.monotonic() < deadline, f"fewer than {at_least} {topic_suffix}:\n{self.log_tail()}"
            time.sleep(0.01)
        return count

    def submit_report(self, scenario: Path, *args: str, timeout: float = 120.0) -> dict[str, Any]:
        result = self.submit(scenario, "--json", "--timeout", str(timeout), *args)
        assert result.returncode == 0, result.stderr + self.log_tail()
        return json.loads(result.stdout)

    def settings(self) -> ServiceSettings:
        values = {name[len("LEDGER_") :].lower(): value for name, value in self.env.items()}
        return ServiceSettings(
            **{name: value for name, value in values.items() if name in ServiceSettings.model_fields}
        )

    def celery(self) -> Any:
        """A Celery app of the test process, sending to this service's queue."""
        return create_celery_app(self.settings())

    def ledger(self) -> Any:
        return open_service_ledger(self.store)

    def count_events(self, topic_suffix: str) -> int:
        target = parse_postgres(self.store)
        with psycopg.connect(target.conninfo()) as connection:
            query = sql.SQL("SELECT count(*) FROM {}.ledger_events WHERE topic LIKE %s").format(
                sql.Identifier(target.schema)
            )
            return connection.execute(query, ("%" + topic_suffix,)).fetchone()[0]  # type: ignore[index]

    def notification_ids(self, topic_suffix: str) -> list[int]:
        target = parse_postgres(self.store)
        with psycopg.connect(target.conninfo()) as connection:
            query = sql.SQL(
                "SELECT notification_id FROM {}.ledger_events WHERE topic LIKE %s ORDER BY notification_id"
            ).format(sql.Identifier(target.schema))
            return [row[0] for row in connection.execute(query, ("%" + topic_suffix,))]

    def events_per_originator(self, topic_suffix: str) -> dict[str, int]:
        target = parse_postgres(self.store)
        with psycopg.connect(target.conninfo()) as connection:
            query = sql.SQL(
                "SELECT originator_id, count(*) FROM {}.ledger_events WHERE topic LIKE %s GROUP BY originator_id"
            ).format(sql.Identifier(target.schema))
            return {str(row[0]): row[1] for row in connection.execute(query, ("%" + topic_suffix,))}

    def log_tail(self, lines: int = 30) -> str:
        text = []
        for log in sorted(self.logs.glob("*.log")):
            text.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(text)


@pytest.fixture
def service_store(postgres_database: str) -> str:
    return f"{postgres_database}?schema=svc_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_service(service_store: str, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    services: list[Service] = []

    def make(redis_url: str = MACHINE_REDIS, **settings: str) -> Service:
        service = Service(service_store, tmp_path, redis_url, **settings)
        services.append(service)
        return service

    yield make
    for service in services:
        service.stop()


@pytest.fixture
def service(make_service: Callable[..., Service]) -> Service:
    return make_service()


def inline_report(scenario: Path, tmp_path: Path) -> dict[str, Any]:
    """What `ledger run` reports for the scenario, on a SQLite store of its own."""
    result = ledger_cli("run", str(scenario), "--store", f"sqlite:///{tmp_path / 'inline.db'}", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


SEEDS = sorted(SCENARIOS.glob("seed*.jsonl"))
