"""Many aggregates read at once: the latest snapshot of each in one query, the events
after it in another, decoded by the application's mapper and projected as the
library's repository does (`Repository._reconstruct_aggregate`: the snapshot, then
each later event's `mutate`). A worker's task acting on a hundred accounts reads them
in two queries in place of two hundred.

The SQL follows the library's tables (`originator_id, originator_version, topic,
state`) on PostgreSQL and SQLite. Any other recorder (in memory), and an aggregate the
repository holds in its cache, is read through the repository, one by one: its answer
is the same.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from itertools import chain
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import AggregateRecorder, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from psycopg import sql
from psycopg.rows import tuple_row

SQLITE_CHUNK = 400  # ids a statement: SQLite's older builds allow 999 parameters
# Ids read together: a storm's hundreds of thousands of accounts are read in parts, so that the
# stored events of only one part are held at a time.
BULK_CHUNK = 20_000


def read_aggregates(app: Application, aggregate_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """Each of `aggregate_ids` that exists, as `app.repository.get` would return it."""
    wanted = list(dict.fromkeys(aggregate_ids))
    cache = app.repository.cache
    one_by_one = [i for i in wanted if cache is not None and _cached(cache, i)]
    if not _readable_in_bulk(app.events.recorder) or (
        app.snapshots is not None and not _readable_in_bulk(app.snapshots.recorder)
    ):
        one_by_one = wanted
    found = _read_one_by_one(app, one_by_one)
    read_apart = set(one_by_one)
    in_bulk = [i for i in wanted if i not in read_apart]
    for start in range(0, len(in_bulk), BULK_CHUNK):
        found.update(_read_in_bulk(app, in_bulk[start : start + BULK_CHUNK]))
    return found


def _read_in_bulk(app: Application, aggregate_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """Two queries: the latest snapshots, then the events after them."""
    cache = app.repository.cache
    snapshots = _latest_snapshots(app, aggregate_ids)
    events = _events_after(app, aggregate_ids, {i: s.originator_version for i, s in snapshots.items()})
    found = {}
    for aggregate_id in aggregate_ids:
        stored = chain([snapshots[aggregate_id]] if aggregate_id in snapshots else [], events.get(aggregate_id, []))
        aggregate = mutate_in_turn(None, (app.mapper.to_domain_event(item) for item in stored))
        if aggregate is not None:
            found[aggregate_id] = aggregate
            if cache is not None:
                cache.put(aggregate_id, aggregate)  # as the repository would keep it
    return found


def mutate_in_turn(aggregate: Any, domain_events: Iterable[Any]) -> Any:
    """The library's projector (`project_aggregate`: each event's `mutate` in turn) without
    its per-event check against a runtime protocol, about 6 % of a storm's time (py-spy):
    what is projected here are the store's own events, which all mutate."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


def _read_one_by_one(app: Application, aggregate_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    found = {}
    for aggregate_id in aggregate_ids:
        try:
            found[aggregate_id] = app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            pass
    return found


def _cached(cache: Any, aggregate_id: uuid.UUID) -> bool:
    try:
        cache.get(aggregate_id)
    except KeyError:
        return False
    return True


def _readable_in_bulk(recorder: AggregateRecorder) -> bool:
    return isinstance(recorder, PostgresAggregateRecorder | SQLiteAggregateRecorder)


def _latest_snapshots(app: Application, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StoredEvent]:
    if app.snapshots is None:
        return {}
    rows = _select(app.snapshots.recorder, ids, {}, latest_only=True)
    return {row.originator_id: row for row in rows}  # type: ignore[misc]


def _events_after(
    app: Application, ids: Sequence[uuid.UUID], after: dict[uuid.UUID, int]
) -> dict[uuid.UUID, list[StoredEvent]]:
    by_id: dict[uuid.UUID, list[StoredEvent]] = defaultdict(list)
    for row in _select(app.events.recorder, ids, after, latest_only=False):
        by_id[row.originator_id].append(row)  # type: ignore[index]
    return by_id


def _select(
    recorder: AggregateRecorder, ids: Sequence[uuid.UUID], after: dict[uuid.UUID, int], latest_only: bool
) -> list[StoredEvent]:
    """The stored events of `ids` in version order (each after its version in `after`), or
    only each one's latest (`latest_only`)."""
    if isinstance(recorder, PostgresAggregateRecorder):
        return _select_postgres(recorder, ids, after, latest_only)
    assert isinstance(recorder, SQLiteAggregateRecorder)
    rows: list[StoredEvent] = []
    for start in range(0, len(ids), SQLITE_CHUNK):
        rows += _select_sqlite(recorder, ids[start : start + SQLITE_CHUNK], after, latest_only)
    return rows


def _select_postgres(
    recorder: PostgresAggregateRecorder, ids: Sequence[uuid.UUID], after: dict[uuid.UUID, int], latest_only: bool
) -> list[StoredEvent]:
    table = sql.SQL("{}.{}").format(
        sql.Identifier(recorder.datastore.schema), sql.Identifier(recorder.events_table_name)
    )
    id_type = sql.SQL(recorder.datastore.originator_id_type)
    if latest_only:
        statement = sql.SQL(
            "SELECT DISTINCT ON (originator_id) originator_id, originator_version, topic, state FROM {} "
            "WHERE originator_id = ANY(%s::{}[]) ORDER BY originator_id, originator_version DESC"
        ).format(table, id_type)
        params: tuple[Any, ...] = (_ids_param(recorder.datastore.originator_id_type, ids),)
    else:
        statement = sql.SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::{}[], %s::bigint[]) AS w(originator_id, after) "
            "JOIN {} AS e ON e.originator_id = w.originator_id AND e.originator_version > w.after "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(id_type, table)
        params = (_ids_param(recorder.datastore.originator_id_type, ids), [after.get(i, 0) for i in ids])
    with recorder.datastore.get_connection() as connection, connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(statement, params, prepare=True)
        return [
            StoredEvent(originator_id=originator_id, originator_version=version, topic=topic, state=bytes(state))
            for originator_id, version, topic, state in cursor.fetchall()
        ]


def _ids_param(id_type: str, ids: Collection[uuid.UUID]) -> list[Any]:
    return list(ids) if id_type == "uuid" else [str(i) for i in ids]


def _select_sqlite(
    recorder: SQLiteAggregateRecorder, ids: Sequence[uuid.UUID], after: dict[uuid.UUID, int], latest_only: bool
) -> list[StoredEvent]:
    table = recorder.events_table_name
    keys = [i.hex if recorder.datastore.originator_id_type == "uuid" else str(i) for i in ids]
    marks = ",".join("?" * len(keys))
    if latest_only:
        statement = (
            f"SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {table} AS e "
            f"JOIN (SELECT originator_id, MAX(originator_version) AS v FROM {table} "
            f"WHERE originator_id IN ({marks}) GROUP BY originator_id) AS m "
            "ON e.originator_id = m.originator_id AND e.originator_version = m.v"
        )
        params: list[Any] = keys
    else:
        # Each id's own lower bound: SQLite uses the primary key for every term of the OR.
        statement = (
            f"SELECT originator_id, originator_version, topic, state FROM {table} WHERE "
            + " OR ".join(["(originator_id = ? AND originator_version > ?)"] * len(keys))
            + " ORDER BY originator_id, originator_version"
        )
        params = [value for key, i in zip(keys, ids, strict=True) for value in (key, after.get(i, 0))]
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, params)
        return [
            StoredEvent(
                originator_id=recorder.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
            )
            for row in cursor.fetchall()
        ]
