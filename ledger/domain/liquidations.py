"""What every product's liquidations share: their status, from trigger to completion."""

from __future__ import annotations

from enum import StrEnum


class LiquidationStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
