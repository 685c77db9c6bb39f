"""A spot-margin liquidation's postmortem page (`projections.presentation.html` makes the
page): the summary, the parameters, the margin calls, the steps, a chart of the margin
level against the call and liquidation lines and, apart, the prices of the assets, each
phase of the liquidation marked on both. Floats appear only here, for drawing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from ledger.domain.product import Product
from projections.presentation.html import (
    LEVEL_CHART_HEIGHT,
    POSTMORTEM_PAGES,
    Phase,
    ProductPage,
    StepsTable,
    mark_phases,
    notification_label,
    ordered_figure,
    price_panel,
    table,
    text,
)
from projections.presentation.margin.postmortem import NO_MARGIN_CALLS, step_details, summary_pairs
from projections.presentation.postmortem import actor_text
from projections.presentation.tables import book_text, prices_text


@POSTMORTEM_PAGES.register(Product.MARGIN)
def postmortem_page(postmortem: dict[str, Any], phases: list[Phase]) -> ProductPage:
    valuation = postmortem["parameters"]["valuation_asset"]
    chart = postmortem["chart"]
    level_chart, price_chart = _chart_figure(chart), price_figure(chart)
    mark_phases(level_chart, price_chart, phases, postmortem["steps"], _placed(chart))
    return ProductPage(
        summary=summary_pairs(postmortem),
        sections=[
            "<h2>Parameters in force</h2>",
            _parameters(postmortem["parameters"]),
            "<h2>Margin calls before the trigger</h2>",
            _margin_calls(postmortem["margin_calls"], valuation),
        ],
        charts_title="Margin level over time",
        level_chart=level_chart,
        level_chart_id="margin-chart",
        price_chart=price_chart,
        steps=_steps(postmortem["steps"], valuation),
        notes=[f"The {len(chart['points'])} most recent points are shown."] if chart["truncated"] else [],
    )


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


def _steps(steps: list[dict[str, Any]], valuation: str) -> StepsTable:
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
        "actor",
    ]
    rows: list[Sequence[Any]] = [
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
            actor_text(step.get("actor")),
        ]
        for step in steps
    ]
    return StepsTable(columns, rows, numeric=frozenset({6, 7, 8, 9}))


def _placed(chart: dict[str, Any]) -> Callable[[dict[str, Any]], tuple[Any, float] | None]:
    """Where a step's marker goes on the level chart: at its point's time and level, or on
    the liquidation line when there is no level to draw (no debt left)."""
    points = {point["notification_id"]: point for point in chart["points"]}
    line = float(Decimal(chart["liquidation_level"]))

    def place(step: dict[str, Any]) -> tuple[Any, float] | None:
        point = points.get(step["notification_id"])
        if point is None:
            return None  # before the points kept
        level = _drawn_level(point)
        return notification_label(point), line if level is None else level

    return place


def _chart_figure(chart: dict[str, Any]) -> Any:
    """The margin level against the call and liquidation lines."""
    points = chart["points"]
    labels = [notification_label(point) for point in points]
    figure = ordered_figure("Margin level (no debt: no point)", LEVEL_CHART_HEIGHT)
    figure.add_scatter(
        x=labels,
        y=[_drawn_level(point) for point in points],
        name="margin level",
        mode="lines+markers",
        line={"color": "#1f77b4", "width": 2, "shape": "hv"},
        text=[f"{point['at']} held by {point['held_by']}" for point in points],
        connectgaps=False,
    )
    for name, level, colour in (
        ("margin call", chart["margin_call_level"], "#ff7f0e"),
        ("liquidation", chart["liquidation_level"], "#d62728"),
    ):
        figure.add_scatter(
            x=[labels[0], labels[-1]] if labels else [],
            y=[float(Decimal(level))] * min(len(labels), 2),
            name=f"{name} {level}",
            mode="lines",
            line={"color": colour, "dash": "dash"},
        )
    figure.update_yaxes(title_text="margin level")
    return figure


def price_figure(chart: dict[str, Any]) -> Any:
    """The price panel: each asset's price, apart from the level."""
    points = chart["points"]
    series = {f"{asset} price": [_drawn_price(point, asset) for point in points] for asset in _charted_assets(points)}
    return price_panel(points, series, "Prices (phases dotted)", "price")


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
