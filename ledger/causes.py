"""Why an event happened: the `cause` every event carries, a small JSON object.

Its shapes, by `kind`:

- `input`: the events an input made, `{"kind": "input", "source", "line", "op",
  "input_id"?, "actor"}`; the actor is who submitted it (an API key's name, or the
  CLI's `--actor`, by default the OS user).
- `process`: the events of a process step, `{"kind": "process", "notification_id",
  "event", "step", "origin"}`: the notification and event it reacted to, the step that
  ran, and `origin`, the cause of the input (or clock tick, or run) that set the chain
  off, carried from step to step, so that every step names the input and its actor.
- `run`: a run's `--params` overlay, `{"kind": "run", "source", "actor"}`.
- `clock`: an hour begun by `ledger beat`; `system`: the first parameter version.

Events stored before actors existed carry no `actor` (and a process step no
`origin`): `actor_of` gives None for them, which the read side shows as not recorded.
The actor is never part of an input's fingerprint (`ledger.inputs.records.fingerprint`):
the same input submitted by two people is the same input.
"""

from __future__ import annotations

from typing import Any

Cause = dict[str, Any]

NOT_RECORDED = "(not recorded)"  # how the read side shows the actor of an event stored before actors


def input_cause(source: str, line: int, op: str, input_id: str | None, actor: str | None) -> Cause:
    cause: Cause = {"kind": "input", "source": source, "line": line, "op": op}
    if input_id is not None:
        cause["input_id"] = input_id
    if actor is not None:
        cause["actor"] = actor
    return cause


def origin_of(cause: Cause | None) -> Cause | None:
    """The cause that set a chain of process steps off (an input's, a clock tick's, a
    run's); a cause that is not a process step's is its own origin."""
    if not cause:
        return None
    if cause.get("kind") == "process":
        origin = cause.get("origin")
        return origin if isinstance(origin, dict) else None
    return cause


def process_cause(event: Any, notification_id: int) -> Cause:
    """The cause every event of a reaction carries: the notification it reacted to, and
    the origin of the event it reacted to. The step adds its own name (`step`)."""
    cause: Cause = {"kind": "process", "notification_id": notification_id, "event": type(event).__qualname__}
    origin = origin_of(getattr(event, "cause", None))
    if origin is not None:
        cause["origin"] = origin
    return cause


def actor_of(cause: Cause | None) -> str | None:
    """Who is behind an event: the actor of its input, or of the input that set off the
    process step that made it; None when the store did not record one."""
    origin = origin_of(cause)
    if origin is None:
        return None
    actor = origin.get("actor")
    return actor if isinstance(actor, str) else None
