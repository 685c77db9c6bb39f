"""The postmortem page, incident-ready, for a spot-margin liquidation (seed 004's user C:
regular sales, a hand-off, the desk's sales, fee, return) and a futures one (a cross
wallet closed at the mark): the price panel apart from the level chart, each phase
marked on the charts and named in a legend, each step linked to its events, the account's
events before the trigger, the footer (the store without its password, when, by whom)
and a CSV of the steps; in headless Chromium, every table fits a 1,280 px window and the
A4 print holds every column header.

Both pages are made once for the module; one browser per page, both started at once (each
start costs seconds), dumps the DOM of a measuring copy of the page and prints it to PDF.
"""

from __future__ import annotations

import csv
import getpass
import html
import io
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from ledger.causes import NOT_RECORDED
from ledger.entrypoints.cli import app
from projections.presentation.html import PageFooter, postmortem_html
from tests.conftest import SCENARIOS
from tests.integration.cli_scenarios import ledger, run_json, write_scenario
from tests.integration.test_futures_postmortem import CROSS
from tests.integration.test_postmortem import CHROMIUM, chromium

PRODUCTS = ("margin", "futures")
LEVEL_CHART_IDS = {"margin": "margin-chart", "futures": "futures-margin-ratio-chart"}
MADE_BY = "incident-lead"  # who makes the pages
RUN_BY = "ops-alice"  # who ran the scenarios: the actor of every input and process step
STORE_V2 = Path(__file__).resolve().parents[1] / "fixtures" / "store_v2.db"  # written before actors
WINDOW = 1280
BUDGET_MS = 2000  # of virtual time: plotly draws on load, the measuring script 500 ms later

# Written into a test-only copy of the page: once the charts are drawn, each table's widths
# and its container's, and the document's, as JSON in the DOM (`--dump-dom` prints it).
MEASURE = """
<script>
function widths(table) {
  var overflowing = Array.from(table.querySelectorAll('th, td')).filter(function (cell) {
    return cell.scrollWidth > cell.clientWidth;
  });
  return {scrollWidth: table.scrollWidth, clientWidth: table.clientWidth, overflowing: overflowing};
}
// In print (A4), each table's widths as "scroll/client/overflowing cells", printed on the page.
window.matchMedia('print').addEventListener('change', function (query) {
  if (!query.matches || document.getElementById('print-measurements')) { return; }
  var out = document.createElement('p');
  out.id = 'print-measurements';
  out.textContent = 'PRINTED ' + Array.from(document.querySelectorAll('table')).map(function (table) {
    var found = widths(table);
    return found.scrollWidth + '/' + found.clientWidth + '/' + found.overflowing.length;
  }).join(' ');
  document.body.appendChild(out);
});
window.addEventListener('load', function () {
  setTimeout(function () {
    var tables = Array.from(document.querySelectorAll('table')).map(function (table) {
      var around = getComputedStyle(table.parentElement);
      var found = widths(table);
      return {id: table.id || null, heading: (table.previousElementSibling || {}).textContent || '',
              scrollWidth: found.scrollWidth, clientWidth: found.clientWidth,
              width: table.getBoundingClientRect().width,
              container: table.parentElement.clientWidth - parseFloat(around.paddingLeft)
                - parseFloat(around.paddingRight),
              overflowing: found.overflowing.map(function (cell) { return cell.textContent; })};
    });
    var out = document.createElement('pre');
    out.id = 'measurements';
    out.style.display = 'none';
    out.textContent = JSON.stringify({window: window.innerWidth, page: document.documentElement.scrollWidth,
                                      tables: tables});
    document.body.appendChild(out);
  }, 500);
});
</script>
"""

skip_without_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None,
    reason="headless Chromium (/usr/bin/chromium, Debian package chromium) is not installed",
)


@dataclass
class Made:
    """One liquidation's postmortem: its JSON, its page, and what the browsers made of it."""

    store: str
    liquidation_id: str
    told: dict[str, Any]
    page: str
    path: Path
    dom: str = ""
    pdf_text: str = ""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Made]:
    """Both products' postmortems, each page written by `ledger postmortem --format html`."""
    folder = tmp_path_factory.mktemp("postmortem-page")
    stores = {
        "margin": (f"sqlite:///{folder / 'margin.db'}", SCENARIOS / "seed004_user_c.jsonl"),
        "futures": (f"sqlite:///{folder / 'futures.db'}", write_scenario(folder / "futures.jsonl", CROSS)),
    }
    found = {}
    for product, (store, scenario) in stores.items():
        ran = ledger("run", str(scenario), "--store", store, "--actor", RUN_BY, "--json")
        assert ran.exit_code == 0, ran.stderr
        (liquidation,) = json.loads(ran.stdout)["liquidations"]
        as_json = ledger("postmortem", liquidation["id"], "--store", store, "--json")
        assert as_json.exit_code == 0, as_json.stderr
        path = folder / f"{product}.html"
        page = ledger(
            "postmortem", liquidation["id"], "--store", store, "--format", "html", "--actor", MADE_BY,
            "--output", str(path),
        )  # fmt: skip
        assert page.exit_code == 0, page.stderr
        found[product] = Made(store, liquidation["id"], json.loads(as_json.stdout), path.read_text(), path)
    return found


@pytest.fixture(scope="module")
def browsed(made: dict[str, Made], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Made]:
    """Each page in Chromium, both at once, each browser doing two things: the DOM of a
    measuring copy of the page in a 1,280 px window, and the same page printed to PDF (read
    back with pypdf; the copy's script prints the tables' widths as laid out for print)."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("headless Chromium (/usr/bin/chromium, Debian package chromium) is not installed")
    folder = tmp_path_factory.mktemp("chromium")
    started: dict[str, tuple[subprocess.Popen[str], Path]] = {}
    for product, one in made.items():
        measuring = folder / f"{product}-measuring.html"
        measuring.write_text(one.page.replace("</body>", MEASURE + "</body>"))
        pdf = folder / f"{product}.pdf"
        browser = chromium(
            f"--window-size={WINDOW},2000",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            "--dump-dom",
            measuring.as_uri(),
            profile=folder / f"{product}-profile",
            budget_ms=BUDGET_MS,
        )
        started[product] = (browser, pdf)
    for product, (browser, pdf) in started.items():
        made[product].dom, _ = browser.communicate(timeout=90)
        made[product].pdf_text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
        assert PdfReader(pdf).pages[0].mediabox.width == pytest.approx(595, abs=1)  # A4, in points
    return made


# --- in the browser ---------------------------------------------------------------------------


@skip_without_chromium
@pytest.mark.parametrize("product", PRODUCTS)
def test_price_panel_phase_markers_and_footer_are_in_the_dom(browsed: dict[str, Made], product: str) -> None:
    one = browsed[product]
    dom = one.dom
    level, price = chart_in(dom, LEVEL_CHART_IDS[product]), chart_in(dom, "price-chart")
    assert 'class="main-svg"' in level and 'class="main-svg"' in price  # both drawn by plotly.js
    assert '<path class="js-line"' in price  # a price line of its own, apart from the level
    phases = phase_labels(one.told)
    assert len(phases) >= 5, phases
    # each phase a marker trace on the level chart, named in its legend...
    for phase in phases:
        assert f'data-unformatted="{html.escape(phase)}"' in level, phase
    assert level.count('class="point"') >= len(one.told["steps"]) - 1
    # ... a dotted line on the price panel at each step that is charted...
    assert price.count("stroke-dasharray") >= len(phases)
    # ... and in the page's phase legend, each linking to its first step
    legend = element(dom, "ul", "phase-legend")
    assert [html.unescape(label) for label in re.findall(r'data-phase="([^"]*)"', legend)] == phases
    for target in re.findall(r'href="#(step-\d+)"', legend):
        assert f'id="{target}"' in dom
    footer = element(dom, "footer", "page-footer")
    assert "store sqlite:///" in footer and f"by {MADE_BY}" in footer
    assert re.search(r"made \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", footer), footer


@skip_without_chromium
@pytest.mark.parametrize("product", PRODUCTS)
def test_every_table_fits_a_1280_px_window(browsed: dict[str, Made], product: str) -> None:
    measured = json.loads(html.unescape(element(browsed[product].dom, "pre", "measurements")))
    assert measured["window"] == WINDOW
    assert measured["page"] <= measured["window"], measured  # no sideways scrolling
    assert len(measured["tables"]) >= 5
    for table in measured["tables"]:
        assert table["scrollWidth"] <= table["clientWidth"], table
        assert table["width"] <= table["container"] + 1, table  # no wider than where it sits
        assert table["overflowing"] == [], table  # nor any cell wider than its column


@skip_without_chromium
@pytest.mark.parametrize("product", PRODUCTS)
def test_the_a4_print_holds_every_column_header(browsed: dict[str, Made], product: str) -> None:
    one = browsed[product]
    printed = " ".join(one.pdf_text.split())
    headers = table_headers(one.page)
    assert len(headers) >= 5
    # laid out for print, every table within its width, no cell wider than its column
    measured = re.search(r"PRINTED((?: \d+/\d+/\d+)+)", printed)
    assert measured is not None, printed[-500:]
    tables = [tuple(int(figure) for figure in found.split("/")) for found in measured.group(1).split()]
    assert len(tables) == len(headers)
    assert all(scroll <= client and overflowing == 0 for scroll, client, overflowing in tables), tables
    for columns in headers:
        for column in columns:
            assert " ".join(column.split()) in printed, (column, columns)


# --- the page's parts -------------------------------------------------------------------------


@pytest.mark.parametrize("product", PRODUCTS)
def test_each_step_links_to_its_events(made: dict[str, Made], product: str) -> None:
    one = made[product]
    told, page = one.told, one.page
    before = [event["notification_id"] for event in told["events_before"]["events"]]
    during = [event["notification_id"] for event in told["events"]]
    assert before and max(before) < min(during) == told["steps"][1]["notification_ids"][0]
    for notification_id in before + during:
        assert page.count(f'id="event-{notification_id}"') == 1, notification_id
    for index, step in enumerate(told["steps"]):
        assert step["notification_ids"], step
        row = element(page, "tr", f"step-{index}")
        for notification_id in step["notification_ids"]:
            assert f'href="#event-{notification_id}"' in row, (index, row)
    # the liquidation's events are the steps' events, each named once
    assert sorted(during) == sorted(n for step in told["steps"][1:] for n in step["notification_ids"])


@pytest.mark.parametrize("product", PRODUCTS)
def test_the_csv_holds_the_steps_table_exactly(made: dict[str, Made], product: str) -> None:
    one = made[product]
    link = re.search(r'<a class="download" id="steps-csv" href="([^"]+)" download="([^"]+)"', one.page)
    assert link is not None
    href, name = html.unescape(link.group(1)), link.group(2)
    assert href.startswith("data:text/csv;charset=utf-8,") and name.endswith("-steps.csv")
    rows = list(csv.reader(io.StringIO(unquote(href.split(",", 1)[1]))))
    (columns,) = [headers for headers in table_headers(one.page) if "events" in headers and "actor" in headers]
    assert rows[0] == columns
    assert len(rows) == len(one.told["steps"]) + 1
    steps_table = element(one.page, "table", "steps")
    for row, step in zip(rows[1:], one.told["steps"], strict=True):
        shown = dict(zip(columns, row, strict=True))
        assert shown["events"] == " ".join(f"#{found}" for found in step["notification_ids"])
        assert shown["actor"] == actor_shown(step["actor"])
        for cell in row[:-1]:  # the figures as the page shows them (the events are links)
            assert html.escape(cell) in steps_table, cell
    figures = {
        "margin": ("collateral value", "collateral_value", "debt", "debt", "margin level", "margin_level"),
        "futures": ("margin ratio", "margin_ratio"),
    }[product]
    for column, field in zip(figures[::2], figures[1::2], strict=True):
        shown_column = [dict(zip(columns, row, strict=True))[column] for row in rows[1:]]
        exact = [step[field] if field in step else (step["wallet"] or {}).get(field) for step in one.told["steps"]]
        assert shown_column == ["-" if figure is None else figure for figure in exact], column


@pytest.mark.parametrize("product", PRODUCTS)
def test_the_actor_of_each_step_and_event(made: dict[str, Made], product: str) -> None:
    """Every step and event names the actor behind it, in the JSON and on the page: the one
    who ran the input, through the process steps it set off."""
    told, page = made[product].told, made[product].page
    entries = [*told["steps"], *told["events_before"]["events"], *told["events"]]
    assert {entry["actor"] for entry in [*entries, *told["trigger_inputs"], *told["cause_chain"]]} == {RUN_BY}
    for index in range(len(told["steps"])):
        assert f"<td>{RUN_BY}</td>" in element(page, "tr", f"step-{index}")
    for entry in [*told["events_before"]["events"], *told["events"]]:
        assert f"<td>{RUN_BY}</td>" in element(page, "tr", f"event-{entry['notification_id']}")
    # each row shows its own entry's actor
    told = json.loads(json.dumps(told))  # a copy: the module's postmortem stays as told
    for number, entry in enumerate([*told["steps"], *told["events_before"]["events"], *told["events"]]):
        entry["actor"] = f"actor-{number}"
    page = postmortem_html(told, PageFooter("sqlite:///x.db", datetime(2026, 1, 1, tzinfo=UTC), "me"))
    for number in range(len(told["steps"])):
        assert f"<td>actor-{number}</td>" in element(page, "tr", f"step-{number}")
    for entry in [*told["events_before"]["events"], *told["events"]]:
        assert f"<td>{entry['actor']}</td>" in element(page, "tr", f"event-{entry['notification_id']}")


def test_a_store_written_before_actors_shows_them_not_recorded(tmp_path: Path) -> None:
    """store_v2.db's events carry no actor: null in the JSON, not recorded on the page and
    in the table, for a margin and a futures liquidation alike."""
    copy = tmp_path / STORE_V2.name
    shutil.copyfile(STORE_V2, copy)
    store = f"sqlite:///{copy}"
    listed = ledger("liquidations", "--store", store, "--json")
    assert listed.exit_code == 0, listed.stderr
    kinds: dict[str, str] = {}
    for liquidation in json.loads(listed.stdout)["liquidations"]:
        kinds.setdefault("futures" if liquidation["kind"] == "futures" else "margin", liquidation["id"])
    assert set(kinds) == {"margin", "futures"}
    for liquidation_id in kinds.values():
        as_json = ledger("postmortem", liquidation_id, "--store", store, "--json")
        assert as_json.exit_code == 0, as_json.stderr
        told = json.loads(as_json.stdout)
        entries = [*told["steps"], *told["events_before"]["events"], *told["events"], *told["trigger_inputs"]]
        assert {entry["actor"] for entry in entries} == {None}
        page = postmortem_html(told, PageFooter(store, datetime(2026, 1, 1, tzinfo=UTC), "me"))
        for index in range(len(told["steps"])):
            assert f"<td>{html.escape(NOT_RECORDED)}</td>" in element(page, "tr", f"step-{index}")
        table = ledger("postmortem", liquidation_id, "--store", store)
        assert table.exit_code == 0 and "(not" in table.stdout, table.stderr


@pytest.mark.parametrize("product", PRODUCTS)
def test_the_table_output_names_the_actors_and_the_events_before(made: dict[str, Made], product: str) -> None:
    one = made[product]
    result = CliRunner().invoke(
        app, ["postmortem", one.liquidation_id, "--store", one.store], env={**os.environ, "COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.stderr
    assert "The account's events before the trigger" in result.stdout and "The liquidation's events" in result.stdout
    for event in [*one.told["events_before"]["events"], *one.told["events"]]:
        assert re.search(
            rf"{event['notification_id']}\s.*{re.escape(event['event'])}.*{re.escape(first_word(event['actor']))}",
            result.stdout,
        )
    assert all(first_word(step["actor"]) in result.stdout for step in one.told["steps"])


def test_the_footer_never_shows_the_store_password(made: dict[str, Made]) -> None:
    told = made["margin"].told
    made_at = datetime(2026, 12, 1, 21, 5, 7, tzinfo=UTC)
    page = postmortem_html(told, PageFooter("postgresql://ops:s3cr%40t@db.internal:5432/ledger", made_at, "alice"))
    footer = element(page, "footer", "page-footer")
    assert "s3cr" not in page
    assert "store postgresql://ops:***@db.internal:5432/ledger" in footer
    assert "made 2026-12-01T21:05:07Z" in footer and "by alice" in footer


def test_the_page_is_made_by_the_os_user_unless_told(made: dict[str, Made], tmp_path: Path) -> None:
    assert f"by {MADE_BY}" in element(made["margin"].page, "footer", "page-footer")
    store = f"sqlite:///{tmp_path / 'f.db'}"
    (liquidation,) = run_json(write_scenario(tmp_path / "f.jsonl", CROSS), store)["liquidations"]
    before = datetime.now(UTC).replace(microsecond=0)
    result = ledger("postmortem", liquidation["id"], "--store", store, "--format", "html")
    assert result.exit_code == 0, result.stderr
    footer = element(result.stdout, "footer", "page-footer")
    assert f"by {html.escape(getpass.getuser())}" in footer
    made_at = re.search(r"made (\S+Z)", footer)
    assert made_at is not None
    assert before <= datetime.fromisoformat(made_at.group(1)) <= datetime.now(UTC)  # the wall clock, in UTC


@pytest.mark.parametrize("product", PRODUCTS)
def test_the_page_prints_on_a4_and_needs_no_network(made: dict[str, Made], product: str) -> None:
    page = made[product].page
    assert "@page { size: A4;" in page and "@media print" in page
    assert "<script src=" not in page and "<link " not in page  # plotly.js and the CSV are in the page


# --- helpers ----------------------------------------------------------------------------------


def actor_shown(actor: str | None) -> str:
    return NOT_RECORDED if actor is None else actor


def first_word(actor: str | None) -> str:
    """The start of an actor as a table cell shows it (rich wraps a narrow column)."""
    return actor_shown(actor).split()[0]


def phase_labels(told: dict[str, Any]) -> list[str]:
    """The liquidation's phases, in the order they first happen (the first step is the
    position before the input)."""
    labels: list[str] = []
    for step in told["steps"][1:]:
        if step["step"] not in labels:
            labels.append(step["step"])
    return labels


def chart_in(dom: str, div_id: str) -> str:
    """The DOM of one chart's div: from its opening to the next chart or section."""
    start = dom.index(f'id="{div_id}"')
    ends = [found for found in (dom.find('<div class="chart">', start), dom.find("<h2>", start)) if found > 0]
    return dom[start : min(ends)]


def element(document: str, tag: str, element_id: str) -> str:
    """The inner text of the one `tag` element with that id (elements of that tag do not nest)."""
    match = re.search(rf'<{tag}\b[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</{tag}>', document, re.DOTALL)
    assert match is not None, f"no <{tag} id={element_id!r}>"
    return match.group(1)


class _Headers(HTMLParser):
    """Each table's column headers, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "th":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "th" and self.cell is not None:
            self.tables[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_headers(page: str) -> list[list[str]]:
    parser = _Headers()
    parser.feed(page)
    return [columns for columns in parser.tables if columns]
