"""Running a scenario file again (issue 9, defect 4): the store keeps one high-water mark
per file (`ledger.idempotency`), so a second run of the same file skips the lines it
applied (a rejected line counts as applied) and applies only what was appended since; an
edited or truncated applied part is an input error naming the first line that differs;
`--again` applies the file anew on purpose; a `--params` overlay is recorded once per
file; and validation and the clock rule start at the first line not yet applied.

Every test runs on SQLite and on PostgreSQL, through the real command (`ledger run`, a
process of its own; two steps that cannot be reached from outside, a run stopped right
after beginning its file and a check of what `plan` reports, are made in process), and
looks at the store's events directly where a report could hide a double.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg
import pytest
from psycopg import sql

from ledger.write_path import begin_run
from tests.conftest import SCENARIOS, ledger_cli

# --- helpers (test_crash_resume.py uses them too) --------------------------------------


def run_json(scenario: Path, store: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`ledger run SCENARIO --store URL --json [extra]`, and its report (when it printed one)."""
    result = ledger_cli("run", str(scenario), "--store", store, "--json", *extra)
    report = json.loads(result.stdout) if result.returncode == 0 else {}
    return result, report


def run_ok(scenario: Path, store: str, *extra: str) -> tuple[dict[str, Any], str]:
    result, report = run_json(scenario, store, *extra)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-3000:]}"
    return report, result.stderr


def without_run(report: dict[str, Any]) -> dict[str, Any]:
    """The report but for what says how the run went (`run`), which differs between runs."""
    return {key: value for key, value in report.items() if key != "run"}


def write_lines(path: Path, lines: list[dict[str, Any]], append: bool = False) -> Path:
    with path.open("a" if append else "w") as file:
        file.write("".join(json.dumps(line) + "\n" for line in lines))
    return path


def events_table(url: str) -> tuple[str, str | None, str]:
    """(connection target, schema, table) of a store's events: a SQLite path, or a
    PostgreSQL connection URL and its schema."""
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") :], None, "stored_events"
    parts = urlsplit(url)
    schema = dict(parse_qsl(parts.query)).get("schema", "public")
    return parts._replace(query="").geturl(), schema, "ledger_events"


def topic_counts(url: str) -> Counter[str]:
    """How many events of each kind the store holds (`Account.Deposited`, ...), read from
    the store's own table; none while the store does not exist (it is not created)."""
    target, schema, table = events_table(url)
    try:
        if schema is None:
            if not os.path.exists(target):
                return Counter()
            connection = sqlite3.connect(f"file:{target}?mode=rw", uri=True, timeout=30)
            try:
                rows = connection.execute(f"SELECT topic, count(*) FROM {table} GROUP BY topic").fetchall()
            finally:
                connection.close()
        else:
            with psycopg.connect(target, autocommit=True) as pg:
                rows = pg.execute(
                    sql.SQL("SELECT topic, count(*) FROM {}.{} GROUP BY topic").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                ).fetchall()
    except (sqlite3.OperationalError, psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        return Counter()  # no table yet
    return Counter({topic.rsplit(":", 1)[-1]: count for topic, count in rows})


def recorded_inputs(url: str) -> list[dict[str, Any]]:
    """Every input record the store keeps (what `ledger replay` runs again)."""
    from ledger.bootstrap import open_ledger

    app = open_ledger(url)
    try:
        return list(app.recorded_inputs())
    finally:
        app.close()


def balance(report: dict[str, Any], account: str, asset: str) -> str:
    return report["accounts"][account]["balances"].get(asset, "0")


def refused(scenario: Path, store: str, *extra: str) -> str:
    """Runs a scenario that must be refused as an input error (exit 2, no report); its
    standard error."""
    result, _ = run_json(scenario, store, *extra)
    assert result.returncode == 2, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert result.stdout == ""
    return result.stderr


def edited(lines: list[dict[str, Any]], **changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The lines with some changed: `line3={"amount": "2.5"}` changes line 3."""
    return [{**line, **changes.get(f"line{number}", {})} for number, line in enumerate(lines, start=1)]


# --- the same file twice ----------------------------------------------------------------


def test_a_seed_run_twice_is_applied_once(store_url: str, tmp_path: Path) -> None:
    scenario = Path(shutil.copy(SCENARIOS / "seed004_user_b.jsonl", tmp_path / "seed004_user_b.jsonl"))
    first, first_err = run_ok(scenario, store_url)
    counts = topic_counts(store_url)
    second, second_err = run_ok(scenario, store_url)

    assert "skipped" not in first_err
    assert "skipped 8 inputs of seed004_user_b.jsonl" in second_err, second_err
    assert first["run"] == {"source": "seed004_user_b.jsonl", "skipped": 0, "applied": 8}
    assert second["run"] == {"source": "seed004_user_b.jsonl", "skipped": 8, "applied": 0}
    assert without_run(second) == without_run(first)
    assert balance(second, "B", "USDC") == "27000"
    assert len(second["liquidations"]) == 1 and second["liquidations"][0]["status"] == "completed"
    assert topic_counts(store_url) == counts, "the second run wrote events"
    assert counts["Account.Deposited"] == 1 and counts["Account.Borrowed"] == 1


# --- lines appended since; a rejected line counts as applied --------------------------------

OPENING = [
    {"op": "open", "account": "S", "mode": "spot", "at": "2026-02-01T09:00:00Z"},
    {"op": "deposit", "account": "S", "asset": "BTC", "amount": "1"},
    {"op": "deposit", "account": "S", "asset": "USDC", "amount": "100"},
]


def test_only_lines_appended_since_are_applied_and_a_rejected_line_counts_as_applied(
    store_url: str, tmp_path: Path
) -> None:
    scenario = write_lines(
        tmp_path / "appended.jsonl",
        [
            *OPENING,
            {"op": "withdraw", "account": "S", "asset": "BTC", "amount": "5"},  # more than held: refused
        ],
    )
    first, _ = run_ok(scenario, store_url)
    assert [(r["line"], r["op"]) for r in first["rejections"]] == [(4, "withdraw")]
    assert balance(first, "S", "BTC") == "1" and balance(first, "S", "USDC") == "100"

    second, stderr = run_ok(scenario, store_url)
    assert "skipped 4 inputs of appended.jsonl" in stderr and "through line 4" in stderr, stderr
    assert second["run"] == {"source": "appended.jsonl", "skipped": 4, "applied": 0}
    assert without_run(second) == without_run(first), "the rejected line was applied again"

    write_lines(
        scenario,
        [
            {"op": "deposit", "account": "S", "asset": "BTC", "amount": "0.5"},
            {"op": "withdraw", "account": "S", "asset": "USDC", "amount": "30", "at": "2026-02-01T09:10:00Z"},
        ],
        append=True,
    )
    third, stderr = run_ok(scenario, store_url)
    assert third["run"] == {"source": "appended.jsonl", "skipped": 4, "applied": 2}, stderr
    assert balance(third, "S", "BTC") == "1.5" and balance(third, "S", "USDC") == "70"
    assert [(r["line"], r["op"]) for r in third["rejections"]] == [(4, "withdraw")]
    counts = topic_counts(store_url)
    assert (counts["Account.Deposited"], counts["Account.Withdrawn"], counts["InputRejected"]) == (3, 1, 1)


# --- an edited or truncated applied part --------------------------------------------------------

SIX = [
    {"op": "open", "account": "E", "mode": "spot", "at": "2026-02-01T09:00:00Z"},
    {"op": "deposit", "account": "E", "asset": "BTC", "amount": "1"},
    {"op": "deposit", "account": "E", "asset": "BTC", "amount": "2"},
    {"op": "deposit", "account": "E", "asset": "USDC", "amount": "10"},
    {"op": "withdraw", "account": "E", "asset": "USDC", "amount": "4", "at": "2026-02-01T09:05:00Z"},
    {"op": "deposit", "account": "E", "asset": "ETH", "amount": "3"},
]
APPENDED = {"op": "deposit", "account": "E", "asset": "BTC", "amount": "7"}


def test_an_edited_applied_part_is_an_input_error_naming_the_first_line_that_differs(
    store_url: str, tmp_path: Path
) -> None:
    scenario = write_lines(tmp_path / "edited.jsonl", SIX)
    run_ok(scenario, store_url)
    counts = topic_counts(store_url)

    # Line 3 and line 5 edited, a line appended: the first difference is named, alone.
    write_lines(scenario, [*edited(SIX, line3={"amount": "2.5"}, line5={"amount": "5"}), APPENDED])
    stderr = refused(scenario, store_url)
    assert stderr.startswith(
        "line 3: line: differs from what this store applied from edited.jsonl before (6 inputs through line 6)"
    ), stderr
    assert len(stderr.splitlines()) == 1 and "--again" in stderr, stderr

    # A line inserted into the applied part is an edit from where it stands.
    write_lines(scenario, [*SIX[:2], APPENDED, *SIX[2:]])
    assert refused(scenario, store_url).startswith("line 3: line: differs"), stderr

    # Fewer lines than were applied: the file was cut short after line 4.
    write_lines(scenario, SIX[:4])
    stderr = refused(scenario, store_url)
    assert stderr.startswith("line 5: line: missing: differs from what this store applied from edited.jsonl"), stderr

    # An applied line that is no longer JSON at all.
    scenario.write_text(
        "".join(json.dumps(line) + "\n" for line in SIX[:3])
        + '{"op": "deposit",\n'
        + "".join(json.dumps(line) + "\n" for line in SIX[4:])
    )
    stderr = refused(scenario, store_url)
    assert {line.split(": ")[0] for line in stderr.splitlines()} == {"line 4"}, stderr
    assert "differs from what this store applied" in stderr

    assert topic_counts(store_url) == counts, "a refused run wrote events"


def test_whitespace_and_key_order_of_applied_lines_are_not_edits(store_url: str, tmp_path: Path) -> None:
    scenario = write_lines(tmp_path / "canonical.jsonl", SIX)
    applied, _ = run_ok(scenario, store_url)
    counts = topic_counts(store_url)

    # Keys in another order, other spacing, blank lines between (line numbers move, inputs do not).
    respelled = [
        "  " + json.dumps(dict(reversed(list(line.items()))), separators=(" ,  ", " :   ")) + " \t" for line in SIX
    ]
    scenario.write_text("\n" + "\n\n".join(respelled) + "\n")
    again, stderr = run_ok(scenario, store_url)
    assert "skipped 6 inputs of canonical.jsonl that this store applied before (through line 12)" in stderr, stderr
    assert again["run"] == {"source": "canonical.jsonl", "skipped": 6, "applied": 0}
    assert without_run(again) == without_run(applied)
    assert topic_counts(store_url) == counts

    # The blank lines taken out again and a line appended: the file resumes; an edit after
    # that is named by its line in the file as it is now.
    write_lines(scenario, [*SIX, APPENDED])
    resumed, stderr = run_ok(scenario, store_url)
    assert resumed["run"] == {"source": "canonical.jsonl", "skipped": 6, "applied": 1}, stderr
    assert balance(resumed, "E", "BTC") == "10"
    write_lines(scenario, [*edited(SIX, line2={"amount": "1.5"}), APPENDED])
    stderr = refused(scenario, store_url)
    assert stderr.startswith("line 2: line: differs"), stderr


def test_a_faulty_new_line_is_not_called_an_edit_of_the_applied_part(store_url: str) -> None:
    """In process (what `ledger run` calls), to keep it short."""
    from ledger.bootstrap import open_ledger
    from ledger.inputs import InputErrors
    from ledger.processes.inline import run_inputs
    from ledger.runs import plan

    app = open_ledger(store_url)
    try:
        run_inputs(app, plan(app, "\n\n".join(json.dumps(line) for line in SIX) + "\n", "blanks.jsonl").inputs)
        with pytest.raises(InputErrors) as refusal:  # the blank lines gone, a faulty line 7 appended
            plan(app, "".join(json.dumps(line) + "\n" for line in SIX) + '{"op": "deposit",\n', "blanks.jsonl")
    finally:
        app.close()
    found = [str(error) for error in refusal.value.errors]
    assert len(found) == 1 and found[0].startswith("line 7: line: invalid JSON"), found


# --- --again ------------------------------------------------------------------------------------


def test_again_applies_the_file_anew_but_explicit_ids_hold(store_url: str, tmp_path: Path) -> None:
    # No line has `at`: each round takes the store's clock, so the file can be applied anew.
    scenario = write_lines(
        tmp_path / "again.jsonl",
        [
            {"op": "open", "account": "G", "mode": "spot", "id": "open-G"},
            {"op": "deposit", "account": "G", "asset": "BTC", "amount": "10"},
            {"op": "deposit", "account": "G", "asset": "USDC", "amount": "1", "id": "once-only"},
        ],
    )
    first, _ = run_ok(scenario, store_url)
    assert balance(first, "G", "BTC") == "10" and balance(first, "G", "USDC") == "1"

    anew, stderr = run_ok(scenario, store_url, "--again")
    assert "skipped" not in stderr, stderr
    assert anew["run"] == {"source": "again.jsonl", "skipped": 0, "applied": 3}
    assert balance(anew, "G", "BTC") == "20", "--again applies the lines without id again"
    assert balance(anew, "G", "USDC") == "1", "an explicit id holds through --again"
    assert anew["rejections"] == []
    assert topic_counts(store_url)["Account.Deposited"] == 3

    # The file was begun again: a plain run resumes this round and applies nothing.
    resumed, stderr = run_ok(scenario, store_url)
    assert resumed["run"] == {"source": "again.jsonl", "skipped": 3, "applied": 0}, stderr
    assert without_run(resumed) == without_run(anew)

    # The edit check compares with the latest round.
    write_lines(
        scenario,
        [
            {"op": "open", "account": "G", "mode": "spot", "id": "open-G"},
            {"op": "deposit", "account": "G", "asset": "BTC", "amount": "11"},
        ],
    )
    assert refused(scenario, store_url).startswith("line 2: line: differs")


# --- --params overlay, recorded once per file ---------------------------------------------

OVERLAY = {"assets": {"USDC": {"hourly_interest": "0.0001"}, "BTC": {"precision": 8}}}
OTHER_OVERLAY = {"assets": {"USDC": {"hourly_interest": "0.0002"}}}


def test_a_params_overlay_is_recorded_once_per_file_and_kept_when_resumed(store_url: str, tmp_path: Path) -> None:
    params = tmp_path / "overlay.json"
    params.write_text(json.dumps(OVERLAY))
    respelled = tmp_path / "overlay_respelled.json"  # the same overlay, spelled otherwise
    respelled.write_text(
        json.dumps({"assets": {"BTC": {"precision": 8}, "USDC": {"hourly_interest": "0.0001"}}}, indent=4)
    )
    other = tmp_path / "other.json"
    other.write_text(json.dumps(OTHER_OVERLAY))

    def overlays() -> list[str]:
        return [record["source"] for record in recorded_inputs(store_url) if record.get("overlay")]

    # On a new store the overlay is in version 1; on a store that has parameters, a new version.
    first = write_lines(tmp_path / "first.jsonl", OPENING)
    assert run_ok(first, store_url, "--params", str(params))[0]["parameters_version"] == 1
    second = write_lines(
        tmp_path / "second.jsonl",
        [{"op": "deposit", "account": "S", "asset": "BTC", "amount": "1", "at": "2026-02-01T09:30:00Z"}],
    )
    report, _ = run_ok(second, store_url, "--params", str(params))
    assert report["parameters_version"] == 2
    assert overlays() == ["first.jsonl", "second.jsonl"]

    # Resumed with the same overlay: the lines appended since are applied, the overlay is not
    # recorded again.
    write_lines(second, [{"op": "deposit", "account": "S", "asset": "BTC", "amount": "1"}], append=True)
    report, stderr = run_ok(second, store_url, "--params", str(respelled))
    assert report["run"] == {"source": "second.jsonl", "skipped": 1, "applied": 1}, stderr
    assert report["parameters_version"] == 2, "a resumed run recorded its overlay again"
    assert balance(report, "S", "BTC") == "3"
    assert overlays() == ["first.jsonl", "second.jsonl"]
    counts = topic_counts(store_url)
    assert counts["ParameterSet.Changed"] == 1

    # Resumed with another overlay, or none: refused, nothing written.
    stderr = refused(second, store_url, "--params", str(other))
    assert stderr.startswith("scenario second.jsonl: --params: second.jsonl was begun on this store with"), stderr
    assert "--again" in stderr
    stderr = refused(first, store_url)
    assert stderr.startswith("scenario first.jsonl: --params: first.jsonl was begun on this store with"), stderr
    # And a file begun without an overlay is not resumed with one.
    third = write_lines(tmp_path / "third.jsonl", [{"op": "deposit", "account": "S", "asset": "ETH", "amount": "1"}])
    run_ok(third, store_url)
    stderr = refused(third, store_url, "--params", str(params))
    assert "third.jsonl was begun on this store without --params" in stderr, stderr
    assert topic_counts(store_url)["ParameterSet.Changed"] == 1

    # A run that stopped right after beginning its file (its overlay recorded, no input yet):
    # the retry applies every line and does not record the overlay again.
    from ledger.bootstrap import open_ledger
    from ledger.runs import plan

    cut_short = write_lines(
        tmp_path / "cut_short.jsonl", [{"op": "deposit", "account": "S", "asset": "ETH", "amount": "1"}]
    )
    app = open_ledger(store_url, OVERLAY)
    try:
        begin_run(app, plan(app, cut_short.read_text(), cut_short.name).inputs[0])
    finally:
        app.close()
    assert topic_counts(store_url)["ParameterSet.Changed"] == 2
    report, stderr = run_ok(cut_short, store_url, "--params", str(params))
    assert report["run"] == {"source": "cut_short.jsonl", "skipped": 0, "applied": 1}, stderr
    assert report["parameters_version"] == 3 and topic_counts(store_url)["ParameterSet.Changed"] == 2
    assert overlays() == ["first.jsonl", "second.jsonl", "cut_short.jsonl"]
    assert balance(report, "S", "ETH") == "2"


# --- validation and the clock rule start at the first line not yet applied -----------------------


def input_times(url: str, source: str) -> list[tuple[int, str]]:
    """(line, time) of each input the store recorded from `source`."""
    return [
        (record["line"], record["at"])
        for record in recorded_inputs(url)
        if record["source"] == source and not record.get("overlay")
    ]


def test_validation_and_the_clock_rule_start_at_the_first_line_not_yet_applied(store_url: str, tmp_path: Path) -> None:
    early = write_lines(
        tmp_path / "early.jsonl",
        [
            {"op": "open", "account": "S", "mode": "spot", "at": "2026-02-01T09:00:00Z"},
            {"op": "deposit", "account": "S", "asset": "BTC", "amount": "0.12345678"},
            {"op": "deposit", "account": "S", "asset": "USDC", "amount": "100"},
        ],
    )
    run_ok(early, store_url)
    later = write_lines(
        tmp_path / "later.jsonl",
        [
            {"op": "params", "assets": {"BTC": {"precision": 4}}, "at": "2026-02-01T12:00:00Z"},
            {"op": "open", "account": "L", "mode": "spot"},
        ],
    )
    run_ok(later, store_url)
    # The store's clock is 12:00 now, and BTC takes 4 decimals: early.jsonl's applied lines
    # would fail both rules today, but they are skipped before either applies.

    write_lines(
        early,
        [
            {"op": "deposit", "account": "S", "asset": "BTC", "amount": "1", "at": "2026-02-01T11:00:00Z"},
            {"op": "deposit", "account": "S", "asset": "BTC", "amount": "0.00001"},
        ],
        append=True,
    )
    counts = topic_counts(store_url)
    stderr = refused(early, store_url)
    assert stderr.splitlines()[0].startswith(
        "line 4: at: 2026-02-01T11:00:00Z is earlier than the input before it (2026-02-01T12:00:00Z"
    ), stderr
    assert [line.split(": ")[:2] for line in stderr.splitlines()] == [["line 4", "at"], ["line 5", "amount"]], stderr
    assert topic_counts(store_url) == counts

    # Without `at`, the first line not yet applied takes the store's clock (not the time of
    # the file's last applied line), as the first line of a new file does.
    early_lines = [json.loads(line) for line in early.read_text().splitlines()][:3]
    write_lines(early, [*early_lines, {"op": "deposit", "account": "S", "asset": "BTC", "amount": "1"}])
    report, stderr = run_ok(early, store_url)
    assert report["run"] == {"source": "early.jsonl", "skipped": 3, "applied": 1}, stderr
    assert balance(report, "S", "BTC") == "1.12345678"
    assert input_times(store_url, "early.jsonl")[-1] == (4, "2026-02-01T12:00:00Z")

    fresh = write_lines(tmp_path / "fresh.jsonl", [{"op": "deposit", "account": "L", "asset": "ETH", "amount": "2"}])
    run_ok(fresh, store_url)
    assert input_times(store_url, "fresh.jsonl") == [(1, "2026-02-01T12:00:00Z")]
