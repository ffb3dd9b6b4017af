"""What a city's data lets each capability do: ready, ready with estimates (which), or blocked (why).

``compact validate`` prints one line per capability; each command checks its own line first
(:func:`require`), so no command fails later on a precondition that validate did not name. A
capability is a row of :data:`CHECKS`: a function from a city to what it is missing and what it
estimates; other capabilities add their own row. The zones and lottery checks call the zones code's
own choosers (where residents come from, the units, the schools zones list, seats by grade) and repeat
their refusals, so a check cannot say ready where the command would stop.

>>> from facilities import read_city
>>> from facilities.readiness import readiness
>>> for r in readiness(read_city("tests/cities/dc")):  # doctest: +SKIP
...     print(r.line())
capacity  ready with estimates: capacity of 17 buildings from reported capacity, ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from facilities._validate import Problems, ValidationError
from facilities.capacity import describe_estimates, known_no, known_yes, utilization
from facilities.population import SOURCE_APPORTIONED
from facilities.schema import GRADE_NAMES, format_grades

if TYPE_CHECKING:
    from facilities.city import City

__all__ = ["CHECKS", "DESIGN_GRADES", "Need", "Readiness", "readiness", "require"]

State = Literal["ready", "ready with estimates", "blocked"]


@dataclass(frozen=True)
class Need:
    """Something a capability is missing, and the ``city.toml`` lines that would add it (``toml``)
    or, for a problem in the data, what to fix (``fix``)."""

    what: str
    toml: str = ""
    fix: str = ""

    def text(self) -> str:
        """What is missing and how to add it, in one phrase."""
        if self.toml:
            return f"{self.what} (add: {self.toml})"
        return f"{self.what} ({self.fix})" if self.fix else self.what


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
            adds = "; ".join(m.text() for m in self.missing)
            return f"{self.capability:<9} blocked: {adds}"
        if self.estimates:
            return f"{self.capability:<9} ready with estimates: {'; '.join(self.estimates)}"
        return f"{self.capability:<9} ready"


_BUILDINGS = Need(
    "no buildings layer",
    '[layers.buildings] file = "buildings.csv" (with rooms_<type>, capacity or gross_area)',
)
_STUDENTS = Need("no students layer (homes, grade, school)", '[layers.students] file = "students.csv"')
_GRADED = Need(
    "no student has a grade (PK, K, 1-12)", '[layers.students.columns] grade = "your grade column"'
)
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
    """Riders to route: students with a grade, at schools with a start time."""
    students = city.students
    graded = (
        pd.to_numeric(students["grade"], errors="coerce").between(-1, 12).to_numpy()
        if len(students)
        else np.zeros(0, dtype=bool)
    )
    missing = [] if graded.any() else [_STUDENTS if not len(students) else _GRADED]
    timed = city.schools.loc[city.schools["bell_start"].notna(), "id"].astype(str)
    if not len(timed):
        missing.append(
            Need("no bell times", '[layers.schools.columns] bell_start = "your start column" (and bell_end)')
        )
    elif graded.any() and not students["school"].astype(str)[graded].isin(timed).any():
        missing.append(
            Need(
                "no student attends a school with a bell time",
                fix="give the students' schools bell_start and bell_end",
            )
        )
    estimates = [] if city.network is not None else ["travel by the straight-line model (no street network)"]
    return missing, ([] if missing else estimates)


def _from_problems(err: ValidationError) -> list[Need]:
    """The needs a zones function named when it refused (its message, where, and its fix)."""
    return [
        Need(p.message if p.row is None else f"{p.message} ({p.file}, row {p.row})", fix=p.fix)
        for p in err.problems
    ]


def _people(city: City) -> tuple[list[Need], list[str], str]:
    """Where residents come from, as the zones and lottery code choose it (students, else population
    by age, else an enrollment estimate): what is missing, what is estimated, and the source."""
    from facilities.zones.residents import residents

    try:
        people = residents(city)
    except ValidationError as err:
        return _from_problems(err), [], ""
    if people.source == "students":
        return [], [], people.source
    zones = city.zones
    apportioned = (
        int((zones["residents_source"] == SOURCE_APPORTIONED).sum()) if "residents_source" in zones else 0
    )
    source = (
        f"; {apportioned:,} zones' population apportioned by area from census units" if apportioned else ""
    )
    note = people.note.replace("residents from", "residents estimated from", 1)  # population is an estimate
    return [], [note + source], people.source


def _zoned(city: City) -> list[Need]:
    """The zones coverage measures (the city's shared zones, else attendance zones, else the others),
    checked as it checks them: every school a zone lists is in the schools layer."""
    from facilities.zones import configured_zones
    from facilities.zones.coverage import _default_zones
    from facilities.zones.define import zone_school_sets

    zones = city.zones
    if not len(zones) or not (zones["kind"] != "census").any():
        return [
            Need(
                "no zones to measure",
                '[layers.zones] file = "zones.geojson" (neighborhoods, wards or attendance zones)',
            )
        ]
    try:
        shared = configured_zones(city)
        measured = shared if shared is not None else _default_zones(city)
        zone_school_sets(measured.reset_index(drop=True), city.schools)
    except ValidationError as err:
        return _from_problems(err)
    return []


def _seats(city: City, grades: Sequence[int] | None = None) -> tuple[list[Need], list[str]]:
    """Seats by grade as the zones code counts them: missing when no school has any (in ``grades``)."""
    from facilities.zones.measure import seat_notes, seats_by_grade

    seats = seats_by_grade(city.schools) if len(city.schools) else np.zeros((0, len(GRADE_NAMES)))
    columns = np.asarray(grades, dtype=np.int64) + 1 if grades is not None else slice(None)
    if not seats[:, columns].sum():
        note = seat_notes(city.schools)[0] if len(city.schools) else "no schools"
        which = f" in grades {format_grades(list(grades))}" if grades is not None else ""
        return [
            Need(
                f"no school has seats{which} ({note})",
                '[layers.schools.columns] grades = "your grades column", capacity = "your capacity '
                'column" (or enrollment), or a buildings layer with rooms',
            )
        ], []
    if pd.to_numeric(city.schools["capacity"], errors="coerce").fillna(0).gt(0).all():
        return [], []
    return [], [f"seats: {seat_notes(city.schools)[0]}"]


def _coverage(city: City) -> tuple[list[Need], list[str]]:
    missing, estimates, _ = _people(city)
    lacking, seats = _seats(city)
    missing = _zoned(city) + missing + lacking
    return missing, ([] if missing else estimates + seats)


def _units(city: City, grades: Sequence[int]) -> list[Need]:
    """Units that tile the city for ``grades`` (as zone design and simulated applicants pick them)."""
    from facilities.zones.residents import area_units

    try:
        area_units(city, grades=grades)
    except ValidationError as err:
        return _from_problems(err)
    return []


def _shared(city: City) -> list[Need]:
    """The shared zones of ``city.toml`` (``[[enrollment.shared_zones]]``), built as the commands build
    them: from units of the zones layer."""
    from facilities.zones import configured_zones

    try:
        configured_zones(city)
    except ValidationError as err:
        return _from_problems(err)
    return []


def _lottery(city: City) -> tuple[list[Need], list[str]]:
    from facilities.enrollment import ENTRY_GRADES

    missing, estimates, source = _people(city)
    graded = city.schools["grades"].map(lambda g: isinstance(g, tuple) and len(g) > 0)
    if not graded.any():
        missing = [
            Need("no school lists its grades", '[layers.schools.columns] grades = "your grades column"'),
            *missing,
        ]
    missing += _shared(city)
    simulated = source in ("population", "enrollment")
    if source == "enrollment":
        missing += [n for g in ENTRY_GRADES for n in _units(city, [g])]
    lacking, seats = _seats(city, None if source == "students" else ENTRY_GRADES)
    missing += lacking
    if simulated:
        estimates = [*estimates, "applicants and their choice lists simulated"]
    return missing, ([] if missing else estimates + seats)


#: The grades ``compact zones design`` designs for unless told (its ``--grades`` default).
DESIGN_GRADES = tuple(range(6))


def _design(city: City) -> tuple[list[Need], list[str]]:
    """As ``compact zones design`` needs it: residents, units for K-5, and a school with K-5 seats
    inside the units."""
    missing, estimates, _ = _people(city)
    missing += _units(city, DESIGN_GRADES)
    lacking, seats = _seats(city, DESIGN_GRADES)
    missing += lacking
    if not missing:
        from facilities.zones.measure import seats_by_grade
        from facilities.zones.residents import area_units

        units = area_units(city, grades=DESIGN_GRADES)
        serving = seats_by_grade(city.schools)[:, np.asarray(DESIGN_GRADES) + 1].sum(axis=1) > 0
        located = units.sindex.query(city.schools.geometry.values[serving], predicate="intersects")[0]
        if not len(located):
            missing.append(
                Need(
                    f"no school with seats in grades {format_grades(list(DESIGN_GRADES))} lies in any unit",
                    fix="check the schools' and zones' locations and CRS",
                )
            )
    return missing, ([] if missing else estimates + seats)


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
                f"add {need.toml}" if need.toml else need.fix,
            )
        problems.raise_if_any(city=city.name)
    return ready
