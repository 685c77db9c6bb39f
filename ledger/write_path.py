"""The one write path: every input, whether `ledger run` applies it inline or `ledger
submit` hands it to the service, is applied here, through a unit of work
(`ledger.unit_of_work`), the only way anything is saved.

A command loads what it needs through the unit of work, applies the rule on the
aggregates, and the unit of work saves every pending event in one transaction: a
movement and its counter-entry together. A refused command records an
`InputRejected` instead, and nothing else. How inputs, lines and reactions are kept
from being applied twice is told in `ledger.idempotency`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.persistence import Recording

from ledger.application import Ledger
from ledger.domain.errors import Rejected
from ledger.domain.identity import account_id
from ledger.domain.margin.account import Account
from ledger.domain.market import CLOCK_ID, PARAMETERS_ID, Clock
from ledger.domain.parameters import DEFAULT_LEVERAGE, overlay_changes
from ledger.domain.product import AccountMode
from ledger.inputs import (
    AutoTopUpInput,
    BorrowInput,
    ClockInput,
    DepositInput,
    FillInput,
    LedgerInput,
    LiquidityInput,
    MarkInput,
    OpenInput,
    ParamsInput,
    RepayInput,
    TransferInput,
    WithdrawInput,
    input_record,
    overlay_record,
)
from ledger.unit_of_work import UnitOfWork

QUIET_HOURS_PER_SAVE = 1000


def apply_input(app: Ledger, item: LedgerInput) -> list[Recording]:
    """Applies one validated input in one transaction (or records its rejection)."""
    with UnitOfWork(app) as uow:
        apply_within(app, uow, item)
        return uow.commit()


def apply_within(app: Ledger, uow: UnitOfWork, item: LedgerInput) -> None:
    """Applies one input to the aggregates of `uow`, which may hold earlier inputs too."""
    uow.require_not_applied(item)
    uow.inputs.append(input_record(item))
    uow.note_applied(item)
    if item.input_id is not None and not uow.admit(item):
        return
    pending_before = uow.pending_count()
    try:
        _dispatch(app, uow, item)
    except Rejected as rejection:
        assert uow.pending_count() == pending_before, "a refused command must leave no event behind"
        uow.reject(item, str(rejection))


def _dispatch(app: Ledger, uow: UnitOfWork, item: LedgerInput) -> None:
    body, at, cause = item.body, item.at, item.cause()
    if isinstance(body, OpenInput):
        open_account(app, uow, body, at, cause)
    elif isinstance(body, DepositInput):
        uow.account(body.account).deposit(body.asset, body.amount, at, cause)
    elif isinstance(body, WithdrawInput):
        uow.account(body.account).withdraw(body.asset, body.amount, uow.prices(), at, cause)
    elif isinstance(body, TransferInput):
        transfer(uow, body, at, cause)
    elif isinstance(body, BorrowInput):
        uow.account(body.account).borrow(body.asset, body.amount, uow.prices(), uow.parameters(), at, cause)
    elif isinstance(body, RepayInput):
        uow.account(body.account).repay(body.asset, body.amount, at, cause)
    elif isinstance(body, FillInput):
        uow.account(body.account).fill(
            body.side, body.base, body.quote, body.quantity, body.price, uow.parameters(), at, cause
        )
    elif isinstance(body, MarkInput):
        assert body.asset is not None
        quote = body.quote or uow.parameters().valuation_asset
        uow.market(body.asset, at, cause).record_mark(body.asset, body.price, quote, at, cause)
    elif isinstance(body, LiquidityInput):
        quote = body.quote or uow.parameters().valuation_asset
        uow.market(body.asset, at, cause).offer_liquidity(body.asset, body.price, body.quantity, quote, at, cause)
    elif isinstance(body, AutoTopUpInput):
        enable_auto_topup(uow, body, at, cause)
    elif isinstance(body, ParamsInput):
        uow.parameter_set(at).change(overlay_changes(body.changes(), app.parameter_overlay), at, cause)
    elif isinstance(body, ClockInput):
        pass  # time passing is applied by `begin_hours` before every input
    else:  # pragma: no cover - inputs.py admits no other op
        raise AssertionError(f"no command for {body.op}")


def open_account(app: Ledger, uow: UnitOfWork, body: OpenInput, at: datetime, cause: dict[str, Any]) -> None:
    if uow.find(account_id(body.account)) is not None:
        raise Rejected(f"account {body.account} already exists")
    leverage = None
    if body.mode != AccountMode.SPOT:
        leverage = body.leverage or DEFAULT_LEVERAGE[body.mode]
        if not uow.parameters().has_tier(body.mode, leverage):
            raise Rejected(
                f"no margin tier for {body.mode} at {leverage}x in parameters version {uow.parameters().version}"
            )
    pair = body.pair.split("/") if body.pair else None
    account = Account(account=body.account, mode=body.mode, leverage=leverage, pair=pair, at=at, cause=cause)
    uow.add(account)
    uow.log(app.accounts_log, account=body.account, account_id=account.id)


def transfer(uow: UnitOfWork, body: TransferInput, at: datetime, cause: dict[str, Any]) -> None:
    source = uow.account(body.from_account)
    destination = uow.account(body.to_account)
    destination.check_transfer_in(body.asset)
    source.transfer_out(body.asset, body.amount, destination.name, uow.prices(), at, cause)
    destination.transfer_in(body.asset, body.amount, source.name, at, cause)


def enable_auto_topup(uow: UnitOfWork, body: AutoTopUpInput, at: datetime, cause: dict[str, Any]) -> None:
    source = uow.account(body.source)
    if source.mode != AccountMode.SPOT:
        raise Rejected(f"auto top-up draws from a spot account; {source.name} is {source.mode}")
    uow.account(body.account).enable_auto_topup(source.name, body.assets, body.target, at, cause)


def begin_hours(
    app: Ledger, until: datetime, cause: dict[str, Any], quiet: Callable[[], bool] = lambda: False
) -> Iterator[list[Recording]]:
    """Records each hh:00 from the clock's hour up to `until`, one save each, so the
    interest of each hour is processed before time moves on; while `quiet()` says no
    hour's interest concerns anyone, hours share a save (a year is 8,784 of them)."""
    with UnitOfWork(app) as uow:
        clock = uow.find(CLOCK_ID)
        if clock is None:
            uow.add(Clock(at=until, cause=cause))
            yield uow.commit()
            return
    hour = clock.current_hour + timedelta(hours=1)
    while hour <= until:
        with UnitOfWork(app) as uow:
            clock = uow.get(CLOCK_ID)
            hours_in_save = 0
            while hour <= until and (hours_in_save == 0 or (hours_in_save < QUIET_HOURS_PER_SAVE and quiet())):
                clock.begin_hour(hour, hour, cause)
                hour += timedelta(hours=1)
                hours_in_save += 1
            yield uow.commit()


def begin_run(app: Ledger, first: LedgerInput, again: bool = False, kind: str = "run") -> list[Recording]:
    """Before a run's first input: version 1 of the parameters (defaults, with the run's
    overlay) once per store, and the file begun (or begun again). The overlay is
    recorded when its file is begun, not again when a run resumes it."""
    with UnitOfWork(app) as uow:
        new_store = uow.find(PARAMETERS_ID) is None
        if new_store:
            uow.parameter_set(first.at)
        begun = first.chain is None or uow.begin_file(first.source, app.overlay_fingerprint(), again)
        if app.parameter_overlay and begun:
            cause = {"kind": kind, "source": first.source}
            if not new_store:
                uow.get(PARAMETERS_ID).change(app.parameter_overlay, first.at, cause)
            # Recorded as a `params` input, so that a replay applies it where the run did.
            uow.inputs.append(overlay_record(app.parameter_overlay, first.at, cause))
        return uow.commit()
