"""The pure domain: money, parameters, rules and aggregates. No I/O here."""
