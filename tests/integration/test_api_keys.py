"""The API's keys below the API (projections/api_keys.py), on both stores: made, listed,
revoked, checked; kept as digests; names by the ledger's rule and never used twice. And
the app's guard: a route that states no role is refused when the app is made."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from sqlalchemy import Engine, select

from ledger.entrypoints.api import app as api_app
from ledger.entrypoints.api.settings import ApiSettings
from ledger.store import sql_engine
from projections.api_keys import (
    KEY_PREFIX,
    Caller,
    KeyAlreadyRevoked,
    KeyNameTaken,
    Role,
    UnknownKey,
    authenticate,
    create_key,
    list_keys,
    revoke_key,
)
from projections.report import StoreViews
from projections.tables import api_keys


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    with StoreViews(store_url):  # the store and its tables
        pass
    made = sql_engine(store_url)
    yield made
    made.dispose()


def test_a_key_is_made_checked_and_revoked(engine: Engine) -> None:
    record, key = create_key(engine, "desk", "operator", created_by="ops")
    assert key.startswith(KEY_PREFIX) and len(key) == 46
    assert record.role is Role.OPERATOR and record.created_by == "ops" and record.created_at.tzinfo is not None
    assert authenticate(engine, key) == Caller("desk", Role.OPERATOR)
    assert authenticate(engine, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    revoked = revoke_key(engine, "desk", revoked_by="ops")
    assert revoked.revoked_by == "ops" and revoked.revoked_at is not None
    assert authenticate(engine, key) is None
    assert [key.as_json()["revoked_by"] for key in list_keys(engine)] == ["ops"]


def test_only_the_digest_is_kept(engine: Engine) -> None:
    _, key = create_key(engine, "desk", Role.VIEWER, created_by="ops")
    with engine.connect() as connection:
        row = connection.execute(select(api_keys)).mappings().one()
    assert row["key_digest"] == hashlib.sha256(key.encode()).hexdigest()
    assert all(key not in str(value) for value in row.values())


def test_refusals_write_nothing(engine: Engine) -> None:
    create_key(engine, "desk", Role.VIEWER, created_by="ops")
    with pytest.raises(KeyNameTaken):
        create_key(engine, "desk", Role.ADMIN, created_by="ops")
    with pytest.raises(ValueError, match="white space"):
        create_key(engine, "desk ", Role.ADMIN, created_by="ops")
    with pytest.raises(ValueError, match="not a role"):
        create_key(engine, "root", "root", created_by="ops")
    with pytest.raises(UnknownKey):
        revoke_key(engine, "nobody", revoked_by="ops")
    revoke_key(engine, "desk", revoked_by="ops")
    with pytest.raises(KeyAlreadyRevoked):
        revoke_key(engine, "desk", revoked_by="someone else")
    [only] = list_keys(engine)
    assert (only.name, only.role, only.revoked_by) == ("desk", Role.VIEWER, "ops")


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.VIEWER) and Role.VIEWER.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR) and not Role.OPERATOR.allows(Role.ADMIN)


def test_a_route_that_states_no_role_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    careless = APIRouter()
    careless.add_api_route("/careless", lambda: {}, methods=["GET"])
    monkeypatch.setattr(api_app, "ROUTERS", (*api_app.ROUTERS, careless))
    with pytest.raises(RuntimeError, match="/careless states no role"):
        api_app.create_app(ApiSettings(store=f"sqlite:///{tmp_path}/ledger.db"))
