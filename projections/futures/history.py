"""A futures wallet's state at a point of its history: the report's section of it as it
stood then (balances, ratio, every position's figures) at the marks and parameters in
force then, from the aggregate at that version."""

from __future__ import annotations

import uuid
from typing import Any

from ledger.application import Ledger
from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.wallet import WalletFigures
from ledger.domain.product import Product
from projections.futures.report import mark_of, wallet_section
from projections.futures.views import wallet_row
from projections.history import ACCOUNT_STATES
from projections.queries import ViewReader
from projections.values import amounts_text


@ACCOUNT_STATES.register(Product.FUTURES)
def wallet_state(app: Ledger, reader: ViewReader, account_id: uuid.UUID, version: int, through: int) -> dict[str, Any]:
    account: FuturesAccount = app.repository.get(account_id, version=version)
    prices = reader.prices(through)
    held = account.held_positions(prices.parameters)
    marks = {position.symbol: mark_of(prices, position.symbol) for position in held}
    return {
        "version": version,
        **wallet_section(wallet_row(account), WalletFigures(account.cross_wallet, held, marks)),
        "prices": amounts_text(marks),
        "parameters_version": prices.parameters.version,
    }
