"""`/metrics`: the ledger's figures (`projections.metrics.LedgerMetrics`) as Prometheus
metric families, through a custom collector that reads them afresh at each scrape.

    registry.register(LedgerCollector(lambda: read_metrics(app, engine)))

Where a figure does not apply, its family has no sample: the dispatcher's backlog and the
age of the oldest unfinished reaction on a store no dispatcher ever ran on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from projections.metrics import LedgerMetrics

INPUTS_APPLIED = "ledger_inputs_applied_total"
REJECTIONS = "ledger_rejections_total"
LIQUIDATIONS = "ledger_liquidations"
PROJECTION_LAG = "ledger_projection_lag_events"
DISPATCHER_BACKLOG = "ledger_dispatcher_backlog_events"
OLDEST_UNFINISHED_REACTION_AGE = "ledger_oldest_unfinished_reaction_age_seconds"


class LedgerCollector:
    """A prometheus_client collector of the ledger's figures, read by `read` at each scrape."""

    def __init__(self, read: Callable[[], LedgerMetrics]):
        self.read = read

    def collect(self) -> Iterator[Metric]:
        yield from metric_families(self.read())

    def describe(self) -> Iterator[Metric]:
        """The families without samples: registering the collector reads nothing."""
        yield from metric_families(None)


def metric_families(metrics: LedgerMetrics | None) -> Iterator[Metric]:
    """The families of `/metrics`, with the figures' samples (none for `None`)."""
    inputs = CounterMetricFamily(INPUTS_APPLIED, "Inputs recorded by the ledger (applied or rejected by a rule).")
    rejections = CounterMetricFamily(REJECTIONS, "Inputs a business rule refused.")
    liquidations = GaugeMetricFamily(
        LIQUIDATIONS,
        "Liquidations now in each status, by kind (a completed one leaves in_progress).",
        labels=("kind", "status"),
    )
    lag = GaugeMetricFamily(PROJECTION_LAG, "Events in the store the views have not projected yet.")
    backlog = GaugeMetricFamily(
        DISPATCHER_BACKLOG,
        "Events whose reactions the dispatcher has not seen finish (absent: no dispatcher ever ran).",
    )
    age = GaugeMetricFamily(
        OLDEST_UNFINISHED_REACTION_AGE,
        "Seconds since the oldest event whose reactions have not all finished was made "
        "(0: none; absent: no dispatcher ever ran).",
    )
    if metrics is not None:
        inputs.add_metric([], metrics.inputs_applied)
        rejections.add_metric([], metrics.rejections)
        for counted in metrics.liquidations:
            liquidations.add_metric([counted.kind, counted.status], counted.count)
        lag.add_metric([], metrics.projection_lag_events)
        if metrics.dispatcher_backlog_events is not None:
            backlog.add_metric([], metrics.dispatcher_backlog_events)
            age.add_metric([], metrics.oldest_unfinished_reaction_age_seconds or 0.0)
    yield from (inputs, rejections, liquidations, lag, backlog, age)
