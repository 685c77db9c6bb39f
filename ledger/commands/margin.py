"""The spot-margin product's commands: opening an account (its opener, for the shared
`open` command), moving money, debt, trades and auto top-up, each applied on the
accounts of the unit of work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.commands.opening import opens
from ledger.commands.registry import command
from ledger.domain.errors import Rejected
from ledger.domain.margin.account import Account
from ledger.domain.parameters import DEFAULT_LEVERAGE
from ledger.domain.product import AccountMode, Product
from ledger.inputs.margin import (
    AutoTopUpInput,
    BorrowInput,
    DepositInput,
    FillInput,
    RepayInput,
    TransferInput,
    WithdrawInput,
)
from ledger.inputs.opening import OpenInput
from ledger.unit_of_work import UnitOfWork


@opens(Product.MARGIN)
def open_margin_account(uow: UnitOfWork, body: OpenInput, at: datetime, cause: dict[str, Any]) -> Account:
    """A spot wallet, or a margin account at its leverage (the mode's default when omitted)."""
    leverage = None
    if body.mode != AccountMode.SPOT:
        leverage = body.leverage or DEFAULT_LEVERAGE[body.mode]
        if not uow.parameters().has_tier(body.mode, leverage):
            raise Rejected(
                f"no margin tier for {body.mode} at {leverage}x in parameters version {uow.parameters().version}"
            )
    pair = body.pair.split("/") if body.pair else None
    return Account(account=body.account, mode=body.mode, leverage=leverage, pair=pair, at=at, cause=cause)


@command(DepositInput)
def deposit(uow: UnitOfWork, body: DepositInput, at: datetime, cause: dict[str, Any]) -> None:
    uow.account(body.account).deposit(body.asset, body.amount, at, cause)


@command(WithdrawInput)
def withdraw(uow: UnitOfWork, body: WithdrawInput, at: datetime, cause: dict[str, Any]) -> None:
    uow.account(body.account).withdraw(body.asset, body.amount, uow.prices(), at, cause)


@command(TransferInput)
def transfer(uow: UnitOfWork, body: TransferInput, at: datetime, cause: dict[str, Any]) -> None:
    source = uow.account(body.from_account)
    destination = uow.account(body.to_account)
    destination.check_transfer_in(body.asset)
    source.transfer_out(body.asset, body.amount, destination.name, uow.prices(), at, cause)
    destination.transfer_in(body.asset, body.amount, source.name, at, cause)


@command(BorrowInput)
def borrow(uow: UnitOfWork, body: BorrowInput, at: datetime, cause: dict[str, Any]) -> None:
    uow.account(body.account).borrow(body.asset, body.amount, uow.prices(), uow.parameters(), at, cause)


@command(RepayInput)
def repay(uow: UnitOfWork, body: RepayInput, at: datetime, cause: dict[str, Any]) -> None:
    uow.account(body.account).repay(body.asset, body.amount, at, cause)


@command(FillInput)
def fill(uow: UnitOfWork, body: FillInput, at: datetime, cause: dict[str, Any]) -> None:
    account = uow.account(body.account)
    account.fill(body.side, body.base, body.quote, body.quantity, body.price, uow.parameters(), at, cause)


@command(AutoTopUpInput)
def enable_auto_topup(uow: UnitOfWork, body: AutoTopUpInput, at: datetime, cause: dict[str, Any]) -> None:
    source = uow.account(body.source)
    if source.mode != AccountMode.SPOT:
        raise Rejected(f"auto top-up draws from a spot account; {source.name} is {source.mode}")
    uow.account(body.account).enable_auto_topup(source.name, body.assets, body.target, at, cause)
