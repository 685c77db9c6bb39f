"""The unit of work: the aggregates one command or process step touches, saved in
one transaction. It is the only way anything is saved, and where every event's
entries are checked to net to zero per asset and book before they are.

    with UnitOfWork(app) as uow:
        uow.account("A").deposit(...)
        uow.commit()

Left by an exception, or with changes it never saved, it makes the application
forget what it cached: those aggregates hold events that were never stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any

from eventsourcing.application import AggregateNotFoundError, EventSourcedLog, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import Recording, Tracking

from ledger.application import Ledger
from ledger.domain.entries import assert_balanced
from ledger.domain.errors import Rejected
from ledger.domain.futures.market import SymbolMarket, symbol_market_id
from ledger.domain.identity import account_id
from ledger.domain.margin.account import Account
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.market import (
    PARAMETERS_ID,
    AssetMarket,
    InputReceipt,
    ParameterSet,
    ScenarioFile,
    market_id,
    receipt_id,
    scenario_file_id,
)
from ledger.domain.parameters import RiskParameters, first_version_data
from ledger.domain.prices import Mark, PriceBook
from ledger.idempotency import LineAlreadyApplied
from ledger.inputs import LedgerInput
from ledger.recorders import MORE_TRACKING
from ledger.stream_reads import read_aggregates

SYSTEM_CAUSE = {"kind": "system"}
# Ids are name-based UUIDs (a SHA-1 each): the ones asked for again and again are remembered.
IDS_REMEMBERED = 1 << 17
_timestamp = attrgetter("timestamp")


@lru_cache(maxsize=IDS_REMEMBERED)
def _stream_id(stream_id: Callable[[str], uuid.UUID], name: str) -> uuid.UUID:
    return stream_id(name)


class UnitOfWork:
    """The aggregates one command or process step touches, saved in one transaction."""

    def __init__(self, app: Ledger):
        self.app = app
        self.aggregates: dict[uuid.UUID, Aggregate] = {}
        # Handed out since the last checkpoint, under the object's id (an int hashes faster than
        # a UUID; an aggregate is held as one object for the life of the unit of work).
        self.touched: dict[int, Aggregate] = {}
        # Aggregates asked for by name several times an input (an account, an asset's market),
        # found by their name after the first time: under (stream id function, name).
        self.by_name: dict[tuple[Callable[[str], uuid.UUID], str], Any] = {}
        self.missing: set[uuid.UUID] = set()
        self.log_events: list[DomainEvent] = []
        self.inputs: list[dict[str, Any]] = []  # records of the inputs applied, saved with their effects
        self.files_applied: dict[str, LedgerInput] = {}  # per scenario file, its last input applied here
        self.events: list[Any] = []  # collected so far, in the order they happened

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        if error_type is not None or self.has_changes():
            # Cached aggregates may hold events that were never saved.
            self.app.forget_cached_state()

    # --- loading ---

    def find(self, aggregate_id: uuid.UUID) -> Any | None:
        aggregate = self.aggregates.get(aggregate_id)
        if aggregate is None:
            if aggregate_id in self.missing:
                return None
            try:
                aggregate = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                self.missing.add(aggregate_id)
                return None
            self.aggregates[aggregate_id] = aggregate
        # Only what was handed out can have changed: checkpoints look at these alone.
        self.touched[id(aggregate)] = aggregate
        return aggregate

    def preload(self, aggregate_ids: Iterable[uuid.UUID]) -> None:
        """Reads the aggregates of `aggregate_ids` not held yet in one go (`ledger.stream_reads`),
        so that `find` then hands them out without a query each; those that do not exist are
        noted missing, as `find` would note them."""
        wanted = [i for i in dict.fromkeys(aggregate_ids) if i not in self.aggregates and i not in self.missing]
        if not wanted:
            return
        found = read_aggregates(self.app, wanted)
        self.aggregates.update(found)
        self.missing.update(i for i in wanted if i not in found)

    def get(self, aggregate_id: uuid.UUID) -> Any:
        aggregate = self.find(aggregate_id)
        if aggregate is None:
            raise AggregateNotFoundError(aggregate_id)
        return aggregate

    def add(self, aggregate: Aggregate) -> None:
        self.missing.discard(aggregate.id)
        self.aggregates[aggregate.id] = aggregate
        self.touched[id(aggregate)] = aggregate

    def find_named(self, stream_id: Callable[[str], uuid.UUID], name: str) -> Any | None:
        """`find` of the stream `stream_id(name)`: an account or a market, asked for several
        times an input (rules, indexes, prices), is found by its name after the first time."""
        aggregate = self.by_name.get((stream_id, name))
        if aggregate is not None:
            self.touched[id(aggregate)] = aggregate  # as `find` notes it
            return aggregate
        aggregate = self.find(_stream_id(stream_id, name))
        if aggregate is not None:
            self.by_name[stream_id, name] = aggregate
        return aggregate

    def account(self, name: str) -> Account:
        account = self.find_named(account_id, name)
        if account is None:
            raise Rejected(f"unknown account {name}")
        return account

    def liquidation(self, liquidation_id: uuid.UUID) -> Liquidation:
        return self.get(liquidation_id)

    def parameter_set(self, at: datetime) -> ParameterSet:
        parameter_set = self.find(PARAMETERS_ID)
        if parameter_set is None:
            parameter_set = ParameterSet(data=first_version_data(self.app.parameter_overlay), at=at, cause=SYSTEM_CAUSE)
            self.add(parameter_set)
        return parameter_set

    def parameters(self) -> RiskParameters:
        parameter_set = self.find(PARAMETERS_ID)
        if parameter_set is None:
            return RiskParameters(self.app.parameter_data(), 0)
        return parameter_set.current

    def market(self, asset: str, at: datetime, cause: dict[str, Any]) -> AssetMarket:
        market = self.find(market_id(asset))
        if market is None:
            market = AssetMarket(asset=asset, at=at, cause=cause)
            self.add(market)
        return market

    def prices(self) -> PriceBook:
        return PriceBook(_Marks(self, market_id), self.parameters(), _Marks(self, symbol_market_id))

    def symbol_market(self, symbol: str, at: datetime, cause: dict[str, Any]) -> SymbolMarket:
        market = self.find(symbol_market_id(symbol))
        if market is None:
            market = SymbolMarket(symbol=symbol, at=at, cause=cause)
            self.add(market)
        return market

    # --- recording ---

    def log(self, log: EventSourcedLog[Any], **fields: Any) -> None:
        self.log_events.append(log.trigger_event(next_originator_version=self.app.next_log_version(log), **fields))

    def admit(self, item: LedgerInput) -> bool:
        """False when the input's id was seen before (a duplicate, or a conflicting reuse)."""
        assert item.input_id is not None
        receipt = self.find(receipt_id(item.input_id))
        if receipt is None:
            self.add(
                InputReceipt(
                    input_id=item.input_id, fingerprint=item.fingerprint, line=item.line, source=item.source, at=item.at
                )
            )
            return True
        if receipt.fingerprint != item.fingerprint:
            self.reject(
                item,
                f"id '{item.input_id}' was already used by a different input ({receipt.source} line {receipt.line})",
            )
        return False

    def require_not_applied(self, item: LedgerInput) -> None:
        """Raises LineAlreadyApplied for a line its file's stored mark has passed."""
        if item.chain is None:
            return
        scenario_file = self.find(_stream_id(scenario_file_id, item.source))
        if scenario_file is not None and scenario_file.inputs_applied >= item.ordinal:
            raise LineAlreadyApplied(f"{item.source} line {item.line} was applied meanwhile by another writer")

    def note_applied(self, item: LedgerInput) -> None:
        """The file's mark moves to this input when the unit of work is saved (`ledger.idempotency`)."""
        if item.chain is not None:
            self.files_applied[item.source] = item

    def begin_file(self, source: str, overlay_fingerprint: str | None, again: bool) -> bool:
        """Whether the file is begun now (new to the store, or begun again on purpose)."""
        scenario_file = self.find(_stream_id(scenario_file_id, source))
        if scenario_file is None:
            self.add(ScenarioFile(source=source, overlay_fingerprint=overlay_fingerprint))
            return True
        if again:
            scenario_file.begin_again(overlay_fingerprint)
            return True
        return False

    def _advance_file_marks(self) -> list[DomainEvent]:
        """The marks' events, to be saved first: the events after them stay those of the inputs,
        in trigger order (`InputBatch` counts the reacting ones from the end)."""
        mark_events: list[DomainEvent] = []
        for source, item in self.files_applied.items():
            scenario_file = self.find(_stream_id(scenario_file_id, source))
            if scenario_file is None:  # applied without a run that began it (tests, tools)
                scenario_file = ScenarioFile(source=source, overlay_fingerprint=None)
                self.add(scenario_file)
            scenario_file.advance(item.ordinal, item.line, item.chain)
            mark_events.extend(scenario_file.collect_events())
        self.files_applied = {}
        return mark_events

    def reject(self, item: LedgerInput, error: str) -> None:
        self.log(
            self.app.rejections_log,
            line=item.line,
            source=item.source,
            op=item.op,
            input_id=item.input_id,
            account=getattr(item.body, "account", None),
            error=error,
            at=item.at,
            cause=item.cause(),
        )

    def pending_count(self) -> int:
        return len(self.log_events) + sum(len(a.pending_events) for a in self.touched.values())

    def has_changes(self) -> bool:
        return bool(self.events) or self.pending_count() > 0

    def checkpoint(self) -> list[Any]:
        """Collects the events triggered since the last checkpoint, in the order they
        were triggered; directory log entries follow them."""
        new_events: list[Any] = []
        for aggregate in self.touched.values():
            new_events.extend(aggregate.collect_events())
        self.touched = {}
        if len(new_events) > 1:
            new_events.sort(key=_timestamp)  # trigger order (`OrderedTimestamps`)
        new_events.extend(self.log_events)
        self.log_events = []
        self.events.extend(new_events)
        return new_events

    def commit(self, tracking: Tracking | None = None, more_tracking: Sequence[Tracking] = ()) -> list[Recording]:
        """Saves every collected event, with `tracking` if given, in one transaction; the
        service mode's recorder (`ledger.recorders`) saves `more_tracking` too."""
        self.checkpoint()
        self.events[0:0] = self._advance_file_marks()
        saved_with: dict[str, Any] = {}
        if self.inputs:
            # First in the transaction: the events after it stay in trigger order.
            logged, saved_with = self.app.log_inputs(self.app.next_log_version(self.app.inputs_log), self.inputs)
            self.events.insert(0, logged)
            self.inputs = []
        if not self.events and tracking is None:
            return []
        processing_event: ProcessingEvent[uuid.UUID] = ProcessingEvent(tracking=tracking)
        processing_event.saved_kwargs.update(saved_with)
        if more_tracking:
            processing_event.saved_kwargs[MORE_TRACKING] = list(more_tracking)
        # The events are collected already: hand them over as they are (collect_events
        # would test each against a runtime protocol, a cost per event).
        for event in self.events:
            assert_balanced(event)  # the ledger's invariant, where money is written
        processing_event.events.extend(self.events)
        processing_event.aggregates.update(self.aggregates)
        try:
            recordings = self.app._record(processing_event)
        except Exception:
            self.app.forget_cached_state()
            raise
        self.app._take_snapshots(processing_event)
        self.events = []
        return recordings


class _Marks(Mapping[str, Mark]):
    """The latest mark of each asset (or futures symbol), loaded from its market stream
    when asked for."""

    def __init__(self, uow: UnitOfWork, stream_id: Callable[[str], uuid.UUID]):
        self.uow = uow
        self.stream_id = stream_id

    def __getitem__(self, asset: str) -> Mark:
        mark = self.get(asset)
        if mark is None:
            raise KeyError(asset)
        return mark

    def get(self, asset: str, default: Any = None) -> Any:
        """Without a KeyError raised and caught for each asset never marked (`Mapping.get`)."""
        market = self.uow.find_named(self.stream_id, asset)
        return default if market is None or market.mark is None else market.mark

    def __contains__(self, asset: object) -> bool:
        return isinstance(asset, str) and self.get(asset) is not None

    def __iter__(self) -> Iterator[str]:  # pragma: no cover - marks are looked up, not listed
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover
        raise NotImplementedError
