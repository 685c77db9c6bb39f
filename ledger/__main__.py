"""`python -m ledger`: the same command line as the `ledger` script."""

from ledger.entrypoints.cli import app

app()
