"""The HTTP API's long-running jobs (a replay), in `api_jobs`: recorded when asked for,
claimed when they start, finished as done (with their result) or failed (with the error).

A job is run by the API process that recorded it (a thread of its own). A job still
`queued` or `running` that was recorded before the process reading it started was left
so by a server that stopped: reading it marks it `failed`, saying so (one API process
serves a store, as `ledger api` and docker-compose run it).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, insert, select, update

from projections.history import iso
from projections.queries import as_utc
from projections.tables import api_jobs


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)
ABANDONED = "the API server that ran this job stopped before it finished; ask for it again"


class UnknownJob(LookupError):
    pass


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: str
    status: JobStatus
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None
    request: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "status": self.status.value,
            "requested_at": iso(self.requested_at),
            "finished_at": iso(self.finished_at),
        }


def record_job(engine: Engine, kind: str, requested_by: str, request: dict[str, Any]) -> Job:
    """A new job, queued."""
    job = Job(
        job_id=str(uuid.uuid4()),
        kind=kind,
        status=JobStatus.QUEUED,
        requested_by=requested_by,
        requested_at=datetime.now(UTC),
        finished_at=None,
        request=request,
        result=None,
        error=None,
    )
    with engine.begin() as connection:
        connection.execute(insert(api_jobs).values(**{**asdict(job), "status": job.status.value}))
    return job


def claim_job(engine: Engine, job_id: str) -> bool:
    """Marks a queued job running; False when it is no longer queued."""
    return _move(engine, job_id, (JobStatus.QUEUED,), status=JobStatus.RUNNING.value)


def finish_job(engine: Engine, job_id: str, result: dict[str, Any]) -> None:
    _move(engine, job_id, UNFINISHED, status=JobStatus.DONE.value, result=result, finished_at=datetime.now(UTC))


def fail_job(engine: Engine, job_id: str, error: str) -> None:
    _move(engine, job_id, UNFINISHED, status=JobStatus.FAILED.value, error=error, finished_at=datetime.now(UTC))


def read_job(engine: Engine, job_id: str, process_started: datetime) -> Job:
    """The job `job_id`; one left unfinished by a server that stopped (recorded before
    `process_started`, the start of the process that runs jobs) is failed first."""
    job = _load(engine, job_id)
    if job.status in UNFINISHED and job.requested_at < process_started:
        fail_job(engine, job_id, ABANDONED)
        job = _load(engine, job_id)
    return job


def _load(engine: Engine, job_id: str) -> Job:
    with engine.connect() as connection:
        row = connection.execute(select(api_jobs).where(api_jobs.c.job_id == job_id)).mappings().one_or_none()
    if row is None:
        raise UnknownJob(f"no job {job_id!r}")
    return Job(
        **{
            **row,
            "status": JobStatus(row["status"]),
            "requested_at": as_utc(row["requested_at"]),
            "finished_at": as_utc(row["finished_at"]),
        }
    )


def _move(engine: Engine, job_id: str, from_statuses: tuple[JobStatus, ...], **values: Any) -> bool:
    """Updates the job if its status is one of `from_statuses` (a job finished once stays so)."""
    with engine.begin() as connection:
        moved = connection.execute(
            update(api_jobs)
            .where(api_jobs.c.job_id == job_id, api_jobs.c.status.in_([status.value for status in from_statuses]))
            .values(**values)
        )
    return moved.rowcount == 1
