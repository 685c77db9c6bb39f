"""The service mode's commands: `ledger submit`, `worker`, `beat` and `dispatcher`.
They only translate: arguments and `LEDGER_*` settings in, the service called."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from pydantic import ValidationError

from ledger.bootstrap import ServiceStoreError, open_service_ledger
from ledger.entrypoints.cli_errors import err, exit_input_errors, exit_usage
from ledger.entrypoints.cli_shared import ActorOption, JsonOption, ScenarioArgument, actor_name, held_writer_lease
from ledger.files import InputFileError, read_scenario
from ledger.inputs import InputErrors
from ledger.processes.service import ServiceNotSettled, Submission, wait_until_settled
from ledger.runs import plan
from ledger.store import StoreURLError, redacted
from projections.presentation.report import print_report
from projections.report import build_report
from workers.app import create_celery_app
from workers.dispatcher import Dispatcher
from workers.logs import configure_logging, logger
from workers.settings import ServiceSettings

ServiceStoreOption = Annotated[
    str | None,
    typer.Option("--store", help="The service's PostgreSQL store (default $LEDGER_STORE, else the settings' default)"),
]
SETTLE_CHOICES = ("each", "end", "none")
SUPERVISED = "LEDGER_WORKER_SUPERVISED"  # set in the Celery worker that `ledger worker` watches over


def submit(
    scenario: ScenarioArgument,
    store: ServiceStoreOption = None,
    settle: Annotated[
        str,
        typer.Option(
            "--settle",
            help="Wait for the service after each input (each: the results of `ledger run`), "
            "only at the end (end), or not at all (none)",
        ),
    ] = "each",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the service each time")] = 120.0,
    as_json: JsonOption = False,
    actor: ActorOption = None,
) -> None:
    """Appends a scenario's inputs one by one to a running service's store; the workers run the processes."""
    submitter = actor_name(actor)
    if settle not in SETTLE_CHOICES:
        exit_usage(f"--settle {settle}: use each, end or none")
    settings = _settings(store)
    try:
        text = read_scenario(scenario)
        ledger = open_service_ledger(settings.store)
    except (InputFileError, StoreURLError, ServiceStoreError, psycopg.OperationalError) as exc:
        exit_usage(str(exc))

    def wait() -> None:
        wait_until_settled(ledger, timeout)

    # Inputs enter a store one writer after the other (`ledger run`, `POST /inputs`): the
    # plan is made and the inputs appended under the writer lease.
    with held_writer_lease(settings.store):
        try:
            planned = plan(ledger, text, scenario.name).submitted_by(submitter)
        except InputErrors as errors:
            exit_input_errors(errors)
        submission = Submission(
            ledger,
            wait,
            settle_each=settle == "each",
            on_wait=lambda error: err.print(f"waiting for the store: {error}"),
        )
        try:
            submitted = sum(1 for _ in submission.submit(planned.inputs))
            if settle != "none":
                wait()
        except ServiceNotSettled as exc:
            err.print(f"error: {exc}")
            raise typer.Exit(1) from None
    if settle == "none":
        summary = {"submitted": submitted, "store": redacted(settings.store)}
        sys.stdout.write(json.dumps(summary) + "\n") if as_json else err.print(f"submitted {submitted} inputs")
        return
    report = build_report(ledger)
    report["run"] = {"source": planned.source, "skipped": planned.skipped, "applied": submitted}
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        print_report(report)


def worker(
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Worker processes")] = None,
    store: ServiceStoreOption = None,
) -> None:
    """A Celery worker of the service: runs the process tasks."""
    settings = _settings(store)
    configure_logging()  # from the start: Celery warns before it sets up its logging
    if os.environ.get(SUPERVISED) != "1":
        _supervise(["worker", *(["--concurrency", str(concurrency)] if concurrency else [])])
        return
    create_celery_app(settings).worker_main(
        [
            "--quiet",
            "worker",
            "--loglevel=INFO",  # --quiet: no banner, only JSON lines
            f"--concurrency={concurrency or settings.worker_concurrency}",
            "--queues",
            settings.queue,
            "--without-gossip",
            "--without-mingle",
        ]
    )


def _supervise(arguments: list[str]) -> None:
    """Runs the Celery worker as a child and starts it again when it dies on its own:
    Celery/kombu can stop with "Unrecoverable error" when Redis goes away mid-call
    (celery/kombu issues #582, #970). The tasks it held come back, by redelivery or
    from the dispatcher. SIGTERM and SIGINT are passed on and end both."""
    log = logger("worker-supervisor")
    stopping = threading.Event()
    child: list[subprocess.Popen[bytes]] = []

    def stop(signal_number: int, _frame: object) -> None:
        stopping.set()
        if child and child[0].poll() is None:
            child[0].send_signal(signal_number)

    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, stop)
    while not stopping.is_set():
        child[:] = [subprocess.Popen([sys.executable, "-m", "ledger", *arguments], env={**os.environ, SUPERVISED: "1"})]
        code = child[0].wait()
        if stopping.is_set():
            break
        log.error("worker exited; starting it again", exit_code=code)
        stopping.wait(1.0)
    raise typer.Exit(0)


def beat(store: ServiceStoreOption = None) -> None:
    """Celery beat: advances the ledger's clock every LEDGER_CLOCK_TICK_SECONDS, which starts each hour's interest."""
    celery_app = create_celery_app(_settings(store))
    configure_logging()
    # What was run last needs no keeping: the clock's own state is in the store.
    with tempfile.TemporaryDirectory(prefix="ledger-beat-") as folder:
        celery_app.start(
            [
                "--quiet",
                "beat",
                "--loglevel=INFO",
                "--schedule",
                str(Path(folder) / "schedule"),
            ]
        )


def dispatcher(store: ServiceStoreOption = None) -> None:
    """Follows the store's events and starts the tasks they call for, from the tracked position."""
    settings = _settings(store)
    celery_app = create_celery_app(settings)
    configure_logging()
    try:
        ledger = open_service_ledger(settings.store)
    except (StoreURLError, ServiceStoreError, psycopg.OperationalError) as exc:
        exit_usage(str(exc))
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    running = Dispatcher(ledger, celery_app, settings)
    try:
        running.run_forever(stop)
    finally:
        running.close()
        ledger.close()


def _settings(store: str | None) -> ServiceSettings:
    """The service settings, with --store taking the place of $LEDGER_STORE."""
    if store is not None:
        os.environ["LEDGER_STORE"] = store  # read below, and by the worker that `ledger worker` starts
    try:
        return ServiceSettings()
    except ValidationError as exc:
        exit_usage(f"bad service settings: {exc}")
