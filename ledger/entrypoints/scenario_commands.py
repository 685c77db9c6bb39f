"""`ledger run` and `ledger check`: a scenario file applied to the store, or checked against it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.text import Text

from ledger.application import Ledger
from ledger.entrypoints.cli_errors import err, exit_input_errors, exit_usage
from ledger.entrypoints.cli_shared import (
    ActorOption,
    JsonOption,
    ParamsOption,
    ScenarioArgument,
    StoreOption,
    actor_name,
    held_writer_lease,
    progress,
)
from ledger.files import InputFileError, is_pipe, read_parameter_file, read_scenario
from ledger.inputs import InputErrors, Scenario, parse_parameter_file
from ledger.processes.inline import run_inputs
from ledger.runs import check_scenario, open_validated
from ledger.store import StoreURLError, store_url
from projections.presentation.report import print_report
from projections.report import build_report


def run(
    scenario: ScenarioArgument,
    params: ParamsOption = None,
    again: Annotated[
        bool, typer.Option("--again", help="Apply the file anew, though the store applied it before")
    ] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
    actor: ActorOption = None,
) -> None:
    """Applies a scenario to the store, runs every process it sets off, and prints the report.
    Lines the store applied from this file before are skipped: a run cut short is resumed."""
    submitter = actor_name(actor)
    url = store_url(store)
    again = again or is_pipe(scenario)  # a pipe is a new file each time: nothing to resume
    with held_writer_lease(url):
        with _input_faults_exit_2():
            text, overlay = _read_scenario_and_overlay(scenario, params)
            ledger, planned = open_validated(url, text, scenario.name, overlay, again)
            planned = planned.submitted_by(submitter)
        try:
            report = _apply(ledger, planned, again)
        finally:
            ledger.close()
    report["run"] = {"source": planned.source, "skipped": planned.skipped, "applied": len(planned.inputs)}
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        print_report(report)


def check(
    scenario: ScenarioArgument,
    params: ParamsOption = None,
    again: Annotated[bool, typer.Option("--again", help="As `ledger run --again` would apply it")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Checks a scenario against the store as `ledger run` would, and writes nothing: the
    input errors it would refuse the file for (exit 2), and the lines it would skip as applied."""
    url = store_url(store)
    with _input_faults_exit_2():
        text, overlay = _read_scenario_and_overlay(scenario, params)
        planned = check_scenario(url, text, scenario.name, overlay, again)
    lines = [item.line for item in planned.inputs]
    summary = {
        "source": planned.source,
        "valid": True,
        "skipped": planned.skipped,
        "skipped_through_line": planned.skipped_through_line,
        "to_apply": len(planned.inputs),
        "first_line": lines[0] if lines else None,
        "last_line": lines[-1] if lines else None,
    }
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    skipped = (
        f"; {planned.skipped} inputs applied before would be skipped (through line {planned.skipped_through_line})"
        if planned.skipped
        else ""
    )
    to_apply = f"lines {lines[0]} to {lines[-1]}" if lines else "nothing"
    err.print(Text(f"{planned.source} is valid: {len(planned.inputs)} inputs to apply ({to_apply}){skipped}"))


def _read_scenario_and_overlay(scenario: Path, params: Path | None) -> tuple[str, dict[str, Any]]:
    overlay = parse_parameter_file(read_parameter_file(params), str(params)) if params else {}
    return read_scenario(scenario), overlay


@contextmanager
def _input_faults_exit_2() -> Iterator[None]:
    """Bad input, an unreadable file or a bad store URL: its message, exit 2, nothing written."""
    try:
        yield
    except InputErrors as errors:
        exit_input_errors(errors)
    except (InputFileError, StoreURLError, psycopg.OperationalError) as exc:
        exit_usage(str(exc))


def _apply(ledger: Ledger, planned: Scenario, again: bool) -> dict[str, Any]:
    """`ledger run` once the file is valid: its inputs applied, and the report."""
    if planned.skipped:
        err.print(
            Text(
                f"skipped {planned.skipped} inputs of {planned.source} that this store applied before "
                f"(through line {planned.skipped_through_line})"
            )
        )
    with progress() as advance:
        run_inputs(
            ledger,
            planned.inputs,
            again=again,
            on_progress=lambda done: advance(f"applying {planned.source}", done, len(planned.inputs)),
        )
    return build_report(ledger)
