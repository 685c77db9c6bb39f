"""The HTTP API's keys and roles: a key is made, listed, revoked and checked here, below
the entry points (`ledger keys` and the API's `/keys` only translate).

- A key is `lk_` and 43 URL-safe characters from `secrets` (256 bits). It is shown once,
  when it is made: the store keeps only its SHA-256 digest (hex), in `api_keys`.
- A key's name follows the ledger's name rule (`ledger.domain.limits`), and is never
  used again, even once its key is revoked (the name is the actor the events record).
- Roles are ordered: a `viewer` reads, an `operator` also submits inputs and runs
  replays, an `admin` also submits `params` inputs and manages keys.
- Checking a key finds its row by digest (an index lookup: timing may tell an attacker
  about digests, which do not lead back to a key), then compares the digests in constant
  time. A revoked key is refused like an unknown one; checking writes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from ledger.domain.limits import check_name
from projections.queries import as_utc
from projections.tables import api_keys

KEY_PREFIX = "lk_"
KEY_RANDOM_BYTES = 32  # 256 bits; token_urlsafe writes them as 43 characters
KEY_LENGTH = len(KEY_PREFIX) + 43


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, required: Role) -> bool:
        """Whether a key of this role may do what `required` may (a higher role may all a lower may)."""
        return self.rank >= required.rank


class KeyRefused(Exception):
    """A key operation refused: the message says why; nothing was written."""


class KeyNameTaken(KeyRefused):
    pass


class UnknownKey(KeyRefused):
    pass


class KeyAlreadyRevoked(KeyRefused):
    pass


@dataclass(frozen=True)
class ApiKey:
    """What the store keeps of a key, without its digest."""

    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.value,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "revoked_at": _iso(self.revoked_at),
            "revoked_by": self.revoked_by,
        }


@dataclass(frozen=True)
class Caller:
    """Who is calling the API: the name of the key they presented (their actor) and its role."""

    name: str
    role: Role


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(engine: Engine, name: str, role: Role | str, created_by: str) -> tuple[ApiKey, str]:
    """Makes a key: its record and the key itself, which is not kept and cannot be read again.
    ValueError for a name or role that is not one; KeyNameTaken for a name in use."""
    check_name(name)
    role = _role(role)
    check_name(created_by)
    key = new_key()
    record = ApiKey(name, role, datetime.now(UTC), created_by, None, None)
    with engine.begin() as connection:
        existing = _row(connection, name)
        if existing is not None:
            revoked = f" (revoked {_iso(existing.revoked_at)})" if existing.revoked_at else ""
            raise KeyNameTaken(f"a key named {name!r} exists{revoked}: key names are never used again")
        connection.execute(
            insert(api_keys).values(
                name=name,
                role=role.value,
                key_digest=key_digest(key),
                created_at=record.created_at,
                created_by=created_by,
            )
        )
    return record, key


def list_keys(engine: Engine) -> list[ApiKey]:
    with engine.connect() as connection:
        rows = connection.execute(select(api_keys).order_by(api_keys.c.name)).all()
    return [_record(row) for row in rows]


def revoke_key(engine: Engine, name: str, revoked_by: str) -> ApiKey:
    """Revokes a key for good: every request with it is refused from now on."""
    check_name(revoked_by)
    with engine.begin() as connection:
        row = _row(connection, name)
        if row is None:
            raise UnknownKey(f"no key named {name!r}")
        if row.revoked_at is not None:
            raise KeyAlreadyRevoked(f"the key {name!r} was revoked at {_iso(row.revoked_at)} by {row.revoked_by}")
        now = datetime.now(UTC)
        connection.execute(
            update(api_keys).where(api_keys.c.name == name).values(revoked_at=now, revoked_by=revoked_by)
        )
        row = _row(connection, name)
    assert row is not None
    return _record(row)


def authenticate(engine: Engine, key: str) -> Caller | None:
    """The caller a key stands for, or None when it is not a key of this store or is revoked."""
    if not (key.startswith(KEY_PREFIX) and len(key) == KEY_LENGTH):
        return None
    digest = key_digest(key)
    with engine.connect() as connection:
        row = connection.execute(select(api_keys).where(api_keys.c.key_digest == digest)).first()
    if row is None or not hmac.compare_digest(row.key_digest, digest) or row.revoked_at is not None:
        return None
    return Caller(row.name, Role(row.role))


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValueError(f"{role!r} is not a role: use {', '.join(Role)}") from None


def _row(connection: Connection, name: str) -> Any:
    return connection.execute(select(api_keys).where(api_keys.c.name == name)).first()


def _record(row: Any) -> ApiKey:
    created_at = as_utc(row.created_at)
    assert created_at is not None  # the column is NOT NULL
    return ApiKey(
        row.name,
        Role(row.role),
        created_at,
        row.created_by,
        as_utc(row.revoked_at),
        row.revoked_by,
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
