"""Topics of classes that moved. An event is stored with its class's topic
(`module:Class`), a snapshot with its aggregate's: a store written before a move
still names the old module, so the old topic is registered for the class where
it lives now. Never remove a line: some store may still hold the old topic.
"""

from __future__ import annotations

from eventsourcing.utils import register_topic

from ledger.domain.margin.account import Account
from ledger.domain.margin.liquidation import Liquidation

# Until the spot-margin product had a room of its own (issue 10).
MOVED_TOPICS = {
    "ledger.domain.accounts:Account": Account,
    "ledger.domain.liquidation:Liquidation": Liquidation,
}


def register_moved_topics() -> None:
    for old_topic, moved in MOVED_TOPICS.items():
        register_topic(old_topic, moved)
