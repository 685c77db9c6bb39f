"""Parsing and validation of inputs, shared by `ledger run`, the API and the workers.

A scenario is checked whole before anything is applied: every fault is an
`InputError` naming its line and field. Shapes are pydantic models, one per op,
registered with their checks in context by the product that owns them
(`ledger.inputs.registry`); what a number, a name and a time may be is
`ledger.domain.limits`. The parser (`ledger.inputs.parser`) follows the file line by
line, starting from what the store already knows; lines a store has applied already
are identified first and skipped (`ledger.idempotency`).

This module states the package's public API, and imports the modules that register
inputs: `opening` (common to every product), then one per product (a new product adds
its line).
"""

from ledger.inputs import futures, margin, market, opening
from ledger.inputs.errors import InputError, InputErrors
from ledger.inputs.json_lines import decode_scenario
from ledger.inputs.models import KnownState, LedgerInput, Scenario
from ledger.inputs.parser import parse_parameter_file, parse_scenario, parse_time
from ledger.inputs.records import (
    check_restored_inputs,
    fingerprint,
    input_record,
    overlay_record,
    recorded_time,
    restore_input,
)

__all__ = [
    "InputError",
    "InputErrors",
    "KnownState",
    "LedgerInput",
    "Scenario",
    "check_restored_inputs",
    "decode_scenario",
    "fingerprint",
    "futures",
    "input_record",
    "margin",
    "market",
    "opening",
    "overlay_record",
    "parse_parameter_file",
    "parse_scenario",
    "parse_time",
    "recorded_time",
    "restore_input",
]
