"""Read models: what reports, history and reconciliation read."""
