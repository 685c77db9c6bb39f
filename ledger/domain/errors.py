"""What the domain raises when a rule refuses a command."""

from __future__ import annotations


class Rejected(Exception):
    """A valid input refused by a business rule; recorded, and the run goes on."""
