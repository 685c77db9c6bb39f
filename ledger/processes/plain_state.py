"""Numpy arrays as plain data for the drivers' index snapshots (`ledger.processes.snapshots`):
raw bytes with their dtype, shape and order, read back only as one of a few numeric
dtypes. Nothing is pickled: a tampered snapshot can be refused or restore a wrong index
(which the snapshot's checks make unlikely), never run code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

# The dtypes a snapshot may hold: numbers and flags, never objects.
ARRAY_DTYPES = {name: np.dtype(name) for name in ("float64", "int64", "int32", "int8", "bool")}


class SnapshotFault(ValueError):
    """A snapshot that does not describe an index this code can restore."""


def array_state(array: npt.NDArray[Any]) -> dict[str, Any]:
    """`array` as plain data (Fortran order kept: the risk index's columns are contiguous)."""
    if array.dtype.name not in ARRAY_DTYPES:
        raise SnapshotFault(f"an array of {array.dtype} is not snapshotted")
    order: Literal["C", "F"] = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
    return {"dtype": array.dtype.name, "shape": list(array.shape), "order": order, "data": array.tobytes(order=order)}


def restored_array(state: Mapping[str, Any]) -> npt.NDArray[Any]:
    """The array `array_state` described, writable, in its order; SnapshotFault when the
    description is not one of a numeric array whose bytes match its shape."""
    dtype = ARRAY_DTYPES.get(state.get("dtype"))  # type: ignore[arg-type]
    shape = state.get("shape")
    order = state.get("order")
    data = state.get("data")
    if dtype is None or order not in ("C", "F") or not isinstance(data, bytes):
        raise SnapshotFault("an array of no known dtype or order")
    if not isinstance(shape, list) or not all(isinstance(size, int) and size >= 0 for size in shape):
        raise SnapshotFault("an array of no valid shape")
    if len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise SnapshotFault("an array whose bytes do not match its shape")
    flat = np.frombuffer(data, dtype=dtype)
    restored: npt.NDArray[Any] = flat.reshape(shape, order=order).copy(order="K")
    return restored
