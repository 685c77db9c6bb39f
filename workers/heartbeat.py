"""Liveness for the compose file's healthchecks.

A long-running loop (dispatcher, projector, beat) touches the file named by
$LEDGER_HEARTBEAT_FILE at most once a second; `python -m workers.heartbeat FILE
SECONDS` exits 0 while the file was touched within SECONDS, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler

HEARTBEAT_VARIABLE = "LEDGER_HEARTBEAT_FILE"


class Heartbeat:
    def __init__(self, path: str | None = None, every_seconds: float = 1.0):
        self.path = (
            Path(path)
            if path
            else (Path(os.environ[HEARTBEAT_VARIABLE]) if os.environ.get(HEARTBEAT_VARIABLE) else None)
        )
        self.every_seconds = every_seconds
        self.last = 0.0

    def beat(self) -> None:
        now = time.monotonic()
        if self.path is not None and now - self.last >= self.every_seconds:
            self.path.touch()
            self.last = now


class HeartbeatScheduler(PersistentScheduler):
    """Celery beat's scheduler, beating at every tick."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.heartbeat = Heartbeat()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        self.heartbeat.beat()
        return min(super().tick(*args, **kwargs), 5.0)  # wake often enough to beat


def alive(path: str, within_seconds: float) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime <= within_seconds
    except FileNotFoundError:
        return False


if __name__ == "__main__":
    sys.exit(0 if alive(sys.argv[1], float(sys.argv[2])) else 1)
