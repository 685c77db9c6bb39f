"""What each recorded event calls for: a table keyed by the event's class.

A product registers, from its own module, the reactions each of its events calls
for (`reacts`), the next steps of an event of its own streams that depend on that
event alone (`follows_on`: a worker runs them as soon as the event is saved), and the
events that call for nothing although their base class would (`calls_for_nothing`).
The drivers look an event up here and never ask which product it belongs to.

An event's class is looked up along its method resolution order: the most specific
registered class answers. Several registrations for one class add up, in the order
they were made (an hour calls for the interest of every product).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ledger.unit_of_work import UnitOfWork

Event = Any  # a domain event of any product
ReactionsOf = Callable[[Event, "Situation"], list["Reaction"]]
NextSteps = Callable[[Event], list["Reaction"]]
# Inline (`ledger run`): whether reacting to an event could record anything, asked of the
# driver (`ledger.processes.inline.ProcessManager`) as the event is applied.
InlineCheck = Callable[[Event, Any, Any], bool]
IndexOf = TypeVar("IndexOf")


@dataclass(frozen=True)
class Reaction:
    """A step an event calls for, and what it acts on."""

    step: str
    subject: str  # an account name, a liquidation id, or the asset of offered liquidity
    takeovers: tuple[str, ...] = ()  # a liquidity offer's candidates: the takeovers open when it came


@dataclass(frozen=True)
class Situation:
    """What the events before the routed one left, as a driver knows it: each account,
    and the indexes the products keep for the driver (`ledger.processes.indexes`)."""

    account: Callable[[str], Any]
    indexes: Mapping[type, Any]  # each index under its class and the index classes it derives from
    # Inline (`ledger run`), the unit of work holding the store's state, for indexes that
    # answer from it; the dispatcher routes from its indexes alone.
    uow: UnitOfWork | None = None

    def index(self, kind: type[IndexOf]) -> IndexOf:
        found: IndexOf = self.indexes[kind]
        return found


@dataclass
class Route:
    reactions: list[ReactionsOf] = field(default_factory=list)
    next_steps: list[NextSteps] = field(default_factory=list)
    inline_checks: list[InlineCheck] = field(default_factory=list)
    # Its reactions run once everything recorded before it is processed, and before anything after it.
    barrier: bool = False
    # Its reactions are not idempotent by state: inline, its position is recorded even when they record nothing.
    tracked_at_once: bool = False


_ROUTES: dict[type, Route] = {}
_FOUND: dict[type, Route | None] = {}  # lookups along the resolution order, cleared by every registration


def _route(event_class: type) -> Route:
    _FOUND.clear()
    return _ROUTES.setdefault(event_class, Route())


def _always(_event: Event, _driver: Any, _uow: Any) -> bool:
    return True


def reacts(
    *event_classes: type, barrier: bool = False, tracked_at_once: bool = False, inline_check: InlineCheck = _always
) -> Callable[[ReactionsOf], ReactionsOf]:
    """Registers `reactions(event, situation)` as what events of these classes call for."""

    def register(reactions: ReactionsOf) -> ReactionsOf:
        for event_class in event_classes:
            route = _route(event_class)
            route.reactions.append(reactions)
            route.inline_checks.append(inline_check)
            route.barrier = route.barrier or barrier
            route.tracked_at_once = route.tracked_at_once or tracked_at_once
        return reactions

    return register


def follows_on(*event_classes: type) -> Callable[[NextSteps], NextSteps]:
    """Registers `next_steps(event)`: the steps an event of these classes calls for, from
    the event alone; they are its reactions too."""

    def register(next_steps: NextSteps) -> NextSteps:
        reacts(*event_classes)(lambda event, _situation: next_steps(event))
        for event_class in event_classes:
            _route(event_class).next_steps.append(next_steps)
        return next_steps

    return register


def calls_for_nothing(*event_classes: type) -> None:
    """Events that call for nothing, though a base class of theirs does."""
    for event_class in event_classes:
        _route(event_class)


def route_of(event: Event) -> Route | None:
    event_class = type(event)
    if event_class not in _FOUND:
        _FOUND[event_class] = next((_ROUTES[c] for c in event_class.__mro__ if c in _ROUTES), None)
    return _FOUND[event_class]


def reactions_to(event: Event, situation: Situation) -> list[Reaction]:
    """What `event` calls for, given the state the events before it left."""
    route = route_of(event)
    return [] if route is None else [r for reactions in route.reactions for r in reactions(event, situation)]


def next_steps(event: Event) -> list[Reaction]:
    """The steps that follow on from `event` whatever else the store holds."""
    route = route_of(event)
    return [] if route is None else [r for steps in route.next_steps for r in steps(event)]


def may_react_inline(event: Event, driver: Any, uow: Any) -> bool:
    """False only when reacting to `event` would record nothing (`ledger run` then saves
    it with the inputs after it)."""
    route = route_of(event)
    return route is not None and any(check(event, driver, uow) for check in route.inline_checks)


def is_barrier(event: Event) -> bool:
    route = route_of(event)
    return route is not None and route.barrier


def is_tracked_at_once(event: Event) -> bool:
    route = route_of(event)
    return route is not None and route.tracked_at_once


def reaction_tracking_name(reaction: Reaction) -> str:
    """Service mode: the tracking record of a step on its subject, which holds the last
    notification it was run for."""
    return f"ledger.{reaction.step}.{reaction.subject}"
