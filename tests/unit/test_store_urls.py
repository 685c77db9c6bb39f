"""Every bad store URL is a StoreURLError naming what is wrong, never a traceback,
and no message ever shows a password."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.store import (
    PostgresTarget,
    StoreUnavailable,
    StoreURLError,
    parse_postgres,
    redacted,
    store_environment,
    store_exists,
)
from tests.conftest import SCENARIOS, ledger_cli

PASSWORD = "s3cret"
SERVER = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432"
CHECKS: list[Callable[[str], object]] = [store_environment, store_exists]


def assert_refused(url: str, *fragments: str, checks: list[Callable[[str], object]] = CHECKS) -> None:
    """Each check refuses the URL with one line naming the fault, and no password."""
    for check in checks:
        with pytest.raises(StoreURLError) as refused:
            check(url)
        message = str(refused.value)
        for fragment in fragments:
            assert fragment in message, (check.__name__, message)
        assert PASSWORD not in message, message
        assert "\n" not in message, message


# --- redacted -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://postgres:s3cret@127.0.0.1:5432/db", "postgresql://postgres:***@127.0.0.1:5432/db"),
        ("postgresql://u:p%40ss@h/db?schema=s", "postgresql://u:***@h/db?schema=s"),
        ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),  # an unescaped @ in the password
        ("postgresql://u:@h/db", "postgresql://u:***@h/db"),
        ("postgresql://postgres@127.0.0.1:5432/db", "postgresql://postgres@127.0.0.1:5432/db"),
        ("postgresql://127.0.0.1:5432/db", "postgresql://127.0.0.1:5432/db"),
        ("sqlite:////tmp/a:b@c.db", "sqlite:////tmp/a:b@c.db"),  # a file name, not a user
        ("sqlite:///ledger.db", "sqlite:///ledger.db"),
        ("not a url", "not a url"),
        ("postgresql://u:pw@[::1/db", "postgresql://u:***@[::1/db"),  # not even parseable
    ],
)
def test_redacted_hides_only_the_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_a_target_does_not_show_its_password() -> None:
    target = parse_postgres(f"{SERVER}/db")
    assert target.password == PASSWORD
    assert PASSWORD not in repr(target)
    assert isinstance(target, PostgresTarget)


# --- SQLite -------------------------------------------------------------------------------


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{path}"


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    assert_refused(sqlite_url(tmp_path), str(tmp_path), "is a directory")
    assert_refused(sqlite_url(f"{tmp_path}/"), "is a directory")


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert_refused(sqlite_url(missing / "ledger.db"), str(missing), "does not exist")
    assert not missing.exists()


def test_a_file_where_a_directory_belongs_is_named(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    assert_refused(sqlite_url(tmp_path / "plain" / "ledger.db"), str(tmp_path / "plain"), "not a directory")


@pytest.mark.parametrize("name", ["a\x00b", "ledger.db\n", "led\tger.db"])
def test_a_control_character_in_the_file_name_is_refused(tmp_path: Path, name: str) -> None:
    assert_refused(sqlite_url(tmp_path / name), "control character")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("source", [Path("/etc/passwd"), SCENARIOS / "seed004_user_a.jsonl"])
def test_a_file_that_is_no_sqlite_database_is_refused_untouched(tmp_path: Path, source: Path) -> None:
    copy = tmp_path / source.name
    shutil.copyfile(source, copy)
    before = copy.read_bytes()
    assert_refused(sqlite_url(copy), str(copy), "is not a ledger store")
    assert copy.read_bytes() == before
    assert list(tmp_path.iterdir()) == [copy]


def test_the_real_etc_passwd_is_refused() -> None:
    assert_refused("sqlite:////etc/passwd", "is not a ledger store")


def test_a_device_or_a_pipe_is_refused(tmp_path: Path) -> None:
    assert_refused("sqlite:////dev/null", "not a regular file")
    fifo = tmp_path / "pipe.db"
    os.mkfifo(fifo)
    assert_refused(sqlite_url(fifo), "not a regular file")  # and it does not hang on opening it


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    locked = tmp_path / "locked.db"
    sqlite3.connect(locked).close()
    locked.chmod(0)
    assert_refused(sqlite_url(locked), str(locked), "cannot be read")


def test_query_parameters_on_a_sqlite_url_are_refused(tmp_path: Path) -> None:
    assert_refused(sqlite_url(tmp_path / "ledger.db?schema=x"), "query parameter", "schema")


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite:///:memory:"])
def test_no_file_or_a_memory_store_is_refused(url: str) -> None:
    assert_refused(url, "sqlite")


def test_a_missing_file_in_an_existing_directory_is_a_new_store(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "ledger.db")
    assert store_exists(url) is False
    assert store_environment(url)["SQLITE_DBNAME"] == str(tmp_path / "ledger.db")


def test_an_sqlite_database_or_an_empty_file_is_accepted(tmp_path: Path) -> None:
    database = tmp_path / "ledger.db"
    sqlite3.connect(database).execute("CREATE TABLE t (x)").connection.close()
    empty = tmp_path / "empty.db"
    empty.touch()
    for path in (database, empty):
        assert store_environment(sqlite_url(path))["SQLITE_DBNAME"] == str(path)
    assert store_exists(sqlite_url(database)) is True
    assert store_exists(sqlite_url(empty)) is False  # a new store: it holds no ledger yet


def test_a_percent_escape_names_the_file_the_views_use(tmp_path: Path) -> None:
    """SQLAlchemy (the views) decodes %20; the event store must open the same file."""
    assert store_environment(sqlite_url(f"{tmp_path}/a%20b.db"))["SQLITE_DBNAME"] == f"{tmp_path}/a b.db"


# --- PostgreSQL ---------------------------------------------------------------------------

POSTGRES_CHECKS = [parse_postgres, store_environment, store_exists]


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        (f"{SERVER.replace('5432', '99999')}/db", ["port", "99999", "1 to 65535"]),
        (f"{SERVER.replace('5432', 'abc')}/db", ["port", "abc", "1 to 65535"]),
        (f"{SERVER.replace('5432', '0')}/db", ["port", "1 to 65535"]),
        (f"{SERVER}/db?schema=Ledger", ["schema", "'Ledger'", "lower-case"]),
        (f"{SERVER}/Ledger", ["database", "'Ledger'", "lower-case"]),
        (f"{SERVER}/my-ledger", ["database", "'my-ledger'"]),
        (f"{SERVER}/db/extra", ["database", "'db/extra'"]),
        (f"{SERVER}/db?schema=1st", ["schema", "'1st'"]),
        (f"{SERVER}/db?schema={'s' * 64}", ["schema", "63"]),
        (f"{SERVER}/db?schema=pg_ledger", ["schema", "pg_", "reserved"]),
        (f"{SERVER}/db?schema=", ["schema", "names no schema"]),
        (f"{SERVER}/db?schema=a&schema=b", ["schema", "more than once"]),
        (f"{SERVER}/db?sslmode=require", ["unknown query parameter", "sslmode"]),
        (f"{SERVER}/db?schema=s&colour=red", ["unknown query parameter", "colour"]),
        (f"{SERVER}/db#frag", ["#frag"]),
        (f"{SERVER}/", ["names no database"]),
        (f"{SERVER}", ["names no database"]),
        (f"postgresql://postgres:{PASSWORD}@[::1/db", ["not a valid URL"]),
    ],
)
def test_a_bad_postgres_url_is_named(url: str, fragments: list[str]) -> None:
    assert_refused(url, "postgresql://postgres:***@", *fragments, checks=POSTGRES_CHECKS)


def test_a_good_postgres_url_is_read_whole() -> None:
    target = parse_postgres("postgresql+psycopg://ledger:p%40ss@db.example:6543/ledger_2?schema=desk_a")
    assert (target.host, target.port, target.user, target.password, target.dbname, target.schema) == (
        "db.example",
        "6543",
        "ledger",
        "p@ss",
        "ledger_2",
        "desk_a",
    )
    defaults = parse_postgres("postgres://db.example/ledger")
    assert (defaults.host, defaults.port, defaults.user, defaults.password, defaults.schema) == (
        "db.example",
        "5432",
        "postgres",
        "",
        "public",
    )


@pytest.mark.parametrize(
    "url",
    ["mysql://root@localhost/ledger", "ledger.db", "", "sqlite://ledger.db", f"http://postgres:{PASSWORD}@host/db"],
)
def test_an_unknown_kind_of_url_is_named(url: str) -> None:
    assert_refused(url, "neither sqlite:///PATH nor postgresql://", checks=POSTGRES_CHECKS)


def test_an_unreachable_server_is_named_without_its_password() -> None:
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/db"
    for check in (store_exists, store_environment):
        with pytest.raises(StoreUnavailable) as unavailable:
            check(url)
        message = str(unavailable.value)
        assert "postgresql://postgres:***@127.0.0.1:1/db" in message
        assert "Connection refused" in message
        assert PASSWORD not in message and "\n" not in message


# --- through the command ------------------------------------------------------------------


def test_ledger_run_refuses_a_scenario_file_as_its_store(tmp_path: Path) -> None:
    scenario = tmp_path / "seed.jsonl"
    shutil.copyfile(SCENARIOS / "seed004_user_a.jsonl", scenario)
    before = scenario.read_bytes()
    completed = ledger_cli("run", str(scenario), "--store", sqlite_url(scenario))
    assert completed.returncode == 2
    assert "is not a ledger store" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert scenario.read_bytes() == before


@pytest.mark.parametrize("url", [f"{SERVER.replace('5432', '99999')}/db", f"{SERVER.replace('5432', '1')}/db"])
def test_ledger_commands_never_echo_a_password(tmp_path: Path, url: str) -> None:
    scenario = tmp_path / "open.jsonl"
    scenario.write_text('{"op": "open", "account": "A", "mode": "spot"}\n')
    for args in (("run", str(scenario)), ("history", "A"), ("migrate",)):
        completed = ledger_cli(*args, "--store", url)
        assert completed.returncode == 2, (args, completed.stderr)
        assert "postgresql://postgres:***@" in completed.stderr, (args, completed.stderr)
        assert PASSWORD not in completed.stderr + completed.stdout, args
        assert "Traceback" not in completed.stderr, args
