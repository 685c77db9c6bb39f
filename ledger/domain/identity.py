"""The ids of aggregates that are found by name: one name space for the whole ledger."""

from __future__ import annotations

import functools
import uuid

NAMESPACE = uuid.UUID("6f1c2a8e-51f4-4d7e-9a43-2b9e6d0c7f10")


@functools.lru_cache(maxsize=100_000)
def account_id(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"account:{name}")
