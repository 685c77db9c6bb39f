"""Reading the files a command is given (scenarios, parameter overlays): bounded, so that
a path such as /dev/zero or a runaway file is an error, not a machine out of memory."""

from __future__ import annotations

import stat
from pathlib import Path

from ledger.inputs import decode_scenario

SCENARIO_BYTES_MAX = 1 << 30  # 1 GiB: about ten million inputs
PARAMETER_FILE_BYTES_MAX = 1 << 20


class InputFileError(ValueError):
    """A file that cannot be read as the command's input; the message names it."""


def shown_path(path: Path) -> str:
    """A path as a one-line message may name it: a newline or a byte that is not UTF-8 in it
    is escaped (`\\n`, `\\udcff`), never printed as it is."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(path))


def is_pipe(path: Path) -> bool:
    """A pipe (`/dev/stdin`, `<(...)`) has no name a store could know it by again."""
    try:
        return stat.S_ISFIFO(path.stat().st_mode)
    except OSError:
        return False


def read_scenario(path: Path) -> str:
    """A scenario's text: a regular file (or a pipe) of at most 1 GiB of UTF-8."""
    return decode_scenario(read_bounded(path, SCENARIO_BYTES_MAX))


def read_parameter_file(path: Path) -> str:
    try:
        return read_bounded(path, PARAMETER_FILE_BYTES_MAX).decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputFileError(f"{shown_path(path)} is not valid UTF-8 (byte {error.start})") from None


def read_bounded(path: Path, limit: int) -> bytes:
    try:
        mode = path.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise InputFileError(f"{shown_path(path)} is not a regular file")
        if stat.S_ISREG(mode) and path.stat().st_size > limit:
            raise InputFileError(f"{shown_path(path)} is larger than {limit} bytes")
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as error:
        raise InputFileError(f"{shown_path(path)}: {error.strerror or error}") from None
    if len(data) > limit:
        raise InputFileError(f"{shown_path(path)} is larger than {limit} bytes")
    return data
