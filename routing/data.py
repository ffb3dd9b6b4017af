"""Immutable bus-routing data: schools, stops, yards, bus types and the travel matrices (the plans
solved from it are in :mod:`routing.plan`).

Engine API (used by the bell-time capability)
---------------------------------------------
Build a :class:`ProblemData` once, from any travel-time matrix (seconds) and distance matrix
(metres) over a list of locations, then solve it::

    from routing.problem import ProblemData
    from routing.buses import solve

    data = ProblemData.from_matrices(
        durations=T, distances=D,                     # (n, n) arrays over locations 0..n-1
        schools=schools_df,    # id, location, am_bell, pm_dismissal, dwell   (seconds after midnight)
        stops=stops_df,        # id, location, school (id), students, service
                               # ("corner"|"door-to-door"|"wheelchair")
        yards=yards_df,        # id, location
        bus_types=types_df,    # id, seats, wheelchair
        max_ride=2700, stop_time_fixed=19, stop_time_per_student=2.6,
    )
    plan = solve(data, session="am", time_limit=60, seed=1)
    plan.n_buses, plan.totals(), plan.infeasible
    plan.to_bird_csv("plan.csv")
    later = data.with_bells(am={"S1": 8 * 3600 + 30 * 60})  # a bell-time scenario, same streets

Conventions: times are seconds after midnight, durations seconds, distances metres. An AM run
picks students up at its stops and reaches its school at ``am_bell - dwell`` at the latest (the
dwell ends by the bell); a PM run waits at its school from ``pm_dismissal`` while students board
for ``dwell`` seconds, then drops them off. A student's ride lasts from the moment the bus leaves
their stop (AM; after the pickup) to the bus's arrival at school, or from the moment the bus
leaves school to its arrival at their stop (PM) -- the convention of Bertsimas, Delarue & Martin
(PNAS 2019), checked on their published solutions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from facilities import Problem, ValidationError

__all__ = ["School", "Stop", "BusType", "Yard", "ProblemData"]

_SERVICES = ("corner", "door-to-door", "wheelchair")


@dataclass(frozen=True)
class School:
    """A school served by buses.

    Parameters
    ----------
    id
        School id.
    location
        Index of its location in the matrices.
    am_bell
        Morning bell, seconds after midnight: AM runs must have unloaded by then.
    pm_dismissal
        Afternoon dismissal, seconds after midnight: PM runs load from then on (``nan`` if none).
    dwell
        Seconds a bus spends at the school to unload (AM) or load (PM).
    am_window
        Seconds of an arrival window: AM runs arrive from ``am_bell - dwell - am_window`` on (not
        earlier) and the engine offers each run at a few times within it. 0 (a plain bell): runs
        arrive by ``am_bell - dwell``, at any earlier time.
    """

    id: str
    location: int
    am_bell: float
    pm_dismissal: float = math.nan
    dwell: float = 0.0
    am_window: float = 0.0


@dataclass(frozen=True)
class Stop:
    """The riders of one school at one bus stop.

    Several stops may share a location (one per school and service).

    Parameters
    ----------
    id
        Stop id.
    location
        Index of its location in the matrices.
    school
        Index of the school (in :attr:`ProblemData.schools`).
    students
        Students boarding here.
    service
        ``"corner"``, ``"door-to-door"`` or ``"wheelchair"`` (needs a bus with a lift).
    """

    id: str
    location: int
    school: int
    students: int
    service: str = "corner"

    @property
    def needs_lift(self) -> bool:
        """Whether the stop needs a bus with a wheelchair lift."""
        return self.service == "wheelchair"


@dataclass(frozen=True)
class BusType:
    """A type of bus: seats for students, whether it has a wheelchair lift, and what it costs a year
    (``nan``: the cost model's price of a bus)."""

    id: str
    seats: int
    wheelchair: bool = False
    cost_per_year: float = math.nan


@dataclass(frozen=True)
class Yard:
    """A bus yard, where buses start and end their day."""

    id: str
    location: int


def _readonly(array: np.ndarray) -> np.ndarray:
    """A read-only float copy; an array that already is one (another ProblemData's, e.g. after
    :meth:`ProblemData.with_bells`) is shared, not copied: a city's matrices are gigabytes."""
    if (
        isinstance(array, np.ndarray)
        and array.dtype == float
        and not array.flags.writeable
        and array.base is None
    ):
        return array
    out = np.array(array, dtype=float, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class ProblemData:
    """Everything a bus plan is solved from; immutable (use :meth:`replace` or :meth:`with_bells`).

    Build it with :meth:`from_matrices` (tables plus matrices) or directly from the entity tuples.

    Attributes
    ----------
    durations, distances
        ``(n, n)`` travel seconds and metres between locations (read-only arrays).
    schools, stops, yards, bus_types
        The entities; stops and schools refer to locations and to each other by index.
    max_ride
        Longest ride of any student, seconds.
    stop_time_fixed, stop_time_per_student
        Time at a stop: ``fixed + per_student * students`` seconds.
    name
        A label for reports.
    """

    durations: np.ndarray
    distances: np.ndarray
    schools: tuple[School, ...]
    stops: tuple[Stop, ...]
    yards: tuple[Yard, ...]
    bus_types: tuple[BusType, ...]
    max_ride: float
    stop_time_fixed: float = 0.0
    stop_time_per_student: float = 0.0
    name: str = "problem"

    def __post_init__(self) -> None:
        object.__setattr__(self, "durations", _readonly(self.durations))
        object.__setattr__(self, "distances", _readonly(self.distances))
        for attr in ("schools", "stops", "yards", "bus_types"):
            object.__setattr__(self, attr, tuple(getattr(self, attr)))
        problems = self._problems()
        if problems:
            raise ValidationError(problems, city=self.name)

    def _problems(self) -> list[Problem]:
        out: list[Problem] = []
        n = self.durations.shape[0] if self.durations.ndim == 2 else -1
        src = "matrices"
        if self.durations.ndim != 2 or self.durations.shape != (n, n) or self.distances.shape != (n, n):
            out.append(
                Problem(
                    src,
                    None,
                    None,
                    f"durations {self.durations.shape} and distances {self.distances.shape} must be the "
                    "same square shape",
                    "pass (n, n) arrays over the same locations",
                )
            )
            return out
        if not np.isfinite(self.durations).all() or (self.durations < 0).any():
            out.append(
                Problem(
                    src,
                    None,
                    "durations",
                    "has negative or non-finite travel times",
                    "snap every location to the connected street network",
                )
            )
        if not (self.max_ride > 0):
            out.append(
                Problem(
                    "settings",
                    None,
                    "max_ride",
                    f"must be positive, got {self.max_ride}",
                    "give the longest ride in seconds",
                )
            )
        if not self.yards:
            out.append(Problem("yards", None, None, "no bus yard", "give at least one yard"))
        if not self.bus_types:
            out.append(Problem("bus_types", None, None, "no bus type", "give at least one bus type"))
        located: list[tuple[str, Sequence[School | Stop | Yard]]] = [
            ("schools", self.schools),
            ("stops", self.stops),
            ("yards", self.yards),
        ]
        for layer, items in located:
            ids = [it.id for it in items]
            for i, it in enumerate(items):
                if not 0 <= it.location < n:
                    out.append(
                        Problem(
                            layer,
                            i + 1,
                            "location",
                            f"{it.id!r}: location {it.location} is not in 0..{n - 1}",
                            "use a row/column index of the matrices",
                        )
                    )
            if len(set(ids)) != len(ids):
                dup = sorted({x for x in ids if ids.count(x) > 1})[:5]
                out.append(Problem(layer, None, "id", f"duplicate ids {dup}", "make ids unique"))
        for i, s in enumerate(self.schools):
            if not math.isfinite(s.am_bell) and not math.isfinite(s.pm_dismissal):
                out.append(
                    Problem(
                        "schools",
                        i + 1,
                        "am_bell",
                        f"{s.id!r} has neither an AM bell nor a PM dismissal",
                        "give bell times in seconds after midnight",
                    )
                )
            if s.dwell < 0:
                out.append(
                    Problem("schools", i + 1, "dwell", f"{s.id!r}: negative dwell", "give seconds >= 0")
                )
            if not s.am_window >= 0:
                out.append(
                    Problem(
                        "schools",
                        i + 1,
                        "am_window",
                        f"{s.id!r}: negative arrival window",
                        "give seconds >= 0",
                    )
                )
        for i, st in enumerate(self.stops):
            if not 0 <= st.school < len(self.schools):
                out.append(
                    Problem(
                        "stops",
                        i + 1,
                        "school",
                        f"{st.id!r}: unknown school index {st.school}",
                        "refer to a school",
                    )
                )
            if st.students < 1:
                out.append(
                    Problem(
                        "stops", i + 1, "students", f"{st.id!r}: {st.students} students", "drop empty stops"
                    )
                )
            if st.service not in _SERVICES:
                out.append(
                    Problem(
                        "stops",
                        i + 1,
                        "service",
                        f"{st.id!r}: unknown service {st.service!r}",
                        f"use one of {_SERVICES}",
                    )
                )
        if self.stops and self.bus_types:
            lift = [b for b in self.bus_types if b.wheelchair]
            if any(st.needs_lift for st in self.stops) and not lift:
                out.append(
                    Problem(
                        "bus_types",
                        None,
                        "wheelchair",
                        "wheelchair stops but no bus type with a lift",
                        "add a bus type with wheelchair = true",
                    )
                )
        return out

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_matrices(
        cls,
        *,
        durations: np.ndarray,
        distances: np.ndarray,
        schools: pd.DataFrame,
        stops: pd.DataFrame,
        yards: pd.DataFrame,
        bus_types: pd.DataFrame,
        max_ride: float,
        stop_time_fixed: float = 0.0,
        stop_time_per_student: float = 0.0,
        name: str = "problem",
    ) -> ProblemData:
        """Build the data from tables whose ``location`` column indexes the matrices.

        Parameters
        ----------
        durations, distances
            ``(n, n)`` seconds and metres between locations (e.g. from :mod:`routing.travel`).
        schools
            Columns ``id``, ``location``, ``am_bell``; optional ``pm_dismissal``, ``dwell``.
        stops
            Columns ``id``, ``location``, ``school`` (a school id), ``students``; optional ``service``.
        yards
            Columns ``id``, ``location``.
        bus_types
            Columns ``id``, ``seats``; optional ``wheelchair``.
        max_ride, stop_time_fixed, stop_time_per_student
            Seconds; see :class:`ProblemData`.
        name
            A label for reports.

        Raises
        ------
        facilities.ValidationError
            Naming every missing column, unknown school and out-of-range location.
        """
        problems: list[Problem] = []
        need = {
            "schools": (schools, ("id", "location", "am_bell")),
            "stops": (stops, ("id", "location", "school", "students")),
            "yards": (yards, ("id", "location")),
            "bus_types": (bus_types, ("id", "seats")),
        }
        for layer, (frame, cols) in need.items():
            for c in cols:
                if c not in frame.columns:
                    problems.append(Problem(layer, None, c, "missing column", f"add a {c!r} column"))
        if problems:
            raise ValidationError(problems, city=name)
        school_index = {str(s): i for i, s in enumerate(schools["id"])}
        for row, sid in enumerate(stops["school"]):
            if str(sid) not in school_index:
                problems.append(
                    Problem(
                        "stops",
                        row + 1,
                        "school",
                        f"unknown school {sid!r}",
                        "use an id of the schools table",
                    )
                )
        if problems:
            raise ValidationError(problems, city=name)

        def col(frame: pd.DataFrame, c: str, default: object) -> list:
            return list(frame[c]) if c in frame.columns else [default] * len(frame)

        return cls(
            durations=np.asarray(durations, dtype=float),
            distances=np.asarray(distances, dtype=float),
            schools=tuple(
                School(str(i), int(loc), float(am), float(pm), float(dw), float(win))
                for i, loc, am, pm, dw, win in zip(
                    schools["id"],
                    schools["location"],
                    schools["am_bell"],
                    col(schools, "pm_dismissal", math.nan),
                    col(schools, "dwell", 0.0),
                    col(schools, "am_window", 0.0),
                )
            ),
            stops=tuple(
                Stop(str(i), int(loc), school_index[str(s)], int(n), str(sv))
                for i, loc, s, n, sv in zip(
                    stops["id"],
                    stops["location"],
                    stops["school"],
                    stops["students"],
                    col(stops, "service", "corner"),
                )
            ),
            yards=tuple(Yard(str(i), int(loc)) for i, loc in zip(yards["id"], yards["location"])),
            bus_types=tuple(
                BusType(str(i), int(s), bool(w), float(c))
                for i, s, w, c in zip(
                    bus_types["id"],
                    bus_types["seats"],
                    col(bus_types, "wheelchair", False),
                    col(bus_types, "cost_per_year", math.nan),
                )
            ),
            max_ride=float(max_ride),
            stop_time_fixed=float(stop_time_fixed),
            stop_time_per_student=float(stop_time_per_student),
            name=name,
        )

    # ------------------------------------------------------------------ helpers
    def replace(self, **changes: Any) -> ProblemData:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def with_bells(
        self, *, am: Mapping[str, float] | None = None, pm: Mapping[str, float] | None = None
    ) -> ProblemData:
        """A copy with new AM bells and/or PM dismissals, given by school id (seconds after midnight)."""
        am, pm = dict(am or {}), dict(pm or {})
        unknown = sorted((set(am) | set(pm)) - {s.id for s in self.schools})
        if unknown:
            raise ValidationError(
                [
                    Problem(
                        "bells",
                        None,
                        "school",
                        f"unknown school ids {unknown[:5]}",
                        "use ids of data.schools",
                    )
                ],
                city=self.name,
            )
        schools = tuple(
            replace(
                s, am_bell=float(am.get(s.id, s.am_bell)), pm_dismissal=float(pm.get(s.id, s.pm_dismissal))
            )
            for s in self.schools
        )
        return self.replace(schools=schools)

    def bus_type_for(self, *, lift: bool, students: int | None = None) -> int:
        """The one bus-type choice: the type that routes a group of riders, or that drives a bus.

        Without ``students``, the largest type (with a lift when ``lift``): the type a school's
        runs are cut for. With ``students`` (the largest load of a bus's runs), the cheapest type
        with that many seats (a lift only when ``lift``: lift buses are kept for wheelchair riders),
        so a bus whose runs all fit a small bus is a small bus; types without a price count as the
        largest type's price. Ties: more seats, then the first type.
        """
        types = self.bus_types
        cands = [i for i, b in enumerate(types) if b.wheelchair == lift] or list(range(len(types)))
        largest = max(cands, key=lambda i: (types[i].seats, -i))
        if students is None:
            return largest
        fits = [i for i in cands if types[i].seats >= students] or [largest]
        default = types[largest].cost_per_year if math.isfinite(types[largest].cost_per_year) else 0.0

        def price(i: int) -> float:
            return types[i].cost_per_year if math.isfinite(types[i].cost_per_year) else default

        return min(fits, key=lambda i: (price(i), -self.bus_types[i].seats, i))

    def stop_time(self, students: int) -> float:
        """Seconds a bus spends at a stop where ``students`` board or alight."""
        return self.stop_time_fixed + self.stop_time_per_student * students

    def location_ids(self) -> list[str]:
        """A display id per location: the first yard, school or stop placed there, else its index."""
        ids = [str(i) for i in range(self.durations.shape[0])]
        for items in (self.stops, self.schools, self.yards):
            for it in items:
                ids[it.location] = it.id
        return ids
