"""The futures product's commands: opening a USDⓈ-M or COIN-M wallet (its opener, for the
shared `open` command), position mode, leverage, trades, isolated margin and funding.
Deposits, withdrawals and transfers are the shared wallet commands
(`ledger.commands.margin`), which a futures wallet answers as its own rules say."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.commands.market import checks_parameter_change
from ledger.commands.opening import opens
from ledger.commands.registry import command
from ledger.domain.errors import Rejected
from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.market import symbol_market_id
from ledger.domain.futures.trading import TradeSide
from ledger.domain.futures.wallet import MarginType, PositionMode
from ledger.domain.product import Product
from ledger.inputs.futures import (
    FundingInput,
    IsolatedMarginInput,
    LeverageInput,
    PositionModeInput,
    TradeInput,
    wallet_asset,
)
from ledger.inputs.opening import OpenInput
from ledger.unit_of_work import UnitOfWork


@opens(Product.FUTURES)
def open_futures_wallet(uow: UnitOfWork, body: OpenInput, at: datetime, cause: dict[str, Any]) -> FuturesAccount:
    return FuturesAccount(account=body.account, mode=body.mode, asset=wallet_asset(body), at=at, cause=cause)


def futures_account(uow: UnitOfWork, name: str) -> FuturesAccount:
    account = uow.account(name)
    if not isinstance(account, FuturesAccount):
        raise Rejected(f"account {name} is a {account.mode} account, not a futures wallet")
    return account


CONTRACT_TERMS = ("type", "base", "quote", "contract_size")


@checks_parameter_change
def contract_terms_stay_while_positions_are_open(uow: UnitOfWork, changes: dict[str, Any]) -> None:
    """A symbol's type, base, quote and contract size cannot change while positions in it
    are open (its brackets, fee and max leverage can)."""
    current = uow.parameters()
    changed = [
        symbol
        for symbol, spec in changes.get("symbols", {}).items()
        if current.knows_symbol(symbol)
        and any(spec.get(term) != current.symbol_spec(symbol).get(term) for term in CONTRACT_TERMS)
    ]
    if not changed:
        return
    for name in uow.app.account_names():
        account = uow.account(name)
        held = sorted(set(changed) & account.symbols_held()) if isinstance(account, FuturesAccount) else []
        if held:
            raise Rejected(
                f"{', '.join(held)}: a symbol's type, base, quote and contract size cannot change while "
                f"positions in it are open ({name} holds one)"
            )


@command(PositionModeInput)
def change_position_mode(uow: UnitOfWork, body: PositionModeInput, at: datetime, cause: dict[str, Any]) -> None:
    futures_account(uow, body.account).change_position_mode(PositionMode(body.mode), at, cause)


@command(LeverageInput)
def change_leverage(uow: UnitOfWork, body: LeverageInput, at: datetime, cause: dict[str, Any]) -> None:
    account = futures_account(uow, body.account)
    account.change_leverage(body.symbol, body.leverage, MarginType(body.margin_type), uow.prices(), at, cause)


@command(TradeInput)
def trade(uow: UnitOfWork, body: TradeInput, at: datetime, cause: dict[str, Any]) -> None:
    futures_account(uow, body.account).trade(
        body.symbol,
        TradeSide(body.side),
        body.quantity,
        body.price,
        body.position_side,
        body.reduce_only,
        body.fee,
        uow.prices(),
        at,
        cause,
    )


@command(IsolatedMarginInput)
def change_isolated_margin(uow: UnitOfWork, body: IsolatedMarginInput, at: datetime, cause: dict[str, Any]) -> None:
    account = futures_account(uow, body.account)
    account.change_isolated_margin(body.symbol, body.position_side, body.amount, uow.prices(), at, cause)


@command(FundingInput)
def announce_funding(uow: UnitOfWork, body: FundingInput, at: datetime, cause: dict[str, Any]) -> None:
    """Recorded on the symbol's stream; each holder's settlement is a process step
    (`ledger.processes.futures.funding`)."""
    market = uow.find(symbol_market_id(body.symbol))
    if market is None or market.mark is None:
        raise Rejected(f"{body.symbol} has no mark price yet: a funding needs one")
    market.announce_funding(body.rate, uow.parameters().version, at, cause)
