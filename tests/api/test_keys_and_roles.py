"""Keys and roles on the real server: every endpoint (tests/api/endpoints.py) allowed for
its role and above, 401 without a key, with a wrong or a revoked key, 403 below its role,
nothing written on a refusal; bad input to /keys is a 422 naming the field; the OpenAPI
document states every endpoint's role; the docs page works without a CDN; keys are kept
as digests only."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from ledger.store import sql_engine
from projections.api_keys import KEY_PREFIX, Role, create_key, revoke_key
from projections.store_status import store_status
from projections.tables import api_keys
from tests.api.conftest import bearer, running_server
from tests.api.endpoints import (
    ENDPOINTS,
    NO_KEY,
    Endpoint,
    roles_allowed,
    roles_refused,
    unique_name,
    what_is_written,
)
from tests.conftest import ledger_cli

pytestmark = pytest.mark.postgres

ALLOWED = [(endpoint, role) for endpoint in ENDPOINTS for role in roles_allowed(endpoint)]
REFUSED = [(endpoint, role) for endpoint in ENDPOINTS for role in roles_refused(endpoint)]
KEYED = [endpoint for endpoint in ENDPOINTS if endpoint.role != NO_KEY]


def call(client: httpx.Client, engine: Engine, endpoint: Endpoint, headers: dict[str, str]) -> httpx.Response:
    path, body = endpoint.request(engine)
    return client.request(endpoint.method, path, json=body, headers=headers)


def refused_without_writing(
    client: httpx.Client, engine: Engine, endpoint: Endpoint, headers: dict[str, str]
) -> httpx.Response:
    path, body = endpoint.request(engine)
    before = what_is_written(engine)
    answer = client.request(endpoint.method, path, json=body, headers=headers)
    assert what_is_written(engine) == before, f"{endpoint.id} wrote something while refusing"
    return answer


# --- every endpoint, every role ---------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "role"), ALLOWED, ids=[f"{e.id} as {r}" for e, r in ALLOWED])
def test_an_allowed_role_is_served(
    client: httpx.Client, api_engine: Engine, role_keys: dict[Role, str], endpoint: Endpoint, role: str
) -> None:
    answer = call(client, api_engine, endpoint, bearer(role_keys[Role(role)]))
    assert answer.status_code < 300, answer.text


@pytest.mark.parametrize(("endpoint", "role"), REFUSED, ids=[f"{e.id} as {r}" for e, r in REFUSED])
def test_a_role_too_low_is_403(
    client: httpx.Client, api_engine: Engine, role_keys: dict[Role, str], endpoint: Endpoint, role: str
) -> None:
    answer = refused_without_writing(client, api_engine, endpoint, bearer(role_keys[Role(role)]))
    assert answer.status_code == 403, answer.text
    assert endpoint.role in answer.json()["detail"] and role in answer.json()["detail"]


@pytest.mark.parametrize("endpoint", KEYED, ids=[e.id for e in KEYED])
def test_no_key_is_401(client: httpx.Client, api_engine: Engine, endpoint: Endpoint) -> None:
    answer = refused_without_writing(client, api_engine, endpoint, {})
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in answer.json()["detail"]


@pytest.mark.parametrize("endpoint", KEYED, ids=[e.id for e in KEYED])
@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": f"Bearer {KEY_PREFIX}{'A' * 43}"},  # the shape of a key, but none of ours
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},  # another scheme: no key
        {"X-API-Key": "lk_whatever"},  # not the header the API reads
    ],
    ids=["unknown", "malformed", "basic", "other-header"],
)
def test_a_wrong_key_is_401(
    client: httpx.Client, api_engine: Engine, endpoint: Endpoint, header: dict[str, str]
) -> None:
    answer = refused_without_writing(client, api_engine, endpoint, header)
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.fixture(scope="module")
def revoked_admin_key(api_engine: Engine) -> str:
    name = unique_name("revoked-admin")
    _, key = create_key(api_engine, name, Role.ADMIN, created_by="api-tests")
    revoke_key(api_engine, name, revoked_by="api-tests")
    return key


@pytest.mark.parametrize("endpoint", KEYED, ids=[e.id for e in KEYED])
def test_a_revoked_key_is_401(
    client: httpx.Client, api_engine: Engine, endpoint: Endpoint, revoked_admin_key: str
) -> None:
    answer = refused_without_writing(client, api_engine, endpoint, bearer(revoked_admin_key))
    assert answer.status_code == 401, answer.text
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_a_public_endpoint_needs_no_key(client: httpx.Client) -> None:
    for endpoint in (e for e in ENDPOINTS if e.role == NO_KEY):
        assert client.request(endpoint.method, endpoint.path).status_code == 200, endpoint.id


# --- the OpenAPI document and the docs ----------------------------------------------------


@pytest.fixture(scope="module")
def openapi(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/openapi.json")  # no key: the docs page reads it before one is entered
    assert answer.status_code == 200
    return answer.json()


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_every_operation_of_the_api_is_in_the_table_of_endpoints(openapi: dict[str, Any]) -> None:
    assert set(operations(openapi)) == {endpoint.id for endpoint in ENDPOINTS}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.id for e in ENDPOINTS])
def test_the_openapi_document_states_each_endpoints_role(openapi: dict[str, Any], endpoint: Endpoint) -> None:
    operation = operations(openapi)[endpoint.id]
    assert operation["x-required-role"] == endpoint.role
    assert operation["description"].startswith(
        f"**Role: `{endpoint.role}`**" if endpoint.role != NO_KEY else "**Role: none**"
    )
    if endpoint.role == NO_KEY:
        assert "security" not in operation
    else:
        assert operation["security"] == [{"ApiKey": []}]
        assert {"401", "403"} <= set(operation["responses"])


def test_the_key_is_a_bearer_token_in_the_document(openapi: dict[str, Any]) -> None:
    assert openapi["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "lk_...",
        "description": openapi["components"]["securitySchemes"]["ApiKey"]["description"],
    }


def test_the_docs_page_loads_its_assets_from_the_api_itself(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert not re.search(r"https?://", page.text), "the docs page reaches outside the API"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert "url: '/openapi.json'" in page.text


# --- /keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "role": "viewer"}, "name"),
        ({"name": " padded", "role": "viewer"}, "name"),
        ({"name": "bell\u0007", "role": "viewer"}, "name"),
        ({"name": "x" * 256, "role": "viewer"}, "name"),
        ({"name": 7, "role": "viewer"}, "name"),
        ({"name": "root-wanted", "role": "root"}, "role"),
        ({"role": "viewer"}, "name"),
        ({"name": "no-role"}, "role"),
        ({"name": "extra", "role": "viewer", "key": "lk_mine"}, "key"),
    ],
    ids=["empty", "padded", "control", "long", "number", "role", "no-name", "no-role", "extra-field"],
)
def test_bad_input_to_create_a_key_is_422_naming_the_field(
    client: httpx.Client, api_engine: Engine, admin_key: str, body: dict[str, Any], field: str
) -> None:
    before = what_is_written(api_engine)
    answer = client.post("/keys", json=body, headers=bearer(admin_key))
    assert answer.status_code == 422, answer.text
    assert [error["loc"] for error in answer.json()["detail"]] == [["body", field]]
    assert what_is_written(api_engine) == before


def test_a_key_is_kept_only_as_its_digest(client: httpx.Client, api_engine: Engine, admin_key: str) -> None:
    name = unique_name("digest")
    answer = client.post("/keys", json={"name": name, "role": "operator"}, headers=bearer(admin_key))
    assert answer.status_code == 201, answer.text
    key = answer.json()["key"]
    assert key.startswith(KEY_PREFIX) and len(key) == 46
    with api_engine.connect() as connection:
        row = connection.execute(select(api_keys).where(api_keys.c.name == name)).mappings().one()
    assert row["key_digest"] == hashlib.sha256(key.encode()).hexdigest()
    assert all(key not in str(value) for value in row.values())
    assert "key" not in client.get("/keys", headers=bearer(admin_key)).json()[0]


def test_a_made_key_works_with_its_role_and_is_recorded_as_made_by_the_admin(
    client: httpx.Client, admin_key: str
) -> None:
    name = unique_name("operator")
    made = client.post("/keys", json={"name": name, "role": "operator"}, headers=bearer(admin_key)).json()
    assert made["created_by"] == f"test-{Role.ADMIN.value}" and made["role"] == "operator"
    assert made["revoked_at"] is None and made["created_at"].endswith("Z")
    assert client.get("/keys", headers=bearer(made["key"])).status_code == 403  # an operator, not an admin


def test_a_revoked_key_is_refused_from_then_on(client: httpx.Client, admin_key: str) -> None:
    name = unique_name("short-lived")
    key = client.post("/keys", json={"name": name, "role": "admin"}, headers=bearer(admin_key)).json()["key"]
    assert client.get("/keys", headers=bearer(key)).status_code == 200
    revoked = client.delete(f"/keys/{name}", headers=bearer(admin_key))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_by"] == f"test-{Role.ADMIN.value}"
    assert client.get("/keys", headers=bearer(key)).status_code == 401
    again = client.delete(f"/keys/{name}", headers=bearer(admin_key))
    assert again.status_code == 409 and "revoked" in again.json()["detail"]


def test_a_name_is_never_used_twice(client: httpx.Client, api_engine: Engine, admin_key: str) -> None:
    before = what_is_written(api_engine)
    answer = client.post("/keys", json={"name": "test-viewer", "role": "admin"}, headers=bearer(admin_key))
    assert answer.status_code == 409 and "test-viewer" in answer.json()["detail"]
    assert what_is_written(api_engine) == before


def test_revoking_an_unknown_key_is_404(client: httpx.Client, admin_key: str) -> None:
    assert client.delete("/keys/nobody-of-that-name", headers=bearer(admin_key)).status_code == 404


def test_a_name_with_a_slash_is_revoked_by_its_path(client: httpx.Client, api_engine: Engine, admin_key: str) -> None:
    name = unique_name("desk/eu")
    create_key(api_engine, name, Role.VIEWER, created_by="api-tests")
    assert client.delete(f"/keys/{name}", headers=bearer(admin_key)).json()["name"] == name


# --- the CLI and /health -----------------------------------------------------------------


def test_the_cli_makes_a_key_the_api_takes_and_revokes_it(client: httpx.Client, api_store_url: str) -> None:
    name = unique_name("cli-admin")
    made = ledger_cli("keys", "create", name, "--role", "admin", "--store", api_store_url, "--actor", "ops")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith(KEY_PREFIX) and made.stdout.count(key) == 1 and key not in made.stderr
    listed = client.get("/keys", headers=bearer(key))
    assert listed.status_code == 200
    assert {"name": name, "created_by": "ops"}.items() <= next(k for k in listed.json() if k["name"] == name).items()
    revoked = ledger_cli("keys", "revoke", name, "--store", api_store_url)
    assert revoked.returncode == 0, revoked.stderr
    assert client.get("/keys", headers=bearer(key)).status_code == 401


def test_health_names_the_store_and_its_migration(client: httpx.Client) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok" and body["migration"] == body["head"] and body["problems"] == []
    assert body["store"].endswith("?schema=api")


def test_health_is_503_naming_what_stops_the_store_serving(postgres_database: str, tmp_path: Path) -> None:
    never_migrated = f"{postgres_database}?schema=never_migrated"
    with running_server(never_migrated, tmp_path) as url:
        answer = httpx.get(f"{url}/health")
        assert answer.status_code == 503
        assert answer.json()["status"] == "unavailable" and "ledger migrate" in answer.json()["problems"][0]
        refused = httpx.get(f"{url}/keys", headers=bearer(f"{KEY_PREFIX}{'A' * 43}"))
        assert refused.status_code == 503 and "/health" in refused.json()["detail"]


def test_the_store_status_names_what_stops_it_serving(postgres_database: str) -> None:
    empty = f"{postgres_database}?schema=never_made"
    engine = sql_engine(empty)
    found = store_status(empty, engine)
    assert not found.healthy and "ledger migrate" in found.problems[0]
    down = "postgresql://postgres@127.0.0.1:1/nothing"
    found = store_status(down, sql_engine(down))
    assert not found.healthy and "unreachable" in found.problems[0]
