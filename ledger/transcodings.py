"""How the values of events and snapshots are stored.

New events are written by `LedgerTranscoder`: MessagePack (msgspec), where what MessagePack
has no type for is an extension type that names it, so that a value reads back as the type it
was written: an exact Decimal as its text (`Decimal("1.50")` stays `1.50`, never a float), a
UUID as its 16 bytes, an exact rational (a futures entry price, a COIN-M notional) as its
text, `100/3`. A UTC datetime is MessagePack's own timestamp; any other datetime its ISO text,
with its offset as written. An int beyond 64 bits is its decimal text.

Events written before (stdlib JSON, with the library's `_type_`/`_data_` transcodings and
`FractionAsStr`) still load: a JSON object starts with `{`, which no MessagePack map does
(a map starts with 0x80-0x8f, 0xde or 0xdf), so each stored state is read by the format it
was written in, and one store may hold both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from eventsourcing.persistence import JSONTranscoder, Transcoder, Transcoding


class FractionAsStr(Transcoding):
    """The old JSON transcoder's way with exact rationals: `{"_type_": "fraction_str", ...}`."""

    type = Fraction
    name = "fraction_str"

    def encode(self, obj: Fraction) -> str:
        return str(obj)

    def decode(self, data: str) -> Fraction:
        return Fraction(data)


# Extension type codes: stored in every event written, never to be renumbered.
EXT_DECIMAL = 1
EXT_UUID = 2
EXT_FRACTION = 3
EXT_DATETIME = 4  # a datetime that is not UTC (or naive), as its ISO text
EXT_BIG_INT = 5

T = TypeVar("T")

INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1


# Leaves stored as they are, looked at without a call (most of a state's values).
PLAIN = frozenset({str, int, bool, float, type(None)})


def _tagged(value: Any) -> Any:
    """The value with every type MessagePack cannot tell apart on reading made an extension.
    msgspec would write a Decimal or UUID as a string, indistinguishable from text when read.
    An int is left as it is: one beyond 64 bits fails the encoding, which is then done again
    with `_tagged_big_ints`."""
    kind = type(value)
    if kind in PLAIN:
        return value
    if kind is dict:
        return {
            key if type(key) is str else _text_key(key): item if type(item) in PLAIN else _tagged(item)
            for key, item in value.items()
        }
    if kind is list or kind is tuple:  # a tuple reads back as a list, as it did from JSON
        return [item if type(item) in PLAIN else _tagged(item) for item in value]
    if kind is Decimal:
        return msgspec.msgpack.Ext(EXT_DECIMAL, str(value).encode())
    if kind is datetime:
        return value if value.tzinfo is UTC else msgspec.msgpack.Ext(EXT_DATETIME, value.isoformat().encode())
    if kind is UUID:
        return msgspec.msgpack.Ext(EXT_UUID, value.bytes)
    if kind is Fraction:
        return msgspec.msgpack.Ext(EXT_FRACTION, str(value).encode())
    return _tagged_subclass(value)


def _tagged_subclass(value: Any) -> Any:
    """A subclass of a plain type (a str enum, a defaultdict) is stored as JSON stored it: as its base."""
    if isinstance(value, dict):
        return {_text_key(key): _tagged(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_tagged(item) for item in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"an event or snapshot cannot store a {type(value).__name__} ({value!r})")


def _text_key(key: Any) -> str:
    """A map's key as text (a str enum as its value, as JSON stored it). Any other key is
    refused: it would not read back as the type it was written (JSON made every key text,
    MessagePack would keep an int), and the domain's keys are all text."""
    if isinstance(key, str):
        return str.__str__(key)
    raise TypeError(f"an event or snapshot cannot store a map whose key is a {type(key).__name__} ({key!r})")


def _tagged_big_ints(value: Any) -> Any:
    """As `_tagged`, with every int beyond 64 bits an extension (the rare state that has one)."""
    kind = type(value)
    if kind is int or (isinstance(value, int) and kind is not bool):
        return int(value) if INT64_MIN <= value <= UINT64_MAX else msgspec.msgpack.Ext(EXT_BIG_INT, str(value).encode())
    if isinstance(value, dict):
        return {_text_key(key): _tagged_big_ints(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_tagged_big_ints(item) for item in value]
    return _tagged(value)


def _from_extension(code: int, data: memoryview) -> Any:
    if code == EXT_DECIMAL:
        return Decimal(bytes(data).decode())
    if code == EXT_UUID:
        return UUID(bytes=bytes(data))
    if code == EXT_DATETIME:
        return datetime.fromisoformat(bytes(data).decode())
    if code == EXT_FRACTION:
        return Fraction(bytes(data).decode())
    if code == EXT_BIG_INT:
        return int(bytes(data).decode())
    raise ValueError(f"unknown extension type {code} in a stored event")


class LedgerTranscoder(Transcoder):
    """Writes MessagePack; reads MessagePack, or JSON written by the library's JSONTranscoder
    (`legacy`, with the transcodings it was written with)."""

    def __init__(self, legacy: JSONTranscoder):
        self.legacy = legacy
        self.encoder = msgspec.msgpack.Encoder()
        self.decoder = msgspec.msgpack.Decoder(ext_hook=_from_extension)

    def encode(self, obj: Any) -> bytes:
        try:
            return self.encoder.encode(_tagged(obj))
        except OverflowError:  # an int beyond 64 bits
            return self.encoder.encode(_tagged_big_ints(obj))

    def decode(self, data: bytes) -> Any:
        if data[:1] == b"{":  # a JSON object: written before (see the module docstring; `is_json`)
            return self.legacy.decode(data)
        return self.decoder.decode(data)

    @staticmethod
    def is_json(data: bytes) -> bool:
        """Whether a state was written as JSON, before (see the module docstring)."""
        return data[:1] == b"{"

    def decoder_of(self, kind: type[T]) -> msgspec.msgpack.Decoder[T]:
        """A decoder of MessagePack states into `kind` (a msgspec.Struct of the fields a
        reader needs: the others are skipped, not decoded), extension types as `decode`."""
        return msgspec.msgpack.Decoder(kind, ext_hook=_from_extension)
