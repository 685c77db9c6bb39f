"""A futures liquidation's postmortem page: the summary, the input that set it off, the
liquidated symbols' parameters, a chart of the liquidated scope's margin ratio against
the 100 % liquidation line (its symbols' marks on a second axis), and the wallet step by
step. plotly.js is embedded: the page needs no network. Floats appear only here, for
drawing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from plotly.subplots import make_subplots

from ledger.domain.product import Product
from projections.presentation.futures.postmortem import (
    PARAMETER_COLUMNS,
    STEP_COLUMNS,
    parameter_rows,
    step_rows,
    summary_pairs,
)
from projections.presentation.html import POSTMORTEM_SECTIONS, definitions, inputs_table, table, text

RATIO_COLOUR = "#1f77b4"
LIQUIDATION_COLOUR = "#d62728"


@POSTMORTEM_SECTIONS.register(Product.FUTURES)
def postmortem_sections(postmortem: dict[str, Any]) -> list[str]:
    chart = postmortem["chart"]
    return [
        definitions(summary_pairs(postmortem)),
        "<h2>The input that set it off</h2>",
        inputs_table(postmortem),
        "<h2>Parameters in force</h2>",
        table(list(PARAMETER_COLUMNS), [list(row) for row in parameter_rows(postmortem["parameters"])]),
        f"<h2>Margin ratio over time: {text(scope_text(chart['scope']))}</h2>",
        chart_html(chart),
        "<h2>Step by step</h2>",
        table(list(STEP_COLUMNS), [list(row) for row in step_rows(postmortem)], numeric=frozenset({0, 3, 4, 5, 6})),
    ]


def scope_text(scope: dict[str, Any]) -> str:
    if scope["symbol"] is None:
        return "the cross positions"
    return f"the isolated position {scope['symbol']} {scope['slot']}"


def chart_html(chart: dict[str, Any]) -> str:
    # A long history keeps its most recent points: the descent into the liquidation.
    note = f"<p>The {len(chart['points'])} most recent points are shown.</p>" if chart["truncated"] else ""
    return note + chart_figure(chart).to_html(
        full_html=False,
        include_plotlyjs=True,
        div_id="futures-margin-ratio-chart",
        config={"responsive": True, "displaylogo": False},
    )


def chart_figure(chart: dict[str, Any]) -> Any:
    """One point per notification, in the ledger's order: the events of one input (the
    trigger, the close, the fee...) share its ledger time, so a time axis would stack them."""
    points = chart["points"]
    labels = [f"#{point['notification_id']}" for point in points]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_scatter(
        x=labels,
        y=[drawn(point["margin_ratio"]) for point in points],
        name="margin ratio",
        mode="lines+markers",
        line={"color": RATIO_COLOUR, "width": 2, "shape": "hv"},
        text=[point_text(point) for point in points],
        hovertemplate="%{y:.2%}<br>%{text}<extra>margin ratio</extra>",
        connectgaps=False,
        secondary_y=False,
    )
    threshold = Decimal(chart["threshold"])
    figure.add_scatter(
        x=[labels[0], labels[-1]] if labels else [],
        y=[float(threshold)] * min(len(labels), 2),
        name=f"liquidation {threshold * 100:f} %",
        mode="lines",
        line={"color": LIQUIDATION_COLOUR, "dash": "dash"},
        hoverinfo="skip",
        secondary_y=False,
    )
    symbols = sorted({symbol for point in points for symbol in point["marks"]})
    for symbol in symbols:
        figure.add_scatter(
            x=labels,
            y=[drawn(point["marks"].get(symbol)) for point in points],
            name=f"{symbol} mark",
            mode="lines",
            line={"shape": "hv", "width": 1},
            opacity=0.7,
            secondary_y=True,
        )
    figure.update_layout(
        title="Margin ratio: maintenance margin / margin balance (no point while the balance is not above 0)",
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.2},
        height=520,
    )
    figure.update_xaxes(type="category", title_text="notification (the ledger's order)")
    figure.update_yaxes(title_text="margin ratio", tickformat=".0%", rangemode="tozero", secondary_y=False)
    # Marks of several symbols differ by orders of magnitude (BTC and a small coin): a log
    # axis keeps each one's moves visible.
    if len(symbols) > 1:
        figure.update_yaxes(title_text="mark (log)", type="log", secondary_y=True)
    else:
        figure.update_yaxes(title_text="mark", secondary_y=True)
    return figure


def point_text(point: dict[str, Any]) -> str:
    marks = ", ".join(f"{symbol} {mark}" for symbol, mark in point["marks"].items()) or "-"
    return (
        f"{point['at']}<br>margin balance {point['margin_balance'] or '-'}, "
        f"maintenance margin {point['maintenance_margin'] or '-'}<br>marks {marks}"
    )


def drawn(figure: str | None) -> float | None:
    return None if figure is None else float(Decimal(figure))
