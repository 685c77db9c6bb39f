"""Who may call what: API keys in `Authorization: Bearer KEY`, three roles, and the
decorator arguments that give each route its role, in the check and in the OpenAPI
document alike.

Every route states its role with one of two helpers, spread into its decorator:

    @router.get("/accounts", **requires(Role.VIEWER))
    def accounts(store: StoreOf, caller: CallerOf) -> ...: ...

    @router.get("/health", **public())

`requires(role)` checks the key before the endpoint runs (401 with `WWW-Authenticate`
for a missing, unknown or revoked key; 403 for a role too low; nothing is written on
either), puts the role in the operation's `x-required-role` and its description, and
lists the 401 and 403 answers. `public()` marks a route that needs no key
(`x-required-role: none`). `create_app` refuses a route that uses neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from ledger.entrypoints.api.store import StoreOf
from projections.api_keys import Caller, Role, authenticate

ROLE_EXTENSION = "x-required-role"
NO_KEY = "none"
REALM = 'Bearer realm="ledger"'

bearer = HTTPBearer(
    scheme_name="ApiKey",
    bearerFormat="lk_...",
    description="An API key, made with `ledger keys create NAME --role ROLE` or `POST /keys`, "
    "sent as `Authorization: Bearer KEY`.",
    auto_error=False,  # a missing key is answered here: 401, with WWW-Authenticate
)

Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]

ERROR_BODY = {"application/json": {"schema": {"type": "object", "properties": {"detail": {"type": "string"}}}}}
ROLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No key, or a key that is unknown or revoked", "content": ERROR_BODY},
    403: {"description": "The key's role is too low for this", "content": ERROR_BODY},
}


def requires(role: Role) -> dict[str, Any]:
    """The decorator arguments of a route that needs a key of `role` or a higher one."""
    return {
        "dependencies": [Depends(_ROLE_CHECKS[role])],
        "openapi_extra": {ROLE_EXTENSION: role.value},
        "responses": ROLE_RESPONSES,
    }


def public() -> dict[str, Any]:
    """The decorator arguments of a route that needs no key."""
    return {"openapi_extra": {ROLE_EXTENSION: NO_KEY}}


def role_line(role: str) -> str:
    """How an operation's description states its role (added to every operation by `create_app`)."""
    if role == NO_KEY:
        return "**Role: none** (no key needed)."
    return f"**Role: `{role}`** or higher (`Authorization: Bearer KEY`)."


def _role_check(required: Role) -> Callable[..., Caller]:
    def check(request: Request, store: StoreOf, credentials: Credentials) -> Caller:
        caller = _authenticated(store.engine, credentials)
        if not caller.role.allows(required):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this needs the {required.value} role or higher; the key {caller.name!r} is {caller.role.value}",
            )
        request.state.caller = caller
        return caller

    check.__name__ = f"requires_{required.value}"
    return check


# One check per role, made once: FastAPI runs a dependency once per request by its identity.
_ROLE_CHECKS = {role: _role_check(role) for role in Role}


def _authenticated(engine: Engine, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "no API key: send it as `Authorization: Bearer KEY`",
            headers={"WWW-Authenticate": REALM},
        )
    caller = authenticate(engine, credentials.credentials)
    if caller is None:  # unknown and revoked alike
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the API key is not valid (unknown or revoked)",
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )
    return caller


def _caller(request: Request) -> Caller:
    """The caller the route's role check found (a route's own dependencies run before its
    endpoint's parameters are resolved)."""
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None:
        raise RuntimeError("this route needs a caller but states no role: give it **requires(Role.X)")
    return caller


CallerOf = Annotated[Caller, Depends(_caller)]
