"""Match charter schools' space needs to buildings, over the years of their growth plans.

A need is housed either in a whole building no school occupies, or co-located in a building whose
schools leave rooms free (sharing rooms by type, gym periods and lunch periods with its host).
Every need × building pair is first checked against the hard rules (mode, grades, accessibility,
gym, cafeteria, rooms, budget, availability); the same check gives the reasons a pair does not fit,
so there is one source of truth for the rules. The pairs that fit go into one CP-SAT model that
houses each need in at most one building for a prefix of its plan's years (its first year at the
least) and never over-assigns a building's rooms, gym or lunch periods in any year.

Objective (minimized, in points; see :class:`Weights`): for every need-year not housed,
``unplaced × (1 + priority × p)`` where ``p`` is the need's priority scaled to 0–1, less
``occupant × unplaced`` for the charter already in the building (DC's right of first offer);
plus per housed year ``travel`` per minute of the students' mean travel time, ``cost`` per
$10,000 of yearly cost, less ``neighborhood`` in a preferred neighborhood; plus ``band`` per
percentage point a host building's utilization lies outside the target band.

>>> from facilities import read_city
>>> from facilities.matching import MatchData, solve
>>> result = solve(MatchData.from_city(read_city("data/demo")), time_limit=10)  # doctest: +SKIP
>>> result.assignments[["need", "building", "mode", "year_last"]]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from ortools.sat.python import cp_model

from facilities._validate import Problems
from facilities.capacity import CapacityRules, describe_estimates, known_no, known_yes, utilization
from facilities.schema import ROOM_TYPES, format_grades
from facilities.travel import Travel as PointTravel
from facilities.travel import travel_seconds

if TYPE_CHECKING:
    from facilities.city import City

__all__ = ["MatchData", "MatchResult", "MatchRules", "Weights", "greedy", "solve", "what_if"]

log = logging.getLogger(__name__)

#: Travel: a matrix of seconds (needs × buildings, array or DataFrame indexed by need id with
#: building id columns), or a :data:`facilities.travel.Travel` (a travel model or a callable
#: ``(origins, buildings) -> seconds``, where ``origins`` is a GeoDataFrame of points with ``need``
#: and ``weight`` columns; ``None`` is the straight-line model of :mod:`facilities.travel`).
Travel: TypeAlias = np.ndarray | pd.DataFrame | PointTravel

_SCALE = 1000  # CP-SAT coefficients are points × 1000, rounded
_ROOM_WORDS = {"classroom": "classroom", "small": "small room", "special_education": "special education room"}


@dataclass(frozen=True)
class Weights:
    """Weights of the matching objective, in points (the objective is minimized).

    Parameters
    ----------
    unplaced
        Points per need-year not housed. Large, so housing needs comes first.
    priority
        A need's reward for being housed is ``unplaced × (1 + priority × p)``, ``p`` its priority
        scaled to 0 (lowest) – 1 (highest). Set it to the number of needs for a strict order.
    occupant
        Extra reward, × ``unplaced``, for housing a charter in the building it already occupies
        (DC's right of first offer goes to the occupying charter first).
    travel
        Points per minute of the students' mean travel time to the building, per year.
    cost
        Points per $10,000 of yearly cost (a whole building's cost; a co-location's share of it).
    band
        Points per percentage point a host building's utilization lies outside the target band,
        per year.
    neighborhood
        Points saved per year in one of the need's preferred neighborhoods.
    unknown
        Points per year for each fact a fit depends on that the data leaves unknown (a gym, a
        cafeteria, accessibility, counted rooms): large, so certain fits rank first and a building
        that fits only *if* its gym is confirmed comes after them.
    """

    unplaced: float = 1000.0
    priority: float = 1.0
    occupant: float = 2.0
    travel: float = 2.0
    cost: float = 1.0
    band: float = 1.0
    neighborhood: float = 20.0
    unknown: float = 200.0


@dataclass(frozen=True)
class MatchRules:
    """Hard rules and assumptions of the matching.

    Parameters
    ----------
    capacity
        How rooms become seats and what host schools use (:class:`~facilities.capacity.CapacityRules`).
    young_max, old_min
        A co-location may not put grades up to ``young_max`` (default 5) in the same building as
        grades from ``old_min`` (default 9) on: elementary and high school students do not share.
    cell
        Students' homes are grouped into square cells of this size (metres) before travel times
        are computed (default 400): fewer origins, and no home is used alone.
    start
        The date the plan starts; a building ``available`` later is not a candidate. ``None``
        ignores availability dates.
    max_candidates
        Keep at most this many fitting buildings per need in the optimization (the best by
        their own score, the need's current building always kept; default 25); ``None`` keeps all.
        The answer is optimal over these candidates (bench_matching compares with all of them).
    """

    capacity: CapacityRules = field(default_factory=CapacityRules)
    young_max: int = 5
    old_min: int = 9
    cell: float = 400.0
    start: pd.Timestamp | None = None
    max_candidates: int | None = 25


@dataclass(frozen=True, eq=False)
class MatchData:
    """Immutable matching problem: needs, buildings, what each pair requires and whether it fits.

    Build it with :meth:`from_city` or :meth:`from_frames`; change it with :func:`what_if`.

    Attributes
    ----------
    needs
        The canonical needs (``id``, ``grades``, ``seats``, ...).
    buildings
        Candidate buildings: canonical buildings plus ``mode`` (``whole``/``co_location``/``none``),
        ``hosts``, ``capacity``, ``enrollment``, ``spare_<type>``, ``gym_free``, ``lunch_free``.
    years
        Years of the horizon (plans longer than this are cut).
    requirement
        ``(needs, years, room types)`` rooms needed each year (0 beyond a need's plan).
    seats
        ``(needs, years)`` seats each year.
    gym, lunch
        ``(needs, buildings, years)`` gym and lunch periods each pair needs each year.
    cost
        ``(needs, buildings, years)`` dollars a year.
    travel
        ``(needs, buildings)`` minutes (NaN when unknown or unreachable; the objective then counts
        the need's longest known travel time).
    fails
        Rule name → ``(needs, buildings)`` booleans: the pair breaks the rule (a known fact: an
        unknown gym, cafeteria or accessibility never breaks a rule).
    unknown
        Condition → ``(needs, buildings)`` booleans: the pair fits only if the condition is
        confirmed (``"gym confirmed"``, ``"cafeteria confirmed"``, ``"accessibility confirmed"``,
        ``"room counts confirmed"``).
    fit
        ``(needs, buildings)``: how many first years of the plan fit (0 = not a candidate).
    origins
        One point per need (the charter's school, else its students' centroid) for maps.
    """

    needs: pd.DataFrame
    buildings: gpd.GeoDataFrame
    years: int
    plan_years: np.ndarray
    requirement: np.ndarray
    seats: np.ndarray
    gym: np.ndarray
    lunch: np.ndarray
    cost: np.ndarray
    travel: np.ndarray
    preferred: np.ndarray
    occupant: np.ndarray
    fails: dict[str, np.ndarray]
    shortfall: np.ndarray
    fit: np.ndarray
    origins: gpd.GeoSeries
    rules: MatchRules
    schools: pd.DataFrame
    travel_model: Travel | None = None
    frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    unknown: dict[str, np.ndarray] = field(default_factory=dict)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_city(
        cls,
        city: City,
        *,
        travel: Travel | None = None,
        years: int | None = None,
        rules: MatchRules | None = None,
    ) -> MatchData:
        """Build the problem from a city's ``needs``, ``buildings``, ``schools`` and ``students``.

        Parameters
        ----------
        city
            A validated city with needs and buildings.
        travel
            Travel seconds from each need's students to each building (see :data:`Travel`);
            ``None`` uses the straight-line model of :class:`MatchRules`.
        years
            Horizon in years; default the longest plan.
        rules
            Hard rules; default the city's capacity rules (``city.settings.capacity``).

        Raises
        ------
        ValidationError
            A building with no rooms, or a need whose plan is impossible, naming the row.
        """
        if rules is None:
            rules = MatchRules(capacity=replace(CapacityRules(), **city.settings.capacity.given))
        return _build(
            city.needs,
            city.buildings,
            city.schools,
            city.students,
            travel=travel,
            years=years,
            rules=rules,
            zones=city.zones,
        )

    @classmethod
    def from_frames(
        cls,
        needs: pd.DataFrame,
        buildings: gpd.GeoDataFrame,
        schools: gpd.GeoDataFrame,
        *,
        students: gpd.GeoDataFrame | None = None,
        travel: Travel | None = None,
        years: int | None = None,
        rules: MatchRules | None = None,
        crs: Any = "auto",
    ) -> MatchData:
        """Build the problem from frames with canonical column names (raw values are parsed).

        The frames are validated as a city is (:meth:`facilities.City.from_frames`); see
        :meth:`from_city` for the other parameters.
        """
        from facilities.city import City

        city = City.from_frames(
            name="matching input",
            crs=crs,
            needs=needs,
            buildings=buildings,
            schools=schools,
            students=students,
        )
        return cls.from_city(city, travel=travel, years=years, rules=rules)

    # ------------------------------------------------------------------ queries
    @property
    def need_ids(self) -> list[str]:
        """Need ids, in row order."""
        return self.needs["id"].tolist()

    @property
    def building_ids(self) -> list[str]:
        """Building ids, in row order."""
        return self.buildings["id"].tolist()

    def index(
        self, need_id: str | None = None, building_id: str | None = None
    ) -> tuple[int | None, int | None]:
        """Row positions of a need and a building (``KeyError`` naming the id when unknown)."""
        out: list[int | None] = []
        for value, ids, what in (
            (need_id, self.need_ids, "need"),
            (building_id, self.building_ids, "building"),
        ):
            if value is None:
                out.append(None)
            elif value in ids:
                out.append(ids.index(value))
            else:
                raise KeyError(f"no {what} {value!r}")
        return out[0], out[1]

    def reasons(self, need_id: str, building_id: str) -> list[str]:
        """Why a building does not fit a need, in words; ``[]`` when it fits the whole plan.

        A building that fits the first years only gives one reason naming the first year that
        does not fit.
        """
        n, b = self.index(need_id, building_id)
        assert n is not None and b is not None  # both ids given: index raises on unknown ones
        return _pair_reasons(self, n, b)

    def conditions(self, need_id: str, building_id: str) -> list[str]:
        """The unknown facts a fit depends on, e.g. ``["gym confirmed"]``; ``[]`` for a certain fit."""
        n, b = self.index(need_id, building_id)
        assert n is not None and b is not None  # both ids given: index raises on unknown ones
        return _pair_conditions(self, n, b)

    def scores(self, weights: Weights | None = None) -> np.ndarray:
        """``(needs, buildings)`` objective points of housing each need alone in each building for the
        years it fits there (lower is better; ``inf`` where the building does not fit)."""
        points = _points(self, weights)
        upto = np.arange(self.years)[None, None, :] < self.fit[:, :, None]
        return np.where(self.fit > 0, (points * upto).sum(axis=2), np.inf)

    def summary(self) -> str:
        """One line: needs, buildings by mode, candidate pairs."""
        modes = self.buildings["mode"].value_counts()
        estimated = "".join(f"; {line}" for line in describe_estimates(self.buildings))
        conditional = (
            int(((self.fit > 0) & np.any(list(self.unknown.values()), axis=0)).sum()) if self.unknown else 0
        )
        return (
            f"{len(self.needs)} needs, {len(self.buildings)} buildings ({modes.get('whole', 0)} whole, "
            f"{modes.get('co_location', 0)} co-location), {int((self.fit > 0).sum())} fitting pairs "
            f"({conditional} of them only if unknown facts are confirmed), {self.years} years{estimated}"
        )


# ---------------------------------------------------------------------- building the data
def _problem_rows(
    problems: Problems,
    layer: str,
    frame: pd.DataFrame,
    mask: np.ndarray,
    column: str,
    message: Callable[[pd.Series], str],
    fix: str,
) -> None:
    for i in np.flatnonzero(mask):
        problems.add(layer, int(i) + 1, column, message(frame.iloc[i]), fix)


def _check_needs(needs: pd.DataFrame) -> None:
    """Raise naming every need row whose plan cannot be read."""
    problems = Problems()
    grades = needs["grades"].tolist()
    bad_grades = np.array(
        [not isinstance(g, tuple) or not g or any(not -1 <= x <= 12 for x in g) for g in grades], dtype=bool
    )
    _problem_rows(
        problems,
        "needs",
        needs,
        bad_grades,
        "grades",
        lambda r: f"need {r['id']!r} asks for grades {r['grades']!r}, which do not exist",
        "use grades PK, K and 1-12 (e.g. 'K-2')",
    )
    seats = pd.to_numeric(needs["seats"], errors="coerce").to_numpy(dtype=float)
    _problem_rows(
        problems,
        "needs",
        needs,
        ~(seats >= 0),
        "seats",
        lambda r: f"need {r['id']!r} has seats {r['seats']!r}",
        "give the seats needed in the first year, 0 or more",
    )
    per = pd.to_numeric(needs["seats_per_grade"], errors="coerce").to_numpy(dtype=float)
    _problem_rows(
        problems,
        "needs",
        needs,
        per < 0,
        "seats_per_grade",
        lambda r: f"need {r['id']!r} has seats_per_grade {r['seats_per_grade']!r}",
        "give 0 or more, or leave it empty",
    )
    rooms = needs[[f"rooms_{t}" for t in ROOM_TYPES]].to_numpy(dtype=float)
    _problem_rows(
        problems,
        "needs",
        needs,
        (rooms < 0).any(axis=1),
        "rooms_*",
        lambda r: f"need {r['id']!r} has a negative room count",
        "give 0 or more rooms",
    )
    problems.raise_if_any(city="the needs")


def _plans(
    needs: pd.DataFrame, horizon: int, rules: CapacityRules
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[tuple[int, ...]]]]:
    """Each need's plan: years, seats by year, rooms by year and type, grades by year."""
    n = len(needs)
    plan_years = np.minimum(
        pd.to_numeric(needs["years"], errors="coerce").fillna(1).astype(int).to_numpy(), horizon
    )
    seats = np.zeros((n, horizon), dtype=np.int64)
    rooms = np.zeros((n, horizon, len(ROOM_TYPES)), dtype=np.int64)
    grades_by_year: list[list[tuple[int, ...]]] = []
    base_rooms = needs[[f"rooms_{t}" for t in ROOM_TYPES]].to_numpy(dtype=np.int64)
    for i, row in enumerate(needs.itertuples(index=False)):
        grades = tuple(row.grades)
        first_seats = int(row.seats)
        per_grade = (
            int(round(first_seats / len(grades)))
            if pd.isna(row.seats_per_grade)
            else int(row.seats_per_grade)
        )
        grows = True if pd.isna(row.add_grade_per_year) else bool(row.add_grade_per_year)
        base_classrooms = int(base_rooms[i, 0]) or math.ceil(first_seats / rules.class_size_for(grades))
        years_grades = []
        for t in range(plan_years[i]):
            added = tuple(g for g in range(grades[-1] + 1, min(grades[-1] + t, 12) + 1)) if grows else ()
            years_grades.append(grades + added)
            seats[i, t] = first_seats + per_grade * len(added)
            rooms[i, t] = base_rooms[i]
            rooms[i, t, 0] = base_classrooms + sum(
                math.ceil(per_grade / rules.class_size_for((g,))) for g in added
            )
        grades_by_year.append(years_grades)
    return plan_years, seats, rooms, grades_by_year


def _origins(
    needs: pd.DataFrame,
    schools: gpd.GeoDataFrame,
    students: gpd.GeoDataFrame | None,
    zones: gpd.GeoDataFrame | None,
    cell: float,
) -> tuple[gpd.GeoDataFrame, gpd.GeoSeries]:
    """Travel origins and one map point per need: its students grouped in cells, else its school,
    else the centre of its preferred neighborhoods."""
    crs = schools.crs
    school_point = dict(zip(schools["id"], schools.geometry, strict=True))
    if zones is not None and len(zones):
        hoods = zones[zones["kind"] == "neighborhood"]
        centres = dict(
            zip(hoods["name"].where(hoods["name"].notna(), hoods["id"]), hoods.geometry.centroid, strict=True)
        )
        for need, wanted in zip(needs["id"], needs["neighborhoods"], strict=True):
            points = [
                centres[h] for h in (wanted if isinstance(wanted, (tuple, list)) else ()) if h in centres
            ]
            if points:
                school_point.setdefault(f"\0{need}", shapely.centroid(shapely.multipoints(points)))
    rows: list[dict[str, Any]] = []
    points = []
    by_school = students.groupby("school") if students is not None and len(students) else None
    for need, school in zip(needs["id"], needs["school"], strict=True):
        home = school_point.get(school, school_point.get(f"\0{need}"))
        group = by_school.get_group(school) if by_school is not None and school in by_school.groups else None
        if group is not None and len(group):
            xy = shapely.get_coordinates(group.geometry.values)
            cells = pd.DataFrame(np.floor(xy / cell), columns=["cx", "cy"])
            for (cx, cy), members in cells.groupby(["cx", "cy"]):
                centre = xy[members.index].mean(axis=0)
                rows.append({"need": need, "weight": len(members), "geometry": shapely.Point(centre)})
            points.append(home if home is not None else shapely.Point(xy.mean(axis=0)))
        elif home is not None and not home.is_empty:
            rows.append({"need": need, "weight": 1, "geometry": home})
            points.append(home)
        else:
            points.append(None)
    origins = gpd.GeoDataFrame(
        rows or {"need": [], "weight": [], "geometry": []}, geometry="geometry", crs=crs
    )
    return origins, gpd.GeoSeries(points, crs=crs)


def _travel_minutes(
    travel: Travel | None,
    needs: pd.DataFrame,
    buildings: gpd.GeoDataFrame,
    origins: gpd.GeoDataFrame,
    rules: MatchRules,
) -> np.ndarray:
    """Mean travel minutes of each need's students to each building (NaN when unknown)."""
    ids = needs["id"].tolist()
    if isinstance(travel, pd.DataFrame):
        missing = [i for i in ids if i not in travel.index] + [
            b for b in buildings["id"] if b not in travel.columns
        ]
        if missing:
            raise KeyError(
                f"the travel matrix has no row or column for {missing[:5]}; give seconds for every need id "
                "(rows) and building id (columns)"
            )
        minutes = travel.loc[ids, buildings["id"].tolist()].to_numpy(dtype=float) / 60
        return np.where(np.isfinite(minutes), minutes, np.nan)
    if isinstance(travel, np.ndarray):
        if travel.shape != (len(needs), len(buildings)):
            raise ValueError(
                f"the travel matrix is {travel.shape}; it must be needs × buildings = "
                f"{(len(needs), len(buildings))} seconds"
            )
        minutes = travel.astype(float) / 60
        return np.where(np.isfinite(minutes), minutes, np.nan)
    out = np.full((len(needs), len(buildings)), np.nan)
    if not len(origins) or not len(buildings):
        return out
    seconds = travel_seconds(travel, origins, buildings)
    weights = origins["weight"].to_numpy(dtype=float)
    position = {need: i for i, need in enumerate(ids)}
    rows = origins["need"].map(position).to_numpy()
    total = np.zeros_like(out)
    np.add.at(total, rows, seconds * weights[:, None])
    count = np.bincount(rows, weights=weights, minlength=len(ids))
    has = count > 0
    out[has] = total[has] / count[has, None] / 60
    return np.where(np.isfinite(out), out, np.nan)


def _buildings_table(
    buildings: gpd.GeoDataFrame, schools: pd.DataFrame, rules: CapacityRules
) -> gpd.GeoDataFrame:
    """Buildings with their mode, host schools, capacity and what their schools leave free."""
    util = utilization(buildings=buildings, schools=schools, rules=rules).buildings
    keep = [
        "capacity",
        "capacity_source",
        "classrooms",
        "classrooms_source",
        "enrollment",
        "schools",
        "grades",
        "utilization",
    ]
    keep += [f"spare_{t}" for t in ROOM_TYPES] + ["gym_free", "lunch_free"]
    out = buildings.reset_index(drop=True).copy()
    for c in keep:
        out[c if c != "grades" else "host_grades"] = util[c].to_numpy()
    out = out.rename(columns={"schools": "hosts"})
    hosted = out["hosts"] != ""
    out["mode"] = np.where(hosted, "co_location", np.where(out["status"] == "occupied", "none", "whole"))
    host_grades = schools.groupby("building")["grades"].agg(
        lambda gs: tuple(sorted({g for x in gs if isinstance(x, tuple) for g in x}))
    )
    out["host_grade_set"] = out["id"].map(host_grades).apply(lambda g: g if isinstance(g, tuple) else ())
    return out


def _build(
    needs: pd.DataFrame,
    buildings: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    students: gpd.GeoDataFrame | None,
    *,
    travel: Travel | None,
    years: int | None,
    rules: MatchRules,
    zones: gpd.GeoDataFrame | None = None,
    frames_travel: np.ndarray | None = None,
) -> MatchData:
    needs = needs.reset_index(drop=True)
    _check_needs(needs)
    table = _buildings_table(buildings, schools, rules.capacity)
    horizon = int(
        years
        or max(1, int(pd.to_numeric(needs["years"], errors="coerce").fillna(1).max()) if len(needs) else 1)
    )
    plan_years, seats, rooms, grades_by_year = _plans(needs, horizon, rules.capacity)
    origins, points = _origins(needs, schools, students, zones, rules.cell)
    minutes = (
        _travel_minutes(travel, needs, table, origins, rules) if frames_travel is None else frames_travel
    )

    nn, nb = len(needs), len(table)
    active = np.arange(horizon)[None, :] < plan_years[:, None]
    mode = table["mode"].to_numpy()
    spare = table[[f"spare_{t}" for t in ROOM_TYPES]].to_numpy(dtype=np.int64, copy=True)
    counted = (table["classrooms_source"] == "counted").to_numpy()
    # rooms not counted: classrooms are estimated; other types unknown, a condition rather than a shortfall
    # (the building table then shows as many of each as the largest need asks: see ``classrooms_source``)
    spare[~counted, 1:] = np.maximum(spare[~counted, 1:], rooms[:, :, 1:].max(initial=0))
    table[[f"spare_{t}" for t in ROOM_TYPES]] = spare
    capacity = table["capacity"].to_numpy(dtype=float)
    gym_total = rules.capacity.gym_slots
    need_gym = needs["gym"].fillna(False).to_numpy(dtype=bool)
    need_caf = needs["cafeteria"].fillna(False).to_numpy(dtype=bool)
    need_acc = needs["accessible"].fillna(False).to_numpy(dtype=bool)
    share = np.divide(
        seats[:, None, :],
        capacity[None, :, None],
        out=np.ones((nn, nb, horizon)),
        where=capacity[None, :, None] > 0,
    )
    gym = np.where(
        need_gym[:, None, None] & active[:, None, :],
        np.maximum(1, np.ceil(gym_total * np.minimum(share, 1))),
        0,
    ).astype(np.int64)
    lunch_each = np.where(
        need_caf,
        np.maximum(1, pd.to_numeric(needs["lunch_periods"], errors="coerce").fillna(1).to_numpy()),
        0,
    ).astype(np.int64)
    lunch = np.broadcast_to((lunch_each[:, None] * active)[:, None, :], (nn, nb, horizon)).copy()

    total_rooms = table[[f"rooms_{t}" for t in ROOM_TYPES]].to_numpy(dtype=float).sum(axis=1)
    annual = pd.to_numeric(table["annual_cost"], errors="coerce").fillna(0).to_numpy(dtype=float)
    used_share = np.minimum(1, rooms.sum(axis=2)[:, None, :] / np.maximum(total_rooms, 1)[None, :, None])
    cost = (
        np.where((mode == "whole")[None, :, None], annual[None, :, None], annual[None, :, None] * used_share)
        * active[:, None, :]
    )

    # Hard rules: each gives a (needs, buildings) boolean "breaks the rule".
    co = mode == "co_location"
    plan_grades = [set(g for year in gy for g in year) for gy in grades_by_year]
    host_sets = table["host_grade_set"].tolist()

    def mixes(need_set: set[int], host: tuple[int, ...]) -> bool:
        both = need_set | set(host)
        return bool(both) and min(both) <= rules.young_max and max(both) >= rules.old_min

    fails: dict[str, np.ndarray] = {
        "occupied": np.broadcast_to(mode == "none", (nn, nb)).copy(),
        "no_co_location": (~needs["co_location"].fillna(True).to_numpy(dtype=bool))[:, None] & co[None, :],
        "grades": np.array(
            [[co[b] and mixes(plan_grades[n], host_sets[b]) for b in range(nb)] for n in range(nn)],
            dtype=bool,
        ).reshape(nn, nb),
        "accessible": need_acc[:, None] & known_no(table, "accessible")[None, :],
        "no_gym": need_gym[:, None] & known_no(table, "gym")[None, :],
        "no_cafeteria": need_caf[:, None] & known_no(table, "cafeteria")[None, :],
    }
    unsure = {c: ~known_yes(table, c) & ~known_no(table, c) for c in ("gym", "cafeteria", "accessible")}
    unknown = {
        "gym confirmed": need_gym[:, None] & unsure["gym"][None, :],
        "cafeteria confirmed": need_caf[:, None] & unsure["cafeteria"][None, :],
        "accessibility confirmed": need_acc[:, None] & unsure["accessible"][None, :],
        "room counts confirmed": np.broadcast_to(~counted, (nn, nb)).copy(),
    }
    gym_free = table["gym_free"].to_numpy(dtype=np.int64)
    lunch_free = table["lunch_free"].to_numpy(dtype=np.int64)
    fails["gym_full"] = ~fails["no_gym"] & (gym[:, :, 0] > gym_free[None, :])
    fails["cafeteria_full"] = ~fails["no_cafeteria"] & (lunch[:, :, 0] > lunch_free[None, :])
    shortfall = np.maximum(rooms[:, None, 0, :] - spare[None, :, :], 0)
    fails["rooms"] = shortfall.sum(axis=2) > 0
    budget = pd.to_numeric(needs["budget"], errors="coerce").to_numpy(dtype=float)
    fails["budget"] = np.nan_to_num(cost[:, :, 0]) > np.where(np.isnan(budget), np.inf, budget)[:, None]
    available = pd.to_datetime(table["available"], errors="coerce")
    late = (
        (available > pd.Timestamp(rules.start)).fillna(False).to_numpy(dtype=bool)
        if rules.start is not None
        else np.zeros(nb, dtype=bool)
    )
    fails["available"] = np.broadcast_to(late, (nn, nb)).copy()

    ok_year = (
        (rooms[:, None, :, :] <= spare[None, :, None, :]).all(axis=3)
        & (gym <= gym_free[None, :, None])
        & (lunch <= lunch_free[None, :, None])
    )
    ok_year &= (
        np.nan_to_num(cost) <= np.where(np.isnan(budget), np.inf, budget)[:, None, None]
    )  # a yearly budget
    ok_year |= ~active[:, None, :]
    fit = np.cumprod(ok_year, axis=2).sum(axis=2)
    fit = np.minimum(fit, plan_years[:, None])
    broken = np.zeros((nn, nb), dtype=bool)
    for mask in fails.values():
        broken |= mask
    fit[broken] = 0

    school_building = dict(zip(schools["id"], schools["building"], strict=True))
    current = np.array([school_building.get(s) for s in needs["school"]], dtype=object)
    occupant = current[:, None] == table["id"].to_numpy()[None, :]
    neighborhoods = table["neighborhood"].to_numpy()
    preferred = np.array(
        [
            [isinstance(p, (tuple, list)) and neighborhoods[b] in p for b in range(nb)]
            for p in needs["neighborhoods"]
        ],
        dtype=bool,
    ).reshape(nn, nb)

    data = MatchData(
        needs=needs,
        buildings=table,
        years=horizon,
        plan_years=plan_years,
        requirement=rooms,
        seats=seats,
        gym=gym,
        lunch=lunch,
        cost=cost,
        travel=minutes,
        preferred=preferred,
        occupant=occupant,
        fails=fails,
        shortfall=shortfall,
        fit=fit,
        origins=points,
        rules=rules,
        schools=schools,
        travel_model=travel,
        frames={
            "needs": needs,
            "buildings": buildings.reset_index(drop=True),
            "schools": schools,
            "students": students,
            "zones": zones,
        },
        unknown=unknown,
    )
    for array in (
        rooms,
        seats,
        gym,
        lunch,
        cost,
        minutes,
        preferred,
        occupant,
        shortfall,
        fit,
        *fails.values(),
        *unknown.values(),
    ):
        array.flags.writeable = False
    return data


def what_if(
    data: MatchData,
    *,
    withdraw: Iterable[str] = (),
    add: pd.DataFrame | Sequence[dict[str, Any]] | None = None,
) -> MatchData:
    """A changed problem: some buildings withdrawn, some needs added; solve it again with :func:`solve`.

    Parameters
    ----------
    data
        The problem to change (left intact).
    withdraw
        Ids of buildings no longer available.
    add
        New needs, as canonical rows (raw values such as ``"K-2"`` are parsed).

    Returns
    -------
    MatchData
        The new problem. Travel times of kept pairs are reused; those of added needs come from the
        same travel model (a callable, or the straight-line model when a matrix was given).
    """
    from facilities.city import City

    withdraw = set(withdraw)
    if unknown := sorted(withdraw - set(data.building_ids)):
        raise KeyError(f"cannot withdraw unknown buildings {unknown}")
    frames = data.frames
    buildings = frames["buildings"][~frames["buildings"]["id"].isin(withdraw)].reset_index(drop=True)
    needs = frames["needs"]
    added = pd.DataFrame(add) if add is not None else pd.DataFrame()
    if len(added):
        parsed = City.from_frames(
            name="added needs", crs=data.buildings.crs, schools=data.schools, needs=added
        ).needs
        clash = sorted(set(parsed["id"]) & set(needs["id"]))
        if clash:
            raise ValueError(f"added needs reuse ids {clash}; give new ids")
        needs = pd.concat([needs, parsed], ignore_index=True)
    keep = [data.building_ids.index(b) for b in buildings["id"]]
    travel_model = None if isinstance(data.travel_model, (np.ndarray, pd.DataFrame)) else data.travel_model
    new = (
        _build(
            needs.iloc[len(data.needs) :],
            buildings,
            data.schools,
            frames["students"],
            travel=travel_model,
            years=data.years,
            rules=data.rules,
            zones=frames["zones"],
        )
        if len(added)
        else None
    )
    minutes = data.travel[:, keep]
    if new is not None:
        minutes = np.vstack([minutes, new.travel])
    return _build(
        needs,
        buildings,
        data.schools,
        frames["students"],
        travel=data.travel_model,
        years=data.years,
        rules=data.rules,
        zones=frames["zones"],
        frames_travel=minutes,
    )


# ---------------------------------------------------------------------- reasons
def _fits_if(conditions: list[str]) -> str:
    """``'fits if: gym confirmed, cafeteria confirmed'``, or ``''`` for a certain fit."""
    return f"fits if: {', '.join(conditions)}" if conditions else ""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _room_word(t: str) -> str:
    return _ROOM_WORDS.get(t, f"{t.replace('_', ' ')} room")


def _dollars(x: float) -> str:
    return f"${x:,.0f}"


def _pair_reasons(data: MatchData, n: int, b: int) -> list[str]:
    """The reasons, in words, that building ``b`` does not fit need ``n`` (the rules' one wording)."""
    bld = data.buildings.iloc[b]
    need = data.needs.iloc[n]
    out: list[str] = []
    f = {k: bool(v[n, b]) for k, v in data.fails.items()}
    if f["occupied"]:
        out.append("occupied, with no school listed in it to share with")
    if f["no_co_location"]:
        out.append(f"shared with {bld['hosts']}, and the need does not co-locate")
    if f["grades"]:
        out.append(
            f"host serves {bld['host_grades']}, which cannot share with grades "
            f"{format_grades(need['grades'])}"
        )
    if f["accessible"]:
        out.append("not accessible")
    if f["no_gym"]:
        out.append("no gym")
    if f["gym_full"]:
        out.append(f"gym: {_plural(int(bld['gym_free']), 'period')} free, {data.gym[n, b, 0]} needed")
    if f["no_cafeteria"]:
        out.append("no cafeteria")
    if f["cafeteria_full"]:
        out.append(
            f"cafeteria: {_plural(int(bld['lunch_free']), 'lunch period')} free, {data.lunch[n, b, 0]} needed"
        )
    if f["rooms"]:
        out += [
            f"{_plural(int(s), _room_word(t))} short"
            for t, s in zip(ROOM_TYPES, data.shortfall[n, b], strict=True)
            if s > 0
        ]
    if f["budget"]:
        out.append(f"costs {_dollars(data.cost[n, b, 0])} a year, over its {_dollars(need['budget'])} budget")
    if f["available"]:
        out.append(f"available only from {pd.Timestamp(bld['available']).date()}")
    if not out and data.fit[n, b] < data.plan_years[n]:
        k = int(data.fit[n, b])
        out.append(
            f"fits {'year 1' if k == 1 else f'years 1-{k}'} only; year {k + 1}: "
            + _year_shortfall(data, n, b, k)
        )
    return out


def _pair_conditions(data: MatchData, n: int, b: int) -> list[str]:
    """The unknown facts building ``b``'s fit for need ``n`` depends on (``[]`` for a certain fit)."""
    out = [c for c, mask in data.unknown.items() if mask[n, b]]
    source = (
        data.buildings["classrooms_source"].iat[b] if "classrooms_source" in data.buildings else "counted"
    )
    return [
        f"{c} ({int(data.buildings['classrooms'].iat[b])} classrooms {source})"
        if c == "room counts confirmed" and source != "unknown"
        else c
        for c in out
    ]


def _year_shortfall(data: MatchData, n: int, b: int, t: int) -> str:
    bld = data.buildings.iloc[b]
    words = [
        f"{_plural(int(s), _room_word(rt))} short"
        for rt, s in zip(
            ROOM_TYPES,
            data.requirement[n, t] - bld[[f"spare_{r}" for r in ROOM_TYPES]].to_numpy(dtype=int),
            strict=True,
        )
        if s > 0
    ]
    if data.gym[n, b, t] > bld["gym_free"]:
        words.append(f"{_plural(int(data.gym[n, b, t] - bld['gym_free']), 'gym period')} short")
    if data.lunch[n, b, t] > bld["lunch_free"]:
        words.append(f"{_plural(int(data.lunch[n, b, t] - bld['lunch_free']), 'lunch period')} short")
    budget = float(pd.to_numeric(data.needs["budget"].iat[n], errors="coerce"))
    if data.cost[n, b, t] > budget:
        words.append(f"costs {_dollars(data.cost[n, b, t])} a year, over its {_dollars(budget)} budget")
    return ", ".join(words)


def _need_summary(data: MatchData, n: int) -> str:
    """Why no building fits need ``n`` at all: how many buildings break each rule, and the nearest miss."""
    counts = {k: int(v[n].sum()) for k, v in data.fails.items() if v[n].any()}
    labels = {
        "occupied": "occupied",
        "no_co_location": "shared (the need does not co-locate)",
        "grades": "host grades incompatible",
        "accessible": "not accessible",
        "no_gym": "no gym",
        "gym_full": "gym full",
        "no_cafeteria": "no cafeteria",
        "cafeteria_full": "cafeteria full",
        "rooms": "short of rooms",
        "budget": "over budget",
        "available": "not available in time",
    }
    parts = [f"{c} {labels[k]}" for k, c in counts.items()]
    if len(data.buildings):
        only_rooms = ~np.any([v[n] for k, v in data.fails.items() if k != "rooms"], axis=0)
        if only_rooms.any():
            short = np.where(only_rooms, data.shortfall[n].sum(axis=1), np.iinfo(np.int64).max)
            b = int(np.argmin(short))
            parts.append(f"closest {data.building_ids[b]}: " + ", ".join(_pair_reasons(data, n, b)))
    return "no building fits: " + "; ".join(parts) if parts else "no building fits"


# ---------------------------------------------------------------------- objective
def _rewards(data: MatchData, weights: Weights) -> np.ndarray:
    """Points saved per year a need is housed (before the pair's own points)."""
    priority = pd.to_numeric(data.needs["priority"], errors="coerce").to_numpy(dtype=float)
    p = np.zeros(len(priority))
    if np.isfinite(priority).any():
        lo, hi = np.nanmin(priority), np.nanmax(priority)
        p = np.nan_to_num((priority - lo) / (hi - lo) if hi > lo else np.ones_like(priority), nan=0.0)
    return weights.unplaced * (1 + weights.priority * p)


def _points(data: MatchData, weights: Weights | None = None) -> np.ndarray:
    """``(needs, buildings, years)`` points of each plan year of each need housed in each building
    (negative = better than unhoused; 0 beyond a need's plan)."""
    w = weights or Weights()
    reward = _rewards(data, w)[:, None] + w.occupant * w.unplaced * data.occupant
    # an unknown (or unreachable) travel time counts as the need's longest known one
    longest = np.nanmax(np.where(np.isnan(data.travel), -np.inf, data.travel), axis=1, initial=0.0)
    travel = np.where(np.isnan(data.travel), longest[:, None], data.travel)
    conditions = sum((mask.astype(float) for mask in data.unknown.values()), np.zeros(data.fit.shape))
    per_pair = -reward + w.travel * travel - w.neighborhood * data.preferred + w.unknown * conditions
    active = np.arange(data.years)[None, :] < data.plan_years[:, None]
    return (per_pair[:, :, None] + w.cost * data.cost / 1e4) * active[:, None, :]


# ---------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class MatchResult:
    """Needs housed in buildings, the needs left out and why, and how good the answer is.

    Attributes
    ----------
    data
        The problem solved.
    choice
        Need row → ``(building row, years housed)`` for housed needs.
    status
        ``optimal``, ``feasible`` (time limit hit; see :attr:`gap`) or ``greedy``.
    objective, bound, gap
        Objective points, a lower bound, and ``(objective - bound) / objective``.
    seconds
        Wall time of the solve.
    weights
        The objective's weights.
    """

    data: MatchData
    choice: dict[int, tuple[int, int]]
    status: str
    objective: float
    bound: float
    seconds: float
    weights: Weights

    @property
    def gap(self) -> float:
        """Relative gap between the objective and the bound (0 when proven optimal)."""
        return max(0.0, (self.objective - self.bound) / max(abs(self.objective), 1e-9))

    @property
    def by_year(self) -> pd.DataFrame:
        """One row per housed need and year: ``need, building, mode, year, seats, rooms_<type>, gym_slots,
        lunch_periods, cost``."""
        d = self.data
        rows = []
        for n, (b, k) in sorted(self.choice.items()):
            for t in range(k):
                rows.append(
                    {
                        "need": d.need_ids[n],
                        "building": d.building_ids[b],
                        "mode": d.buildings["mode"].iat[b],
                        "year": t + 1,
                        "seats": int(d.seats[n, t]),
                        **{f"rooms_{rt}": int(d.requirement[n, t, j]) for j, rt in enumerate(ROOM_TYPES)},
                        "gym_slots": int(d.gym[n, b, t]),
                        "lunch_periods": int(d.lunch[n, b, t]),
                        "cost": float(d.cost[n, b, t]),
                    }
                )
        columns = [
            "need",
            "building",
            "mode",
            "year",
            "seats",
            *[f"rooms_{t}" for t in ROOM_TYPES],
            "gym_slots",
            "lunch_periods",
            "cost",
        ]
        return pd.DataFrame(rows, columns=columns)

    @property
    def assignments(self) -> pd.DataFrame:
        """One row per housed need, its needs in the last year housed.

        Columns: ``need, name, building, building_name, mode, hosts, year_first, year_last,
        plan_years, grades, seats, rooms_<type>, gym_slots, lunch_periods, cost, travel_min,
        preferred, host_utilization_before, host_utilization_after``.
        """
        d = self.data
        per_year = self.by_year
        last = per_year.groupby("need").tail(1).set_index("need")
        added = per_year.groupby(["building", "year"])["seats"].sum()
        rows = []
        for n, (b, k) in sorted(self.choice.items()):
            bld = d.buildings.iloc[b]
            need_id = d.need_ids[n]
            cap = float(bld["capacity"])
            before = float(bld["enrollment"]) / cap if cap > 0 else math.nan
            after = (
                (float(bld["enrollment"]) + float(added.get((bld["id"], k), 0))) / cap
                if cap > 0
                else math.nan
            )
            row = last.loc[need_id]
            rows.append(
                {
                    "need": need_id,
                    "name": d.needs["name"].iat[n],
                    "building": bld["id"],
                    "building_name": bld["name"],
                    "mode": bld["mode"],
                    "hosts": bld["hosts"],
                    "year_first": 1,
                    "year_last": k,
                    "plan_years": int(d.plan_years[n]),
                    "grades": format_grades(d.needs["grades"].iat[n]),
                    "seats": int(row["seats"]),
                    **{f"rooms_{t}": int(row[f"rooms_{t}"]) for t in ROOM_TYPES},
                    "gym_slots": int(row["gym_slots"]),
                    "lunch_periods": int(row["lunch_periods"]),
                    "cost": round(float(row["cost"]), 2),
                    "travel_min": round(float(d.travel[n, b]), 1),
                    "preferred": bool(d.preferred[n, b]),
                    "conditions": _fits_if(_pair_conditions(d, n, b)),
                    "host_utilization_before": round(before, 4) if bld["mode"] == "co_location" else math.nan,
                    "host_utilization_after": round(after, 4) if bld["mode"] == "co_location" else math.nan,
                }
            )
        columns = [
            "need",
            "name",
            "building",
            "building_name",
            "mode",
            "hosts",
            "year_first",
            "year_last",
            "plan_years",
            "grades",
            "seats",
            *[f"rooms_{t}" for t in ROOM_TYPES],
            "gym_slots",
            "lunch_periods",
            "cost",
            "travel_min",
            "preferred",
            "conditions",
            "host_utilization_before",
            "host_utilization_after",
        ]
        return pd.DataFrame(rows, columns=columns)

    @property
    def unmatched(self) -> pd.DataFrame:
        """Needs not housed for their whole plan: ``need, name, years_unmet, reasons``."""
        d = self.data
        rows = []
        for n in range(len(d.needs)):
            b, k = self.choice.get(n, (None, 0))
            plan = int(d.plan_years[n])
            if k >= plan:
                continue
            if b is not None:
                years = "year 1" if k == 1 else f"years 1-{k}"
                reason = (
                    f"housed in {d.building_ids[b]} for {years}; year {k + 1}: {_year_shortfall(d, n, b, k)}"
                )
            elif (d.fit[n] > 0).any():
                taken = [d.building_ids[x] for x in np.flatnonzero(d.fit[n] > 0)]
                reason = (
                    f"its {_plural(len(taken), 'fitting building')} "
                    f"({', '.join(taken[:5])}{', ...' if len(taken) > 5 else ''}) went to needs that "
                    "score higher"
                )
            else:
                reason = _need_summary(d, n)
            rows.append(
                {
                    "need": d.need_ids[n],
                    "name": d.needs["name"].iat[n],
                    "years_unmet": plan - k,
                    "reasons": reason,
                }
            )
        return pd.DataFrame(rows, columns=["need", "name", "years_unmet", "reasons"])

    def reasons(self, need_id: str, building_id: str) -> list[str]:
        """Why ``building_id`` does not fit ``need_id`` (see :meth:`MatchData.reasons`)."""
        return self.data.reasons(need_id, building_id)

    def alternatives(self, need_id: str, k: int = 5) -> pd.DataFrame:
        """The ``k`` best buildings for a need on its own, best first.

        Columns: ``rank, building, name, mode, years_fit, travel_min, cost, preferred, score,
        assigned`` (this need's building in the answer) and ``free`` (still fits it, given the
        rooms, gym and lunch periods the answer gives to other needs).
        """
        d = self.data
        n, _ = d.index(need_id)
        assert n is not None  # index raises on an unknown id
        candidates = np.flatnonzero(d.fit[n] > 0)
        scores = d.scores(self.weights)[n]
        ranked = candidates[np.lexsort((candidates, scores[candidates]))][:k]
        left = self._left(exclude=n)
        rows = []
        for rank, b in enumerate(ranked, start=1):
            fits_left = bool(
                (d.requirement[n, 0] <= left["rooms"][b]).all()
                and d.gym[n, b, 0] <= left["gym"][b]
                and d.lunch[n, b, 0] <= left["lunch"][b]
                and left["whole"][b]
            )
            rows.append(
                {
                    "rank": rank,
                    "building": d.building_ids[b],
                    "name": d.buildings["name"].iat[b],
                    "mode": d.buildings["mode"].iat[b],
                    "years_fit": int(d.fit[n, b]),
                    "travel_min": round(float(d.travel[n, b]), 1),
                    "cost": round(float(d.cost[n, b, 0]), 2),
                    "preferred": bool(d.preferred[n, b]),
                    "score": round(float(scores[b]), 1),
                    "assigned": self.choice.get(n, (None,))[0] == b,
                    "free": fits_left,
                }
            )
        return pd.DataFrame(
            rows,
            columns=[
                "rank",
                "building",
                "name",
                "mode",
                "years_fit",
                "travel_min",
                "cost",
                "preferred",
                "score",
                "assigned",
                "free",
            ],
        )

    def _left(self, *, exclude: int | None = None) -> dict[str, np.ndarray]:
        """First-year rooms, gym and lunch periods left in each building by the other housed needs."""
        d = self.data
        rooms = d.buildings[[f"spare_{t}" for t in ROOM_TYPES]].to_numpy(dtype=np.int64).copy()
        gym = d.buildings["gym_free"].to_numpy(dtype=np.int64).copy()
        lunch = d.buildings["lunch_free"].to_numpy(dtype=np.int64).copy()
        whole = np.ones(len(d.buildings), dtype=bool)
        for n, (b, _) in self.choice.items():
            if n == exclude:
                continue
            rooms[b] -= d.requirement[n, 0]
            gym[b] -= d.gym[n, b, 0]
            lunch[b] -= d.lunch[n, b, 0]
            whole[b] &= d.buildings["mode"].iat[b] != "whole"
        return {"rooms": rooms, "gym": gym, "lunch": lunch, "whole": whole}

    def summary(self) -> dict[str, Any]:
        """Status, objective, gap, counts and the weights and rules used, for ``summary.json``."""
        d = self.data
        a = self.assignments
        return {
            "status": self.status,
            "objective": round(self.objective, 2),
            "bound": round(self.bound, 2),
            "gap": round(self.gap, 6),
            "seconds": round(self.seconds, 3),
            "needs": len(d.needs),
            "buildings": len(d.buildings),
            "years": d.years,
            "housed": len(a),
            "housed_whole_plan": int((a["year_last"] >= a["plan_years"]).sum()) if len(a) else 0,
            "housed_if_confirmed": int((a["conditions"] != "").sum()) if len(a) else 0,
            "whole_buildings": int((a["mode"] == "whole").sum()) if len(a) else 0,
            "co_locations": int((a["mode"] == "co_location").sum()) if len(a) else 0,
            "unmatched": self.unmatched.to_dict(orient="records"),
            "weights": asdict(self.weights),
            "rules": json.loads(json.dumps(asdict(d.rules), default=str)),
        }

    def to_files(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``matches.csv``, ``matches.gpkg`` (layers ``matches``: lines from each need's school to
        its building, and ``buildings``) and ``summary.json``, each atomically, in WGS84.

        Returns
        -------
        dict
            File kind → path.
        """
        from facilities.io import atomic_write, write_geo

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        a = self.assignments
        paths = {"csv": out / "matches.csv", "gpkg": out / "matches.gpkg", "json": out / "summary.json"}
        with atomic_write(paths["csv"]) as tmp:
            a.to_csv(tmp, index=False)
        write_geo(self.lines(), paths["gpkg"], layer="matches")
        write_geo(self.building_layer(), paths["gpkg"], layer="buildings")
        with atomic_write(paths["json"]) as tmp:
            tmp.write_text(json.dumps(self.summary(), indent=2, default=str))
        return paths

    def lines(self) -> gpd.GeoDataFrame:
        """Assignments as lines from each need's school (or its students' centroid) to its building."""
        d = self.data
        a = self.assignments
        geoms = []
        for need, building in zip(a["need"], a["building"], strict=True):
            n, b = d.index(need, building)
            start, end = d.origins.iat[n], d.buildings.geometry.iat[b]
            geoms.append(
                shapely.LineString([start, end]) if start is not None else shapely.LineString([end, end])
            )
        return gpd.GeoDataFrame(a, geometry=gpd.GeoSeries(geoms, crs=d.buildings.crs), crs=d.buildings.crs)

    def building_layer(self) -> gpd.GeoDataFrame:
        """Buildings with their mode, hosts, utilization before and after, and the needs housed."""
        d = self.data
        a = self.assignments
        out = d.buildings[
            [
                "id",
                "name",
                "status",
                "mode",
                "hosts",
                "capacity",
                "capacity_source",
                "enrollment",
                "utilization",
                "geometry",
            ]
        ].copy()
        housed = a.groupby("building")["need"].agg(";".join).to_dict()
        out["needs"] = [housed.get(i, "") for i in out["id"]]
        out["utilization_after"] = (
            out["id"].map(a.groupby("building")["host_utilization_after"].max()).fillna(out["utilization"])
        )
        return gpd.GeoDataFrame(out, geometry="geometry", crs=d.buildings.crs)


# ---------------------------------------------------------------------- solvers
def _candidates(data: MatchData, weights: Weights) -> list[tuple[int, int]]:
    """Fitting pairs kept for the model: per need its best ``max_candidates`` (and its current building)."""
    pairs = []
    limit = data.rules.max_candidates
    scores = data.scores(weights)
    for n in range(len(data.needs)):
        bs = np.flatnonzero(data.fit[n] > 0)
        if limit is not None and len(bs) > limit:
            keep = set(bs[np.lexsort((bs, scores[n, bs]))][:limit]) | set(bs[data.occupant[n, bs]])
            bs = np.array(sorted(keep))
        pairs += [(n, int(b)) for b in bs]
    return pairs


def _band_terms(data: MatchData, weights: Weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per building: seats below the band's low end and above its high end, and points per seat."""
    cap = data.buildings["capacity"].to_numpy(dtype=float)
    enrolled = data.buildings["enrollment"].fillna(0).to_numpy(dtype=float)
    lo, hi = data.rules.capacity.band
    per_seat = np.divide(weights.band * 100, cap, out=np.zeros_like(cap), where=cap > 0)
    return np.ceil(lo * cap - enrolled), np.floor(hi * cap - enrolled), per_seat


def _objective(data: MatchData, choice: dict[int, tuple[int, int]], weights: Weights) -> float:
    """Objective points of an answer (the same formula the CP-SAT model minimizes)."""
    points = _points(data, weights)
    total = float((_rewards(data, weights) * data.plan_years).sum())
    for n, (b, k) in choice.items():
        total += float(points[n, b, :k].sum())
    below, above, per_seat = _band_terms(data, weights)
    added = np.zeros((len(data.buildings), data.years))
    for n, (b, k) in choice.items():
        added[b, :k] += data.seats[n, :k]
    co = (data.buildings["mode"] == "co_location").to_numpy()
    dev = np.maximum(below[:, None] - added, 0) + np.maximum(added - above[:, None], 0)
    return total + float((dev[co] * per_seat[co, None]).sum())


def greedy(data: MatchData, *, weights: Weights | None = None) -> MatchResult:
    """A quick answer for reference: needs by reward (highest first), each to its best building left.

    Returns
    -------
    MatchResult
        With ``status="greedy"`` and no bound (``bound`` = ``-inf``).
    """
    t0 = time.perf_counter()
    weights = weights or Weights()
    choice = _greedy_choice(data, weights, _candidates(data, weights))
    return MatchResult(
        data,
        choice,
        "greedy",
        _objective(data, choice, weights),
        -math.inf,
        time.perf_counter() - t0,
        weights,
    )


def _greedy_choice(
    data: MatchData, weights: Weights, pairs: list[tuple[int, int]]
) -> dict[int, tuple[int, int]]:
    rooms = np.repeat(
        data.buildings[[f"spare_{t}" for t in ROOM_TYPES]].to_numpy(dtype=np.int64)[:, None, :],
        data.years,
        axis=1,
    )
    gym = np.repeat(data.buildings["gym_free"].to_numpy(dtype=np.int64)[:, None], data.years, axis=1)
    lunch = np.repeat(data.buildings["lunch_free"].to_numpy(dtype=np.int64)[:, None], data.years, axis=1)
    taken = np.zeros(len(data.buildings), dtype=bool)
    whole = (data.buildings["mode"] == "whole").to_numpy()
    by_need: dict[int, list[int]] = {}
    for n, b in pairs:
        by_need.setdefault(n, []).append(b)
    order = np.lexsort((np.arange(len(data.needs)), -_rewards(data, weights)))
    points = _points(data, weights)
    choice: dict[int, tuple[int, int]] = {}
    for n in order:
        best: tuple[float, int, int] | None = None
        for b in by_need.get(int(n), []):
            if whole[b] and taken[b]:
                continue
            k = 0
            while (
                k < data.fit[n, b]
                and (data.requirement[n, k] <= rooms[b, k]).all()
                and data.gym[n, b, k] <= gym[b, k]
                and data.lunch[n, b, k] <= lunch[b, k]
            ):
                k += 1
            if k == 0:
                continue
            score = float(points[n, b, :k].sum())
            if best is None or (score, b) < (best[0], best[1]):
                best = (score, b, k)
        if best is not None:
            _, b, k = best
            choice[int(n)] = (b, k)
            rooms[b, :k] -= data.requirement[n, :k]
            gym[b, :k] -= data.gym[n, b, :k]
            lunch[b, :k] -= data.lunch[n, b, :k]
            taken[b] = True
    return choice


def solve(
    data: MatchData,
    *,
    time_limit: float = 30.0,
    seed: int = 0,
    weights: Weights | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> MatchResult:
    """Assign needs to buildings with OR-Tools CP-SAT.

    Parameters
    ----------
    data
        The problem (:class:`MatchData`).
    time_limit
        Seconds the solver may search; the answer states its gap when the limit is hit.
    seed
        Random seed; with one worker the same input and seed give the same answer.
    weights
        Objective weights (:class:`Weights`).
    progress
        Called as ``progress(message, fraction)`` at each improved answer.

    Returns
    -------
    MatchResult
        Housed needs, unmatched needs with their reasons, status and gap. Needs no building fits
        are left out with their reasons while the rest are matched.
    """
    t0 = time.perf_counter()
    weights = weights or Weights()
    scale = _SCALE
    pairs = _candidates(data, weights)
    model = cp_model.CpModel()
    mode = data.buildings["mode"].to_numpy()
    z: dict[tuple[int, int], list[Any]] = {}
    objective: list[Any] = []
    coeffs: list[int] = []
    points_all = _points(data, weights)
    for n, b in pairs:
        k = int(data.fit[n, b])
        points = points_all[n, b]
        z[n, b] = [model.new_bool_var(f"z_{n}_{b}_{t}") for t in range(k)]
        for t in range(k):
            if t:
                model.add_implication(z[n, b][t], z[n, b][t - 1])
            objective.append(z[n, b][t])
            coeffs.append(int(round(points[t] * scale)))
    first: dict[int, list[Any]] = {}
    at: dict[int, list[tuple[int, Any]]] = {}
    for (n, b), vs in z.items():
        first.setdefault(n, []).append(vs[0])
        at.setdefault(b, []).append((n, vs))
    for vs in first.values():
        model.add_at_most_one(vs)
    below, above, per_seat = _band_terms(data, weights)
    unhoused_band = per_seat * (
        np.maximum(below, 0) + np.maximum(-above, 0)
    )  # points a host year scores with no need added
    offset = float((_rewards(data, weights) * data.plan_years).sum()) + data.years * float(
        unhoused_band[mode == "co_location"].sum()
    )
    for b, members in at.items():
        if mode[b] == "whole":
            model.add_at_most_one([vs[0] for _, vs in members])
            continue
        bld = data.buildings.iloc[b]
        # (use, whether it is per need and building rather than per need, limit) of each shared resource
        limits = [
            (data.requirement[:, :, j], False, int(bld[f"spare_{rt}"])) for j, rt in enumerate(ROOM_TYPES)
        ]
        limits += [(data.gym, True, int(bld["gym_free"])), (data.lunch, True, int(bld["lunch_free"]))]
        for t in range(data.years):
            live = [(n, vs[t]) for n, vs in members if t < len(vs)]
            if not live:
                continue
            for use, per_pair, limit in limits:
                terms = [(int(use[n, b, t] if per_pair else use[n, t]), v) for n, v in live]
                terms = [(c, v) for c, v in terms if c > 0]
                if sum(c for c, _ in terms) > limit:
                    model.add(sum(c * v for c, v in terms) <= limit)
            if per_seat[b] > 0:
                offset -= unhoused_band[b]
                added = sum(int(data.seats[n, t]) * v for n, v in live)
                dev = model.new_int_var(
                    0,
                    int(sum(data.seats[n, t] for n, _ in live) + abs(below[b]) + abs(above[b])),
                    f"dev_{b}_{t}",
                )
                model.add(dev >= int(below[b]) - added)
                model.add(dev >= added - int(above[b]))
                objective.append(dev)
                coeffs.append(int(round(per_seat[b] * scale)))
    model.minimize(cp_model.LinearExpr.weighted_sum(objective, coeffs))

    hint = _greedy_choice(data, weights, pairs)
    for (n, b), vs in z.items():
        k = hint.get(n, (None, 0))[1] if hint.get(n, (None,))[0] == b else 0
        for t, v in enumerate(vs):
            model.add_hint(v, t < k)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    # The LP relaxation with cuts proves optimality on these assignment models; probing and symmetry
    # detection cost most of the time limit on large ones, for no better answer (bench_matching).
    solver.parameters.linearization_level = 2
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.symmetry_level = 0
    callback = _Progress(progress, t0, time_limit, offset) if progress is not None else None
    status = solver.solve(model, callback) if callback is not None else solver.solve(model)
    name = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible"}.get(status)
    if name is None:
        log.warning(
            "CP-SAT found no answer in %.1f s (%s); returning the greedy answer",
            time_limit,
            solver.status_name(status),
        )
        return MatchResult(
            data,
            hint,
            "greedy",
            _objective(data, hint, weights),
            -math.inf,
            time.perf_counter() - t0,
            weights,
        )
    choice = {}
    for (n, b), vs in z.items():
        k = sum(solver.boolean_value(v) for v in vs)
        if k:
            choice[n] = (b, k)
    # The answer's exact points; the bound keeps the solver's own (rounded-coefficient) distance to it.
    objective_value = _objective(data, choice, weights)
    bound = objective_value - (solver.objective_value - solver.best_objective_bound) / scale
    result = MatchResult(data, choice, name, objective_value, bound, time.perf_counter() - t0, weights)
    log.info(
        "matching: %s, objective %.1f, gap %.4f, %.1f s", name, result.objective, result.gap, result.seconds
    )
    return result


class _Progress(cp_model.CpSolverSolutionCallback):
    """Forwards each improved CP-SAT answer to a ``progress(message, fraction)`` callable."""

    def __init__(
        self, progress: Callable[[str, float], None], t0: float, time_limit: float, offset: float
    ) -> None:
        super().__init__()
        self._progress, self._t0, self._limit, self._offset = progress, t0, time_limit, offset

    def on_solution_callback(self) -> None:
        """Report the answer's objective and the time spent."""
        elapsed = time.perf_counter() - self._t0
        self._progress(
            f"answer {self.objective_value / _SCALE + self._offset:,.1f} points after {elapsed:.1f} s",
            min(1.0, elapsed / max(self._limit, 1e-9)),
        )
