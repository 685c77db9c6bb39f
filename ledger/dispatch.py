"""`functools.singledispatchmethod` without Python 3.11's cost on every call.

On 3.11, each attribute access of a single-dispatch method builds a new wrapper
and copies the function's metadata onto it (`update_wrapper`); the indexes and the
views look one up for every event, so that copy was a measurable share of `ledger
run` (bench/run_benchmark.py). Python 3.12 caches the wrapper; this skips the copy.
Registration and dispatch are the standard library's.
"""

from __future__ import annotations

import functools
from typing import Any


class singledispatchmethod(functools.singledispatchmethod):  # type: ignore[type-arg]  # noqa: N801
    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        dispatch = self.dispatcher.dispatch

        def method(*args: Any, **kwargs: Any) -> Any:
            return dispatch(args[0].__class__).__get__(obj, cls)(*args, **kwargs)

        method.register = self.register  # type: ignore[attr-defined]
        return method
