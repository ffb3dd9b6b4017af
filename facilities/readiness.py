"""What a city's data lets each capability do: ready, ready with estimates (which), or blocked (why).

``compact validate`` prints one line per capability; each command checks its own line first
(:func:`require`), so no command fails later on a precondition that validate did not name. A
capability is a row of :data:`CHECKS`: a function from a city to what it is missing and what it
estimates; other capabilities add their own row.

>>> from facilities import read_city
>>> from facilities.readiness import readiness
>>> for r in readiness(read_city("tests/cities/dc")):  # doctest: +SKIP
...     print(r.line())
capacity  ready with estimates: capacity of 17 buildings from reported capacity, ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pandas as pd

from facilities._validate import Problems
from facilities.capacity import describe_estimates, known_no, known_yes, utilization
from facilities.population import SOURCE_APPORTIONED, population_columns

if TYPE_CHECKING:
    from facilities.city import City

__all__ = ["CHECKS", "Need", "Readiness", "readiness", "require"]

State = Literal["ready", "ready with estimates", "blocked"]


@dataclass(frozen=True)
class Need:
    """Something a capability is missing, and the ``city.toml`` lines that would add it."""

    what: str
    toml: str = ""


@dataclass(frozen=True)
class Readiness:
    """One capability's readiness on a city."""

    capability: str
    missing: tuple[Need, ...] = ()
    estimates: tuple[str, ...] = ()

    @property
    def state(self) -> State:
        """``ready``, ``ready with estimates`` or ``blocked``."""
        if self.missing:
            return "blocked"
        return "ready with estimates" if self.estimates else "ready"

    def line(self) -> str:
        """One line, as ``compact validate`` prints it."""
        if self.missing:
            adds = "; ".join(f"{m.what} (add: {m.toml})" if m.toml else m.what for m in self.missing)
            return f"{self.capability:<9} blocked: {adds}"
        if self.estimates:
            return f"{self.capability:<9} ready with estimates: {'; '.join(self.estimates)}"
        return f"{self.capability:<9} ready"


_BUILDINGS = Need(
    "no buildings layer",
    '[layers.buildings] file = "buildings.csv" (with rooms_<type>, capacity or gross_area)',
)
_STUDENTS = Need("no students layer (homes, grade, school)", '[layers.students] file = "students.csv"')
_NEEDS = Need("no needs layer (charter schools' space needs)", '[layers.needs] file = "needs.csv"')


def _capacity_estimates(city: City, *, what: str = "buildings") -> list[str]:
    if not len(city.buildings):
        return []
    return describe_estimates(utilization(city).buildings, what)


def _unknown_facts(city: City) -> list[str]:
    b = city.buildings
    unknown = {c: int((~known_yes(b, c) & ~known_no(b, c)).sum()) for c in ("gym", "cafeteria", "accessible")}
    by_count: dict[int, list[str]] = {}
    for column, n in unknown.items():
        if n:
            by_count.setdefault(n, []).append(column)
    return [
        f"{', '.join(cs)} unknown for {n:,} buildings (offered as 'fits if ... confirmed')"
        for n, cs in by_count.items()
    ]


def _capacity(city: City) -> tuple[list[Need], list[str]]:
    reported = pd.to_numeric(city.schools["capacity"], errors="coerce").gt(0).sum()
    if not len(city.buildings) and not reported:
        return [_BUILDINGS], []
    estimates = _capacity_estimates(city)
    if not len(city.buildings):
        estimates.append(f"schools' capacity as reported ({int(reported):,} schools)")
    return [], estimates


def _match(city: City) -> tuple[list[Need], list[str]]:
    missing = [] if len(city.needs) else [_NEEDS]
    if not len(city.buildings):
        missing.append(_BUILDINGS)
    return missing, ([] if missing else _capacity_estimates(city) + _unknown_facts(city))


def _candidates(city: City) -> int:
    b = city.buildings
    return int(b["status"].isin(["vacant", "under-used"]).sum()) if len(b) else 0


def _sites(city: City) -> tuple[list[Need], list[str]]:
    missing = [] if len(city.students) else [_STUDENTS]
    if not _candidates(city):
        missing.append(
            Need(
                "no vacant or under-used buildings to site campuses in",
                "[layers.buildings] with status = vacant or under-used",
            )
        )
    return missing, ([] if missing else _capacity_estimates(city))


def _bells(city: City) -> tuple[list[Need], list[str]]:
    missing = [] if len(city.students) else [_STUDENTS]
    if not city.schools["bell_start"].notna().any():
        missing.append(
            Need("no bell times", '[layers.schools.columns] bell_start = "your start column" (and bell_end)')
        )
    estimates = [] if city.network is not None else ["travel by the straight-line model (no street network)"]
    return missing, ([] if missing else estimates)


def _residents(city: City) -> tuple[list[Need], list[str]]:
    """Where residents come from: students, else population by age (own or apportioned)."""
    if len(city.students):
        return [], []
    zones = city.zones
    columns = population_columns(zones) if len(zones) else []
    known = zones[columns].notna().any(axis=1) if columns else pd.Series(False, index=zones.index)
    if not known.any():
        return [Need(
            "no residents: neither students nor population by age",
            '[layers.students] file = "students.csv", or a census layer: [[layers.zones.files]] '
            'defaults = {kind = "census"} population = {"5_9" = "your column", ...}',
        )], []  # fmt: skip
    apportioned = (
        int((zones.get("residents_source") == SOURCE_APPORTIONED).sum()) if "residents_source" in zones else 0
    )
    source = (
        f"; {apportioned:,} zones' population apportioned by area from census units" if apportioned else ""
    )
    return [], [f"residents estimated from population by age{source}"]


def _zoned(city: City) -> list[Need]:
    zones = city.zones
    if not len(zones) or not (zones["kind"] != "census").any():
        return [
            Need(
                "no zones to measure",
                '[layers.zones] file = "zones.geojson" (neighborhoods, wards or attendance zones)',
            )
        ]
    return []


def _seats(city: City) -> list[str]:
    if pd.to_numeric(city.schools["capacity"], errors="coerce").gt(0).all():
        return []
    return _capacity_estimates(city) or [
        "seats of schools without a reported capacity or a building: estimated from enrollment"
    ]


def _coverage(city: City) -> tuple[list[Need], list[str]]:
    missing, estimates = _residents(city)
    missing = _zoned(city) + missing
    return missing, ([] if missing else estimates + _seats(city))


def _lottery(city: City) -> tuple[list[Need], list[str]]:
    missing, estimates = _residents(city)
    graded = city.schools["grades"].map(lambda g: isinstance(g, tuple) and len(g) > 0)
    if not graded.any():
        missing = [
            Need("no school lists its grades", '[layers.schools.columns] grades = "your grades column"'),
            *missing,
        ]
    if not missing and not len(city.students):
        estimates = [*estimates, "applicants' choice lists simulated"]
    return missing, ([] if missing else estimates + _seats(city))


def _design(city: City) -> tuple[list[Need], list[str]]:
    return _coverage(city)


#: Each capability and its check: ``city -> (missing, estimates)``. Add a row for a new capability.
CHECKS: dict[str, Callable[[City], tuple[list[Need], list[str]]]] = {
    "capacity": _capacity,
    "match": _match,
    "sites": _sites,
    "bells": _bells,
    "coverage": _coverage,
    "lottery": _lottery,
    "design": _design,
}


def readiness(city: City, capabilities: list[str] | None = None) -> list[Readiness]:
    """Each capability's readiness on ``city`` (all of :data:`CHECKS` by default)."""
    out = []
    for name in capabilities or list(CHECKS):
        missing, estimates = CHECKS[name](city)
        out.append(Readiness(name, tuple(missing), tuple(estimates)))
    return out


def require(city: City, capability: str) -> Readiness:
    """Raise :class:`~facilities.ValidationError` naming what ``capability`` misses on ``city``.

    Returns
    -------
    Readiness
        The capability's line when it can run (its estimates are for the command's summary).
    """
    ready = readiness(city, [capability])[0]
    if ready.missing:
        problems = Problems()
        for need in ready.missing:
            problems.add(
                "city.toml",
                None,
                None,
                f"{capability} is blocked: {need.what}",
                f"add {need.toml}" if need.toml else "",
            )
        problems.raise_if_any(city=city.name)
    return ready
