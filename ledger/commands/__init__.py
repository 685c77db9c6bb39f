"""Commands, one per input type, looked up by the input's model (`run_command`). Each
product registers its commands from its own module; importing a product's module here
is what makes its commands known (a new product adds its line). `opening` is the `open`
command every product shares: a product registers its opener there."""

from ledger.commands import futures, margin, market, opening
from ledger.commands.registry import run_command

__all__ = ["futures", "margin", "market", "opening", "run_command"]
