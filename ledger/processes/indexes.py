"""The drivers' indexes: what the products keep in memory of the recorded events, so
that a driver routes an event without searching the store (who owes, which marks may
change whom, which takeovers are open...).

A product registers each of its indexes for the drivers that keep one (`kept_by`):
`ledger run`'s (`Driver.INLINE`, `ledger.processes.inline.ProcessManager`) and the
dispatcher's (`Driver.SERVICE`, `ServiceIndex`). A driver makes one of each as it
starts, loads them from the store as it stands, and tells them every event (what an
event changes in an index is looked up by the event's class: `singledispatchmethod`).
The routing table's reactions find them in the `Situation`, the steps in
`ProcessSteps.indexes`, each under its class and the index classes it derives from.

Whether an hour's processes concern anyone (`ledger run` begins the hours that concern
no one together) is asked of what the products registered (`hours_concern`).

`ledger run`'s driver starts from the latest snapshot of its indexes where one is usable
(`ledger.processes.snapshots`: the protocol is `DriverIndex`'s), instead of loading
every account.

`ServiceIndex` also follows each account's aggregate through the events that a product
registers as its accounts' (`follows_accounts`), with the events' own mutators, so
that no rule is written twice.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, ClassVar

from ledger.application import Ledger
from ledger.dispatch import singledispatchmethod
from ledger.domain.identity import account_id
from ledger.processes.routing import Reaction, Situation, reactions_to
from ledger.unit_of_work import UnitOfWork


class Driver(StrEnum):
    INLINE = "inline"  # `ledger run`
    SERVICE = "service"  # the dispatcher of `ledger submit`


class DriverIndex:
    """An index a product keeps for a driver; each hook does nothing unless overridden.

    Snapshots (`ledger.processes.snapshots`). An index class that sets `snapshot_version`
    (an int, raised whenever what `snapshot` returns changes shape or meaning: a snapshot
    of another version is ignored, and the driver loads from the store) is snapshotted:

    - `snapshot()` returns its state as plain data: None, bool, int, float, str, bytes,
      lists, dicts with str keys (stored as msgpack: a tampered store cannot make it run
      code), numpy arrays as `ledger.processes.plain_state.array_state`;
    - `restore(state)` makes an empty index (just made) that state again, reading arrays
      with `restored_array`; anything that does not fit raises (any exception: the
      driver then ignores the snapshot and loads);
    - the restored index is then told every event recorded after the snapshot's
      position (`observe`, in order), with `account` finding each account as the store
      holds it now, not as the event left it: `observe` must set what an account's
      state says (as `load` does), never add a difference to what the index held;
    - `contents()` is what a rebuilt index must equal, in terms that do not depend on
      the order it was fed in (the snapshot tests compare a restored and caught-up
      index with a loaded one).

    An index with a numpy array adds a few lines: `snapshot_version = 1`,
    `snapshot` returning `{"rows": array_state(self.rows[: self.used]), ...}`, `restore`
    the reverse, `contents` its entries by name. One class of the driver without
    `snapshot_version` and no snapshot of that driver is taken or used.
    """

    snapshot_version: ClassVar[int | None] = None  # None: not snapshotted

    def load(self, uow: UnitOfWork, accounts: Sequence[Any]) -> None:
        """From the store as it stands when the driver starts: `accounts` are every account."""

    @singledispatchmethod
    def observe(self, event: Any, account: Callable[[str], Any]) -> None:
        """Notes what `event` changed; `account` finds an account as the event left it.

        An index registers a method for each event class it follows; its base `observe` (for
        every other class) does nothing, and the drivers skip it (`Observers`)."""

    def figures(self) -> dict[str, int]:
        """What the dispatcher's first log line tells of it."""
        return {}

    def snapshot(self) -> Any:
        """Its state as plain data (see the class's docstring)."""
        raise NotImplementedError(f"{type(self).__name__} is not snapshotted")

    def restore(self, state: Any) -> None:
        """Made what `snapshot` returned, from empty."""
        raise NotImplementedError(f"{type(self).__name__} is not snapshotted")

    def contents(self) -> Any:
        """What a rebuilt index must equal (compared by the snapshot tests)."""
        raise NotImplementedError(f"{type(self).__name__} tells no contents")


Observe = Callable[[Any, Callable[[str], Any]], None]


class Observers:
    """The indexes' `observe` for each event class, looked up once a class, without those
    that do nothing with it (their base `observe`): most indexes follow one product's events."""

    def __init__(self, each_index: Sequence[DriverIndex]):
        self.each_index = each_index
        self._of_class: dict[type, list[Observe]] = {}

    def tell(self, event: Any, account: Callable[[str], Any]) -> None:
        """Tells every index that follows events of its class of `event`."""
        observers = self._of_class.get(type(event))
        if observers is None:
            found = (observer_of(index, type(event)) for index in self.each_index)
            observers = self._of_class[type(event)] = [observe for observe in found if observe is not None]
        for observe in observers:
            observe(event, account)


def observer_of(index: DriverIndex, event_class: type) -> Observe | None:
    """`index.observe` as it would be dispatched for events of `event_class`, bound; None
    when it is the base implementation, which does nothing (`DriverIndex.observe`)."""
    descriptor = inspect.getattr_static(index, "observe")
    if not isinstance(descriptor, functools.singledispatchmethod):
        return index.observe
    function = descriptor.dispatcher.dispatch(event_class)
    if function is descriptor.dispatcher.registry[object]:
        return None
    return function.__get__(index, type(index))  # type: ignore[no-any-return]


Indexes = Mapping[type, Any]  # each index under its class and the index classes it derives from
HourConcern = Callable[[Indexes], bool]

_KEPT: dict[Driver, list[type[DriverIndex]]] = {driver: [] for driver in Driver}
_HOUR_CONCERNS: list[HourConcern] = []


def kept_by(*drivers: Driver) -> Callable[[type[DriverIndex]], type[DriverIndex]]:
    """Registers the decorated index class as one that each of `drivers` keeps."""

    def register(index_class: type[DriverIndex]) -> type[DriverIndex]:
        for driver in drivers:
            _KEPT[driver].append(index_class)
        return index_class

    return register


def hours_concern(concern: HourConcern) -> HourConcern:
    """Registers `concern(indexes)`: whether an hour calls for any of a product's processes."""
    _HOUR_CONCERNS.append(concern)
    return concern


def an_hour_concerns_anyone(indexes: Indexes) -> bool:
    return any(concern(indexes) for concern in _HOUR_CONCERNS)


def new_indexes(driver: Driver) -> dict[type, DriverIndex]:
    """One empty index of each class the driver keeps, found under every index class it is."""
    indexes: dict[type, DriverIndex] = {}
    for index_class in _KEPT[driver]:
        index = index_class()
        for kind in index_class.__mro__:
            if issubclass(kind, DriverIndex) and kind is not DriverIndex:
                assert kind not in indexes, f"the {driver} driver keeps two {kind.__name__}"
                indexes[kind] = index
    return indexes


def distinct(indexes: Indexes) -> list[DriverIndex]:
    """Each index once, in the order they were registered."""
    return list({id(index): index for index in indexes.values()}.values())


def loaded_accounts(uow: UnitOfWork) -> list[Any]:
    """Every account, as the store holds it (read in one go)."""
    names = uow.app.account_names()
    uow.preload(account_id(name) for name in names)
    return [uow.account(name) for name in names]


class FollowedAccounts(dict[str, Any]):
    """Each account the dispatcher follows, by name. Given `read` (an account as the store
    holds it, None where there is none), an account not held yet is read when first
    asked: a dispatcher whose indexes were restored from a snapshot holds none at first."""

    def __init__(self, read: Callable[[str], Any | None] | None = None):
        super().__init__()
        self.read = read

    def __missing__(self, name: str) -> Any:
        account = self.read_now(name)
        if account is None:
            raise KeyError(name)
        return account

    def read_now(self, name: str) -> Any | None:
        """The account as the store holds it, now held; None where there is none (or no `read`)."""
        account = None if self.read is None else self.read(name)
        if account is not None:
            self[name] = account
        return account


class ServiceIndex:
    """Every account as the last event observed left it, and the indexes the products
    keep for the dispatcher. Loaded (`load`), it holds every account; restored from a
    snapshot of the indexes (`ledger.processes.snapshots.service_index`), it reads each
    account when an event or a reaction first names it."""

    def __init__(
        self, indexes: dict[type, DriverIndex] | None = None, read_account: Callable[[str], Any | None] | None = None
    ) -> None:
        self.accounts = FollowedAccounts(read_account)
        self.indexes = indexes if indexes is not None else new_indexes(Driver.SERVICE)
        self.each_index = distinct(self.indexes)
        self.observers = Observers(self.each_index)

    @classmethod
    def load(cls, app: Ledger) -> ServiceIndex:
        """The index of the store as it stands now."""
        index = cls()
        with UnitOfWork(app) as uow:
            accounts = loaded_accounts(uow)
            index.accounts.update((account.name, account) for account in accounts)
            for kept in index.each_index:
                kept.load(uow, accounts)
        return index

    @singledispatchmethod
    def observe(self, event: Any) -> None:
        self._tell(event)

    def _follow_account(self, event: Any) -> None:
        held = event.account in self.accounts
        account = self.accounts[event.account] if held else self.accounts.read_now(event.account)
        if account is not None and event.originator_version <= account.version:
            if not held:  # read just now, as the event or a later one left it: the indexes note that
                self._tell(event)
            return  # already in the state the index was loaded with
        self.accounts[event.account] = event.mutate(account)
        self._tell(event)

    def _tell(self, event: Any) -> None:
        self.observers.tell(event, self.accounts.__getitem__)

    def reactions(self, event: Any) -> list[Reaction]:
        """What `event` calls for, given the state the events before it left."""
        return reactions_to(event, Situation(account=self.accounts.__getitem__, indexes=self.indexes))

    def figures(self) -> dict[str, int]:
        figures = {"accounts": len(self.accounts)}
        for index in self.each_index:
            figures.update(index.figures())
        return figures


def follows_accounts(*event_classes: type) -> None:
    """The dispatcher follows each account's aggregate through the events of these classes
    (a product's account events, which name their `account`)."""
    for event_class in event_classes:
        ServiceIndex.observe.register(event_class, ServiceIndex._follow_account)
