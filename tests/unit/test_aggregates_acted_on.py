"""What a task reads at once before its steps run (`aggregates_acted_on`): each reaction's
account; a liquidation and the account its event names; the takeovers an offer may serve."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import ledger.processes  # noqa: F401 - registers every product's steps
from ledger.domain.identity import account_id
from ledger.processes.margin.step import MarginStep
from ledger.processes.routing import Reaction
from ledger.processes.steps import aggregates_acted_on

LIQUIDATION = uuid.uuid4()
TAKEOVERS = (str(uuid.uuid4()), str(uuid.uuid4()))


def test_an_account_step_reads_its_account() -> None:
    mark = SimpleNamespace(asset="BTC")  # a mark names no account
    assert aggregates_acted_on(Reaction(MarginStep.EVALUATE_MARGIN, "A"), mark) == [account_id("A")]


def test_a_liquidation_step_reads_the_liquidation_and_its_account() -> None:
    event = SimpleNamespace(account="A")
    assert aggregates_acted_on(Reaction(MarginStep.FEE, str(LIQUIDATION)), event) == [LIQUIDATION, account_id("A")]


def test_the_sales_against_an_offer_read_the_takeovers_it_may_serve() -> None:
    offer = SimpleNamespace(asset="SUPER")
    reaction = Reaction(MarginStep.TAKEOVER_SALES, "SUPER", TAKEOVERS)
    assert aggregates_acted_on(reaction, offer) == [uuid.UUID(takeover) for takeover in TAKEOVERS]
