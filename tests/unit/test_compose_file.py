"""docker-compose.yml, checked without a Docker engine: the services the service mode
needs, each with a healthcheck, each waiting for what it needs to be healthy, every
ledger service built from the project's own Dockerfile and running a real command."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from flower.options import default_options as flower_options

from ledger.entrypoints.api.settings import ApiSettings
from ledger.entrypoints.cli import app
from workers.heartbeat import HEARTBEAT_VARIABLE
from workers.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "redis", "migrate", "worker", "beat", "dispatcher", "projector", "api", "flower"}
LEDGER_SERVICES = SERVICES - {"postgres", "redis"}
PROCESSES = {"worker", "beat", "dispatcher", "projector", "api"}
FLOWER_VARIABLES = {"FLOWER_BASIC_AUTH"}  # Flower's own option, from the environment


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_it_has_the_services_of_the_service_mode(services: dict[str, Any]) -> None:
    assert set(services) == SERVICES


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck(services: dict[str, Any], name: str) -> None:
    test = services[name]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_dependency_is_waited_for_healthy(services: dict[str, Any], name: str) -> None:
    for dependency, condition in services[name].get("depends_on", {}).items():
        assert dependency in SERVICES
        assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_the_ledger_processes_start_after_the_migration(services: dict[str, Any], name: str) -> None:
    needs = {"postgres", "migrate"} if name == "api" else {"postgres", "redis", "migrate"}
    assert needs <= set(services[name]["depends_on"])


def test_the_dispatcher_waits_for_a_worker(services: dict[str, Any]) -> None:
    assert "worker" in services["dispatcher"]["depends_on"]


@pytest.mark.parametrize("name", sorted(LEDGER_SERVICES))
def test_ledger_services_are_built_from_the_projects_dockerfile(services: dict[str, Any], name: str) -> None:
    build = services[name]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_the_dockerfile_installs_the_project_and_runs_ledger() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install ." in dockerfile
    assert 'ENTRYPOINT ["ledger"]' in dockerfile
    for package in ("ledger", "projections", "workers"):
        assert f"COPY {package} ./{package}" in dockerfile


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_each_process_runs_a_ledger_command(services: dict[str, Any], name: str) -> None:
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert services[name]["command"][0] in commands


def test_the_migration_runs_ledger_migrate(services: dict[str, Any]) -> None:
    assert "ledger migrate" in " ".join(services["migrate"]["entrypoint"])


@pytest.mark.parametrize("name", sorted(LEDGER_SERVICES))
def test_the_environment_is_valid_service_settings(services: dict[str, Any], name: str) -> None:
    environment = {key: value for key, value in services[name]["environment"].items() if key not in FLOWER_VARIABLES}
    fields = {f"LEDGER_{field.upper()}" for field in ServiceSettings.model_fields} | {HEARTBEAT_VARIABLE}
    assert set(environment) <= fields
    settings = ServiceSettings(
        **{key[len("LEDGER_") :].lower(): value for key, value in environment.items() if key != HEARTBEAT_VARIABLE}
    )
    assert settings.store.startswith("postgresql://") and "@postgres:" in settings.store
    assert "//redis:" in settings.broker_url


@pytest.mark.parametrize("name", ["beat", "dispatcher", "projector"])
def test_heartbeat_healthchecks_name_the_file_the_process_touches(services: dict[str, Any], name: str) -> None:
    test = services[name]["healthcheck"]["test"]
    module = test[test.index("-m") + 1]
    importlib.import_module(module)
    assert test[test.index("-m") + 2] == services[name]["environment"][HEARTBEAT_VARIABLE]


def test_the_api_serves_on_every_interface_and_is_checked_on_health(services: dict[str, Any]) -> None:
    api = services["api"]
    assert api["command"][:3] == ["api", "--host", "0.0.0.0"]
    port = api["command"][api["command"].index("--port") + 1]
    assert f"{port}:{port}" in api["ports"]
    assert f"http://localhost:{port}/health" in " ".join(api["healthcheck"]["test"])


def test_the_api_reads_its_store_from_the_same_settings(services: dict[str, Any]) -> None:
    settings = ApiSettings(store=services["api"]["environment"]["LEDGER_STORE"])
    assert settings.store == services["worker"]["environment"]["LEDGER_STORE"]


def test_flower_asks_for_a_password_the_file_does_not_ship(services: dict[str, Any]) -> None:
    flower = services["flower"]
    # USER:PASSWORD, the password ${FLOWER_PASSWORD:?message}: compose refuses to start without
    # it, and there is no default (${VAR:-default}) to fall back on.
    assert re.fullmatch(
        r"\$\{FLOWER_USER(:-[^}]+)?\}:\$\{FLOWER_PASSWORD:\?[^}]+\}", flower["environment"]["FLOWER_BASIC_AUTH"]
    )
    assert all("basic" not in part for part in flower["entrypoint"])  # nothing secret on the command line
    # Flower reads FLOWER_<OPTION> for each of its options: this one is `basic_auth`.
    assert "basic_auth" in flower_options


def test_flowers_healthcheck_needs_no_password(services: dict[str, Any]) -> None:
    # Flower's /healthcheck is not behind its auth (flower.views.monitor.Healthcheck).
    assert "/healthcheck" in " ".join(services["flower"]["healthcheck"]["test"])
