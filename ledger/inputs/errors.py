"""Input errors: each fault of an input names its line (or its file) and its field, on one
printable line, so that back-office staff can find and fix it."""

from __future__ import annotations

from dataclasses import dataclass

ERROR_TEXT_LIMIT = 200  # characters of a field or message an error line quotes


def _printable(text: str) -> str:
    """Text an error line can carry whole on one line: what is not printable escaped."""
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return shown if len(shown) <= ERROR_TEXT_LIMIT else shown[: ERROR_TEXT_LIMIT - 3] + "..."


@dataclass(frozen=True)
class InputError:
    line: int
    field: str
    message: str
    location: str | None = None  # where the fault is when not a scenario line, e.g. "--params FILE"

    def __str__(self) -> str:
        where = self.location or f"line {self.line}"
        return f"{_printable(where)}: {_printable(self.field)}: {_printable(self.message)}"


class InputErrors(Exception):
    def __init__(self, errors: list[InputError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors
