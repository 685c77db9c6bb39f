"""`ledger reconcile`'s check of spot-margin accounts against the books: each
account's balance and debt (principal plus interest), as its row in
view_account_assets states them, equal its totals in the double-entry books."""

from __future__ import annotations

from ledger.domain.entries import BALANCE, DEBT, SYSTEM_ACCOUNTS
from ledger.domain.money import ZERO, normalized
from ledger.domain.product import Product
from projections import tables
from projections.reconcile import BOOK_CHECKS, Books, Difference
from projections.views import Key, Row


@BOOK_CHECKS.register(Product.MARGIN)
def accounts_match_books(found: dict[str, dict[Key, Row]], books: Books, others: set[str]) -> list[Difference]:
    """Every user account but `others` (other products'): an account with a row, a row
    in view_account_assets or an entry in the books."""
    assets = {
        (row["account"], row["asset"]): row
        for row in found[tables.account_assets.name].values()
        if row["account"] not in others
    }
    users = (
        {row["account"] for row in found[tables.accounts.name].values()}
        | {account for account, _ in assets}
        | {holder for holder, _, _ in books if holder not in SYSTEM_ACCOUNTS}
    ) - others
    pairs = set(assets) | {(holder, asset) for holder, asset, _ in books if holder in users}
    differences: list[Difference] = []
    for account, asset in sorted(pairs):
        row = assets.get((account, asset), {})
        held = row.get("balance") or ZERO
        owed = (row.get("principal") or ZERO) + (row.get("interest") or ZERO)
        where = {
            "check": "accounts_match_books",
            "table": tables.account_assets.name,
            "key": {"account": account, "asset": asset},
        }
        for column, stated, book in (("balance", held, BALANCE), ("principal+interest", owed, DEBT)):
            total = books.get((account, asset, book), ZERO)
            if stated != total:
                differences.append(
                    {**where, "column": column, "expected": normalized(total), "found": normalized(stated)}
                )
    return differences
