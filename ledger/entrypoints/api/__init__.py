"""The HTTP API (FastAPI): `ledger api` serves it with uvicorn.

- `app.py`: `create_app(settings)`, the routers it includes (`ROUTERS`), the offline docs.
- `settings.py`: `ApiSettings`, from the environment (`LEDGER_*`).
- `access.py`: keys and roles: `requires(Role.X)` / `public()` build a route's
  decorator arguments (its role check, and its role in the OpenAPI document);
  `CallerOf` gives an endpoint who is calling.
- `store.py`: the store the app serves (`StoreOf`: its engine, URL).
- One module per area, each a `router`: `health.py`, `keys.py`, and later `inputs.py`,
  `reads.py`, `jobs.py`, `exports.py`, `metrics.py`.
- `server.py`: the `ledger api` command.

Like every entry point, it only translates: requests in, the ledger and its read side
called, JSON out. No rule is computed here.
"""
