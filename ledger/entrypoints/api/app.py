"""`create_app(settings)`: the API's FastAPI app, its routers, and its docs served offline.

A new area is a module with a `router` (each route's decorator spreading `requires(Role.X)`
or `public()`, see `access.py`), imported here and added to `ROUTERS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError, ProgrammingError

from ledger.entrypoints.api import exports, health, inputs, jobs, keys, metrics, reads
from ledger.entrypoints.api.access import ROLE_EXTENSION, public, role_line
from ledger.entrypoints.api.settings import ApiSettings
from ledger.entrypoints.api.store import ApiStore
from ledger.entrypoints.api.views import close_views

TITLE = "Ledger API"

# Each area's router, in the order the docs list them.
ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    metrics.router,
    inputs.router,
    reads.router,
    exports.router,
    jobs.router,
    keys.router,
)

DOCS_ASSETS = "/docs/assets"
# Swagger UI's own files, shipped by the fastapi-offline package: no CDN is reached.
SWAGGER_UI = files("fastapi_offline") / "static"


def create_app(settings: ApiSettings) -> FastAPI:
    store = ApiStore(settings.store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        close_views(app)
        store.close()

    app = FastAPI(
        title=TITLE,
        description="The ledger's HTTP API. Each operation states the role it needs "
        f"(`{ROLE_EXTENSION}`: viewer < operator < admin, or none). Keys go in `Authorization: Bearer KEY`.",
        docs_url=None,  # served below from the API's own assets
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    for router in ROUTERS:
        app.include_router(router)
    metrics.watch(app)
    _serve_docs(app)
    app.openapi = _openapi_with_roles(app)  # type: ignore[method-assign]
    _check_every_route_states_its_role(app)
    app.add_exception_handler(OperationalError, _store_cannot_serve)
    app.add_exception_handler(ProgrammingError, _store_cannot_serve)
    return app


def _check_every_route_states_its_role(app: FastAPI) -> None:
    """Refuses an operation without `requires(...)` or `public()`: in the routers (those the
    document leaves out too) and in the OpenAPI document (made here, once, to be sure)."""
    routes = [route for router in ROUTERS for route in router.routes] + list(app.router.routes)
    for route in routes:
        if isinstance(route, APIRoute) and ROLE_EXTENSION not in (route.openapi_extra or {}):
            raise RuntimeError(f"{route.path} states no role: spread requires(Role.X) or public() into its decorator")
    app.openapi()


def _openapi_with_roles(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, each operation's description opening with its role."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for path, operations in document["paths"].items():
                for method, operation in operations.items():
                    if ROLE_EXTENSION not in operation:
                        raise RuntimeError(f"{method.upper()} {path} states no role: use requires(Role.X) or public()")
                    described = operation.get("description", "")
                    operation["description"] = f"{role_line(operation[ROLE_EXTENSION])}\n\n{described}".strip()
            app.openapi_schema = document
        return app.openapi_schema

    return openapi


def _serve_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and its assets from the API itself; /docs and /openapi.json need no
    key (the shape of the API is no secret, and the page must load before one is entered)."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(SWAGGER_UI)), name="docs-assets")

    @app.get("/docs", include_in_schema=False, **public())
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{TITLE} - docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )


async def _store_cannot_serve(_request: Request, error: Exception) -> JSONResponse:
    """The store went away, or is not migrated: 503, as /health would say."""
    first_line = str(getattr(error, "orig", error)).strip().splitlines()[:1]
    return JSONResponse(
        {"detail": f"the store cannot serve ({' '.join(first_line)}); see /health"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


def create_app_from_environment() -> FastAPI:
    """The app of `ledger api`, its settings from the environment (uvicorn's factory)."""
    return create_app(ApiSettings())
