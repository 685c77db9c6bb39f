"""A futures wallet's state at a point of its history: the report's section of it as it
stood then (balances, ratio, every position's figures) at the marks and parameters in
force then, from the aggregate at that version."""

from __future__ import annotations

import uuid
from typing import Any

from ledger.application import Ledger
from ledger.domain.futures.account import FuturesAccount
from ledger.domain.product import Product
from projections.futures.report import wallet_section
from projections.futures.views import wallet_row
from projections.history import ACCOUNT_STATES
from projections.queries import ViewReader
from projections.values import amounts_text


@ACCOUNT_STATES.register(Product.FUTURES)
def wallet_state(app: Ledger, reader: ViewReader, account_id: uuid.UUID, version: int, through: int) -> dict[str, Any]:
    account: FuturesAccount = app.repository.get(account_id, version=version)
    prices = reader.prices(through)
    figures = account.figures(prices)
    return {
        "version": version,
        **wallet_section(wallet_row(account), figures),
        "prices": amounts_text(dict(figures.marks)),
        "parameters_version": prices.parameters.version,
    }
