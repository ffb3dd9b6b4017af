"""What a geocoder returns for one address, and the interface every geocoder follows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from facilities.geocode.normalize import Address

__all__ = ["KINDS", "Geocoder", "Match", "unmatched"]

#: How an address was placed, best first; ``unmatched`` addresses are not placed at all.
KINDS: tuple[str, ...] = ("exact", "nearest number", "fuzzy", "unmatched")


@dataclass(frozen=True)
class Match:
    """Where one address was placed, how, and how sure.

    Attributes
    ----------
    kind
        ``exact`` (the number on the street as written), ``nearest number`` (the same street and
        side of the block, the closest number on file), ``fuzzy`` (a street name spelled another
        way) or ``unmatched``.
    score
        0 to 1: 1 for an exact match; lower the further the match is from what was written.
    lon, lat
        The point (WGS84), NaN when unmatched.
    matched
        The address it was matched to, e.g. ``'12 ADAMS AVE'`` (empty when unmatched).
    reason
        Why it did not match, or a note on the match (``'unit 3 not on file: the building'``).
    source
        The geocoder that placed it (``'address points'``, ``'census'``, ``'nominatim'``).
    """

    kind: str
    score: float
    lon: float = math.nan
    lat: float = math.nan
    matched: str = ""
    reason: str = ""
    source: str = ""

    @property
    def placed(self) -> bool:
        """Whether the address has a point."""
        return self.kind != "unmatched"


def unmatched(reason: str, *, source: str = "") -> Match:
    """A :class:`Match` that placed nothing, saying why."""
    return Match("unmatched", 0.0, reason=reason, source=source)


class Geocoder(Protocol):
    """Anything that places addresses: the local address points, the Census batch service, Nominatim."""

    #: Short name shown in reports.
    name: str

    def geocode(self, addresses: Sequence[Address]) -> list[Match]:
        """Place each address (same order); never raise on an address that cannot be placed."""
        ...
