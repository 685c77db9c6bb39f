"""Stored events -> the domain events the views read, for the runner.

The application's mapper (`Mapper.to_domain_event`) looks up, for every event, the class
of its topic, how its originator id converts and whether it needs upcasting: a few
microseconds an event, more than some views take to follow it. `ViewDecoder` looks each
up once a topic and builds the same event (the same class, the same `__dict__`, in the
same order). Any topic it cannot build so (a cipher or a compressor, a class version
beyond 1) goes through the mapper, as does a state the transcoder would read as JSON.

An event class whose state the views read only a part of says which part: a
`msgspec.Struct` in `PARTIAL_STATES` (`projections.views`), with a method `state()`
giving that part as the event's attributes. Only that part is decoded: the rest of the
state is skipped by the decoder, not built into Python objects (an `InputsRecorded`
holds every input of its save, most of a store's bytes, where the views count them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent, find_id_convertor, pass_through_convertor
from eventsourcing.utils import resolve_topic

from ledger.transcodings import LedgerTranscoder
from projections.views import PARTIAL_STATES

# A stored event's state -> the event's attributes (before its originator id and version).
StateDecoder = Callable[[bytes], dict[str, Any]]


class ViewDecoder:
    """`Mapper.to_domain_event`, with what it looks up for each event looked up once a topic."""

    def __init__(self, mapper: Mapper[Any]):
        self.mapper = mapper
        self.transcoder = mapper.transcoder if isinstance(mapper.transcoder, LedgerTranscoder) else None
        self.plain = self.transcoder is not None and mapper.cipher is None and mapper.compressor is None
        self.topics: dict[str, tuple[type, StateDecoder] | None] = {}  # None: the mapper's way

    def __call__(self, stored: StoredEvent) -> Any:
        try:
            known = self.topics[stored.topic]
        except KeyError:
            known = self.topics[stored.topic] = self._look_up(stored)
        if known is None:
            return self.mapper.to_domain_event(stored)
        cls, decode = known
        state = decode(stored.state)
        state.pop("class_version", None)  # as the mapper: a version 1 needs no upcasting
        state["originator_id"] = stored.originator_id
        state["originator_version"] = stored.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def _look_up(self, stored: StoredEvent) -> tuple[type, StateDecoder] | None:
        """The class of a topic and how its state decodes, or None when the mapper must
        build its events (it is the one to raise for a topic that resolves to nothing)."""
        if not self.plain or not isinstance(stored.originator_id, UUID):
            return None
        try:
            cls = resolve_topic(stored.topic)
        except Exception:
            return None
        if getattr(cls, "class_version", 1) != 1:
            return None  # upcast by the mapper
        if find_id_convertor(cls, UUID) is not pass_through_convertor:
            return None
        assert self.transcoder is not None
        return cls, self._state_decoder(cls, self.transcoder)

    def _state_decoder(self, cls: type, transcoder: LedgerTranscoder) -> StateDecoder:
        partial = next((PARTIAL_STATES[kind] for kind in cls.__mro__ if kind in PARTIAL_STATES), None)
        full = transcoder.decode
        if partial is None:
            return full
        decode_part = transcoder.decoder_of(partial).decode

        def decode(data: bytes) -> dict[str, Any]:
            return full(data) if transcoder.is_json(data) else decode_part(data).state()

        return decode
