"""Error messages of the `ledger` commands: passwords in URLs as `***`, text never markup."""

from __future__ import annotations

import pytest
import typer

from ledger.entrypoints import cli_errors
from ledger.entrypoints.cli_errors import _redacted, exit_usage
from ledger.store import redacted


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:secret@db.example:5432/ledger?schema=s", "postgresql://u:***@db.example:5432/ledger?schema=s"),
        ("postgres://u:p%40ss@host/db", "postgres://u:***@host/db"),
        ("postgresql://u:a@b@host/db", "postgresql://u:***@host/db"),  # an unescaped "@" in the password
        ("postgresql://u@host/db", "postgresql://u@host/db"),
        ("postgresql://u:@host/db", "postgresql://u:***@host/db"),
        ("sqlite:////tmp/ledger.db", "sqlite:////tmp/ledger.db"),
        ("postgresql://u:secret@[::1/db", "postgresql://u:***@[::1/db"),  # malformed, and still hidden
    ],
)
def test_a_password_is_hidden(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_every_url_in_a_message_is_redacted() -> None:
    message = "store URL 'postgresql://u:secret@h/db' and redis://:token@r:6379/0 unusable"
    assert _redacted(message) == "store URL 'postgresql://u:***@h/db' and redis://:***@r:6379/0 unusable"


def test_a_message_is_printed_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited:
        exit_usage("unknown account '[/]x' at postgresql://u:secret@h/db [bold]")
    assert exited.value.exit_code == 2
    assert capsys.readouterr().err == "error: unknown account '[/]x' at postgresql://u:***@h/db [bold]\n"
    assert cli_errors.err.soft_wrap  # one line, however long
