"""A scenario's text as JSON Lines: decoded strictly (UTF-8; no NaN, no key twice, a
bounded depth), each non-empty line with its object or the fault that keeps it from one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ledger.domain.limits import JSON_DEPTH_MAX, nesting_fault
from ledger.inputs.errors import InputError, InputErrors


@dataclass(frozen=True)
class Line:
    number: int  # the physical line, counting from 1
    raw: dict[str, Any] | None  # None: not a JSON object (its fault is among the errors)


def split_lines(text: str) -> tuple[list[Line], list[InputError]]:
    """Every non-empty line with its JSON object, and the faults of those that hold none."""
    lines: list[Line] = []
    errors: list[InputError] = []
    for number, raw_line in enumerate(text.split("\n"), start=1):
        if not raw_line.strip():
            continue
        raw = None
        try:
            raw = strict_json(raw_line)
        except ValueError as exc:  # JSONDecodeError, a duplicate key, a number too long, nested too deeply
            errors.append(InputError(number, "line", f"invalid JSON: {exc}"))
        if raw is not None and not isinstance(raw, dict):
            errors.append(InputError(number, "line", "an input must be a JSON object"))
            raw = None
        lines.append(Line(number, raw))
    return lines, errors


def strict_json(text: str) -> Any:
    """One JSON value, read strictly: no NaN or Infinity, no key twice in an object, and
    nested at most `JSON_DEPTH_MAX` deep; ValueError naming the fault."""
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_object_without_duplicates)
    except RecursionError:
        raise ValueError(f"objects and lists nested more than {JSON_DEPTH_MAX} deep") from None
    # Walked only when it may be deep: most lines hold one or two brackets.
    if text.count("{") + text.count("[") > JSON_DEPTH_MAX:
        fault = nesting_fault(value)
        if fault is not None:
            raise ValueError(fault)
    return value


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"key {json.dumps(key)} appears twice in one object")
        found[key] = value
    return found


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number the ledger accepts")


def decode_scenario(data: bytes) -> str:
    """A scenario's bytes as text: UTF-8, or an input error naming the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputErrors([InputError(line, "line", f"not valid UTF-8 (byte 0x{data[error.start]:02x})")]) from None
