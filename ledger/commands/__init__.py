"""Commands, one per input type, looked up by the input's model (`run_command`). Each
product registers its commands from its own module; importing a product's module here
is what makes its commands known (a new product adds its line)."""

from ledger.commands import margin, market
from ledger.commands.registry import run_command

__all__ = ["margin", "market", "run_command"]
