"""The compose files, checked without a Docker engine: docker-compose.yml (one store) and
docker-compose.partitioned.yml (two partitions, docs/scaling.md). In each, the services the
service mode needs (per partition), each with a healthcheck, each waiting for what it needs
to be healthy, every ledger service built from the project's own Dockerfile and running a
real command; in the partitioned file, each partition's services on one store and one
queue of their own, and the partitions on distinct stores and queues of one broker."""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from flower.options import default_options as flower_options

from ledger.entrypoints.api.settings import ApiSettings
from ledger.entrypoints.cli import app
from ledger.store import lease_key, parse_postgres
from workers.heartbeat import HEARTBEAT_VARIABLE
from workers.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SINGLE = "docker-compose.yml"
PARTITIONED = "docker-compose.partitioned.yml"
# Each file's partitions, as the suffixes of their services' names.
PARTITIONS = {SINGLE: ("",), PARTITIONED: ("-p0", "-p1")}
SHARED = {"redis", "flower"}  # one for all the partitions
PER_PARTITION = {"postgres", "migrate", "worker", "beat", "dispatcher", "projector", "api"}
PROCESSES = {"worker", "beat", "dispatcher", "projector", "api"}
FLOWER_VARIABLES = {"FLOWER_BASIC_AUTH"}  # Flower's own option, from the environment


@cache
def services_of(file: str) -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / file).read_text())["services"]
    return services


def expected_services(file: str) -> set[str]:
    return SHARED | {f"{role}{suffix}" for role in PER_PARTITION for suffix in PARTITIONS[file]}


def role_of(name: str) -> str:
    return name.rpartition("-p")[0] if re.search(r"-p\d+$", name) else name


def partition_of(name: str) -> str:
    return name[len(role_of(name)) :]


def every(roles: set[str]) -> list[tuple[str, str]]:
    """(file, service) for every service of these roles in both files."""
    return [(file, name) for file in PARTITIONS for name in sorted(expected_services(file)) if role_of(name) in roles]


EVERY_SERVICE = every(SHARED | PER_PARTITION)
LEDGER_SERVICES = every(PER_PARTITION - {"postgres"} | {"flower"})
EVERY_PROCESS = every(PROCESSES)


@pytest.mark.parametrize("file", sorted(PARTITIONS))
def test_it_has_the_services_of_the_service_mode(file: str) -> None:
    assert set(services_of(file)) == expected_services(file)


@pytest.mark.parametrize(("file", "name"), EVERY_SERVICE)
def test_every_service_has_a_healthcheck(file: str, name: str) -> None:
    test = services_of(file)[name]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1


@pytest.mark.parametrize(("file", "name"), EVERY_SERVICE)
def test_every_dependency_is_waited_for_healthy(file: str, name: str) -> None:
    for dependency, condition in services_of(file)[name].get("depends_on", {}).items():
        assert dependency in expected_services(file)
        assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"


@pytest.mark.parametrize(("file", "name"), EVERY_SERVICE)
def test_a_partitions_services_depend_on_no_other_partition(file: str, name: str) -> None:
    if name in SHARED:
        return
    for dependency in services_of(file)[name].get("depends_on", {}):
        assert dependency in SHARED or partition_of(dependency) == partition_of(name), f"{name} -> {dependency}"


@pytest.mark.parametrize(("file", "name"), EVERY_PROCESS)
def test_the_ledger_processes_start_after_the_migration(file: str, name: str) -> None:
    suffix = partition_of(name)
    needs = {f"postgres{suffix}", f"migrate{suffix}"} | (set() if role_of(name) == "api" else {"redis"})
    assert needs <= set(services_of(file)[name]["depends_on"])


@pytest.mark.parametrize(("file", "suffix"), [(file, suffix) for file in PARTITIONS for suffix in PARTITIONS[file]])
def test_the_dispatcher_waits_for_a_worker(file: str, suffix: str) -> None:
    assert f"worker{suffix}" in services_of(file)[f"dispatcher{suffix}"]["depends_on"]


@pytest.mark.parametrize(("file", "name"), LEDGER_SERVICES)
def test_ledger_services_are_built_from_the_projects_dockerfile(file: str, name: str) -> None:
    build = services_of(file)[name]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_the_dockerfile_installs_the_project_and_runs_ledger() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install ." in dockerfile
    assert 'ENTRYPOINT ["ledger"]' in dockerfile
    for package in ("ledger", "projections", "workers"):
        assert f"COPY {package} ./{package}" in dockerfile


@pytest.mark.parametrize(("file", "name"), EVERY_PROCESS)
def test_each_process_runs_a_ledger_command(file: str, name: str) -> None:
    group = typer.main.get_command(app)
    # the group lists its commands' names, and makes a command only when asked for it
    assert services_of(file)[name]["command"][0] in group.list_commands(typer.Context(group))  # type: ignore[attr-defined]


@pytest.mark.parametrize(("file", "name"), every({"migrate"}))
def test_the_migration_runs_ledger_migrate(file: str, name: str) -> None:
    assert "ledger migrate" in " ".join(services_of(file)[name]["entrypoint"])


def settings_of(file: str, name: str) -> ServiceSettings:
    environment = {
        key: value for key, value in services_of(file)[name]["environment"].items() if key not in FLOWER_VARIABLES
    }
    fields = {f"LEDGER_{field.upper()}" for field in ServiceSettings.model_fields} | {HEARTBEAT_VARIABLE}
    assert set(environment) <= fields
    return ServiceSettings(
        **{key[len("LEDGER_") :].lower(): value for key, value in environment.items() if key != HEARTBEAT_VARIABLE}
    )


@pytest.mark.parametrize(("file", "name"), LEDGER_SERVICES)
def test_the_environment_is_valid_service_settings(file: str, name: str) -> None:
    settings = settings_of(file, name)
    # Each partition's store is on its own server (flower, shared, needs only the broker).
    server = "postgres" + (partition_of(name) if name not in SHARED else PARTITIONS[file][0])
    assert settings.store.startswith("postgresql://") and f"@{server}:" in settings.store
    assert "//redis:" in settings.broker_url


@pytest.mark.parametrize(("file", "suffix"), [(file, suffix) for file in PARTITIONS for suffix in PARTITIONS[file]])
def test_a_partitions_services_share_one_store_and_one_queue(file: str, suffix: str) -> None:
    names = [f"{role}{suffix}" for role in sorted(PER_PARTITION - {"postgres"})]
    settings = [settings_of(file, name) for name in names]
    assert {(s.store, s.queue) for s in settings} == {(settings[0].store, settings[0].queue)}, names


def test_the_partitions_have_their_own_stores_and_queues_on_one_broker() -> None:
    settings = [settings_of(PARTITIONED, f"worker{suffix}") for suffix in PARTITIONS[PARTITIONED]]
    stores = [parse_postgres(s.store) for s in settings]
    # Distinct servers and distinct schemas: moved onto one server, they stay two stores,
    # with two writer leases.
    assert len({store.host for store in stores}) == len(stores)
    assert len({(store.dbname, store.schema) for store in stores}) == len(stores)
    assert len({lease_key(store) for store in stores}) == len(stores)
    # A partition's dispatcher sends to its own queue, which only its workers consume.
    assert len({s.queue for s in settings}) == len(settings)
    assert len({(s.broker_url, s.result_backend) for s in settings}) == 1


@pytest.mark.parametrize(("file", "name"), every({"beat", "dispatcher", "projector"}))
def test_heartbeat_healthchecks_name_the_file_the_process_touches(file: str, name: str) -> None:
    service = services_of(file)[name]
    test = service["healthcheck"]["test"]
    module = test[test.index("-m") + 1]
    importlib.import_module(module)
    assert test[test.index("-m") + 2] == service["environment"][HEARTBEAT_VARIABLE]


@pytest.mark.parametrize(("file", "name"), every({"api"}))
def test_the_api_serves_on_every_interface_and_is_checked_on_health(file: str, name: str) -> None:
    api = services_of(file)[name]
    assert api["command"][:3] == ["api", "--host", "0.0.0.0"]
    port = api["command"][api["command"].index("--port") + 1]
    assert f"{port}:{port}" in api["ports"]
    assert f"http://localhost:{port}/health" in " ".join(api["healthcheck"]["test"])


def test_the_partitions_apis_answer_on_ports_of_their_own() -> None:
    ports = [services_of(PARTITIONED)[f"api{suffix}"]["ports"][0] for suffix in PARTITIONS[PARTITIONED]]
    assert len(set(ports)) == len(ports)


@pytest.mark.parametrize(("file", "suffix"), [(file, suffix) for file in PARTITIONS for suffix in PARTITIONS[file]])
def test_the_api_reads_its_store_from_the_same_settings(file: str, suffix: str) -> None:
    services = services_of(file)
    settings = ApiSettings(store=services[f"api{suffix}"]["environment"]["LEDGER_STORE"])
    assert settings.store == services[f"worker{suffix}"]["environment"]["LEDGER_STORE"]


@pytest.mark.parametrize("file", sorted(PARTITIONS))
def test_flower_asks_for_a_password_the_file_does_not_ship(file: str) -> None:
    flower = services_of(file)["flower"]
    # USER:PASSWORD, the password ${FLOWER_PASSWORD:?message}: compose refuses to start without
    # it, and there is no default (${VAR:-default}) to fall back on.
    assert re.fullmatch(
        r"\$\{FLOWER_USER(:-[^}]+)?\}:\$\{FLOWER_PASSWORD:\?[^}]+\}", flower["environment"]["FLOWER_BASIC_AUTH"]
    )
    assert all("basic" not in part for part in flower["entrypoint"])  # nothing secret on the command line
    # Flower reads FLOWER_<OPTION> for each of its options: this one is `basic_auth`.
    assert "basic_auth" in flower_options


@pytest.mark.parametrize("file", sorted(PARTITIONS))
def test_flowers_healthcheck_needs_no_password(file: str) -> None:
    # Flower's /healthcheck is not behind its auth (flower.views.monitor.Healthcheck).
    assert "/healthcheck" in " ".join(services_of(file)["flower"]["healthcheck"]["test"])
