"""`/keys`: the API's keys, for admins: list, create (the key is shown once), revoke."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, field_validator

from ledger.domain.limits import check_name
from ledger.entrypoints.api.access import CallerOf, requires
from ledger.entrypoints.api.store import StoreOf
from projections.api_keys import (
    ApiKey,
    KeyAlreadyRevoked,
    KeyNameTaken,
    Role,
    UnknownKey,
    create_key,
    list_keys,
    revoke_key,
)

router = APIRouter(prefix="/keys", tags=["keys"])


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    role: Role

    @field_validator("name")
    @classmethod
    def _a_name(cls, name: str) -> str:
        return check_name(name)


@dataclass(frozen=True)
class CreatedKey(ApiKey):
    key: str  # shown this once: the store keeps only its digest


@router.get("", **requires(Role.ADMIN))
def keys(store: StoreOf) -> list[ApiKey]:
    """Every key, revoked ones too, by name (never the keys themselves: the store has only digests)."""
    return list_keys(store.engine)


@router.post("", status_code=status.HTTP_201_CREATED, **requires(Role.ADMIN))
def create(new: NewKey, store: StoreOf, caller: CallerOf) -> CreatedKey:
    """Makes a key; the answer holds it, this once. 409 when the name was ever used.
    `created_by` is the name of the admin's key."""
    try:
        record, key = create_key(store.engine, new.name, new.role, created_by=caller.name)
    except KeyNameTaken as taken:
        raise HTTPException(status.HTTP_409_CONFLICT, str(taken)) from None
    return CreatedKey(**vars(record), key=key)


@router.delete("/{name:path}", **requires(Role.ADMIN))
def revoke(name: str, store: StoreOf, caller: CallerOf) -> ApiKey:
    """Revokes a key for good (404 when there is none of that name, 409 when it is revoked already)."""
    try:
        return revoke_key(store.engine, name, revoked_by=caller.name)
    except UnknownKey as unknown:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(unknown)) from None
    except KeyAlreadyRevoked as revoked:
        raise HTTPException(status.HTTP_409_CONFLICT, str(revoked)) from None
