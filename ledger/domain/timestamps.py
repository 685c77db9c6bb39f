"""Event timestamps that strictly increase within a process, so that the events of
one save are stored in the order they were triggered, whichever aggregate they
belong to (and no two events of a process share a timestamp)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_lock = threading.Lock()
_last = datetime.min.replace(tzinfo=UTC)


def next_timestamp() -> datetime:
    global _last
    with _lock:
        now = datetime.now(UTC)
        _last = now if now > _last else _last + timedelta(microseconds=1)
        return _last


class OrderedTimestamps:
    """Mixin for event classes: the library asks the event class for its timestamp."""

    @classmethod
    def create_timestamp(cls) -> datetime:
        return next_timestamp()
