"""`GET /health`: whether the API can serve, for healthchecks (no key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from ledger.entrypoints.api.access import public
from ledger.entrypoints.api.store import StoreOf
from projections.store_status import store_status

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    **public(),
    responses={503: {"description": "The store cannot serve: `problems` says why"}},
)
def health(store: StoreOf, response: Response) -> dict[str, Any]:
    """200 when the store is reachable and its views are at the code's migration head;
    503 naming what is not. Says `store` (the URL, password hidden), `migration`, `head`."""
    found = store_status(store.url, store.engine)
    if not found.healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return found.as_json()
