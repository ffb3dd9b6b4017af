"""The offline geocoder: a city's own address points (Boston's SAM, DC's Master Address Repository).

Each address is matched in three steps, each labelled, and a wrong match is worse than none:

1. **exact**: the street as written (after Publication 28 normalization) holds the house number;
   a unit not on file, or not given, still places the student at the building (said in the note).
2. **nearest number**: the street is right but the number is not on file: the closest number on
   the same side of the street (same parity) in the same hundred block, at most
   :data:`MAX_NUMBER_GAP` away.
3. **fuzzy**: the street is not on file as written: the same name with another (or no) suffix
   when the name has only one street, else the closest street name by ``rapidfuzz`` when it scores
   at least :data:`FUZZY_MIN`, beats the runner-up by :data:`FUZZY_MARGIN` and holds the house
   number exactly.

Anything else is ``unmatched`` with its reason. A street found in several places (one name in two
ZIP codes) needs the ZIP to tell them apart. The thresholds were set on the demo's noisy addresses
against the generator's truth (0 wrong matches) and Boston's school addresses.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from facilities.geocode.match import Match, unmatched
from facilities.geocode.normalize import Address, _zip5, parse, standardize_street

__all__ = ["FUZZY_MARGIN", "FUZZY_MIN", "MAX_NUMBER_GAP", "AddressPoints"]

#: Largest distance in house numbers for a ``nearest number`` match.
MAX_NUMBER_GAP = 10
#: Smallest ``rapidfuzz.fuzz.ratio`` (0-100) for a fuzzy street match.
FUZZY_MIN = 85.0
#: How far the best street must score above the second for a fuzzy match.
FUZZY_MARGIN = 6.0
#: Points of one address farther apart than this (metres) are different places.
_SAME_PLACE = 200.0


class AddressPoints:
    """A city's address points, indexed by normalized street and house number.

    Parameters
    ----------
    frame
        One row per address point (or per unit): ``number``, ``street``, and optionally
        ``unit``, ``zip``; point geometry in any CRS.

    Examples
    --------
    >>> points = AddressPoints(city.address_points)  # doctest: +SKIP
    >>> points.geocode([parse("12 Adams Ave")])  # doctest: +SKIP
    """

    name = "address points"

    def __init__(self, frame: gpd.GeoDataFrame) -> None:
        wgs = frame.to_crs(4326) if frame.crs is not None and not frame.crs.equals("EPSG:4326") else frame
        self._lon = wgs.geometry.x.to_numpy(dtype=float)
        self._lat = wgs.geometry.y.to_numpy(dtype=float)
        cos = math.cos(math.radians(float(np.nanmean(self._lat)))) if len(wgs) else 1.0
        self._m = (111_320.0 * cos, 110_574.0)  # metres per degree, for distances between points
        numbers = pd.to_numeric(_per_value(frame["number"], _leading_number), errors="coerce")
        keys = pd.Series(_per_value(frame["street"].astype(str), _key), index=frame.index)
        blank = pd.Series("", index=frame.index)
        self._unit = _per_value(frame.get("unit", blank), _unit_of).to_numpy(dtype=object)
        self._zip = _per_value(frame.get("zip", blank), _zip_of).to_numpy(dtype=object)
        self.zips = frozenset(z for z in self._zip if z)
        ok = numbers.notna().to_numpy() & (keys != "").to_numpy() & np.isfinite(self._lon)
        rows = np.flatnonzero(ok)
        nums = numbers.to_numpy()[ok].astype(int)
        self._streets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        order = np.lexsort((nums, keys.to_numpy()[ok]))
        key_sorted = keys.to_numpy()[ok][order]
        bounds = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1], True])
        for a, b in itertools.pairwise(bounds):
            self._streets[str(key_sorted[a])] = (nums[order[a:b]], rows[order[a:b]])
        self._by_name: dict[str, list[str]] = {}
        for key in self._streets:
            self._by_name.setdefault(_name_of(key), []).append(key)
        self._keys = sorted(self._streets)
        self._cache: dict[Address, Match] = {}

    def __len__(self) -> int:
        return len(self._lon)

    @property
    def streets(self) -> list[str]:
        """Every normalized street on file."""
        return list(self._keys)

    def geocode(self, addresses: Sequence[Address]) -> list[Match]:
        """Place each address (the steps are in the module docstring); a repeated one is matched once."""
        out = []
        for address in addresses:
            found = self._cache.get(address)
            if found is None:
                found = self._cache[address] = self._match(address)
            out.append(found)
        return out

    # ------------------------------------------------------------------------------- matching
    def _match(self, a: Address) -> Match:
        if a.po_box:
            return unmatched("a P.O. box or general delivery, not a home address", source=self.name)
        if a.number is None and not a.name:
            return unmatched("the address is empty or unreadable", source=self.name)
        if a.number is None:
            return unmatched("no house number", source=self.name)
        if not a.name:
            return unmatched("no street name", source=self.name)
        if a.zip and self.zips and a.zip not in self.zips:
            return unmatched(f"ZIP {a.zip} is outside the area of the address points", source=self.name)
        key = a.street
        if key in self._streets:
            return self._on_street(a, key, kind="exact", score=1.0, note="")
        same = [k for k in self._by_name.get(a.name, []) if _compatible(a, k)]
        if len(same) == 1:
            return self._on_street(a, same[0], kind="fuzzy", score=0.9, note=f"written {key!r}")
        if len(same) > 1:
            return unmatched(
                f"street {key!r} could be {' or '.join(sorted(same))}: write the suffix", source=self.name
            )
        found = process.extract(key, self._keys, scorer=fuzz.ratio, limit=2)
        if not found or found[0][1] < FUZZY_MIN:
            closest = f" (closest: {found[0][0]!r})" if found and found[0][1] >= 60 else ""
            return unmatched(f"street {key!r} is not in the address points{closest}", source=self.name)
        best, score = found[0][0], found[0][1]
        if len(found) > 1 and score - found[1][1] < FUZZY_MARGIN:
            return unmatched(f"street {key!r} could be {best!r} or {found[1][0]!r}", source=self.name)
        return self._on_street(
            a, best, kind="fuzzy", score=score / 100.0, note=f"written {key!r}", nearest=False
        )

    def _on_street(
        self, a: Address, key: str, *, kind: str, score: float, note: str, nearest: bool = True
    ) -> Match:
        number = a.number
        assert number is not None, "_match answers the addresses without a number"
        numbers, rows = self._streets[key]
        lo, hi = np.searchsorted(numbers, [number, number + 1])
        here = rows[lo:hi]
        if len(here):
            return self._at(a, key, here, kind=kind, score=score, note=note, number=number)
        if not nearest:
            return unmatched(
                f"no number {number} on {key} (matched the street fuzzily: numbers must then be exact)",
                source=self.name,
            )
        block = (number // 100) * 100
        near = (
            (numbers % 2 == number % 2)
            & (numbers // 100 * 100 == block)
            & (np.abs(numbers - number) <= MAX_NUMBER_GAP)
        )
        if a.zip and near.any():
            in_zip = near & (self._zip[rows] == a.zip)
            near = in_zip if in_zip.any() else near
        if not near.any():
            span = f"{numbers.min()}-{numbers.max()}"
            return unmatched(
                f"no number {number} on {key} and none of its side within {MAX_NUMBER_GAP} (numbers {span})",
                source=self.name,
            )
        gaps = np.abs(numbers[near] - number)
        closest = numbers[near][gaps == gaps.min()]
        chosen = rows[near][gaps == gaps.min()]
        if len(np.unique(closest)) > 1 and not self._one_place(chosen):
            return unmatched(
                f"no number {number} on {key}; {closest[0]} and {closest[1]} are equally near",
                source=self.name,
            )
        gap = int(gaps.min())
        at = rows[near][numbers[near] == closest[0]]
        score = 1.0 - gap / (2 * MAX_NUMBER_GAP)
        return self._at(
            a,
            key,
            at,
            kind="nearest number",
            score=score,
            note=f"no {number}: {closest[0]} on file, {gap} away",
            number=int(closest[0]),
        )

    def _at(
        self, a: Address, key: str, rows: np.ndarray, *, kind: str, score: float, note: str, number: int
    ) -> Match:
        """The point of ``rows`` (one address, maybe several units or several places)."""
        if a.zip and len(rows) > 1:
            in_zip = rows[self._zip[rows] == a.zip]
            rows = in_zip if len(in_zip) else rows
        if not self._one_place(rows):
            zips = sorted({z for z in self._zip[rows] if z})
            hint = f" (ZIP {' or '.join(zips)})" if zips else ""
            return unmatched(f"{a.number} {key} is in several places{hint}: give the ZIP", source=self.name)
        notes = [note] if note else []
        units = self._unit[rows]
        if a.unit and (units == a.unit).any():
            rows = rows[units == a.unit]
        elif a.unit and (units != "").any():
            notes.append(f"unit {a.unit} not on file: placed at the building")
            score *= 0.95
        elif not a.unit and (units != "").any():
            notes.append("unit not given: placed at the building")
            score *= 0.95
        lon, lat = float(np.mean(self._lon[rows])), float(np.mean(self._lat[rows]))
        return Match(kind, round(score, 3), lon, lat, f"{number} {key}", "; ".join(notes), self.name)

    def _one_place(self, rows: np.ndarray) -> bool:
        if len(rows) < 2:
            return True
        dx = (self._lon[rows].max() - self._lon[rows].min()) * self._m[0]
        dy = (self._lat[rows].max() - self._lat[rows].min()) * self._m[1]
        return math.hypot(dx, dy) <= _SAME_PLACE


def _per_value(column: pd.Series, fn: Callable[[Any], object]) -> pd.Series:
    """``fn`` of each value, computed once per distinct value (address files repeat streets and units)."""
    codes, uniques = pd.factorize(column.astype(object), use_na_sentinel=False)
    return pd.Series(np.array([fn(u) for u in uniques], dtype=object)[codes], index=column.index)


def _unit_of(value: object) -> str:
    return parse("", unit=value).unit if _given(value) else ""


def _zip_of(value: object) -> str:
    return _zip5(str(value)) if _given(value) else ""


def _given(value: object) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and math.isnan(value))
        and str(value).strip() not in ("", "nan", "None")
    )


def _leading_number(value: object) -> float:
    """``'12'``, ``12.0``, ``'12A'``, ``'12-14'`` give 12; anything else NaN."""
    if not _given(value):
        return math.nan
    text = str(value).strip()
    digits = ""
    for ch in text.split(".")[0] if text.replace(".", "", 1).isdigit() else text:
        if not ch.isdigit():
            break
        digits += ch
    return float(digits) if digits else math.nan


def _key(street: str) -> str:
    return " ".join(p for p in standardize_street(street) if p)


def _name_of(key: str) -> str:
    return standardize_street(key)[1]


def _compatible(a: Address, key: str) -> bool:
    """Whether ``key`` can be the street ``a`` wrote with another or no suffix (directionals agree)."""
    predir, _, suffix, postdir = standardize_street(key)
    if a.predir and a.predir != predir or a.postdir and a.postdir != postdir:
        return False
    return not (a.suffix and a.suffix == suffix and (a.predir, a.postdir) == (predir, postdir))
