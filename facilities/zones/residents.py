"""Residents by grade: from students' homes, else population by age, else estimated from enrollment.

- **Students.** Each student counts in its ``grade`` at its home.
- **Population by age.** A child of age *a* is in grade ``a - 5`` (PK = age 4, K = 5, grade 12 =
  17); a band ``population_<lo>_<hi>`` is spread evenly over its ages (the narrowest band holding
  an age is used), times ``participation`` (the share of children who would enrol). The units are
  the zones that carry population by age (census units first, then neighborhoods, then any kind).
- **Enrollment.** Without either, each school's enrolled students by grade are counted as
  residents of the zone it feeds (an attendance zone naming it), else of the zones holding it:
  an estimate, and every output says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from facilities._validate import Problems
from facilities.zones.define import zone_grades, zone_school_sets
from facilities.zones.measure import _NG, _numbers, _spread, _xy, fail

__all__ = [
    "Source",
    "Residents",
    "Pieces",
    "residents",
    "residents_by_grade",
    "population_units",
    "area_units",
]

Source = Literal["auto", "students", "population", "enrollment"]
_BAND = re.compile(r"^population_(\d+)_(\d+)$")
_LOW_INCOME = "population_low_income_0_17"


def _bands(columns: Sequence[str]) -> dict[int, tuple[str, int]]:
    """For each age 4..17, the narrowest population band column holding it and the band's width."""
    bands = [(c, int(m[1]), int(m[2])) for c in columns if (m := _BAND.match(c)) and int(m[1]) <= int(m[2])]
    out: dict[int, tuple[str, int]] = {}
    for age in range(4, 18):
        holding = [(hi - lo + 1, c) for c, lo, hi in bands if lo <= age <= hi]
        if holding:
            width, column = min(holding)
            out[age] = (column, width)
    return out


def residents_by_grade(zones: pd.DataFrame, *, participation: float = 1.0) -> np.ndarray:
    """Residents of each zone by grade, from its ``population_<lo>_<hi>`` age bands.

    Parameters
    ----------
    zones
        Rows with population band columns (ages inclusive, e.g. ``population_5_9``,
        ``population_0_17``).
    participation
        Share of children who would enrol in the schools considered (0..1].

    Returns
    -------
    ndarray
        ``(len(zones), 14)`` residents (floats), column ``grade + 1``.

    Raises
    ------
    ValidationError
        When no band covers school ages (4..17), or ``participation`` is not a share.
    """
    problems = Problems()
    if not 0 < participation <= 1:
        problems.add(
            "participation",
            None,
            None,
            f"participation={participation!r} is not a share",
            "give a share in (0, 1]",
        )
    bands = _bands(list(zones.columns))
    if not bands:
        problems.add(
            "zones",
            None,
            "population_<lo>_<hi>",
            "no population band covers school ages 4-17",
            'map one in city.toml [layers.zones.population] (e.g. "0_17" = "pop_under_18")',
        )
    problems.raise_if_any(city="the zones")
    out = np.zeros((len(zones), _NG))
    for age, (column, width) in bands.items():
        values = pd.to_numeric(zones[column], errors="coerce").fillna(0).to_numpy(float)
        out[:, age - 5 + 1] = values / width * participation
    return out


def _low_income(units: pd.DataFrame, residents: np.ndarray) -> np.ndarray:
    """Low-income residents: each unit's low-income share of children (``population_low_income_0_17``
    over ``population_0_17``) times its residents; NaN when unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = _numbers(units, _LOW_INCOME) / _numbers(units, "population_0_17")
    return share * residents.sum(axis=1)


def _has_population(zones: pd.DataFrame) -> np.ndarray:
    """Whether each zone carries population by school age (a known, positive band value)."""
    bands = _bands(list(zones.columns))
    if not bands or not len(zones):
        return np.zeros(len(zones), dtype=bool)
    values = np.column_stack(
        [pd.to_numeric(zones[c], errors="coerce").to_numpy(float) for c, _ in set(bands.values())]
    )
    return np.isfinite(values).any(axis=1) & (np.nan_to_num(values).sum(axis=1) > 0)


#: Zone kinds holding population by age, the preferred first (finest units, then neighborhoods).
_POPULATION_KINDS = ("census", "neighborhood", "ward")
#: Zone kinds that tile a city into units for zone design, the preferred first.
_UNIT_KINDS = ("neighborhood", "census", "ward", "attendance")


def population_units(city: Any) -> gpd.GeoDataFrame:
    """The city's population units: the zones carrying population by age.

    Census units first, then neighborhoods, then wards, then zones of any other kind with
    population (one kind: kinds overlap, so they are never added up).

    Raises
    ------
    ValidationError
        When no zone carries population by age, naming the zones layer and the fix.
    """
    zones = city.zones
    has = _has_population(zones)
    kinds = zones["kind"].astype(str).to_numpy() if "kind" in zones else np.full(len(zones), "neighborhood")
    order = [*_POPULATION_KINDS, *sorted(set(kinds[has]) - set(_POPULATION_KINDS))]
    for kind in order:
        pick = has & (kinds == kind)
        if pick.any():
            return zones[pick].reset_index(drop=True)
    fail(
        "zones",
        None,
        "population",
        f"{city.name} has no zones with population by age",
        "add a zones layer (census units or neighborhoods) with [layers.zones.population] bands, "
        'e.g. "0_17" = "pop_age_0_17"',
        city=city.name,
    )


def area_units(city: Any, *, grades: Sequence[int] | None = None) -> gpd.GeoDataFrame:
    """Zones that tile the city into units (for zone design and simulated applicants).

    Neighborhoods first, then census units, wards, attendance zones (of the level serving
    ``grades`` when zones have a ``level``), then zones of any kind.

    Raises
    ------
    ValidationError
        When the city has no zones, or the chosen zones overlap (attendance zones of several
        levels without a ``level``), naming the zones layer and the fix.
    """
    zones = city.zones
    if len(zones):
        kinds = (
            zones["kind"].astype(str).to_numpy() if "kind" in zones else np.full(len(zones), "neighborhood")
        )
        for kind in [*_UNIT_KINDS, *sorted(set(kinds) - set(_UNIT_KINDS) - {"shared"}), "shared"]:
            pick = kinds == kind
            if kind == "attendance" and grades is not None and pick.any():
                serves = zone_grades(zones[pick], city.schools)[
                    :, np.asarray(list(grades), dtype=np.int64) + 1
                ].any(axis=1)
                if serves.any():
                    pick[np.flatnonzero(pick)[~serves]] = False
            if pick.any():
                units = zones[pick].reset_index(drop=True)
                _check_tiling(units, kind, city.name)
                return units
    fail(
        "zones",
        None,
        None,
        f"{city.name} has no zones to build units from",
        "add a zones layer of neighborhoods, census units, wards or attendance zones ([layers.zones])",
        city=city.name,
    )


def _check_tiling(units: gpd.GeoDataFrame, kind: str, city: str) -> None:
    """Units must tile the city: overlapping units (attendance zones of several levels) would count
    residents twice."""
    if len(units) < 2:
        return
    total, union = float(units.area.sum()), float(shapely.union_all(units.geometry.values).area)
    if total > 1.05 * union:
        fail(
            "zones",
            None,
            "level",
            f"the {len(units)} {kind} zones overlap (they cover their area {total / union:.1f} times): "
            "they are not units that tile the city",
            "give each zone its level (elementary, middle, high) in [layers.zones] so one level is used, "
            "or add neighborhoods or census units",
            city=city,
        )


@dataclass(frozen=True)
class Pieces:
    """Homes: points with residents by grade (and low-income residents), each in one zone.

    From population or an enrollment estimate, each piece of a unit cut by a zone is represented
    by about 25 points of a regular grid inside it, sharing the piece's residents equally.
    """

    zone: np.ndarray  # (k,) zone position
    xy: np.ndarray  # (k, 2)
    residents: np.ndarray  # (k, 14)
    low_income: np.ndarray  # (k,) low-income residents (NaN when unknown)

    def by_zone(self, n_zones: int) -> np.ndarray:
        """``(n_zones, 14)`` residents of each zone by grade."""
        out = np.zeros((n_zones, _NG))
        np.add.at(out, self.zone, self.residents)
        return out


def _grid_points(poly: BaseGeometry, target: int = 25) -> np.ndarray:
    """About ``target`` points of a regular grid inside a polygon (its representative point if none)."""
    minx, miny, maxx, maxy = poly.bounds
    step = max(np.sqrt(poly.area / target), 1.0)
    gx, gy = np.meshgrid(np.arange(minx + step / 2, maxx, step), np.arange(miny + step / 2, maxy, step))
    inside = shapely.contains_xy(poly, gx.ravel(), gy.ravel())
    if not inside.any():
        p = poly.representative_point()
        return np.array([[p.x, p.y]])
    return np.column_stack([gx.ravel()[inside], gy.ravel()[inside]])


def _pieces_from_students(zones: gpd.GeoDataFrame, students: gpd.GeoDataFrame) -> Pieces:
    pts, zs = zones.sindex.query(students.geometry.values, predicate="within")
    pts, first = np.unique(pts, return_index=True)  # a home in overlapping zones counts in the first
    zs = zs[first]
    grades = pd.to_numeric(students["grade"], errors="coerce").to_numpy(float)[pts]
    ok = (grades >= -1) & (grades <= 12)  # adult and ungraded students (any other value) are left out
    pts, zs, grades = pts[ok], zs[ok], grades[ok].astype(np.int64)
    res = np.zeros((len(pts), _NG))
    res[np.arange(len(pts)), grades + 1] = 1.0
    return Pieces(zs, _xy(students.geometry.iloc[pts]), res, np.full(len(pts), np.nan))


def _pieces_from_units(
    zones: gpd.GeoDataFrame, units: gpd.GeoDataFrame, res: np.ndarray, low: np.ndarray
) -> Pieces:
    """Each unit's residents shared among the zones cutting it, by area (areal interpolation)."""
    left = gpd.GeoDataFrame({"_z": np.arange(len(zones))}, geometry=zones.geometry.values, crs=zones.crs)
    right = gpd.GeoDataFrame({"_u": np.arange(len(units))}, geometry=units.geometry.values, crs=units.crs)
    parts = gpd.overlay(left, right, how="intersection", keep_geom_type=True)
    parts = parts[parts.area > 0].reset_index(drop=True)
    if not len(parts):
        return Pieces(np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros((0, _NG)), np.zeros(0))
    u = parts["_u"].to_numpy(int)
    share = parts.area.to_numpy() / units.area.to_numpy()[u]
    points = [_grid_points(g) for g in parts.geometry.values]
    k = np.repeat(np.arange(len(parts)), [len(p) for p in points])
    frac = (share / np.array([len(p) for p in points]))[k]
    return Pieces(
        parts["_z"].to_numpy(int)[k], np.concatenate(points), res[u[k]] * frac[:, None], low[u[k]] * frac
    )


def enrollment_residents(zones: gpd.GeoDataFrame, schools: gpd.GeoDataFrame) -> np.ndarray:
    """Residents of each zone by grade estimated from enrollment.

    Each school's enrolled students by grade (enrollment spread over its grades) are counted in
    the zones it feeds (zones naming it in ``schools``/``school``), else in the zones holding
    it that serve the grade (by ``level`` or their schools' grades), else in every zone holding
    it; shared equally among them.

    Returns
    -------
    ndarray
        ``(len(zones), 14)`` estimated residents.
    """
    zones = zones.reset_index(drop=True)
    enr = _numbers(schools, "enrollment")
    enrolled = _spread(np.where(enr > 0, enr, np.nan), list(schools["grades"])).astype(float)
    out = np.zeros((len(zones), _NG))
    if not len(zones) or not len(schools):
        return out
    serves = zone_grades(zones, schools)
    fed: dict[int, list[int]] = {}
    if "schools" in zones or "school" in zones:
        for z, members in enumerate(zone_school_sets(zones, schools, inside=False)):
            for s in members:
                fed.setdefault(int(s), []).append(z)
    s_idx, z_idx = zones.sindex.query(schools.geometry.values, predicate="intersects")
    holding: dict[int, list[int]] = {}
    for s, z in zip(s_idx.tolist(), z_idx.tolist(), strict=True):
        holding.setdefault(s, []).append(z)
    for s in np.flatnonzero(enrolled.sum(axis=1) > 0):
        for g in np.flatnonzero(enrolled[s] > 0):
            targets = (
                fed.get(int(s))
                or [z for z in holding.get(int(s), []) if serves[z, g]]
                or holding.get(int(s), [])
            )
            for z in targets:
                out[z, g] += enrolled[s, g] / len(targets)
    return out


@dataclass(frozen=True, eq=False)
class Residents:
    """Where a city's residents by grade come from, and how to place them in zones.

    Build it with :func:`residents`.

    Attributes
    ----------
    source
        ``"students"`` (students' homes), ``"population"`` (population by age) or
        ``"enrollment"`` (estimated from schools' enrollment).
    note
        The source in words, for every output (e.g. "residents estimated from enrollment").
    """

    source: Literal["students", "population", "enrollment"]
    note: str
    city: Any
    units: gpd.GeoDataFrame | None = None
    participation: float = 1.0

    @property
    def estimated(self) -> bool:
        """Whether residents are an estimate from enrollment rather than counted."""
        return self.source == "enrollment"

    def pieces(self, zones: gpd.GeoDataFrame) -> Pieces:
        """Homes in ``zones`` (a point set with residents by grade, each in one zone)."""
        zones = zones.reset_index(drop=True)
        if self.source == "students":
            return _pieces_from_students(zones, self.city.students)
        if self.source == "population":
            res = residents_by_grade(self.units, participation=self.participation)
            return _pieces_from_units(zones, self.units, res, _low_income(self.units, res))
        res = enrollment_residents(zones, self.city.schools)
        points = [_grid_points(g) for g in zones.geometry.values]
        k = np.repeat(np.arange(len(zones)), [len(p) for p in points])
        frac = 1.0 / np.array([len(p) for p in points], dtype=float)[k]
        xy = np.concatenate(points) if points else np.zeros((0, 2))
        return Pieces(k, xy, res[k] * frac[:, None], np.full(len(k), np.nan))

    def by_zone(self, zones: gpd.GeoDataFrame) -> np.ndarray:
        """``(len(zones), 14)`` residents of each zone by grade."""
        if self.source == "enrollment":
            return enrollment_residents(zones.reset_index(drop=True), self.city.schools)
        return self.pieces(zones).by_zone(len(zones))


def residents(city: Any, *, source: Source = "auto", participation: float = 1.0) -> Residents:
    """Choose where a city's residents come from: students, else population by age, else enrollment.

    Parameters
    ----------
    city
        A :class:`facilities.City`.
    source
        ``"auto"`` (the first the city has of students, population by age and schools'
        enrollment) or one of them by name.
    participation
        Share of children counted as residents (population only).

    Returns
    -------
    Residents

    Raises
    ------
    ValidationError
        Naming the layer that is missing for the source asked for (or for every source with
        ``"auto"``) and how to add it.
    """
    problems = Problems()
    if source not in ("auto", "students", "population", "enrollment"):
        problems.add(
            "--source",
            None,
            None,
            f"unknown residents source {source!r}",
            "use auto, students, population or enrollment",
        )
        problems.raise_if_any(city=city.name)
    students = city.students
    n_students = (
        int(pd.to_numeric(students["grade"], errors="coerce").between(-1, 12).sum()) if len(students) else 0
    )
    has_pop = bool(_has_population(city.zones).any()) if len(city.zones) else False
    enrolled = _numbers(city.schools, "enrollment")
    n_enrolled = int(np.nansum(enrolled)) if len(enrolled) else 0
    have = [
        name
        for name, ok in (("students", n_students), ("population", has_pop), ("enrollment", n_enrolled))
        if ok
    ]
    instead = f", or use --source {' or '.join(have)} (the city has it)" if have else ""
    used: str = source
    if source == "auto":
        used = "students" if n_students else "population" if has_pop else "enrollment" if n_enrolled else ""
    if used == "students" and not n_students:
        problems.add(
            "students",
            None,
            None,
            f"{city.name} has no students to count residents from",
            f"add [layers.students] with each student's grade and home{instead}",
        )
    elif used == "population" and not has_pop:
        problems.add(
            "zones",
            None,
            "population",
            f"{city.name} has no zones with population by age",
            f"add census units or neighborhoods with [layers.zones.population] bands{instead}",
        )
    elif used == "enrollment" and not n_enrolled:
        problems.add(
            "schools",
            None,
            "enrollment",
            f"{city.name}'s schools report no enrollment to estimate residents from",
            f"map the schools' enrollment column in [layers.schools.columns]{instead}",
        )
    elif used == "enrollment" and not len(city.zones):
        problems.add(
            "zones",
            None,
            None,
            "residents estimated from enrollment need zones to place them in",
            "add a zones layer (neighborhoods, census units, wards or attendance zones)",
        )
    elif not used:
        problems.add(
            "students",
            None,
            None,
            f"{city.name} has no residents to count: no students, no zones with population by age, "
            "no school enrollment",
            "add [layers.students], or population by age on the zones ([layers.zones.population]), "
            "or the schools' enrollment column",
        )
    problems.raise_if_any(city=city.name)
    if used == "students":
        return Residents("students", f"residents counted from {n_students:,} students' homes", city)
    if used == "population":
        units = population_units(city)
        kind = str(units["kind"].iloc[0]) if "kind" in units else "zone"
        note = f"residents from population by age ({len(units)} {kind} units)"
        if participation < 1:
            note += f", {participation:.0%} participating"
        return Residents("population", note, city, units, participation)
    return Residents(
        "enrollment",
        f"residents estimated from enrollment ({n_enrolled:,} enrolled students, "
        "each counted in the zone its school feeds or lies in)",
        city,
    )
