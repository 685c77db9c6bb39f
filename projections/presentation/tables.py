"""Rich tables at any width: the layout every `ledger` command prints through, and
the cell texts they share.

Two promises hold at any width of the terminal:

- A figure is never cut. A column is never narrower than the longest word in it,
  so rich wraps a cell between words and never inside one (a figure is a word).
  A table that cannot fit so is stacked: one small key/value table per row; and a
  row with a word too long even for that is printed as lines of its own, unwrapped
  (the terminal wraps them: nothing is lost, nothing becomes "…").
- What users named (accounts, assets, sources, error texts) is text, never markup:
  every cell and title is a `rich.text.Text`, so `ops[bold]A` prints as typed.

Every command prints through `print_sheet`; the JSON documents are the commands'
own business.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

Cell = str | Text | None


# Written to a file or a pipe, tables are this wide: no terminal sets their width.
FILE_WIDTH = 240
# rich draws one border character left of each column and one at the right edge,
# and pads each cell with one space each side.
BORDER = 1
PADDING = 2
WARNING_STYLE = "bold red"


def output_console(file: Any = None) -> Console:
    """Standard output (or `file`) as a console: a terminal's own width, else FILE_WIDTH."""
    console = Console(file=file)
    if not console.is_terminal:
        console = Console(file=file, width=FILE_WIDTH)
    return console


def as_text(value: Cell) -> Text:
    """A cell as text, never as markup; None as "-"."""
    if isinstance(value, Text):
        return value
    return Text("-" if value is None else str(value))


# --- laying out a table -------------------------------------------------------------------


@dataclass
class Sheet:
    """A table to print: what it says; `print_sheet` decides how it fits."""

    title: Cell
    columns: Sequence[str]
    rows: list[Sequence[Cell]] = field(default_factory=list)
    caption: Cell = None
    show_header: bool = True

    def add_row(self, *cells: Cell) -> None:
        assert len(cells) == len(self.columns), (self.columns, cells)
        self.rows.append(cells)


def print_sheet(console: Console, sheet: Sheet) -> None:
    headers = [Text(column) for column in sheet.columns]
    rows = [[as_text(cell) for cell in row] for row in sheet.rows]
    widths = fitted_widths([headers, *rows] if sheet.show_header else rows, len(headers), console.width)
    if widths is not None:
        console.print(_table(sheet, headers, rows, widths, console.width))
    else:
        _print_stacked(console, sheet, headers, rows)


def fitted_widths(rows: list[list[Text]], column_count: int, width: int) -> list[int] | None:
    """Each column's width, none narrower than its longest word, in `width`
    characters with borders and padding; None when they cannot fit."""
    room = width - column_count * (BORDER + PADDING) - BORDER
    columns = [[row[index] for row in rows] for index in range(column_count)]
    shortest = [max([1, *(longest_word(text) for text in column)]) for column in columns]
    natural = [max([short, *(longest_line(text) for text in column)]) for short, column in zip(shortest, columns)]
    if sum(shortest) > room:
        return None
    if sum(natural) <= room:
        return natural
    # The room beyond every column's shortest, shared in proportion to what each would use.
    spare, wanted = room - sum(shortest), [whole - short for whole, short in zip(natural, shortest)]
    return [short + spare * want // sum(wanted) for short, want in zip(shortest, wanted)]


def longest_word(text: Text) -> int:
    return max((cell_len(word) for word in text.plain.split()), default=0)


def longest_line(text: Text) -> int:
    return max((cell_len(line) for line in text.plain.splitlines()), default=0)


def _table(sheet: Sheet, headers: list[Text], rows: list[list[Text]], widths: list[int], width: int) -> Table:
    title = None if sheet.title is None else as_text(sheet.title)
    caption = None if sheet.caption is None else as_text(sheet.caption)
    # A table at least as wide as its title (and its caption's longest word) keeps them
    # on one line where the terminal allows: rich wraps them at the table's width.
    wanted = max(0 if title is None else cell_len(title.plain), 0 if caption is None else longest_word(caption))
    table = Table(title=title, caption=caption, show_header=sheet.show_header, min_width=min(width, wanted))
    for header, column_width in zip(headers, widths):
        # "fold", never rich's default "ellipsis": were a word ever wider, it would wrap, not vanish
        table.add_column(header, width=column_width, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _print_stacked(console: Console, sheet: Sheet, headers: list[Text], rows: list[list[Text]]) -> None:
    """A table too wide for the terminal: each row as a key/value table (all of one width),
    or as "key: value" lines left unwrapped when even that cannot fit."""
    console.print(as_text(sheet.title), style="table.title", justify="center")
    labels = [Text(header.plain, style="bold") for header in headers]
    records = [[list(pair) for pair in zip(labels, row)] for row in rows]
    widths = fitted_widths([pair for record in records for pair in record], 2, console.width)
    for record in records:
        if widths is not None:
            record_sheet = Sheet(None, ("field", "value"), show_header=False)
            console.print(
                _table(record_sheet, [Text(column) for column in record_sheet.columns], record, widths, console.width)
            )
            continue
        for label, value in record:
            console.print(Text.assemble(label, ": ", value), soft_wrap=True)
        console.print()
    if sheet.caption is not None:
        console.print(as_text(sheet.caption), style="table.caption", justify="center")


def print_warnings(console: Console, warnings: list[str]) -> None:
    """Warnings go first, each on a line of its own."""
    for warning in warnings:
        console.print(Text(f"warning: {warning}", style=WARNING_STYLE))


# --- cell texts ------------------------------------------------------------------------------


def prices_text(prices: dict[str, str], valuation: str | None = None) -> str:
    """Prices in the valuation asset ("BTC 44000, SUPER 0.88"), leaving out the valuation
    asset itself, which is always 1."""
    return ", ".join(f"{asset} {price}" for asset, price in prices.items() if asset != valuation) or "-"


def facts_text(facts: dict[str, Any]) -> str:
    """An event's or an input's facts, one a line: `name: value`, a value not a text as JSON
    (with its spaces, so that a long value wraps between its words)."""
    return "\n".join(
        f"{name}: {value if isinstance(value, str) else json.dumps(value)}" for name, value in facts.items()
    )


def mode_text(mode: str, leverage: int | None, pair: str | None = None) -> str:
    """The mode as people read it: "cross_classic 5x", "spot", "isolated 10x BTC/USDC"."""
    return " ".join(part for part in (mode, f"{leverage}x" if leverage else None, pair) if part)


def book_text(book: dict[str, Any]) -> str:
    """A book of amounts as a table cell: "0.5 BTC, 100 USDC", or "-" when empty."""
    return ", ".join(f"{amount} {asset}" for asset, amount in book.items()) or "-"
