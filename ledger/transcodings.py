"""How values the library does not know are stored in events and snapshots: exact
rationals (a futures entry price, a COIN-M notional) as their text, `100/3` or `9800`."""

from __future__ import annotations

from fractions import Fraction

from eventsourcing.persistence import Transcoding


class FractionAsStr(Transcoding):
    type = Fraction
    name = "fraction_str"

    def encode(self, obj: Fraction) -> str:
        return str(obj)

    def decode(self, data: str) -> Fraction:
        return Fraction(data)
