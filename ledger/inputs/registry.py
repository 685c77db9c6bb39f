"""The inputs a ledger accepts, registered by the product module that owns them: each
op's model and the check it needs in context (`LineChecker`). The parser's union of
models, discriminated by `op`, is built from what is registered, so a product adds its
ops without editing another product's module."""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import cache, reduce
from typing import Annotated, Any, TypeVar, get_args

from pydantic import BaseModel, Field, TypeAdapter

from ledger.inputs.checker import LineChecker

Check = Callable[[Any, LineChecker], None]
CheckFunction = TypeVar("CheckFunction", bound=Callable[..., None])

_MODELS: dict[str, type[BaseModel]] = {}  # op -> the model of its inputs
_CHECKS: dict[type[BaseModel], Check] = {}  # model -> its check in context


def registers(*models: type[BaseModel]) -> Callable[[CheckFunction], CheckFunction]:
    """Registers the decorated function as the check of each model's inputs, and each
    model under the ops its `op` literal names."""

    def register(check: CheckFunction) -> CheckFunction:
        for model in models:
            for op in _ops_of(model):
                assert _MODELS.get(op, model) is model, f"op {op!r} is registered twice"
                _MODELS[op] = model
            _CHECKS[model] = check
        input_adapter.cache_clear()  # the union changes with what is registered
        return check

    return register


def _ops_of(model: type[BaseModel]) -> tuple[str, ...]:
    return get_args(model.model_fields["op"].annotation)


def known_ops() -> frozenset[str]:
    return frozenset(_MODELS)


def model_of(op: Any) -> type[BaseModel] | None:
    """The model of an op's inputs; None for an op no product registered."""
    return _MODELS.get(op) if isinstance(op, str) else None


@cache
def input_adapter() -> TypeAdapter[Any]:
    """Reads a JSON object into the model its `op` names."""
    models = reduce(operator.or_, dict.fromkeys(_MODELS.values()))  # one union of every model registered
    return TypeAdapter(Annotated[models, Field(discriminator="op")])


def check_line(body: BaseModel, check: LineChecker) -> None:
    """The checks of `body` that need context (`check.known`, which an input may extend)."""
    _CHECKS[type(body)](body, check)
