"""What users see in the tables: every figure whole at any width, and every name as typed.

The tables are printed to forced-terminal rich consoles 40, 80 and 200 columns wide;
every figure the JSON of the same command holds for the parts the table shows must
appear whole in the text (a figure cut to "1.0999…" or folded over two lines would not).
Names that look like rich markup (`ops[bold]A`, `[/]x`, `[red]`) must print as typed in
every command, and never crash one.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from projections.presentation.history import print_history
from projections.presentation.postmortem import render_table
from projections.presentation.report import print_report
from projections.queries import ViewReader
from projections.report import StoreViews
from tests.conftest import BACKENDS, SCENARIOS
from tests.integration.cli_scenarios import (
    ledger,
    regular_liquidations,
    run_json,
    takeover_below_the_debt,
    write_scenario,
)

WIDTHS = (40, 80, 200)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FIGURE = re.compile(
    r"-?\d+(\.\d+)?"  # amounts, prices, levels, ids
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"  # times
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)  # liquidation ids
MARKUP_NAMES = ("ops[bold]A", "[/]x", "[red]")


def figures(document: Any) -> set[str]:
    """Every figure in a JSON document: decimal strings, integers, times and ids."""
    if isinstance(document, dict):
        return set().union(*(figures(value) for value in document.values()))
    if isinstance(document, list):
        return set().union(*(figures(value) for value in document))
    if isinstance(document, bool) or document is None:
        return set()
    if isinstance(document, int):
        return {str(document)}
    return {document} if isinstance(document, str) and FIGURE.fullmatch(document) else set()


def without(document: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in keys}


def printed(draw: Callable[[Console], None], width: int) -> str:
    """What a terminal `width` columns wide shows, colours taken out."""
    file = io.StringIO()
    draw(Console(file=file, width=width, force_terminal=True, color_system="standard"))
    return ANSI.sub("", file.getvalue())


def assert_whole(expected: set[str], text: str) -> None:
    missing = sorted(figure for figure in expected if figure not in text)
    assert not missing, f"cut or missing: {missing}\n{text}"
    assert "…" not in text


# --- what the tables show, per command ----------------------------------------------------


def report_figures(report: dict[str, Any]) -> set[str]:
    return figures({key: report[key] for key in ("warnings", "accounts", "system", "liquidations", "rejections")})


def history_figures(history: dict[str, Any]) -> set[str]:
    """The table leaves out each event's account, time of recording and cause."""
    events = [
        {**without(event, "facts"), "facts": without(event["facts"], "account", "at", "cause")}
        for event in history["events"]
    ]
    return figures({"through": history["through"], "events": events, "state": history["state"]})


def postmortem_figures(told: dict[str, Any]) -> set[str]:
    """The tables leave out the chart, the cause chain's causes, where the parameters were set
    and each step's raw facts (its "what happened" tells them)."""
    steps = [without(step, "facts", "events", "liabilities", "process_step") for step in told["steps"]]
    inputs = [found["input"] for found in told["trigger_inputs"]]
    return figures(
        {
            "liquidation": without(told["liquidation"], "desk"),
            "completed_at": told["completed_at"],
            "account": told["account"],
            "inputs": inputs,
            "parameters": without(told["parameters"], "cause", "notification_id"),
            "margin_calls": told["margin_calls"],
            "steps": steps,
        }
    )


@pytest.fixture(scope="module", params=BACKENDS)
def stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], tuple[str, dict[str, Any]]]]:
    """A store per case and backend, run once for the module: case -> (store URL, report)."""
    folder = tmp_path_factory.mktemp("presentation")
    cases = {
        # 43,999.99: levels, sales and the fee with many decimals (1.09999975, 7999.9999926978)
        "regular": write_scenario(folder / "regular.jsonl", regular_liquidations("A", fall_price="43999.99")),
        "takeover": SCENARIOS / "seed004_user_b.jsonl",
        "shortfall": write_scenario(folder / "shortfall.jsonl", takeover_below_the_debt()),
        "markup": write_scenario(
            folder / "[red]markup.jsonl",
            [
                *regular_liquidations(MARKUP_NAMES[0]),
                {"op": "open", "account": MARKUP_NAMES[1], "mode": "spot"},
                {"op": "deposit", "account": MARKUP_NAMES[1], "asset": "USDC", "amount": "5"},
                {"op": "open", "account": MARKUP_NAMES[2], "mode": "spot"},
                {"op": "withdraw", "account": MARKUP_NAMES[2], "asset": "USDC", "amount": "5"},  # a rejection
            ],
        ),
    }
    built: dict[str, tuple[str, dict[str, Any]]] = {}

    def store_of(case: str) -> tuple[str, dict[str, Any]]:
        if case not in built:
            if request.param == "sqlite":
                url = f"sqlite:///{folder / f'{case}.db'}"
            else:
                url = f"{request.getfixturevalue('postgres_database')}?schema=p_{uuid.uuid4().hex[:12]}"
            built[case] = (url, run_json(cases[case], url))
        return built[case]

    yield store_of


def json_of(*args: str) -> dict[str, Any]:
    result = ledger(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def first_event(store_url: str, event: str) -> int:
    """The notification id of the store's first `Liquidation.<event>` (an event of no account)."""
    with StoreViews(store_url) as views:
        return ViewReader(views.engine).events_named(f"Liquidation.{event}")[0]["notification_id"]


# --- figures --------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", ["regular", "takeover", "shortfall"])
def test_the_report_shows_every_figure_whole(
    stores: Callable[[str], tuple[str, dict[str, Any]]], case: str, width: int
) -> None:
    _, report = stores(case)
    assert_whole(report_figures(report), printed(lambda console: print_report(report, console), width))


@pytest.mark.parametrize("width", WIDTHS)
def test_history_shows_every_figure_whole(stores: Callable[[str], tuple[str, dict[str, Any]]], width: int) -> None:
    regular, _ = stores("regular")
    takeover, _ = stores("takeover")
    held = json_of("history", "B", "--store", takeover, "--at-event", str(first_event(takeover, "TakeoverSliceSold")))
    assert held["state"]["position"]["held_by"] == "takeover-desk"
    for history in (json_of("history", "A", "--store", regular), json_of("history", "B", "--store", takeover), held):
        assert_whole(
            history_figures(history), printed(lambda console, shown=history: print_history(shown, console), width)
        )


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", ["regular", "takeover", "shortfall"])
def test_postmortem_shows_every_figure_whole(
    stores: Callable[[str], tuple[str, dict[str, Any]]], case: str, width: int
) -> None:
    url, report = stores(case)
    told = json_of("postmortem", report["liquidations"][0]["id"], "--store", url)
    assert_whole(postmortem_figures(told), printed(lambda console: render_table(told, console), width))


def test_a_table_written_to_a_pipe_is_whole_too(stores: Callable[[str], tuple[str, dict[str, Any]]]) -> None:
    url, report = stores("regular")
    result = ledger("postmortem", report["liquidations"][0]["id"], "--store", url)
    assert result.exit_code == 0, result.stderr
    assert_whole(
        postmortem_figures(json_of("postmortem", report["liquidations"][0]["id"], "--store", url)), result.stdout
    )


# --- names -----------------------------------------------------------------------------------


def test_markup_names_print_as_typed_in_the_report(stores: Callable[[str], tuple[str, dict[str, Any]]]) -> None:
    _, report = stores("markup")
    assert set(MARKUP_NAMES) <= set(report["accounts"])
    text = printed(lambda console: print_report(report, console), 200)
    for name in (*MARKUP_NAMES, "[red]markup.jsonl"):
        assert name in text, name


@pytest.mark.parametrize(
    "command",
    [
        ["history", MARKUP_NAMES[0]],
        ["history", MARKUP_NAMES[1]],
        ["history", MARKUP_NAMES[2]],
        ["liquidations"],
        ["liquidations", "--account", MARKUP_NAMES[0]],
        ["reconcile"],
    ],
)
def test_markup_names_print_as_typed_in_every_table(
    stores: Callable[[str], tuple[str, dict[str, Any]]], command: list[str]
) -> None:
    url, _ = stores("markup")
    result = ledger(*command, "--store", url)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    if command[0] in ("history", "liquidations"):
        assert (command[1] if command[0] == "history" else MARKUP_NAMES[0]) in result.stdout, result.stdout


def test_markup_names_print_as_typed_in_the_postmortem(stores: Callable[[str], tuple[str, dict[str, Any]]]) -> None:
    url, report = stores("markup")
    result = ledger("postmortem", report["liquidations"][0]["id"], "--store", url)
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert f"{MARKUP_NAMES[0]} (cross_classic 5x)" in result.stdout
    assert "[red]markup.jsonl" in result.stdout  # the source of the input that set it off


def test_markup_names_print_as_typed_in_the_replay(
    stores: Callable[[str], tuple[str, dict[str, Any]]], tmp_path: Path
) -> None:
    url, _ = stores("markup")
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"margin": {"cross_classic": {"5": {"fee": "0.03"}}}}))
    result = ledger("replay", "--params", str(params), "--store", url)
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert MARKUP_NAMES[0] in result.stdout


def test_a_markup_name_in_an_error_message_is_text(stores: Callable[[str], tuple[str, dict[str, Any]]]) -> None:
    url, _ = stores("markup")
    result = ledger("history", "[/]y", "--store", url)
    assert result.exit_code == 2, (result.stdout, result.exception)
    assert "unknown account '[/]y'" in result.stderr
