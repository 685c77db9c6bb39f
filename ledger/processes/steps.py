"""The step registry: every step of every product, with the handler that carries it out.

A product declares its steps as an enum of its own (a `StrEnum`, whose values name
the tracking records `ledger.{step}.{subject}` and the Celery tasks `ledger.{step}`:
they are stored, so they never change) and registers each with its handler (`step`).
`ProcessSteps.run` looks a reaction's step up here; the workers make one Celery task
of every registered step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ledger.application import Ledger
from ledger.domain.identity import account_id
from ledger.processes.indexes import Indexes
from ledger.processes.routing import Event, Reaction
from ledger.unit_of_work import UnitOfWork


class Subject(StrEnum):
    """What a step acts on; the values name it in the workers' log lines."""

    ACCOUNT = "account"  # an account's name
    LIQUIDATION = "liquidation_id"  # a liquidation's id
    OFFER = "offer"  # the asset of offered liquidity, or a liquidation whose sales end


Handler = Callable[["ProcessSteps", UnitOfWork, Reaction, Event, dict[str, Any]], None]


@dataclass(frozen=True)
class StepSpec:
    step: StrEnum
    handler: Handler
    subject: Subject
    # Reactions of this step may draw on one another's accounts: in service mode they run
    # one after the other in subject order, each alone in its task, as `ledger run` runs them.
    one_at_a_time: bool = False

    @property
    def description(self) -> str:
        return self.handler.__doc__ or ""


_STEPS: dict[str, StepSpec] = {}


def step(*steps: StrEnum, subject: Subject, one_at_a_time: bool = False) -> Callable[[Handler], Handler]:
    """Registers `handler` as what each of `steps` does."""

    def register(handler: Handler) -> Handler:
        for name in steps:
            assert name not in _STEPS, f"step {name} is registered twice"
            _STEPS[name] = StepSpec(name, handler, subject, one_at_a_time)
        return handler

    return register


def aggregates_acted_on(reaction: Reaction, event: Event) -> list[uuid.UUID]:
    """The aggregates a reaction's step loads, as its subject and causing event name them:
    an account; a liquidation and the account its event names; the takeovers that offered
    liquidity may serve. A task reads those of all its reactions at once (`UnitOfWork.preload`)."""
    if _STEPS[reaction.step].subject == Subject.ACCOUNT:
        return [account_id(reaction.subject)]
    ids = [uuid.UUID(takeover) for takeover in reaction.takeovers]
    try:
        ids.append(uuid.UUID(reaction.subject))
    except ValueError:
        pass  # an asset: the sales against its offer of liquidity
    account = getattr(event, "account", None)
    if isinstance(account, str):
        ids.append(account_id(account))
    return ids


def step_spec(name: str) -> StepSpec:
    return _STEPS[name]


def registered_steps() -> list[StepSpec]:
    return list(_STEPS.values())


def task_name(name: str) -> str:
    """The Celery task that runs a step in service mode."""
    return f"ledger.{name}"


class ProcessSteps:
    """The process code: every registered step, run on a unit of work. `indexes`, when
    given, are the inline driver's (`ledger.processes.indexes`), which its steps keep up
    to date with what they find (a margin assessment, which marks could change it)."""

    def __init__(self, app: Ledger, indexes: Indexes | None = None):
        self.app = app
        self.indexes: Indexes = indexes or {}

    def run(self, uow: UnitOfWork, reaction: Reaction, event: Event, cause: dict[str, Any]) -> None:
        _STEPS[reaction.step].handler(self, uow, reaction, event, cause)
