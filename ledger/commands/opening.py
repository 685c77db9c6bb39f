"""The `open` command, common to every product: an account's name is taken once,
whatever its mode; the account itself is opened by the product of its mode, which
registers its opener (`opens`), as its check of the input (`ledger.inputs.opening`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from ledger.commands.registry import command
from ledger.domain.errors import Rejected
from ledger.domain.identity import account_id
from ledger.domain.product import AccountMode, Product
from ledger.inputs.opening import OpenInput
from ledger.unit_of_work import UnitOfWork

# Opens an account of the product's modes (refusing with `Rejected`); it is then added and logged here.
Opener = Callable[[UnitOfWork, OpenInput, datetime, dict[str, Any]], Aggregate]
_OPENERS: dict[Product, Opener] = {}


def opens(product: Product) -> Callable[[Opener], Opener]:
    """Registers the decorated function as the opener of accounts of `product`'s modes."""

    def register(opener: Opener) -> Opener:
        assert product not in _OPENERS, f"{product} has an opener already"
        _OPENERS[product] = opener
        return opener

    return register


@command(OpenInput)
def open_account(uow: UnitOfWork, body: OpenInput, at: datetime, cause: dict[str, Any]) -> None:
    if uow.find(account_id(body.account)) is not None:
        raise Rejected(f"account {body.account} already exists")
    account = _OPENERS[AccountMode(body.mode).product](uow, body, at, cause)
    uow.add(account)
    uow.log(uow.app.accounts_log, account=body.account, account_id=account.id)
