"""The Ledger application: the command side. One method per input kind.

A command loads what it needs through a `UnitOfWork`, applies the rule on the
aggregates, and the unit of work saves every pending event in one transaction:
a movement and its counter-entry together. A refused command records an
`InputRejected` instead, and nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application, EventSourcedLog, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import Recording, Tracking

from ledger.domain.errors import Rejected
from ledger.domain.identity import account_id
from ledger.domain.limits import use_ledger_decimal_context
from ledger.domain.moved_topics import register_moved_topics
from ledger.domain.margin.account import Account
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.market import (
    ACCOUNTS_LOG_ID,
    CLOCK_ID,
    INPUTS_LOG_ID,
    LIQUIDATIONS_LOG_ID,
    PARAMETERS_ID,
    REJECTIONS_LOG_ID,
    AccountLogged,
    AssetMarket,
    Clock,
    InputReceipt,
    InputRejected,
    InputsRecorded,
    LiquidationLogged,
    ParameterSet,
    ScenarioFile,
    market_id,
    receipt_id,
    scenario_file_id,
)
from ledger.domain.parameters import (
    DEFAULT_LEVERAGE,
    RiskParameters,
    first_version_data,
    overlay_changes,
)
from ledger.domain.prices import Mark, PriceBook
from ledger.idempotency import FileMark, LineAlreadyApplied
from ledger.inputs import (
    AutoTopUpInput,
    BorrowInput,
    ClockInput,
    DepositInput,
    FillInput,
    LedgerInput,
    LiquidityInput,
    MarkInput,
    OpenInput,
    ParamsInput,
    RepayInput,
    TransferInput,
    WithdrawInput,
    fingerprint,
    input_record,
    overlay_record,
    recorded_time,
)
from ledger.recorders import MORE_TRACKING

SYSTEM_CAUSE = {"kind": "system"}
QUIET_HOURS_PER_SAVE = 1000


class Ledger(Application):
    """The event-sourced ledger. Its recorder also keeps tracking records, so that
    the process manager (`ledger.processes`) records its reactions exactly once."""

    name = "ledger"
    snapshotting_intervals = {
        Account: 200,
        AssetMarket: 200,
        Liquidation: 100,
        ParameterSet: 50,
        Clock: 200,
        ScenarioFile: 200,
    }

    def __init__(self, env: Mapping[str, str] | None = None):
        use_ledger_decimal_context()
        register_moved_topics()
        super().__init__(env)
        self.accounts_log = EventSourcedLog(self.events, ACCOUNTS_LOG_ID, AccountLogged)
        self.liquidations_log = EventSourcedLog(self.events, LIQUIDATIONS_LOG_ID, LiquidationLogged)
        self.rejections_log = EventSourcedLog(self.events, REJECTIONS_LOG_ID, InputRejected)
        self.inputs_log = EventSourcedLog(self.events, INPUTS_LOG_ID, InputsRecorded)
        self._next_log_versions: dict[uuid.UUID, int] = {}
        self.parameter_overlay: dict[str, Any] = {}
        self.store_url: str | None = None  # set when opened by URL (`ledger.inline.open_ledger`)

    def construct_recorder(self):  # type: ignore[no-untyped-def]
        return self.factory.process_recorder()

    # --- reading ---------------------------------------------------------------

    def account_names(self) -> list[str]:
        return [logged.account for logged in self.accounts_log.get()]

    def liquidation_ids(self) -> list[uuid.UUID]:
        return [logged.liquidation_id for logged in self.liquidations_log.get()]

    def rejections(self) -> list[InputRejected]:
        return list(self.rejections_log.get())

    def recorded_inputs(self) -> Iterator[dict[str, Any]]:
        """Every input applied to the store, in the order it was applied."""
        for recorded in self.inputs_log.get():
            yield from recorded.inputs

    def store_clock(self) -> datetime | None:
        """The store's one clock: the time of the last input it recorded, or of the last hour
        it began, whichever is later (hours begun for an input a crash then lost count too)."""
        last = self.inputs_log.get_last()
        times = [] if last is None or not last.inputs else [recorded_time(last.inputs[-1])]
        try:
            times.append(self.repository.get(CLOCK_ID).current_hour)
        except AggregateNotFoundError:
            pass
        return max(times, default=None)

    def file_mark(self, source: str) -> FileMark | None:
        """How far the scenario file `source` was applied to this store."""
        try:
            scenario_file = self.repository.get(scenario_file_id(source))
        except AggregateNotFoundError:
            return None
        return FileMark(
            source=source,
            inputs_applied=scenario_file.inputs_applied,
            through_line=scenario_file.through_line,
            chain_digest=scenario_file.chain_digest,
            overlay_fingerprint=scenario_file.overlay_fingerprint,
        )

    def overlay_fingerprint(self) -> str | None:
        return fingerprint(self.parameter_overlay) if self.parameter_overlay else None

    def parameter_data(self) -> dict[str, Any]:
        try:
            return self.repository.get(PARAMETERS_ID).data
        except AggregateNotFoundError:
            return first_version_data(self.parameter_overlay)

    def next_log_version(self, log: EventSourcedLog[Any]) -> int:
        if log.originator_id not in self._next_log_versions:
            last = log.get_last()
            self._next_log_versions[log.originator_id] = 1 if last is None else last.originator_version + 1
        version = self._next_log_versions[log.originator_id]
        self._next_log_versions[log.originator_id] = version + 1
        return version

    def forget_cached_state(self) -> None:
        """After a failed save: cached aggregates and log positions may hold unsaved events."""
        if self.repository.cache is not None:
            self.repository.cache.clear()
        self._next_log_versions.clear()

    # --- the command side ----------------------------------------------------------

    def apply(self, item: LedgerInput) -> list[Recording]:
        """Applies one validated input in one transaction (or records its rejection)."""
        uow = UnitOfWork(self)
        self.apply_within(uow, item)
        return uow.commit()

    def apply_within(self, uow: UnitOfWork, item: LedgerInput) -> None:
        """Applies one input to the aggregates of `uow`, which may hold earlier inputs too."""
        uow.require_not_applied(item)
        uow.inputs.append(input_record(item))
        uow.note_applied(item)
        if item.input_id is not None and not uow.admit(item):
            return
        pending_before = uow.pending_count()
        try:
            self._dispatch(uow, item)
        except Rejected as rejection:
            assert uow.pending_count() == pending_before, "a refused command must leave no event behind"
            uow.reject(item, str(rejection))

    def clock_started(self) -> bool:
        try:
            self.repository.get(CLOCK_ID)
        except AggregateNotFoundError:
            return False
        return True

    def hour_due(self, at: datetime) -> bool:
        """Whether time reaching `at` passes an hh:00 the clock has not begun (or starts it)."""
        try:
            clock = self.repository.get(CLOCK_ID)
        except AggregateNotFoundError:
            return True
        return clock.current_hour + timedelta(hours=1) <= at

    def _dispatch(self, uow: UnitOfWork, item: LedgerInput) -> None:
        body, at, cause = item.body, item.at, item.cause()
        if isinstance(body, OpenInput):
            self.open_account(uow, body, at, cause)
        elif isinstance(body, DepositInput):
            uow.account(body.account).deposit(body.asset, body.amount, at, cause)
        elif isinstance(body, WithdrawInput):
            uow.account(body.account).withdraw(body.asset, body.amount, uow.prices(), at, cause)
        elif isinstance(body, TransferInput):
            self.transfer(uow, body, at, cause)
        elif isinstance(body, BorrowInput):
            uow.account(body.account).borrow(body.asset, body.amount, uow.prices(), uow.parameters(), at, cause)
        elif isinstance(body, RepayInput):
            uow.account(body.account).repay(body.asset, body.amount, at, cause)
        elif isinstance(body, FillInput):
            uow.account(body.account).fill(
                body.side, body.base, body.quote, body.quantity, body.price, uow.parameters(), at, cause
            )
        elif isinstance(body, MarkInput):
            assert body.asset is not None
            quote = body.quote or uow.parameters().valuation_asset
            uow.market(body.asset, at, cause).record_mark(body.asset, body.price, quote, at, cause)
        elif isinstance(body, LiquidityInput):
            quote = body.quote or uow.parameters().valuation_asset
            uow.market(body.asset, at, cause).offer_liquidity(body.asset, body.price, body.quantity, quote, at, cause)
        elif isinstance(body, AutoTopUpInput):
            self.enable_auto_topup(uow, body, at, cause)
        elif isinstance(body, ParamsInput):
            uow.parameter_set(at).change(overlay_changes(body.changes(), self.parameter_overlay), at, cause)
        elif isinstance(body, ClockInput):
            pass  # time passing is applied by `begin_hours` before every input
        else:  # pragma: no cover - inputs.py admits no other op
            raise AssertionError(f"no command for {body.op}")

    def open_account(self, uow: UnitOfWork, body: OpenInput, at: datetime, cause: dict[str, Any]) -> None:
        if uow.find(account_id(body.account)) is not None:
            raise Rejected(f"account {body.account} already exists")
        leverage = None
        if body.mode != "spot":
            leverage = body.leverage or DEFAULT_LEVERAGE[body.mode]
            if not uow.parameters().has_tier(body.mode, leverage):
                raise Rejected(
                    f"no margin tier for {body.mode} at {leverage}x in parameters version {uow.parameters().version}"
                )
        pair = body.pair.split("/") if body.pair else None
        account = Account(account=body.account, mode=body.mode, leverage=leverage, pair=pair, at=at, cause=cause)
        uow.add(account)
        uow.log(self.accounts_log, account=body.account, account_id=account.id)

    def transfer(self, uow: UnitOfWork, body: TransferInput, at: datetime, cause: dict[str, Any]) -> None:
        source = uow.account(body.from_account)
        destination = uow.account(body.to_account)
        destination.check_transfer_in(body.asset)
        source.transfer_out(body.asset, body.amount, destination.name, uow.prices(), at, cause)
        destination.transfer_in(body.asset, body.amount, source.name, at, cause)

    def enable_auto_topup(self, uow: UnitOfWork, body: AutoTopUpInput, at: datetime, cause: dict[str, Any]) -> None:
        source = uow.account(body.source)
        if source.mode != "spot":
            raise Rejected(f"auto top-up draws from a spot account; {source.name} is {source.mode}")
        uow.account(body.account).enable_auto_topup(source.name, body.assets, body.target, at, cause)

    def begin_hours(
        self, until: datetime, cause: dict[str, Any], quiet: Callable[[], bool] = lambda: False
    ) -> Iterator[list[Recording]]:
        """Records each hh:00 from the clock's hour up to `until`, one save each, so the
        interest of each hour is processed before time moves on; while `quiet()` says no
        hour's interest concerns anyone, hours share a save (a year is 8,784 of them)."""
        uow = UnitOfWork(self)
        clock = uow.find(CLOCK_ID)
        if clock is None:
            uow.add(Clock(at=until, cause=cause))
            yield uow.commit()
            return
        hour = clock.current_hour + timedelta(hours=1)
        while hour <= until:
            uow = UnitOfWork(self)
            clock = uow.get(CLOCK_ID)
            hours_in_save = 0
            while hour <= until and (hours_in_save == 0 or (hours_in_save < QUIET_HOURS_PER_SAVE and quiet())):
                clock.begin_hour(hour, hour, cause)
                hour += timedelta(hours=1)
                hours_in_save += 1
            yield uow.commit()

    def begin_run(self, first: LedgerInput, again: bool = False, kind: str = "run") -> list[Recording]:
        """Before a run's first input: version 1 of the parameters (defaults, with the run's
        overlay) once per store, and the file begun (or begun again). The overlay is
        recorded when its file is begun, not again when a run resumes it."""
        uow = UnitOfWork(self)
        new_store = uow.find(PARAMETERS_ID) is None
        if new_store:
            uow.parameter_set(first.at)
        begun = first.chain is None or uow.begin_file(first.source, self.overlay_fingerprint(), again)
        if self.parameter_overlay and begun:
            cause = {"kind": kind, "source": first.source}
            if not new_store:
                uow.get(PARAMETERS_ID).change(self.parameter_overlay, first.at, cause)
            # Recorded as a `params` input, so that a replay applies it where the run did.
            uow.inputs.append(overlay_record(self.parameter_overlay, first.at, cause))
        return uow.commit()


class UnitOfWork:
    """The aggregates one command or process step touches, saved in one transaction."""

    def __init__(self, app: Ledger):
        self.app = app
        self.aggregates: dict[uuid.UUID, Aggregate] = {}
        self.touched: dict[uuid.UUID, Aggregate] = {}  # handed out since the last checkpoint
        self.missing: set[uuid.UUID] = set()
        self.log_events: list[DomainEvent] = []
        self.inputs: list[dict[str, Any]] = []  # records of the inputs applied, saved with their effects
        self.files_applied: dict[str, LedgerInput] = {}  # per scenario file, its last input applied here
        self.events: list[Any] = []  # collected so far, in the order they happened

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
        self.touched[aggregate_id] = aggregate
        return aggregate

    def get(self, aggregate_id: uuid.UUID) -> Any:
        aggregate = self.find(aggregate_id)
        if aggregate is None:
            raise AggregateNotFoundError(aggregate_id)
        return aggregate

    def add(self, aggregate: Aggregate) -> None:
        self.missing.discard(aggregate.id)
        self.aggregates[aggregate.id] = aggregate
        self.touched[aggregate.id] = aggregate

    def account(self, name: str) -> Account:
        account = self.find(account_id(name))
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
        return PriceBook(_Marks(self), self.parameters())

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
        scenario_file = self.find(scenario_file_id(item.source))
        if scenario_file is not None and scenario_file.inputs_applied >= item.ordinal:
            raise LineAlreadyApplied(f"{item.source} line {item.line} was applied meanwhile by another writer")

    def note_applied(self, item: LedgerInput) -> None:
        """The file's mark moves to this input when the unit of work is saved (`ledger.idempotency`)."""
        if item.chain is not None:
            self.files_applied[item.source] = item

    def begin_file(self, source: str, overlay_fingerprint: str | None, again: bool) -> bool:
        """Whether the file is begun now (new to the store, or begun again on purpose)."""
        scenario_file = self.find(scenario_file_id(source))
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
            scenario_file = self.find(scenario_file_id(source))
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
        new_events.sort(key=lambda event: event.timestamp)  # trigger order (`OrderedTimestamps`)
        new_events.extend(self.log_events)
        self.log_events = []
        self.events.extend(new_events)
        return new_events

    def commit(self, tracking: Tracking | None = None, more_tracking: Sequence[Tracking] = ()) -> list[Recording]:
        """Saves every collected event, with `tracking` if given, in one transaction; the
        service mode's recorder (`ledger.recorders`) saves `more_tracking` too."""
        self.checkpoint()
        self.events[0:0] = self._advance_file_marks()
        if self.inputs:
            # First in the transaction: the events after it stay in trigger order.
            self.events.insert(
                0,
                self.app.inputs_log.trigger_event(
                    next_originator_version=self.app.next_log_version(self.app.inputs_log), inputs=self.inputs
                ),
            )
            self.inputs = []
        if not self.events and tracking is None:
            return []
        processing_event: ProcessingEvent[uuid.UUID] = ProcessingEvent(tracking=tracking)
        if more_tracking:
            processing_event.saved_kwargs[MORE_TRACKING] = list(more_tracking)
        # The events are collected already: hand them over as they are (collect_events
        # would test each against a runtime protocol, a cost per event).
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
    """The latest mark of each asset, loaded from its market stream when asked for."""

    def __init__(self, uow: UnitOfWork):
        self.uow = uow

    def __getitem__(self, asset: str) -> Mark:
        market = self.uow.find(market_id(asset))
        if market is None or market.mark is None:
            raise KeyError(asset)
        return market.mark

    def __iter__(self) -> Iterator[str]:  # pragma: no cover - marks are looked up, not listed
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover
        raise NotImplementedError
