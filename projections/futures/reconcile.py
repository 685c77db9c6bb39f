"""`ledger reconcile`'s check of futures wallets against the books: what a wallet's rows
say it holds of its asset (the cross wallet, its positions' isolated margins and the
margin a liquidation is settling) equals its balance book in that asset; it has no other
asset and no debt in the books."""

from __future__ import annotations

from decimal import Decimal

from ledger.domain.entries import BALANCE
from ledger.domain.futures.exact import decimal_sum
from ledger.domain.money import ZERO, normalized
from ledger.domain.product import AccountMode, Product
from projections import tables
from projections.reconcile import BOOK_CHECKS, Books, Difference
from projections.views import Key, Row


@BOOK_CHECKS.register(Product.FUTURES)
def wallets_match_books(found: dict[str, dict[Key, Row]], books: Books, others: set[str]) -> list[Difference]:
    """Every futures account (a row in view_accounts of a futures mode, or in
    view_futures_wallets) but `others` (other products')."""
    wallets = {row["account"]: row for row in found[tables.futures_wallets.name].values()}
    accounts = {row["account"] for row in found[tables.accounts.name].values() if is_futures_mode(row["mode"])} | set(
        wallets
    )
    isolated: dict[str, list[Row]] = {}
    for position in found[tables.futures_positions.name].values():
        isolated.setdefault(position["account"], []).append(position)
    differences: list[Difference] = []
    for account in sorted(accounts - others):
        wallet = wallets.get(account)
        if wallet is None:
            differences.append(
                {
                    "check": "accounts_match_books",
                    "table": tables.futures_wallets.name,
                    "key": {"account": account},
                    "column": None,
                    "expected": "a row for the futures account",
                    "found": "no row",
                }
            )
            continue
        stated = decimal_sum(
            wallet["cross_wallet_balance"],
            wallet["settling"],
            *(position["isolated_margin"] for position in isolated.get(account, [])),
        )
        differences += book_differences(account, wallet["asset"], stated, books)
    return differences


def book_differences(account: str, asset: str, stated: Decimal, books: Books) -> list[Difference]:
    where = {"check": "accounts_match_books", "table": tables.futures_wallets.name}
    differences: list[Difference] = []
    for (holder, book_asset, book), total in sorted(books.items()):
        if holder != account:
            continue
        # the rows state the wallet asset's balance; of any other asset or book, nothing
        stated_here = stated if (book_asset, book) == (asset, BALANCE) else ZERO
        if total != stated_here:
            differences.append(
                {
                    **where,
                    "key": {"account": account, "asset": book_asset},
                    "column": "wallet balance" if book == BALANCE else "debt",
                    "expected": normalized(total),
                    "found": normalized(stated_here),
                }
            )
    if (account, asset, BALANCE) not in books and stated != 0:
        differences.append(
            {
                **where,
                "key": {"account": account, "asset": asset},
                "column": "wallet balance",
                "expected": "0",
                "found": normalized(stated),
            }
        )
    return differences


def is_futures_mode(mode: object) -> bool:
    try:
        return AccountMode(mode).product is Product.FUTURES
    except ValueError:
        return False
