"""`GET /metrics` (no key: for scrapers, as `/health` is for healthchecks): the ledger's
figures in Prometheus' text format, read at each scrape from positions and counters, never
from a scan of the store (`projections.metrics.read_metrics`), and the API's own latency.

The figures tell how busy the ledger is, not what any account holds: nothing in them is
an amount or a name, which is why they need no key.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

from ledger.entrypoints.api.access import public
from ledger.entrypoints.api.views import views_of
from projections.metrics import LedgerMetrics, read_metrics
from projections.presentation.metrics import LedgerCollector

router = APIRouter(tags=["metrics"])

API_LATENCY = "ledger_api_request_duration_seconds"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def watch(app: FastAPI) -> None:
    """The app's registry: the ledger's figures (read when scraped) and the latency of
    every request, by method, route (its template, not the path) and status code."""
    registry = CollectorRegistry()
    registry.register(LedgerCollector(lambda: _read(app)))
    latency = Histogram(
        API_LATENCY,
        "Seconds the API took to answer, from the request's arrival to its response's start.",
        labelnames=("method", "route", "status"),
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    app.state.metrics_registry = registry

    @app.middleware("http")
    async def time_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        latency.labels(request.method, template, str(response.status_code)).observe(time.perf_counter() - started)
        return response


def _read(app: FastAPI) -> LedgerMetrics:
    views = views_of(app)
    return read_metrics(views.app, views.engine)


@router.get("/metrics", response_class=Response, **public())
def metrics(request: Request) -> Response:
    """The ledger's figures and the API's latency, in Prometheus' text format."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
