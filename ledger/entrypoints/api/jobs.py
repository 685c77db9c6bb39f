"""`POST /replay` (operator) and `GET /jobs/{id}` (viewer): a replay with a parameter
overlay is a job, since it can run for minutes.

The overlay is validated as `ledger replay --params FILE` validates it (422 naming the
field, no job written); the job is recorded in `api_jobs` (`projections/jobs.py`), the
answer is 202 with `Location: /jobs/{id}`, and the replay runs in a thread of this API
process, one replay at a time (each is a full replay of the store: a queue, not a crowd).
`GET /jobs/{id}` tells its status (queued, running, done, failed), who asked and when,
and the result (`ledger replay --json`'s) or the error. A job left unfinished by a server
that stopped is answered `failed`, saying so (see `projections.jobs.read_job`).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from ledger.entrypoints.api.access import CallerOf
from ledger.entrypoints.api.reads import requires_and_answers
from ledger.entrypoints.api.store import StoreOf
from ledger.entrypoints.api.views import ViewsOf
from ledger.inputs import InputErrors, parse_parameter_file
from projections.api_keys import Role
from projections.counterfactual import replay_store
from projections.jobs import Job, UnknownJob, claim_job, fail_job, finish_job, read_job, record_job

router = APIRouter(tags=["jobs"])

REPLAY = "replay"
PROCESS_STARTED = datetime.now(UTC)  # jobs recorded before this were another server's
_replays = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay")


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(description="A parameter overlay: the object `ledger replay --params FILE` reads")
    account: str | None = Field(None, description="Only this account's differences")


@router.post(
    "/replay",
    status_code=status.HTTP_202_ACCEPTED,
    **requires_and_answers(Role.OPERATOR, {404: {"description": "No such account"}}),
)
def replay(request: ReplayRequest, store: StoreOf, views: ViewsOf, caller: CallerOf, response: Response) -> Any:
    """Replays the recorded inputs under the overlay in a scratch store (the store itself is
    never written), as a job: 202 with `Location: /jobs/{id}`; `GET` it for the result."""
    overlay = validated_overlay(request.params)
    if request.account is not None and views.current().account(request.account) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown account {request.account!r}")
    job = record_job(store.engine, REPLAY, caller.name, {"params": overlay, "account": request.account})
    _replays.submit(run_replay, store.engine, store.url, job)
    location = f"/jobs/{job.job_id}"
    response.headers["Location"] = location
    return {**job.as_json(), "status_url": location}


def validated_overlay(params: dict[str, Any]) -> dict[str, Any]:
    """The overlay as `ledger replay --params` takes it, or a 422 naming each field at fault."""
    try:
        return parse_parameter_file(json.dumps(params), "the request's params")
    except InputErrors as errors:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            [
                {"loc": ["body", "params", *error.field.split(".")], "msg": error.message, "type": "value_error"}
                for error in errors.errors
            ],
        ) from None


def run_replay(engine: Engine, store_url: str, job: Job) -> None:
    if not claim_job(engine, job.job_id):
        return
    try:
        result = replay_store(store_url, job.request["params"], job.request["account"])
    except Exception as error:  # a job records why it failed, whatever it was
        fail_job(engine, job.job_id, str(error) or type(error).__name__)
    else:
        finish_job(engine, job.job_id, result)


@router.get("/jobs/{job_id}", **requires_and_answers(Role.VIEWER, {404: {"description": "No such job"}}))
def job(job_id: str, store: StoreOf) -> dict[str, Any]:
    """The job's status (queued, running, done, failed), who asked for it and when, when it
    finished, what was asked, and its result (`ledger replay --json`'s) or error."""
    try:
        return read_job(store.engine, job_id, PROCESS_STARTED).as_json()
    except UnknownJob as unknown:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(unknown)) from None
