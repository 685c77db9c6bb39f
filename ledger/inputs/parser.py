"""A scenario checked whole before anything is applied: the lines a store applied already
identified and skipped first (`ledger.idempotency`), then each line read into its model
(strict: a JSON number where a decimal string belongs is an error), given its time (one
clock for the store), and checked in context by the check its model registered."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ledger.domain.limits import EARLIEST_TIME, name_fault
from ledger.domain.limits import parse_time as parse_bounded_time
from ledger.domain.parameters import (
    first_version_data,
    max_clock_jump,
    validate_parameter_changes,
    validate_parameter_set,
)
from ledger.idempotency import CHAIN_SEED, FileMark, canonical_json, chain_digest
from ledger.inputs.checker import LineChecker
from ledger.inputs.errors import InputError, InputErrors
from ledger.inputs.fields import InputModel
from ledger.inputs.json_lines import Line, split_lines, strict_json
from ledger.inputs.models import KnownState, LedgerInput, Scenario
from ledger.inputs.records import fingerprint, time_text
from ledger.inputs.registry import check_line, input_adapter, known_ops, model_of

DEFAULT_START = EARLIEST_TIME


def parse_time(text: Any) -> datetime:
    """An input's time (`ledger.domain.limits`); ValueError naming the fault."""
    return parse_bounded_time(text)


def parse_scenario(text: str, source: str, known: KnownState, again: bool = False) -> Scenario:
    """The inputs of a scenario still to apply, validated against `known` (which it
    updates); raises InputErrors listing every fault of the file. Lines the store
    applied from this file before are skipped first (unless `again`), and checked to be
    unchanged."""
    lines, errors = split_lines(text)
    source_fault = name_fault(source)
    if source_fault is not None:
        raise InputErrors([InputError(0, "file name", source_fault, location=f"scenario {source!r}")])
    mark = None if again else known.file_mark
    skipped, chain = _applied_prefix(lines, errors, mark, known, source)
    inputs = _check_lines(lines[skipped:], errors, known, source, chain, first_ordinal=skipped + 1)
    if errors:
        raise InputErrors(sorted(errors, key=lambda e: e.line))
    return Scenario(
        source=source,
        inputs=inputs,
        skipped=skipped,
        skipped_through_line=lines[skipped - 1].number if skipped else 0,
        again=again,
    )


def _applied_prefix(
    lines: list[Line], errors: list[InputError], mark: FileMark | None, known: KnownState, source: str
) -> tuple[int, str]:
    """How many of the file's inputs the store applied already, and the chain digest after them."""
    if mark is None or mark.inputs_applied == 0:
        return 0, CHAIN_SEED
    applied = lines[: mark.inputs_applied]
    chain = CHAIN_SEED
    for line in applied:
        chain = chain_digest(chain, line.raw) if line.raw is not None else "unreadable"
    if len(applied) == mark.inputs_applied and chain == mark.chain_digest:
        return mark.inputs_applied, chain
    errors.append(_edited_line(lines, mark, known.recorded_from_file(source)))
    return len(lines), chain


def _edited_line(lines: list[Line], mark: FileMark, recorded: list[dict[str, Any]]) -> InputError:
    """The first line of an applied part that differs from what was applied."""
    message = (
        f"differs from what this store applied from {mark.source} before ({mark.inputs_applied} inputs "
        f"through line {mark.through_line}): the file was edited; restore it, or run it "
        "anew with --again"
    )
    for index, line in enumerate(lines[: mark.inputs_applied]):
        if line.raw is None or index >= len(recorded) or canonical_json(line.raw) != canonical_json(recorded[index]):
            return InputError(line.number, "line", message)
    after = lines[-1].number + 1 if lines else 1
    return InputError(after, "line", f"missing: {message}")


def _check_lines(
    lines: list[Line], errors: list[InputError], known: KnownState, source: str, chain: str, first_ordinal: int
) -> list[LedgerInput]:
    inputs: list[LedgerInput] = []
    clock = known.clock if known.clock is not None else _first_time(lines)
    for ordinal, line in enumerate(lines, start=first_ordinal):
        if line.raw is None:
            continue  # its fault is listed; the file will not be applied
        chain = chain_digest(chain, line.raw)
        check = LineChecker(line.number, known, errors)
        try:
            body = input_adapter().validate_python(line.raw)
        except ValidationError as exc:
            found = _pydantic_errors(line.number, exc)
            errors.extend(found + _shape_faults(line.number, line.raw, {error.field for error in found}))
            continue
        at = _line_time(line.raw, clock, known, check)
        if at is None:
            continue
        clock = at
        check_line(body, check)
        inputs.append(
            LedgerInput(
                body=body,
                line=line.number,
                source=source,
                at=at,
                fingerprint=fingerprint(line.raw),
                raw=line.raw,
                ordinal=ordinal,
                chain=chain,
            )
        )
    return inputs


def _pydantic_errors(line: int, error: ValidationError) -> list[InputError]:
    found = []
    ops = known_ops()
    for detail in error.errors():
        location = [str(part) for part in detail["loc"]]
        # A discriminated union reports the op first: drop it from the field path.
        if location and location[0] in ops:
            location = location[1:]
        field_name = ".".join(part for part in location if not part.isdigit() or len(location) == 1) or "line"
        message = detail["msg"]
        if detail["type"] == "union_tag_invalid":
            field_name, message = "op", f"unknown op {json.dumps(detail['input'].get('op'))}"
        elif detail["type"] == "union_tag_not_found":
            field_name, message = "op", "missing"
        elif detail["type"] == "missing":
            message = "missing"
        elif detail["type"] == "extra_forbidden":
            message = "unknown field"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        found.append(InputError(line, field_name, message))
    return found


def _shape_faults(line: int, raw: dict[str, Any], named: set[str]) -> list[InputError]:
    """The faults of the line's shape that its fields' errors do not name already."""
    model = model_of(raw.get("op"))
    faults = model.shape_faults(raw) if model is not None and issubclass(model, InputModel) else []
    return [InputError(line, field_name, message) for field_name, message in faults if field_name not in named]


def _line_time(raw: dict[str, Any], clock: datetime, known: KnownState, check: LineChecker) -> datetime | None:
    """The line's time: its own `at`, or the time before it. One clock for the store: never
    earlier than the input before (in the file or the store), nor a jump beyond the bound."""
    if raw.get("at") is None:
        return clock
    try:
        at = parse_time(raw["at"])
    except ValueError as exc:
        check.fail("at", str(exc))
        return None
    if at < clock:
        check.fail(
            "at",
            f"{raw['at']} is earlier than the input before it ({time_text(clock)}, in this file "
            "or the store): the store has one clock",
        )
        return None
    limit = max_clock_jump(known.parameter_data)
    if at - clock > limit:
        check.fail(
            "at",
            f"{raw['at']} jumps {_duration_text(at - clock)} past the input before it "
            f"({time_text(clock)}); at most {_duration_text(limit)} (parameter clock.max_jump_hours)",
        )
        return None
    return at


def _duration_text(duration: timedelta) -> str:
    return f"{duration.total_seconds() / 3600:g} hours"


def _first_time(lines: list[Line]) -> datetime:
    """A new store's clock starts at the file's first time."""
    for line in lines:
        try:
            return parse_time(line.raw["at"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            continue
    return DEFAULT_START


def parse_parameter_file(text: str, source: str) -> dict[str, Any]:
    """A `--params FILE`: a params input without `op` (`"op": "params"` may stand in it);
    its faults name the file."""
    location = f"--params {source}"
    try:
        changes = strict_json(text)
    except ValueError as exc:
        raise InputErrors([InputError(0, "file", f"invalid JSON: {exc}", location)]) from None
    if not isinstance(changes, dict):
        raise InputErrors([InputError(0, "file", "must hold one JSON object", location)])
    if "op" in changes:
        if changes["op"] != "params":
            raise InputErrors(
                [
                    InputError(
                        0, "op", f"a parameter file holds a params input, not {json.dumps(changes['op'])}", location
                    )
                ]
            )
        changes = {key: value for key, value in changes.items() if key not in ("op", "at", "id")}
    faults = validate_parameter_changes(changes) or validate_parameter_set(first_version_data(changes))
    if faults:
        raise InputErrors([InputError(0, f, m, location) for f, m in faults])
    return changes
