"""The Ledger application: the event store, its directory logs, and what the store
knows (accounts, liquidations, recorded inputs, the clock, the parameters). It
reads; everything is saved through a unit of work (`ledger.unit_of_work`), along
the one write path (`ledger.write_path`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application, EventSourcedLog, ProcessingEvent, Repository
from eventsourcing.persistence import ApplicationRecorder, JSONTranscoder, Recording, Transcoder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.liquidation import FuturesLiquidation
from ledger.domain.futures.market import SymbolMarket
from ledger.domain.limits import use_ledger_decimal_context
from ledger.domain.margin.account import Account
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.market import (
    ACCOUNTS_LOG_ID,
    CLOCK_ID,
    INPUTS_LOG_ID,
    PARAMETERS_ID,
    REJECTIONS_LOG_ID,
    AccountLogged,
    AssetMarket,
    Clock,
    InputRejected,
    InputsRecorded,
    InputsSaved,
    ParameterSet,
    ScenarioFile,
    scenario_file_id,
)
from ledger.domain.moved_topics import register_moved_topics
from ledger.domain.parameters import (
    first_version_data,
)
from ledger.idempotency import FileMark
from ledger.inputs import (
    fingerprint,
    recorded_time,
)
from ledger.recorders import RECORDED_INPUTS, InputsApart, KeepsInputsApart, PostgresBulkRecorder
from ledger.stream_reads import mutate_in_turn, read_aggregates
from ledger.transcodings import FractionAsStr, LedgerTranscoder

# Listing every id scans the events (about 0.7 µs an event on PostgreSQL) where a read that
# finds nothing costs about 400 µs (two queries): measured at 100,000 accounts.
EVENTS_PER_MISSED_READ = 500


class KnownIdsRepository(Repository):  # type: ignore[type-arg]
    """The library's repository, which, once told every id that exists (`known`), answers
    "not found" for any other without a read: a new account, an asset never marked, an input
    id never seen. Only for the store's one writer (`Ledger.remember_existence`).

    Listing every id costs a scan of the store, which a short file on a large store would
    not repay: reads that find nothing are paid one by one until they have cost about what
    the list costs, and then it is read (as renting skis until their price is spent, then
    buying: never more than about twice the cheaper of the two)."""

    known: set[uuid.UUID] | None = None
    _misses_left = 0  # reads that find nothing before every id is listed
    _list_ids: Callable[[], set[uuid.UUID] | None] | None = None

    @classmethod
    def like(cls, repository: Repository) -> KnownIdsRepository:  # type: ignore[type-arg]
        known_ids = object.__new__(cls)
        known_ids.__dict__.update(vars(repository))
        return known_ids

    def learn_existence(self, list_ids: Callable[[], set[uuid.UUID] | None], after_misses: int) -> None:
        """Every id that exists, from `list_ids`, once `after_misses` reads have found nothing."""
        self._list_ids, self._misses_left = list_ids, after_misses
        if after_misses <= 0:
            self._list_existing()

    def get(self, aggregate_id: Any, **kwargs: Any) -> Any:
        if self.known is not None and aggregate_id not in self.known:
            raise AggregateNotFoundError(aggregate_id)
        kwargs.setdefault("projector_func", mutate_in_turn)
        try:
            return super().get(aggregate_id, **kwargs)
        except AggregateNotFoundError:
            self._missed()
            raise

    def _missed(self) -> None:
        if self._list_ids is None or self.known is not None:
            return
        self._misses_left -= 1
        if self._misses_left <= 0:
            self._list_existing()

    def _list_existing(self) -> None:
        assert self._list_ids is not None
        self.known = self._list_ids()


def existing_ids(recorder: ApplicationRecorder) -> set[uuid.UUID] | None:
    """Every stream's id in the store (every stream begins at version 1); None in memory,
    where a read costs nothing."""
    if isinstance(recorder, PostgresBulkRecorder):
        return recorder.originator_ids()
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT originator_id FROM {recorder.events_table_name} WHERE originator_version = 1")
            return {uuid.UUID(str(row[0])) for row in cursor.fetchall()}
    return None


# Each product's account starts its liquidations one after another; the liquidation's
# class derives its id from the account's name and that sequence number (`create_id`).
LIQUIDATION_CLASS_OF: dict[type, Any] = {Account: Liquidation, FuturesAccount: FuturesLiquidation}


def liquidations_of(account: Any) -> list[uuid.UUID]:
    """The ids of the liquidations `account` started, in the order it started them."""
    liquidation_class = LIQUIDATION_CLASS_OF[type(account)]
    return [
        liquidation_class.create_id(account=account.name, sequence=sequence)
        for sequence in range(1, account.liquidations_started + 1)
    ]


class Ledger(Application):
    """The event-sourced ledger. Its recorder also keeps tracking records, so that
    the processes (`ledger.processes`) record their reactions exactly once."""

    name = "ledger"
    snapshotting_intervals = {
        Account: 200,
        AssetMarket: 200,
        Liquidation: 100,
        ParameterSet: 50,
        Clock: 200,
        ScenarioFile: 200,
        FuturesAccount: 200,
        SymbolMarket: 200,
        FuturesLiquidation: 100,
    }

    def __init__(self, env: Mapping[str, str] | None = None):
        use_ledger_decimal_context()
        register_moved_topics()
        super().__init__(env)
        self.accounts_log = EventSourcedLog(self.events, ACCOUNTS_LOG_ID, AccountLogged)
        self.rejections_log = EventSourcedLog(self.events, REJECTIONS_LOG_ID, InputRejected)
        self.inputs_log = EventSourcedLog(self.events, INPUTS_LOG_ID, InputsRecorded)
        self._next_log_versions: dict[uuid.UUID, int] = {}
        self.parameter_overlay: dict[str, Any] = {}
        self.store_url: str | None = None  # set when opened by URL (`ledger.bootstrap.open_ledger`)

    def construct_transcoder(self) -> Transcoder:
        """Events are written compact and typed (`ledger.transcodings`); the library's JSON
        transcoder, with the transcodings below, reads what was written before."""
        legacy = super().construct_transcoder()
        assert isinstance(legacy, JSONTranscoder), "a store's old events are the library's JSON"
        return LedgerTranscoder(legacy)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(FractionAsStr())

    def construct_recorder(self):  # type: ignore[no-untyped-def]
        return self.factory.process_recorder()

    def construct_repository(self) -> KnownIdsRepository:
        return KnownIdsRepository.like(super().construct_repository())

    def remember_existence(self) -> None:
        """From now on, which aggregates exist is known in memory (once reads that found
        nothing have cost what listing them costs, `KnownIdsRepository`): an id never saved
        then costs no read. Only for the store's one writer, under its writer lease
        (`ledger.store`): an id another process creates meanwhile would be taken for missing."""
        assert isinstance(self.repository, KnownIdsRepository)
        events = self.recorder.max_notification_id() or 0
        self.repository.learn_existence(lambda: existing_ids(self.recorder), events // EVENTS_PER_MISSED_READ)

    def _record(self, processing_event: ProcessingEvent[uuid.UUID]) -> list[Recording[uuid.UUID]]:
        recordings = super()._record(processing_event)
        known = self.repository.known if isinstance(self.repository, KnownIdsRepository) else None
        if known is not None:
            known.update(event.originator_id for event in processing_event.events)
        return recordings

    # --- reading ---------------------------------------------------------------

    def account_names(self) -> list[str]:
        return [logged.account for logged in self.accounts_log.get()]

    def liquidation_ids(self, accounts: Iterable[Any] | None = None) -> list[uuid.UUID]:
        """Every liquidation's id, account by account in the order they were opened, each
        account's in the order it started them: a liquidation's id derives from its account
        and its sequence (`liquidations_of`), so no stream that every liquidation appends to
        lists them. `accounts`: every account, when the caller holds them already."""
        if accounts is None:
            found = read_aggregates(self, (logged.account_id for logged in self.accounts_log.get()))
            accounts = found.values()
        return [liquidation_id for account in accounts for liquidation_id in liquidations_of(account)]

    def rejections(self) -> list[InputRejected]:
        return list(self.rejections_log.get())

    def recorded_inputs(self) -> Iterator[dict[str, Any]]:
        """Every input applied to the store, in the order it was applied."""
        yield from self.inputs_logged_after(0)

    def inputs_logged_after(self, version: int) -> Iterator[dict[str, Any]]:
        """The inputs of the saves after `version` of the inputs log, in the order applied:
        in the log's events (`InputsRecorded`, stores written before) or kept apart, in the
        inputs table, under the version of their `InputsSaved` (read in one query)."""
        logged = list(self.inputs_log.get(gt=version))
        apart = self._inputs_apart(logged, version)
        for recorded in logged:
            if isinstance(recorded, InputsSaved):
                yield from apart[recorded.originator_version]
            else:
                yield from recorded.inputs

    def _inputs_apart(self, logged: list[Any], after: int) -> dict[int, list[dict[str, Any]]]:
        if not any(isinstance(recorded, InputsSaved) for recorded in logged):
            return {}
        assert isinstance(self.recorder, KeepsInputsApart), "inputs kept apart by a recorder that keeps none"
        decode = self.mapper.transcoder.decode
        return {
            kept.log_version: decode(kept.state)
            for kept in self.recorder.select_inputs(gt=after, lte=logged[-1].originator_version)
        }

    def inputs_of(self, recorded: Any) -> list[dict[str, Any]]:
        """The inputs of one event of the inputs log."""
        if isinstance(recorded, InputsSaved):
            version = recorded.originator_version
            return self._inputs_apart([recorded], version - 1)[version]
        return list(recorded.inputs)

    def log_inputs(self, version: int, inputs: list[dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
        """The inputs log's event of a save applying `inputs`, and what the recorder is to
        save with it: the inputs, in the inputs table when the recorder keeps them apart (the
        stores on disk), else in the event (in memory)."""
        if not isinstance(self.recorder, KeepsInputsApart):
            return self.inputs_log.trigger_event(next_originator_version=version, inputs=inputs), {}
        submitted = sum(1 for record in inputs if not record.get("overlay"))
        logged = self.inputs_log._trigger_event(
            logged_cls=InputsSaved, next_originator_version=version, submitted=submitted
        )
        return logged, {RECORDED_INPUTS: InputsApart(version, self.mapper.transcoder.encode(inputs))}

    def store_clock(self) -> datetime | None:
        """The store's one clock: the time of the last input it recorded, or of the last hour
        it began, whichever is later (hours begun for an input a crash then lost count too)."""
        last = self.inputs_log.get_last()
        last_inputs = [] if last is None else self.inputs_of(last)
        times = [recorded_time(last_inputs[-1])] if last_inputs else []
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

    def clock_started(self) -> bool:
        try:
            self.repository.get(CLOCK_ID)
        except AggregateNotFoundError:
            return False
        return True

    def hour_due(self, at: datetime) -> bool:
        """Whether time reaching `at` passes an hh:00 the clock has not begun (or starts it)."""
        next_hour = self.next_hour()
        return next_hour is None or next_hour <= at

    def next_hour(self) -> datetime | None:
        """The hh:00 the clock is to begin next; None before it starts (any time starts it)."""
        try:
            clock = self.repository.get(CLOCK_ID)
        except AggregateNotFoundError:
            return None
        return clock.current_hour + timedelta(hours=1)  # type: ignore[no-any-return]
