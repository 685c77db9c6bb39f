"""The spot-margin product's steps. The values are stored (tracking records
`ledger.{step}.{subject}`) and name the Celery tasks (`ledger.{step}`): they never change."""

from __future__ import annotations

from enum import StrEnum


class MarginStep(StrEnum):
    EVALUATE_MARGIN = "evaluate_margin"
    AUTO_TOP_UP = "auto_top_up"  # the margin evaluation of an account with auto top-up enabled
    REGULAR_PART = "regular_part"
    HAND_OFF = "hand_off"
    TAKEOVER_SALES = "takeover_sales"
    FEE = "fee"
    RETURN = "return"
    UNLOCK = "unlock"
    ACCRUE_INTEREST = "accrue_interest"
    ACCRUE_DESK_INTEREST = "accrue_desk_interest"
