"""Market data and ledger-wide records: marks and liquidity per asset, the
parameter set, the ledger clock, input receipts, and the directory logs.

Prices live in their own streams (one per asset), never in account streams.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate, DomainEvent, event
from eventsourcing.domain import Snapshot as AggregateSnapshot  # what `Aggregate.Snapshot` names, as a type

from ledger.domain.identity import NAMESPACE
from ledger.domain.parameters import RiskParameters, merge_parameter_data
from ledger.domain.prices import Mark
from ledger.domain.timestamps import OrderedTimestamps

PARAMETERS_ID = uuid.uuid5(NAMESPACE, "parameters")
CLOCK_ID = uuid.uuid5(NAMESPACE, "clock")
ACCOUNTS_LOG_ID = uuid.uuid5(NAMESPACE, "log:accounts")
LIQUIDATIONS_LOG_ID = uuid.uuid5(NAMESPACE, "log:liquidations")  # written by earlier versions only
REJECTIONS_LOG_ID = uuid.uuid5(NAMESPACE, "log:rejections")
INPUTS_LOG_ID = uuid.uuid5(NAMESPACE, "log:inputs")


@functools.lru_cache(maxsize=10_000)
def market_id(asset: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"market:{asset}")


def receipt_id(input_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"input:{input_id}")


def scenario_file_id(source: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"scenario-file:{source}")


def request_receipt_id(key: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"request:{key}")


class AssetMarket(Aggregate):
    """Marks and offered liquidity of one asset."""

    class Event(OrderedTimestamps, Aggregate.Event):
        at: datetime
        cause: dict[str, Any]

    class Listed(Aggregate.Created, Event):
        asset: str

    @staticmethod
    def create_id(asset: str, **_: Any) -> uuid.UUID:
        return market_id(asset)

    @event(Listed)
    def __init__(self, asset: str, at: datetime, cause: dict[str, Any]):
        self.asset = asset
        self.mark_price: Decimal | None = None
        self.mark_quote: str | None = None
        self.marked_at: datetime | None = None

    @property
    def mark(self) -> Mark | None:
        if self.mark_price is None or self.mark_quote is None:
            return None
        return Mark(price=self.mark_price, quote=self.mark_quote, at=self.marked_at)

    class MarkRecorded(Event):
        asset: str
        price: Decimal
        quote: str

    @event(MarkRecorded)
    def record_mark(self, asset: str, price: Decimal, quote: str, at: datetime, cause: dict[str, Any]) -> None:
        self.mark_price = price
        self.mark_quote = quote
        self.marked_at = at

    class LiquidityOffered(Event):
        """The market will buy up to `quantity` at `price`; what the desk does not use lapses."""

        asset: str
        price: Decimal
        quantity: Decimal
        quote: str

    @event(LiquidityOffered)
    def offer_liquidity(
        self, asset: str, price: Decimal, quantity: Decimal, quote: str, at: datetime, cause: dict[str, Any]
    ) -> None:
        pass


class ParameterSet(Aggregate):
    """The risk-parameter set; each change is a new version, in force from its time on."""

    class Event(OrderedTimestamps, Aggregate.Event):
        at: datetime
        cause: dict[str, Any]

    class Established(Aggregate.Created, Event):
        data: dict[str, Any]

    @staticmethod
    def create_id(**_: Any) -> uuid.UUID:
        return PARAMETERS_ID

    @event(Established)
    def __init__(self, data: dict[str, Any], at: datetime, cause: dict[str, Any]):
        self.data = data
        self.parameter_version = 1
        self.effective_at = at

    class Snapshot(AggregateSnapshot):
        """Aggregate state is plain data: the typed view is rebuilt, not stored."""

        @classmethod
        def take(cls, aggregate: Any) -> Any:
            snapshot = super().take(aggregate)
            snapshot.state.pop("_view", None)
            return snapshot

    class Changed(Event):
        parameters_version: int
        changes: dict[str, Any]

    def change(self, changes: dict[str, Any], at: datetime, cause: dict[str, Any]) -> None:
        self._changed(parameters_version=self.parameter_version + 1, changes=changes, at=at, cause=cause)

    @event(Changed)
    def _changed(self, parameters_version: int, changes: dict[str, Any], at: datetime, cause: dict[str, Any]) -> None:
        self.data = merge_parameter_data(self.data, changes)
        self.parameter_version = parameters_version
        self.effective_at = at

    @property
    def current(self) -> RiskParameters:
        view = getattr(self, "_view", None)
        if view is None or view.version != self.parameter_version:
            view = self._view = RiskParameters(self.data, self.parameter_version)
        return view


class Clock(Aggregate):
    """The ledger's hours: each hh:00 that passes is an event, and interest reacts to it."""

    class Event(OrderedTimestamps, Aggregate.Event):
        at: datetime
        cause: dict[str, Any]

    class Started(Aggregate.Created, Event):
        pass

    @staticmethod
    def create_id(**_: Any) -> uuid.UUID:
        return CLOCK_ID

    @event(Started)
    def __init__(self, at: datetime, cause: dict[str, Any]):
        self.current_hour = at.replace(minute=0, second=0, microsecond=0)

    class HourBegan(Event):
        hour: datetime

    @event(HourBegan)
    def begin_hour(self, hour: datetime, at: datetime, cause: dict[str, Any]) -> None:
        assert hour > self.current_hour, "hours begin in order"
        self.current_hour = hour


class InputReceipt(Aggregate):
    """The first input seen with an idempotency key, and what it said."""

    class Received(OrderedTimestamps, Aggregate.Created):
        input_id: str
        fingerprint: str
        line: int
        source: str
        at: datetime

    @staticmethod
    def create_id(input_id: str, **_: Any) -> uuid.UUID:
        return receipt_id(input_id)

    @event(Received)
    def __init__(self, input_id: str, fingerprint: str, line: int, source: str, at: datetime):
        self.input_id = input_id
        self.fingerprint = fingerprint
        self.line = line
        self.source = source


class RequestReceipt(Aggregate):
    """The first HTTP request seen with an `Idempotency-Key`, and what it held (the digest
    of its inputs without their times). Its inputs are applied as a scenario file named
    `source`, whose mark (`ScenarioFile`) says how far: the same key and body again has no
    further effect (or finishes what a crash cut short); another body is refused."""

    class Received(OrderedTimestamps, Aggregate.Created):
        key: str
        body_digest: str
        source: str
        inputs: int
        actor: str
        received_at: datetime  # the server's wall clock, not a ledger time: no `at`

    @staticmethod
    def create_id(key: str, **_: Any) -> uuid.UUID:
        return request_receipt_id(key)

    @event(Received)
    def __init__(self, key: str, body_digest: str, source: str, inputs: int, actor: str, received_at: datetime):
        self.key = key
        self.body_digest = body_digest
        self.source = source
        self.inputs = inputs
        self.actor = actor
        self.received_at = received_at


class ScenarioFile(Aggregate):
    """How far a scenario file has been applied: one high-water mark per file (its name),
    so that running the file again resumes it instead of applying it twice
    (`ledger.idempotency`)."""

    class Event(OrderedTimestamps, Aggregate.Event):
        pass

    class Begun(Aggregate.Created, Event):
        source: str
        overlay_fingerprint: str | None

    @staticmethod
    def create_id(source: str, **_: Any) -> uuid.UUID:
        return scenario_file_id(source)

    @event(Begun)
    def __init__(self, source: str, overlay_fingerprint: str | None):
        self.source = source
        self.overlay_fingerprint = overlay_fingerprint
        self.inputs_applied = 0
        self.through_line = 0
        self.chain_digest: str | None = None

    class BegunAgain(Event):
        overlay_fingerprint: str | None

    @event(BegunAgain)
    def begin_again(self, overlay_fingerprint: str | None) -> None:
        """`ledger run --again`: the file is applied anew from its first line."""
        self.overlay_fingerprint = overlay_fingerprint
        self.inputs_applied = 0
        self.through_line = 0
        self.chain_digest = None

    class LinesApplied(Event):
        inputs_applied: int
        through_line: int
        chain_digest: str

    @event(LinesApplied)
    def advance(self, inputs_applied: int, through_line: int, chain_digest: str) -> None:
        assert inputs_applied > self.inputs_applied, "a file's mark only moves forward"
        self.inputs_applied = inputs_applied
        self.through_line = through_line
        self.chain_digest = chain_digest


class AccountLogged(DomainEvent):
    account: str
    account_id: uuid.UUID


class LiquidationLogged(DomainEvent):
    """An entry of the liquidations log, which earlier versions appended to at every trigger
    (a stream that made concurrent workers conflict). No longer written: a liquidation's id
    derives from its account and sequence (`ledger.application.liquidations_of`). Kept so
    that the stores those versions wrote keep loading."""

    account: str
    liquidation_id: uuid.UUID


class InputRejected(DomainEvent):
    """A valid input refused by a business rule, with its cause (`ledger.causes`: who sent it)."""

    line: int
    source: str
    op: str
    input_id: str | None
    account: str | None
    error: str
    at: datetime
    cause: dict[str, Any] | None

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Stored before rejections named their input's cause: no actor was recorded."""
        state["cause"] = None


class InputsRecorded(DomainEvent):
    """The inputs one save applied, as they were given (`ledger.inputs.input_record`):
    what a counterfactual replay runs again."""

    inputs: list[dict[str, Any]]


class InputsSaved(DomainEvent):
    """The inputs one save applied were kept apart from the events, in the store's inputs
    table (`ledger.recorders`), under this event's version in the inputs log: the events
    keep only their place in the log and how many were submitted (a run's overlay is kept
    as a record among them, but nobody submitted it). Stores written before hold
    `InputsRecorded` events instead, with the inputs in them."""

    submitted: int
