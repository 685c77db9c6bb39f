"""The command of each input type, registered by the product module that owns it. A
command loads what it needs through the unit of work and applies the rule on the
aggregates; it raises `Rejected` to refuse, and the write path (`ledger.write_path`)
saves or records the rejection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from ledger.unit_of_work import UnitOfWork

Command = Callable[[UnitOfWork, Any, datetime, dict[str, Any]], None]
CommandFunction = TypeVar("CommandFunction", bound=Callable[..., None])

_COMMANDS: dict[type[BaseModel], Command] = {}


def command(*models: type[BaseModel]) -> Callable[[CommandFunction], CommandFunction]:
    """Registers the decorated function as the command of each model's inputs."""

    def register(function: CommandFunction) -> CommandFunction:
        for model in models:
            assert model not in _COMMANDS, f"{model.__name__} has a command already"
            _COMMANDS[model] = function
        return function

    return register


def run_command(uow: UnitOfWork, body: BaseModel, at: datetime, cause: dict[str, Any]) -> None:
    """Applies the command registered for `body`'s type to the aggregates of `uow`."""
    found = _COMMANDS.get(type(body))
    if found is None:  # pragma: no cover - validation admits no input without a command
        raise AssertionError(f"no command for {type(body).__name__}")
    found(uow, body, at, cause)
