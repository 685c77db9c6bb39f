"""A spot-margin liquidation's postmortem page: the summary, the input, the
parameters, the margin calls, the steps, and a chart of the margin level against
the call and liquidation lines (plotly.js embedded: the page needs no network).
Floats appear only here, for drawing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from plotly.subplots import make_subplots

from ledger.domain.product import Product
from projections.presentation.html import POSTMORTEM_SECTIONS, definitions, inputs_table, table, text
from projections.presentation.margin.postmortem import NO_MARGIN_CALLS, step_details, summary_pairs
from projections.presentation.tables import book_text, prices_text


@POSTMORTEM_SECTIONS.register(Product.MARGIN)
def postmortem_sections(postmortem: dict[str, Any]) -> list[str]:
    valuation = postmortem["parameters"]["valuation_asset"]
    return [
        definitions(summary_pairs(postmortem)),
        "<h2>The input that set it off</h2>",
        inputs_table(postmortem),
        "<h2>Parameters in force</h2>",
        _parameters(postmortem["parameters"]),
        "<h2>Margin calls before the trigger</h2>",
        _margin_calls(postmortem["margin_calls"], valuation),
        "<h2>Margin level over time</h2>",
        _chart_html(postmortem["chart"]),
        "<h2>Step by step</h2>",
        _steps(postmortem["steps"], valuation),
    ]


def _parameters(parameters: dict[str, Any]) -> str:
    return table(
        ["version", "mode", "leverage", "margin call level", "liquidation level", "fee rate", "set at"],
        [
            [
                parameters["version"],
                parameters["mode"],
                parameters["leverage"],
                parameters["margin_call_level"],
                parameters["liquidation_level"],
                parameters["fee_rate"],
                parameters["set_at"],
            ]
        ],
    )


def _margin_calls(calls: list[dict[str, Any]], valuation: str) -> str:
    if not calls:
        return f"<p>{text(NO_MARGIN_CALLS)}</p>"
    return table(
        ["notification", "at", "margin level", "threshold", "prices"],
        [
            [
                call["notification_id"],
                call["at"],
                call["margin_level"],
                call["threshold"],
                prices_text(call["prices"], valuation),
            ]
            for call in calls
        ],
    )


def _steps(steps: list[dict[str, Any]], valuation: str) -> str:
    columns = [
        "step",
        "event",
        "notification",
        "at",
        "held by",
        "collateral",
        "collateral value",
        "debt",
        "margin level",
        "net equity",
        "prices",
        "what happened",
    ]
    rows = [
        [
            step["step"],
            ", ".join(step["events"]),
            step["notification_id"],
            step["at"],
            step["held_by"],
            book_text(step["collateral"]),
            step["collateral_value"],
            step["debt"],
            step["margin_level"],
            step["net_equity"],
            prices_text(step["prices"], valuation),
            step_details(step),
        ]
        for step in steps
    ]
    return table(columns, rows, numeric=frozenset({6, 7, 8, 9}))


def _chart_html(chart: dict[str, Any]) -> str:
    """The margin level against the call and liquidation lines, prices on a second axis."""
    figure = _chart_figure(chart)
    return figure.to_html(
        full_html=False, include_plotlyjs=True, div_id="margin-chart", config={"responsive": True, "displaylogo": False}
    )


def _chart_figure(chart: dict[str, Any]) -> Any:
    points = chart["points"]
    times = [point["at"] for point in points]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_scatter(
        x=times,
        y=[_drawn_level(point) for point in points],
        name="margin level",
        mode="lines+markers",
        line={"color": "#1f77b4", "width": 2, "shape": "hv"},
        text=[f"#{point['notification_id']} held by {point['held_by']}" for point in points],
        connectgaps=False,
        secondary_y=False,
    )
    for name, level, colour in (
        ("margin call", chart["margin_call_level"], "#ff7f0e"),
        ("liquidation", chart["liquidation_level"], "#d62728"),
    ):
        figure.add_scatter(
            x=[times[0], times[-1]] if times else [],
            y=[float(Decimal(level))] * min(len(times), 2),
            name=f"{name} {level}",
            mode="lines",
            line={"color": colour, "dash": "dash"},
            secondary_y=False,
        )
    charted = _charted_assets(points)
    for asset in charted:
        figure.add_scatter(
            x=times,
            y=[_drawn_price(point, asset) for point in points],
            name=f"{asset} price",
            mode="lines",
            line={"shape": "hv", "width": 1},
            opacity=0.7,
            secondary_y=True,
        )
    figure.update_layout(
        title="Margin level (no debt: no point)",
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.2},
        height=520,
    )
    figure.update_yaxes(title_text="margin level", secondary_y=False)
    # Prices of several assets differ by orders of magnitude (BTC and a small token): a log
    # axis keeps each one's moves visible.
    if len(charted) > 1:
        figure.update_yaxes(title_text="price (log)", type="log", dtick=1, secondary_y=True)
    else:
        figure.update_yaxes(title_text="price", secondary_y=True)
    return figure


def _drawn_level(point: dict[str, Any]) -> float | None:
    """A level to draw: none without debt (the 999 of the report would flatten the chart)."""
    if point["margin_level"] is None or point["debt"] in (None, "0"):
        return None
    return float(Decimal(point["margin_level"]))


def _drawn_price(point: dict[str, Any], asset: str) -> float | None:
    price = point["prices"].get(asset)
    return None if price is None else float(Decimal(price))


def _charted_assets(points: list[dict[str, Any]]) -> list[str]:
    """Assets whose price moved or is not 1: a stablecoin at 1 says nothing."""
    assets: dict[str, set[str]] = {}
    for point in points:
        for asset, price in point["prices"].items():
            assets.setdefault(asset, set()).add(price)
    return sorted(asset for asset, prices in assets.items() if prices != {"1"})
