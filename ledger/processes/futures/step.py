"""The futures product's steps. The values are stored (tracking records
`ledger.{step}.{subject}`) and name the Celery tasks (`ledger.{step}`): they never change."""

from __future__ import annotations

from enum import StrEnum


class FuturesStep(StrEnum):
    EVALUATE_FUTURES = "evaluate_futures"  # a wallet against its maintenance margins
    SETTLE_FUNDING = "settle_funding"  # one wallet's positions at one funding of a symbol
    LIQUIDATE_FUTURES = "liquidate_futures"  # close, clearance fee, shortfall, unlock
