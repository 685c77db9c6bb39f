"""What validation yields and starts from: a validated input (`LedgerInput`), a file's
inputs still to apply (`Scenario`), and what the store and the earlier lines make known
(`KnownState`)."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ledger.causes import input_cause
from ledger.idempotency import FileMark


@dataclass(frozen=True)
class LedgerInput:
    """One validated input: its typed body, where it came from, and its time."""

    body: Any
    line: int
    source: str
    at: datetime
    fingerprint: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False)  # the JSON object as given
    ordinal: int = 0  # its place among the file's inputs (1 for the first); 0 when not from a file
    chain: str | None = None  # its implicit id: the chain digest of the file's inputs 1..ordinal
    actor: str | None = None  # who submitted it (not part of its fingerprint: `ledger.causes`)

    @property
    def op(self) -> str:
        return self.body.op

    @property
    def input_id(self) -> str | None:
        return self.body.id

    def cause(self) -> dict[str, Any]:
        return input_cause(self.source, self.line, self.op, self.input_id, self.actor)


@dataclass(frozen=True)
class Scenario:
    """A file's inputs still to apply, after the `skipped` ones a store had applied already."""

    source: str
    inputs: list[LedgerInput]
    skipped: int = 0
    skipped_through_line: int = 0
    again: bool = False  # begun anew on purpose (`ledger run --again`)
    overlay_fingerprint: str | None = None

    def submitted_by(self, actor: str) -> Scenario:
        """The same inputs, each recorded as submitted by `actor` (`ledger.causes`)."""
        return replace(self, inputs=[replace(item, actor=actor) for item in self.inputs])


@dataclass
class KnownState:
    """Accounts, modes and asset parameters known at a point of the file, the store's clock,
    and how far the file being read was applied to the store before."""

    accounts: MutableMapping[str, str] = field(default_factory=dict)  # name -> mode
    parameter_data: dict[str, Any] = field(default_factory=dict)
    clock: datetime | None = None  # the store's clock (`Ledger.store_clock`)
    overlay: dict[str, Any] = field(default_factory=dict)  # a run's --params: wins over every params line
    file_mark: FileMark | None = None
    # The inputs recorded from a file since it was last begun (only read to name an edited line).
    recorded_from_file: Callable[[str], list[dict[str, Any]]] = lambda _source: []

    def precision(self, asset: str) -> int:
        return int(self.parameter_data["assets"][asset]["precision"])

    def knows_asset(self, asset: str) -> bool:
        return asset in self.parameter_data["assets"]
