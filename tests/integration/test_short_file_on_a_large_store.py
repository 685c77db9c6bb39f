"""A short file checked against a large store reads only the accounts it names: what
validation knows of the store's accounts is looked up as the file names them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from ledger.inputs import InputErrors
from ledger.runs import validate
from tests.conftest import apply_lines


def _store(path: Path, accounts: int) -> str:
    url = f"sqlite:///{path}"
    lines: list[dict[str, Any]] = [{"op": "mark", "asset": "BTC", "price": "50000", "at": "2026-01-05T10:00:00Z"}]
    for number in range(accounts):
        lines += [
            {"op": "open", "account": f"A{number}", "mode": "cross_classic", "leverage": 5},
            {"op": "deposit", "account": f"A{number}", "asset": "USDC", "amount": "100"},
        ]
    apply_lines(url, lines, "setup")
    return url


def test_validation_reads_only_the_accounts_the_file_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _store(tmp_path / "large.db", 60)
    app = open_ledger(url)
    read: list[Any] = []
    get = app.repository.get
    monkeypatch.setattr(
        app.repository, "get", lambda aggregate_id, **kw: read.append(aggregate_id) or get(aggregate_id, **kw)
    )
    try:
        text = "\n".join(
            json.dumps(line)
            for line in [
                {"op": "deposit", "account": "A7", "asset": "USDC", "amount": "1", "at": "2026-01-05T10:01:00Z"},
                {"op": "open", "account": "NEW", "mode": "spot"},
                {"op": "deposit", "account": "NEW", "asset": "USDC", "amount": "1"},
            ]
        )
        inputs = validate(app, text, "short")
        assert len(inputs) == 3
        assert len(read) <= 10, f"validation read {len(read)} aggregates of a store of 60 accounts"
        with pytest.raises(InputErrors, match="A60"):  # an account the store does not hold is still unknown
            validate(app, json.dumps({"op": "deposit", "account": "A60", "asset": "USDC", "amount": "1"}), "bad")
    finally:
        app.close()
