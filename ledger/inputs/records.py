"""What the store keeps of an applied input (`input_record`, `overlay_record`), and the
input read back from it (`restore_input`), read, not judged again by today's bounds;
its context checks may be made again under other parameters (`check_restored_inputs`)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from ledger.idempotency import canonical_json
from ledger.inputs.checker import LineChecker
from ledger.inputs.errors import InputError, InputErrors
from ledger.inputs.models import KnownState, LedgerInput
from ledger.inputs.registry import check_line, input_adapter


def input_record(item: LedgerInput) -> dict[str, Any]:
    """What the store keeps of an applied input, so that it can be replayed (as submitted by
    the same actor)."""
    record = {"source": item.source, "line": item.line, "at": time_text(item.at), "input": item.raw}
    if item.actor is not None:
        record["actor"] = item.actor
    return record


def time_text(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def recorded_time(record: dict[str, Any]) -> datetime:
    """The time of an input record (`input_record`), read as written, whatever the bounds now."""
    return datetime.fromisoformat(record["at"].replace("Z", "+00:00"))


def check_restored_inputs(inputs: list[LedgerInput], known: KnownState) -> None:
    """The checks of a scenario that depend on context (accounts, assets, precisions), made
    again on inputs restored from a store, e.g. under other parameters; raises InputErrors
    naming each input's source and line."""
    errors: list[InputError] = []
    for item in inputs:
        found: list[InputError] = []
        check_line(item.body, LineChecker(item.line, known, found, restoring=True))
        errors += [
            InputError(error.line, error.field, error.message, location=f"recorded {item.source} line {item.line}")
            for error in found
        ]
    if errors:
        raise InputErrors(errors)


def overlay_record(overlay: dict[str, Any], at: datetime, cause: dict[str, Any]) -> dict[str, Any]:
    """A run's `--params` overlay, kept with the inputs as the `params` input it amounts to."""
    record = {
        "source": cause.get("source", "run"),
        "line": 0,
        "at": time_text(at),
        "input": {"op": "params", **overlay},
        "overlay": True,
    }
    if "actor" in cause:
        record["actor"] = cause["actor"]
    return record


def restore_input(record: dict[str, Any]) -> LedgerInput:
    """The input a record was made of: it was valid when recorded, so it is read, not judged
    again by today's bounds."""
    raw = record["input"]
    # by_name: a store may hold a transfer written `from_account` when that spelling was read.
    body = input_adapter().validate_python(raw, context={"restoring": True}, by_alias=True, by_name=True)
    return LedgerInput(
        body=body,
        line=record["line"],
        source=record["source"],
        at=recorded_time(record),
        fingerprint=fingerprint(raw),
        raw=raw,
        actor=record.get("actor"),  # None in a store written before actors
    )


def fingerprint(raw: dict[str, Any]) -> str:
    """Two inputs with one id are the same when every field but `at` is equal."""
    content = {key: value for key, value in raw.items() if key != "at"}
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()
