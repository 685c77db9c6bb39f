"""A futures liquidation's postmortem page (`projections.presentation.html` makes the
page): the summary, the liquidated symbols' parameters, a chart of the liquidated
scope's margin ratio against the 100 % liquidation line and, apart, its symbols' marks,
each phase of the liquidation marked on both, and the wallet step by step. Floats appear
only here, for drawing."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ledger.domain.product import Product
from projections.presentation.futures.postmortem import (
    PARAMETER_COLUMNS,
    STEP_COLUMNS,
    parameter_rows,
    step_rows,
    summary_pairs,
)
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
)

RATIO_COLOUR = "#1f77b4"
LIQUIDATION_COLOUR = "#d62728"


@POSTMORTEM_PAGES.register(Product.FUTURES)
def postmortem_page(postmortem: dict[str, Any], phases: list[Phase]) -> ProductPage:
    chart = postmortem["chart"]
    level_chart, price_chart = chart_figure(chart), price_figure(chart)
    mark_phases(level_chart, price_chart, phases, postmortem["steps"], placed(chart))
    return ProductPage(
        summary=summary_pairs(postmortem),
        sections=[
            "<h2>Parameters in force</h2>",
            table(list(PARAMETER_COLUMNS), [list(row) for row in parameter_rows(postmortem["parameters"])]),
        ],
        charts_title=f"Margin ratio over time: {scope_text(chart['scope'])}",
        level_chart=level_chart,
        level_chart_id="futures-margin-ratio-chart",
        price_chart=price_chart,
        steps=StepsTable(list(STEP_COLUMNS), list(step_rows(postmortem)), numeric=frozenset({0, 3, 4, 5, 6})),
        # A long history keeps its most recent points: the descent into the liquidation.
        notes=[f"The {len(chart['points'])} most recent points are shown."] if chart["truncated"] else [],
    )


def scope_text(scope: dict[str, Any]) -> str:
    if scope["symbol"] is None:
        return "the cross positions"
    return f"the isolated position {scope['symbol']} {scope['slot']}"


def placed(chart: dict[str, Any]) -> Callable[[dict[str, Any]], tuple[Any, float] | None]:
    """Where a step's marker goes on the ratio chart: at its notification and ratio, or on
    the liquidation line when there is no ratio to draw (the scope closed, no balance)."""
    points = {point["notification_id"]: point for point in chart["points"]}
    line = float(Decimal(chart["threshold"]))

    def place(step: dict[str, Any]) -> tuple[Any, float] | None:
        point = points.get(step["notification_id"])
        if point is None:
            return None  # before the points kept
        ratio = drawn(point["margin_ratio"])
        return notification_label(point), line if ratio is None else ratio

    return place


def chart_figure(chart: dict[str, Any]) -> Any:
    """One point per notification, in the ledger's order: the events of one input (the
    trigger, the close, the fee...) share its ledger time, so a time axis would stack them."""
    points = chart["points"]
    labels = [notification_label(point) for point in points]
    figure = ordered_figure(
        "Margin ratio: maintenance margin / margin balance (no point while the balance is not above 0)",
        LEVEL_CHART_HEIGHT,
    )
    figure.add_scatter(
        x=labels,
        y=[drawn(point["margin_ratio"]) for point in points],
        name="margin ratio",
        mode="lines+markers",
        line={"color": RATIO_COLOUR, "width": 2, "shape": "hv"},
        text=[point_text(point) for point in points],
        hovertemplate="%{y:.2%}<br>%{text}<extra>margin ratio</extra>",
        connectgaps=False,
    )
    threshold = Decimal(chart["threshold"])
    figure.add_scatter(
        x=[labels[0], labels[-1]] if labels else [],
        y=[float(threshold)] * min(len(labels), 2),
        name=f"liquidation {threshold * 100:f} %",
        mode="lines",
        line={"color": LIQUIDATION_COLOUR, "dash": "dash"},
        hoverinfo="skip",
    )
    figure.update_yaxes(title_text="margin ratio", tickformat=".0%", rangemode="tozero")
    return figure


def price_figure(chart: dict[str, Any]) -> Any:
    """The price panel: each charted symbol's mark, apart from the ratio."""
    points = chart["points"]
    symbols = sorted({symbol for point in points for symbol in point["marks"]})
    series = {f"{symbol} mark": [drawn(point["marks"].get(symbol)) for point in points] for symbol in symbols}
    return price_panel(points, series, "Marks (phases dotted)", "mark")


def point_text(point: dict[str, Any]) -> str:
    marks = ", ".join(f"{symbol} {mark}" for symbol, mark in point["marks"].items()) or "-"
    return (
        f"{point['at']}<br>margin balance {point['margin_balance'] or '-'}, "
        f"maintenance margin {point['maintenance_margin'] or '-'}<br>marks {marks}"
    )


def drawn(figure: str | None) -> float | None:
    return None if figure is None else float(Decimal(figure))
