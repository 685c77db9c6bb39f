"""An event-sourced account ledger for margin trading."""
