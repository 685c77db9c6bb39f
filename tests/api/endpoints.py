"""Every endpoint of the API, with its role and a request an allowed caller may make:
tests/api/test_keys_and_roles.py tries each with no key, a wrong key, a revoked key and
each role (allowed, 401, 403, nothing written), and fails on an endpoint of the OpenAPI
document missing here. A phase that adds endpoints adds them to `ENDPOINTS`."""

from __future__ import annotations

import functools
import json
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

from projections.api_keys import Role, create_key
from projections.jobs import record_job
from projections.tables import api_jobs, api_keys, liquidations
from tests.conftest import SCENARIOS, ledger_cli

NO_KEY = "none"
ROLES = [role.value for role in Role]  # lowest first


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as the OpenAPI document writes it
    role: str  # NO_KEY or a Role's value
    # (the store's engine) -> (the URL path, the JSON body or None): a request that succeeds
    # for an allowed caller, made anew for each try (fresh names, a fresh key to revoke)
    request: Callable[[Engine], tuple[str, Any]]

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def a_key_to_revoke(engine: Engine) -> str:
    name = unique_name("to-revoke")
    create_key(engine, name, Role.VIEWER, created_by="api-tests")
    return name


@functools.cache
def a_liquidation(engine: Engine) -> tuple[str, str]:
    """(an account, its liquidation) in the store: seed A's liquidation, its account named
    anew and its times moved to now (the store's clock may be past the seed's), without the
    seed's `params` line (the store's parameters are other tests' too)."""
    account = unique_name("roles-a")
    lines = []
    for line in (SCENARIOS / "seed004_user_a.jsonl").read_text().splitlines():
        item = json.loads(line)
        if item["op"] == "params":
            continue
        if item.get("account") == "A":
            item["account"] = account
        lines.append(item)
    start = datetime.now(UTC).replace(microsecond=0)
    for item in lines:
        if "at" in item:
            seed_at = datetime.fromisoformat(item["at"].replace("Z", "+00:00"))
            item["at"] = (start + (seed_at - datetime(2026, 1, 5, 10, tzinfo=UTC))).isoformat().replace("+00:00", "Z")
    lines[0]["at"] = start.isoformat().replace("+00:00", "Z")
    with tempfile.TemporaryDirectory() as directory:
        scenario = Path(directory) / f"{account}.jsonl"
        scenario.write_text("".join(json.dumps(item) + "\n" for item in lines))
        ran = ledger_cli("run", str(scenario), "--store", store_url_of(engine), "--actor", "api-tests")
        assert ran.returncode == 0, ran.stderr
    with engine.connect() as connection:
        found = connection.execute(select(liquidations.c.liquidation_id).where(liquidations.c.account == account))
        return account, str(found.scalar_one())


def store_url_of(engine: Engine) -> str:
    """The URL of the PostgreSQL store `engine` reaches (its schema: the search path's first)."""
    with engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar()
    url = engine.url
    return f"postgresql://{url.username}@{url.host}:{url.port}/{url.database}?schema={schema}"


def a_job(engine: Engine) -> str:
    return record_job(engine, "replay", "api-tests", {"params": {}, "account": None}).job_id


REPLAY_OVERLAY = {"params": {"assets": {"BTC": {"pro_mmr": "0.06"}}}}


def an_account_opened(_engine: Engine) -> tuple[str, Any]:
    """`POST /inputs` of an account of a fresh name, at the server's time."""
    return "/inputs", {"op": "open", "account": unique_name("acct"), "mode": "cross_classic", "leverage": 3}


ENDPOINTS = [
    Endpoint("GET", "/health", NO_KEY, lambda _engine: ("/health", None)),
    Endpoint("GET", "/metrics", NO_KEY, lambda _engine: ("/metrics", None)),
    Endpoint("GET", "/exports/{kind}", "viewer", lambda _engine: ("/exports/liquidations?format=csv", None)),
    Endpoint("GET", "/keys", "admin", lambda _engine: ("/keys", None)),
    Endpoint("POST", "/keys", "admin", lambda _engine: ("/keys", {"name": unique_name("new"), "role": "viewer"})),
    Endpoint("DELETE", "/keys/{name}", "admin", lambda engine: (f"/keys/{a_key_to_revoke(engine)}", None)),
    Endpoint("GET", "/accounts", "viewer", lambda _engine: ("/accounts?limit=2", None)),
    Endpoint("GET", "/accounts/{name}", "viewer", lambda engine: (f"/accounts/{a_liquidation(engine)[0]}", None)),
    Endpoint(
        "GET",
        "/accounts/{name}/history",
        "viewer",
        lambda engine: (f"/accounts/{a_liquidation(engine)[0]}/history", None),
    ),
    Endpoint("GET", "/liquidations", "viewer", lambda _engine: ("/liquidations?limit=2", None)),
    Endpoint(
        "GET",
        "/liquidations/{liquidation_id}",
        "viewer",
        lambda engine: (f"/liquidations/{a_liquidation(engine)[1]}", None),
    ),
    Endpoint(
        "GET",
        "/liquidations/{liquidation_id}/postmortem",
        "viewer",
        lambda engine: (f"/liquidations/{a_liquidation(engine)[1]}/postmortem", None),
    ),
    Endpoint(
        "GET",
        "/liquidations/{liquidation_id}/postmortem.html",
        "viewer",
        lambda engine: (f"/liquidations/{a_liquidation(engine)[1]}/postmortem.html", None),
    ),
    Endpoint("GET", "/reconcile", "viewer", lambda _engine: ("/reconcile", None)),
    Endpoint("GET", "/parameters", "viewer", lambda _engine: ("/parameters", None)),
    Endpoint("GET", "/system-accounts", "viewer", lambda _engine: ("/system-accounts", None)),
    Endpoint(
        "POST",
        "/replay",
        "operator",
        lambda engine: ("/replay", {**REPLAY_OVERLAY, "account": a_liquidation(engine)[0]}),
    ),
    Endpoint("GET", "/jobs/{job_id}", "viewer", lambda engine: (f"/jobs/{a_job(engine)}", None)),
    Endpoint("POST", "/inputs", "operator", an_account_opened),
]


def roles_allowed(endpoint: Endpoint) -> list[str]:
    return ROLES if endpoint.role == NO_KEY else ROLES[ROLES.index(endpoint.role) :]


def roles_refused(endpoint: Endpoint) -> list[str]:
    return [] if endpoint.role == NO_KEY else ROLES[: ROLES.index(endpoint.role)]


def what_is_written(engine: Engine) -> tuple[Any, ...]:
    """What a request may write, summed up: keys and revocations, jobs, the event log's end."""
    with engine.connect() as connection:
        return (
            connection.execute(select(func.count()).select_from(api_keys)).scalar(),
            connection.execute(select(func.count(api_keys.c.revoked_at))).scalar(),
            connection.execute(select(func.count()).select_from(api_jobs)).scalar(),
            connection.execute(text("SELECT coalesce(max(notification_id), 0) FROM ledger_events")).scalar(),
        )
