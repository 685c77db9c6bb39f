"""Why nothing is applied twice: the one place that explains it.

A back office hands the ledger a file, and after a crash (or by mistake) hands it
the same file again; a worker gets a task twice; a connection drops after a commit.
Every input passes through one write path (`ledger.write_path.apply_within`), and
each of these repeats is caught by one of three mechanisms:

1. **An input with an explicit `id`** (an idempotency key) is admitted once
   (`UnitOfWork.admit`, `ledger.unit_of_work`): its first occurrence leaves an
   `InputReceipt` (`ledger.domain.market`, a stream per id, `receipt_id`) holding the
   input's `fingerprint` (`ledger.inputs.records`: every field but `at`). The same id
   again with the same content has no effect; with other content it is a rejection
   (`UnitOfWork.reject`). This holds for a file's lines and for `ledger submit` alike.
2. **A line of a scenario file**, with or without an id, has an implicit id: the
   chain digest of the file's inputs 1..N (`chain_digest` below, carried as
   `LedgerInput.chain`), which names a line by its place in its file and everything
   before it. It is not stored per line: the store keeps one high-water mark per file
   (`ScenarioFile` in `ledger.domain.market`, keyed by the file's name; read as a
   `FileMark`): how many inputs were applied, through which line, and the chain digest
   there, moved in the same transaction as the inputs it counts
   (`UnitOfWork.note_applied`, then `UnitOfWork.commit`). Running a file again skips
   what is applied (a rejected line counts as applied) after checking that the chain
   still matches (`ledger.inputs.parser`, `_applied_prefix`); validation and the clock
   rule start at the first line not yet applied. An applied part that was edited is an
   input error naming the first line that differs (read from `latest_round` below).
   A line another writer applied meanwhile (two `ledger submit`s of one file) raises
   `LineAlreadyApplied` (`UnitOfWork.require_not_applied`). `ledger run --again`
   begins the file anew (`UnitOfWork.begin_file`, `ScenarioFile.BegunAgain`); explicit
   ids still hold then. A run's `--params` overlay is recorded when its file is begun
   (`ledger.write_path.begin_run`), not again on a resumed run.
3. **A reaction to an event** (a margin evaluation, a liquidation step, an hour's
   interest) saves its events with a tracking record of the notification it reacted
   to, in one transaction (`UnitOfWork.commit(tracking=...)`): a reaction found
   recorded is not run again. `ledger run` tracks one position, under the
   application's name (`ProcessManager` in `ledger.processes.inline`); the service
   mode one per step and subject, `ledger.{step}.{subject}` (`reaction_tracking_name` in
   `ledger.processes.routing`; `run_reactions` in `ledger.processes.service_reactions`), and the dispatcher its own
   (`ledger.dispatcher`, `DISPATCHER_TRACKING`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CHAIN_SEED = hashlib.sha256(b"ledger scenario file chain, version 1").hexdigest()


def canonical_json(raw: dict[str, Any]) -> str:
    """One text per JSON object, whatever its key order or spacing in the file."""
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def chain_digest(previous: str, raw: dict[str, Any]) -> str:
    """The implicit id of an input: the digest of the one before it and its own content."""
    return hashlib.sha256(f"{previous}\n{canonical_json(raw)}".encode()).hexdigest()


class LineAlreadyApplied(Exception):
    """A line at or below its file's mark: another writer (two `ledger submit`s of one file)
    applied it meanwhile. Nothing of it is applied again."""


@dataclass(frozen=True)
class FileMark:
    """How far a file was applied to a store (the state of its `ScenarioFile`)."""

    source: str
    inputs_applied: int
    through_line: int
    chain_digest: str | None
    overlay_fingerprint: str | None


def latest_round(records: Iterable[dict[str, Any]], source: str, inputs_applied: int) -> list[dict[str, Any]]:
    """The inputs recorded from `source` since it was last begun, in order. Each input
    applied leaves one record, in the save that moves the file's mark: the round is the
    last `inputs_applied` records of the file (its mark's count)."""
    found = [record["input"] for record in records if record["source"] == source and not record.get("overlay")]
    return found[max(0, len(found) - inputs_applied) :]
