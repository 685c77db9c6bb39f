"""`ledger postmortem --format html`: one self-contained page (`postmortem_html`), made of
the liquidated account's product's parts (`POSTMORTEM_PAGES`, chosen by the account's
mode: `projections.presentation.margin.html`, `projections.presentation.futures.html`)
and the pieces every page shares: the input that set the liquidation off; the charts,
a level (margin level, margin ratio) over time above a price panel of its own, each
phase of the liquidation marked on both and named in a phase legend; the steps, each
linking to its events, with a CSV download of the table's exact figures; the account's
events before the trigger and the liquidation's own, each row an anchor
(`event-<notification id>`); and a footer naming the store (never its password), when
the page was made and by whom.

The page fits a 1,280 px window and prints on A4: tables take their container's width
and break long values, headers repeat on each printed page. plotly.js is embedded and
the CSV is a `data:` URI: the page needs no network.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import plotly.graph_objects as go

from ledger.store import redacted
from projections.presentation.postmortem import (
    EVENT_COLUMNS,
    INPUT_COLUMNS,
    LIQUIDATION_EVENT_COLUMNS,
    actor_text,
    earlier_text,
    event_rows,
    input_rows,
    liquidation_event_rows,
)
from projections.products import ByProduct

# Phases are coloured in the order they first happen; none of these is a colour the charts'
# lines use (the level's blue, the call's orange, the liquidation's red).
PHASE_COLOURS = (
    "#1b9e77",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
    "#8c2d04",
    "#2b8cbe",
    "#000000",
    "#bc80bd",
    "#d95f02",
)
PRICE_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
PRICE_CHART_ID = "price-chart"
LEVEL_CHART_HEIGHT = 480
PRICE_PANEL_HEIGHT = 320
PHASE_LEGEND_ID = "phase-legend"
FOOTER_ID = "page-footer"
STEPS_TABLE_ID = "steps"
STEPS_CSV_ID = "steps-csv"
PLOTLY_CONFIG = {"responsive": True, "displaylogo": False}
# A column's weight in its table's width: its longest word (up to a long timestamp), or more
# for long texts that wrap.
MIN_COLUMN_WEIGHT = 3
MAX_WORD_WEIGHT = 16
MAX_TEXT_WEIGHT = 40
BOLD = 1.3  # a header's letters are wider
PADDING_WEIGHT = 2.2  # the padding on either side, in letters


@dataclass(frozen=True)
class PageFooter:
    """Where the page comes from: the store's URL (shown with its password redacted), the
    wall-clock time it was made (read by the entry point, UTC) and who made it."""

    store: str
    made_at: datetime
    made_by: str


@dataclass(frozen=True)
class Phase:
    """One phase of the liquidation (trigger, sale, hand-off, fee...): its steps, by index
    in the postmortem's steps, and its colour on the charts, the legend and the table."""

    label: str
    colour: str
    steps: tuple[int, ...]


@dataclass(frozen=True)
class StepsTable:
    """The product's table of steps, one row per step in the postmortem's order, each cell
    plain text (the page adds each step's links to its events)."""

    columns: Sequence[str]
    rows: list[Sequence[Any]]
    numeric: frozenset[int] = frozenset()


@dataclass(frozen=True)
class ProductPage:
    """What the product tells on the page: its summary, its sections between the input and
    the charts (parameters, margin calls), the charts' title, the level chart (its phases
    marked, its DOM id), the price panel (its phases marked) and the steps table."""

    summary: list[tuple[str, str]]
    sections: list[str]
    charts_title: str
    level_chart: Any  # a plotly figure
    level_chart_id: str
    price_chart: Any  # a plotly figure
    steps: StepsTable
    notes: list[str] = field(default_factory=list)  # said above the charts (a truncated series)


# (the postmortem as `projections.postmortem` builds it, its phases) -> the product's parts
PostmortemPage = Callable[[dict[str, Any], list[Phase]], ProductPage]
POSTMORTEM_PAGES: ByProduct[PostmortemPage] = ByProduct("postmortem page")


def postmortem_html(postmortem: dict[str, Any], footer: PageFooter) -> str:
    """One self-contained page: the title, the product's parts around the shared ones, the footer."""
    summary = postmortem["liquidation"]
    title = f"Liquidation {summary['id']} of {postmortem['account']['name']}"
    phases = phases_of(postmortem["steps"])
    page = POSTMORTEM_PAGES.for_mode(postmortem["account"]["mode"])(postmortem, phases)
    anchors = {event["notification_id"] for event in postmortem["events_before"]["events"]}
    anchors |= {event["notification_id"] for event in postmortem["events"]}
    body = [
        f"<h1>{text(title)}</h1>",
        definitions(page.summary),
        "<h2>The input that set it off</h2>",
        table(list(INPUT_COLUMNS), [list(row) for row in input_rows(postmortem)]),
        *page.sections,
        f"<h2>{text(page.charts_title)}</h2>",
        *(f"<p>{text(note)}</p>" for note in page.notes),
        _charts(page, phases),
        "<h2>Step by step</h2>",
        _steps_table(page.steps, postmortem["steps"], phases, anchors),
        _csv_link(page.steps, postmortem["steps"], summary["id"]),
        "<h2>The account's events before the trigger</h2>",
        _events_before(postmortem["events_before"]),
        "<h2>The liquidation's events</h2>",
        anchored_table(
            list(LIQUIDATION_EVENT_COLUMNS),
            [list(row) for row in liquidation_event_rows(postmortem["events"])],
            [f"event-{event['notification_id']}" for event in postmortem["events"]],
        ),
        _footer(footer),
    ]
    return PAGE.format(title=text(title), style=STYLE, script=SCRIPT, body="\n".join(body))


# --- phases -------------------------------------------------------------------------------


def phases_of(steps: list[dict[str, Any]]) -> list[Phase]:
    """The liquidation's phases in the order they first happen. The first step is the
    position the triggering input found: not a phase of the liquidation."""
    indexes: dict[str, list[int]] = {}
    for index, step in enumerate(steps[1:], start=1):
        indexes.setdefault(step["step"], []).append(index)
    return [
        Phase(label, PHASE_COLOURS[order % len(PHASE_COLOURS)], tuple(found))
        for order, (label, found) in enumerate(indexes.items())
    ]


def mark_phases(
    level_chart: Any,
    price_chart: Any,
    phases: list[Phase],
    steps: list[dict[str, Any]],
    place: Callable[[dict[str, Any]], tuple[Any, float] | None],
) -> None:
    """Each phase's steps on both charts: a marker on the level chart at (x, y) as `place`
    gives it (None: the step is not on the chart), a dotted line across the price panel."""
    for phase in phases:
        placed = [(steps[index], place(steps[index])) for index in phase.steps]
        points = [(step, found) for step, found in placed if found is not None]
        level_chart.add_scatter(
            x=[found[0] for _, found in points],
            y=[found[1] for _, found in points],
            name=phase.label,
            legendgroup="phases",
            legendgrouptitle_text="phases",
            mode="markers",
            marker={"color": phase.colour, "size": 12, "symbol": "diamond", "line": {"color": "#fff", "width": 1}},
            text=[f"{phase.label} #{step['notification_id']}" for step, _ in points],
            hovertemplate="%{text}<extra></extra>",
        )
        for _, (x, _y) in points:
            price_chart.add_shape(
                type="line",
                x0=x,
                x1=x,
                xref="x",
                y0=0,
                y1=1,
                yref="paper",
                line={"color": phase.colour, "dash": "dot", "width": 1.5},
                name=phase.label,
            )


def notification_label(point: dict[str, Any]) -> str:
    return f"#{point['notification_id']}"


def ordered_figure(title: str, height: int) -> Any:
    """A chart of one point per notification, in the ledger's order: the events of one input
    (the trigger, the sales, the fee...) share its ledger time, so a time axis would stack
    them, and their phase markers with them."""
    figure = go.Figure()
    figure.update_layout(title=title, hovermode="x unified", height=height, margin={"l": 60, "r": 30})
    figure.update_xaxes(type="category", title_text="notification (the ledger's order)")
    return figure


def price_panel(points: list[dict[str, Any]], series: dict[str, list[float | None]], title: str, axis: str) -> Any:
    """The price panel, apart from the level chart and at the same points: one line per
    price (an asset's, a symbol's mark), `series` by name."""
    figure = ordered_figure(title, PRICE_PANEL_HEIGHT)
    labels = [notification_label(point) for point in points]
    for index, (name, values) in enumerate(series.items()):
        figure.add_scatter(
            x=labels,
            y=values,
            name=name,
            mode="lines+markers",
            line={"shape": "hv", "width": 1.5, "color": PRICE_COLOURS[index % len(PRICE_COLOURS)]},
            marker={"size": 4},
        )
    # Prices differ by orders of magnitude (BTC and a small token): a log axis keeps each
    # one's moves visible.
    if len(series) > 1:
        figure.update_yaxes(title_text=f"{axis} (log)", type="log", dtick=1)
    else:
        figure.update_yaxes(title_text=axis)
    return figure


def _charts(page: ProductPage, phases: list[Phase]) -> str:
    level = page.level_chart.to_html(
        full_html=False, include_plotlyjs=True, div_id=page.level_chart_id, config=PLOTLY_CONFIG
    )
    # plotly.js is in the page once, with the first chart
    prices = page.price_chart.to_html(
        full_html=False, include_plotlyjs=False, div_id=PRICE_CHART_ID, config=PLOTLY_CONFIG
    )
    return "\n".join([f'<div class="chart">{level}</div>', _phase_legend(phases), f'<div class="chart">{prices}</div>'])


def _phase_legend(phases: list[Phase]) -> str:
    items = "".join(
        f'<li data-phase="{text(phase.label)}">{_swatch(phase)}'
        f'<a href="#step-{phase.steps[0]}">{text(phase.label)}</a></li>'
        for phase in phases
    )
    return f'<ul class="phase-legend" id="{PHASE_LEGEND_ID}" aria-label="phases">{items}</ul>'


def _swatch(phase: Phase) -> str:
    return f'<span class="swatch" style="background:{phase.colour}"></span>'


# --- the steps ------------------------------------------------------------------------------


def _steps_table(steps_table: StepsTable, steps: list[dict[str, Any]], phases: list[Phase], anchors: set[int]) -> str:
    """The product's table with each step's events linked; each row an anchor, `step-<index>`."""
    phase_of = {index: phase for phase in phases for index in phase.steps}
    head = "".join(f"<th>{text(column)}</th>" for column in [*steps_table.columns, "events"])
    rows = []
    for index, (row, step) in enumerate(zip(steps_table.rows, steps, strict=True)):
        cells = [_cell(cell, position in steps_table.numeric) for position, cell in enumerate(row)]
        if index in phase_of:
            cells[0] = cells[0].replace(">", ">" + _swatch(phase_of[index]), 1)
        cells.append(f"<td>{_event_links(step.get('notification_ids', []), anchors)}</td>")
        rows.append(f'<tr id="step-{index}">{"".join(cells)}</tr>')
    widths = _colgroup([*steps_table.columns, "events"], [[*row, "#0000 #0000"] for row in steps_table.rows])
    return f'<table id="{STEPS_TABLE_ID}">{widths}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _event_links(notification_ids: list[int], anchors: set[int]) -> str:
    return " ".join(
        f'<a href="#event-{found}">#{found}</a>' if found in anchors else f"#{found}" for found in notification_ids
    )


def _csv_link(steps_table: StepsTable, steps: list[dict[str, Any]], liquidation_id: str) -> str:
    """The steps table as a CSV file, in the page itself (a `data:` URI): its cells as shown."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*steps_table.columns, "events"])
    for row, step in zip(steps_table.rows, steps, strict=True):
        events = " ".join(f"#{found}" for found in step.get("notification_ids", []))
        writer.writerow([*("-" if cell is None else str(cell) for cell in row), events])
    href = "data:text/csv;charset=utf-8," + quote(buffer.getvalue())
    return (
        f'<p><a class="download" id="{STEPS_CSV_ID}" href="{html.escape(href)}" '
        f'download="liquidation-{text(liquidation_id)}-steps.csv">Download this table (CSV)</a></p>'
    )


# --- the events -----------------------------------------------------------------------------


def _events_before(before: dict[str, Any]) -> str:
    events = before["events"]
    note = earlier_text(before)
    return (f"<p>{text(note)}</p>" if note else "") + (
        anchored_table(
            list(EVENT_COLUMNS),
            [list(row) for row in event_rows(events)],
            [f"event-{event['notification_id']}" for event in events],
        )
        if events
        else ""
    )


# --- the footer -----------------------------------------------------------------------------


def _footer(footer: PageFooter) -> str:
    made_at = footer.made_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return (
        f'<footer id="{FOOTER_ID}">'
        f'<span class="store">store {text(redacted(footer.store))}</span> · '
        f'<span class="made-at">made {text(made_at)}</span> · '
        f'<span class="made-by">by {text(actor_text(footer.made_by))}</span>'
        "</footer>"
    )


# --- shared pieces --------------------------------------------------------------------------


def text(value: Any) -> str:
    return html.escape("-" if value is None else str(value))


def definitions(pairs: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{text(name)}</dt><dd>{text(value)}</dd>" for name, value in pairs) + "</dl>"


def table(columns: list[str], rows: list[list[Any]], numeric: frozenset[int] = frozenset()) -> str:
    return anchored_table(columns, rows, [None] * len(rows), numeric)


def anchored_table(
    columns: list[str], rows: list[list[Any]], ids: list[str | None], numeric: frozenset[int] = frozenset()
) -> str:
    """A table whose rows may carry an id (an anchor a link points at)."""
    head = "".join(f"<th>{text(column)}</th>" for column in columns)
    body = "".join(
        ("<tr>" if row_id is None else f'<tr id="{text(row_id)}">')
        + "".join(_cell(cell, index in numeric) for index, cell in enumerate(row))
        + "</tr>"
        for row, row_id in zip(rows, ids, strict=True)
    )
    return f"<table>{_colgroup(columns, rows)}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _colgroup(columns: Sequence[str], rows: list[Sequence[Any]]) -> str:
    """Each column's share of the table's width (the layout is fixed: a table is never wider
    than its container), from what it holds: room for its header's words (bold) and its
    longest word, more for a column of long texts, which wrap; and for its padding."""
    weights = []
    for index, column in enumerate(columns):
        cells = ["-" if row[index] is None else str(row[index]) for row in rows]
        words = [len(word) for cell in cells for word in cell.split()]
        mean_length = sum(len(cell) for cell in cells) / len(cells) if cells else 0
        weight = max(
            MIN_COLUMN_WEIGHT,
            BOLD * max(len(word) for word in column.split()),
            min(max(words, default=0), MAX_WORD_WEIGHT),
            min(mean_length / 2.5, MAX_TEXT_WEIGHT),
        )
        weights.append(weight + PADDING_WEIGHT)
    total = sum(weights)
    shares = "".join(f'<col style="width:{100 * weight / total:.2f}%">' for weight in weights)
    return f"<colgroup>{shares}</colgroup>"


def _cell(value: Any, numeric: bool) -> str:
    return f'<td class="number">{text(value)}</td>' if numeric else f"<td>{text(value)}</td>"


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{style}
</style>
</head>
<body>
<main>
{body}
</main>
<script>
{script}
</script>
</body>
</html>
"""

# Tables take their container's width and break long values anywhere (a header between
# its words only), so that no table is wider than the page: on a 1,280 px screen, and on
# A4, where the print is smaller and the headers repeat on each page.
STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0; color: #222; font-variant-ligatures: none; }
main { max-width: 1280px; margin: 0 auto; padding: 1.5em 2em; }
table { width: 100%; max-width: 100%; table-layout: fixed; border-collapse: collapse;
  margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top;
  white-space: pre-line; overflow-wrap: anywhere; word-break: break-word; }
th { background: #f3f3f3; overflow-wrap: normal; word-break: normal; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
tr:target { background: #fff6bf; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.2em 1em; }
dt { font-weight: bold; }
dd { margin: 0; overflow-wrap: anywhere; }
.chart { width: 100%; overflow: hidden; }
.phase-legend { display: flex; flex-wrap: wrap; gap: 0.3em 1.2em; list-style: none; padding: 0; margin: 0.5em 0; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.4em; border-radius: 2px;
  vertical-align: baseline; }
footer { margin-top: 2em; padding-top: 0.5em; border-top: 1px solid #ccc; font-size: 0.85em; color: #555;
  overflow-wrap: anywhere; }
@media screen and (max-width: 1100px) { table { font-size: 0.72em; } }
@page { size: A4; margin: 12mm; }
@media print {
  body { font-size: 8pt; }
  main { max-width: none; padding: 0; }
  table { font-size: 6.5pt; }
  th, td { padding: 0.15em 0.25em; }
  thead { display: table-header-group; }
  tr, .chart, .phase-legend { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  .download { display: none; }
}
"""

# The charts follow the page's width when it prints (plotly sizes them for the screen).
SCRIPT = """
(function () {
  function fit() {
    if (!window.Plotly) { return; }
    document.querySelectorAll('.js-plotly-plot').forEach(function (plot) { window.Plotly.Plots.resize(plot); });
  }
  window.addEventListener('beforeprint', fit);
  window.addEventListener('afterprint', fit);
}());
"""
