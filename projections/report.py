"""The report of `ledger run`, read from the views: warnings, every account, the
system accounts, liquidations, rejections, conservation; and `StoreViews`, a
store's views opened, migrated and brought up to date to read it.

Each account's section is its product's (`ACCOUNT_SECTIONS`, chosen by the
account's mode); the spot-margin one is `projections.margin.report`. A product may
add top-level lists (`REPORT_LISTS`: the futures `trades`).
Amounts are decimal strings; levels to 12 decimal places.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine

from ledger.application import Ledger
from ledger.bootstrap import open_reading_ledger
from ledger.domain.entries import BALANCE, INSURANCE_FUND, SYSTEM_ACCOUNTS, imbalances
from ledger.domain.money import normalized
from ledger.domain.prices import PriceBook
from ledger.store import sql_engine, store_environment, store_exists
from projections.database import migrate, one_process_at_a_time
from projections.products import ByProduct
from projections.queries import Row, ViewReader
from projections.runner import ProjectionRunner, ViewStore, configured_batch_size

# (the views, the account's row in view_accounts, the marks and parameters now) -> its section
AccountSection = Callable[[ViewReader, Row, PriceBook], dict[str, Any]]
ACCOUNT_SECTIONS: ByProduct[AccountSection] = ByProduct("report section")
# (the views) -> top-level lists a product adds beside `rejections`, by key (futures: `trades`)
ReportLists = Callable[[ViewReader], dict[str, list[dict[str, Any]]]]
REPORT_LISTS: ByProduct[ReportLists] = ByProduct("report lists")


class StoreViews:
    """A store's views, migrated, with a runner to bring them up to date.

    The runner reads through an application of its own, without the aggregate
    cache of `ledger run`: the states it loads are its to follow.
    """

    def __init__(self, store_url: str):
        environment = store_environment(store_url)  # creates a missing database or schema
        self.engine = sql_engine(store_url)
        with one_process_at_a_time(self.engine):
            # Creating the same tables in several processes at once fails now and then
            # (two `ledger project` starting together): the library's "tuple concurrently
            # updated", Alembic's version table. One creates them; the others find them.
            if environment["PERSISTENCE_MODULE"] == "eventsourcing.postgres" and store_exists(store_url):
                environment["CREATE_TABLE"] = "n"
            migrate(self.engine)
            self.app = open_reading_ledger(environment, store_url)
        self.runner = ProjectionRunner(self.app, ViewStore(self.engine), batch_size=configured_batch_size())

    def report(self) -> dict[str, Any]:
        self.runner.catch_up()
        return read_report(self.engine)

    def close(self) -> None:
        self.app.close()
        self.engine.dispose()

    def __enter__(self) -> StoreViews:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def build_report(app: Ledger) -> dict[str, Any]:
    """Brings the store's views up to date, then reads the report from them."""
    assert app.store_url is not None, "the report reads the views of a store opened by URL"
    with StoreViews(app.store_url) as views:
        return views.report()


def read_report(engine: Engine) -> dict[str, Any]:
    reader = ViewReader(engine)
    prices = reader.prices()
    books = reader.book_totals()
    return {
        "warnings": fund_warnings(books),
        "accounts": {
            row["account"]: ACCOUNT_SECTIONS.for_mode(row["mode"])(reader, row, prices) for row in reader.accounts()
        },
        "system": system_report(books),
        "liquidations": [row["summary"] for row in reader.liquidations()],
        **product_lists(reader),
        "rejections": [
            {
                "line": row["line"],
                "source": row["source"],
                "op": row["op"],
                "id": row["input_id"],
                "account": row["account"],
                "error": row["error"],
            }
            for row in reader.rejections()
        ],
        "conservation": conservation_breaks(books),
        "parameters_version": prices.parameters.version,
    }


def product_lists(reader: ViewReader) -> dict[str, list[dict[str, Any]]]:
    lists: dict[str, list[dict[str, Any]]] = {}
    for _product, product_lists_of in REPORT_LISTS.items():
        lists.update(product_lists_of(reader))
    return lists


def system_report(books: list[Row]) -> dict[str, Any]:
    """System accounts' balances (an asset once held shows as 0), the lending pool's
    claims and the takeover desk's debts."""
    system: dict[str, Any] = {name: {"balances": {}} for name in SYSTEM_ACCOUNTS}
    system["lending-pool"]["claims"] = {}
    system["takeover-desk"]["debts"] = {}
    for row in books:
        holder, asset, amount = row["holder"], row["asset"], row["amount"]
        if holder not in system:
            continue
        if row["book"] == BALANCE:
            system[holder]["balances"][asset] = normalized(amount)
        elif amount != 0:
            system[holder]["claims" if holder == "lending-pool" else "debts"][asset] = normalized(abs(amount))
    return system


def conservation_breaks(books: Iterable[Row]) -> list[str]:
    """Conservation (`ledger.domain.entries.imbalances`) over the views' book totals: per
    asset, all balances net to zero, and all debts equal the lending pool's claims."""
    return [str(imbalance) for imbalance in imbalances(book_postings(books))]


def book_postings(books: Iterable[Row]) -> Iterable[tuple[str, str, Any]]:
    """Book-total rows as the (asset, book, amount) postings conservation sums."""
    return ((row["asset"], row["book"], row["amount"]) for row in books)


def fund_warnings(books: Iterable[Row]) -> list[str]:
    """The insurance fund below zero, per asset: shortfalls beyond what it held, which the
    exchange itself has lost. Not an imbalance (the books still net to zero), so a warning."""
    negative = sorted(
        (row["asset"], row["amount"])
        for row in books
        if row["holder"] == INSURANCE_FUND and row["book"] == BALANCE and row["amount"] < 0
    )
    return [f"{INSURANCE_FUND} is negative: {asset} {normalized(amount)}" for asset, amount in negative]
