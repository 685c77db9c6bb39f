"""Every endpoint of the API, with its role and a request an allowed caller may make:
tests/api/test_keys_and_roles.py tries each with no key, a wrong key, a revoked key and
each role (allowed, 401, 403, nothing written), and fails on an endpoint of the OpenAPI
document missing here. A phase that adds endpoints adds them to `ENDPOINTS`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, text

from projections.api_keys import Role, create_key
from projections.tables import api_jobs, api_keys

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


def an_account_opened(_engine: Engine) -> tuple[str, Any]:
    """`POST /inputs` of an account of a fresh name, at the server's time."""
    return "/inputs", {"op": "open", "account": unique_name("acct"), "mode": "cross_classic", "leverage": 3}


ENDPOINTS = [
    Endpoint("GET", "/health", NO_KEY, lambda _engine: ("/health", None)),
    Endpoint("GET", "/keys", "admin", lambda _engine: ("/keys", None)),
    Endpoint("POST", "/keys", "admin", lambda _engine: ("/keys", {"name": unique_name("new"), "role": "viewer"})),
    Endpoint("DELETE", "/keys/{name}", "admin", lambda engine: (f"/keys/{a_key_to_revoke(engine)}", None)),
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
