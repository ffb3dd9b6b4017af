"""Shared enrollment zones: who lives in a zone, the seats its schools offer, the guarantee, zone design.

A *zone* is a polygon with a set of schools (of any sector). Every resident of the zone is
guaranteed a seat at one of its schools when the zone has enough seats in the resident's grade.
This module measures zones (:func:`coverage`), finds what would close a zone's gap
(:func:`gap_closers`), builds a shared zone from units such as neighborhoods (:func:`shared_zone`)
and designs whole plans of contiguous shared zones from units (:func:`design`, :func:`greedy_zones`,
:func:`compare_plans`).

Conventions and models (documented assumptions)
-----------------------------------------------
- **Residents by grade.** From students' homes (each student counts in its ``grade``), or from the
  zones' population by age band: a child of age *a* is in grade ``a - 5`` (PK = age 4, K = 5,
  grade 12 = 17); a band ``population_<lo>_<hi>`` is spread evenly over its ages (the narrowest
  band holding an age is used), times ``participation`` (the share of children who would enrol).
  A zone that cuts a population unit receives the unit's residents in proportion to the area shared
  (areal interpolation).
- **Seats by grade.** A school's ``capacity`` (or ``enrollment`` when capacity is unknown, or
  always with ``basis="enrollment"``) spread evenly over the grades it serves, the remainder going
  to the lowest grades. Spare seats are capacity minus enrollment, spread the same way.
- **Guarantee.** In a zone and grade with ``residents`` and ``seats``, ``min(residents, seats)``
  residents are guaranteed a seat; the shortfall is ``max(residents - seats, 0)``.
- **Travel.** Functions take ``travel``: a callable ``travel(origins_xy, destinations_xy)`` giving
  seconds as an ``(n, m)`` array (e.g. ``routing.travel.travel_model(...).matrix``), or, for
  :class:`ZoneData`, a precomputed ``(units, schools)`` matrix. Homes are students' points, or a
  representative point of each piece of a population unit. Without travel, travel metrics are NaN
  and zone design weighs straight-line metres instead of seconds.
- **Compactness** is Polsby–Popper, ``4 pi area / perimeter**2`` (1 for a disc).

Examples
--------
>>> from facilities import read_city
>>> from facilities.zones import shared_zone, coverage
>>> city = read_city("data/demo")  # doctest: +SKIP
>>> zone = shared_zone(city, units=["Eastside", "Harbor"], id="east")  # doctest: +SKIP
>>> cov = coverage(city, zone, travel=model.matrix)  # doctest: +SKIP
>>> cov.grades  # residents, seats, guaranteed, share, shortfall by zone and grade  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facilities._validate import Problems, is_missing, parse_grades, parse_list
from facilities.schema import GRADE_NAMES

__all__ = [
    "GRADES",
    "Travel",
    "Coverage",
    "ZoneData",
    "ZonePlan",
    "polsby_popper",
    "population_units",
    "residents_by_grade",
    "seats_by_grade",
    "spare_seats_by_grade",
    "read_zones",
    "shared_zone",
    "coverage",
    "gap_closers",
    "design",
    "design_cpsat",
    "greedy_zones",
    "compare_plans",
]

logger = logging.getLogger(__name__)

#: Grade integers in column order (PK = -1, K = 0, 1..12).
GRADES: tuple[int, ...] = tuple(range(-1, 13))
_NG = len(GRADES)
#: ``travel(origins_xy, destinations_xy) -> seconds``, both ``(n, 2)`` metric coordinates.
Travel = Callable[[np.ndarray, np.ndarray], np.ndarray]
Source = Literal["auto", "students", "population"]
Basis = Literal["capacity", "enrollment"]
_BAND = re.compile(r"^population_(\d+)_(\d+)$")
_LOW_INCOME = "population_low_income_0_17"
#: Straight-line distance beyond which a resident is counted as a bus rider (1.5 miles).
WALK_LIMIT_M = 2414.0


# ---------------------------------------------------------------------------------------------
# Building blocks


def polsby_popper(geometries: gpd.GeoSeries | Sequence[shapely.Geometry]) -> np.ndarray:
    """Polsby–Popper compactness ``4 pi A / P**2`` of each polygon (metric CRS; NaN when empty)."""
    geoms = np.asarray(getattr(geometries, "values", geometries), dtype=object)
    area = shapely.area(geoms)
    perimeter = shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(perimeter > 0, 4 * np.pi * area / perimeter**2, np.nan)


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
    ValueError
        When no band covers school ages (4..17).
    """
    if not 0 < participation <= 1:
        raise ValueError(f"participation={participation!r}; give a share in (0, 1]")
    bands = _bands(list(zones.columns))
    if not bands:
        raise ValueError(
            "the zones have no population_<lo>_<hi> column covering ages 4-17; map one in city.toml "
            "[layers.zones.population] (e.g. \"0_17\" = \"pop_under_18\") or count residents from students"
        )
    out = np.zeros((len(zones), _NG))
    for age, (column, width) in bands.items():
        values = pd.to_numeric(zones[column], errors="coerce").fillna(0).to_numpy(float)
        out[:, age - 5 + 1] = values / width * participation
    return out


def _grade_tuple(value: object) -> tuple[int, ...]:
    if isinstance(value, (tuple, list, np.ndarray)):
        return tuple(sorted({int(g) for g in value if int(g) in GRADES}))
    return ()


def _spread(amounts: np.ndarray, grades: Sequence[object]) -> np.ndarray:
    """Spread each row's amount evenly over its grades (remainder to the lowest grades)."""
    out = np.zeros((len(amounts), _NG), dtype=np.int64)
    for i, (amount, gs) in enumerate(zip(amounts, grades, strict=True)):
        gs = _grade_tuple(gs)
        if not gs or not np.isfinite(amount) or amount <= 0:
            continue
        base, extra = divmod(int(round(amount)), len(gs))
        for k, g in enumerate(gs):
            out[i, g + 1] = base + (k < extra)
    return out


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(float)


def seats_by_grade(schools: pd.DataFrame, *, basis: Basis = "capacity") -> np.ndarray:
    """Seats of each school by grade: capacity (or enrollment) spread evenly over its grades.

    Parameters
    ----------
    schools
        Rows with ``grades`` (tuples of ints) and ``capacity`` and/or ``enrollment``.
    basis
        ``"capacity"``: reported capacity, else enrollment where capacity is unknown;
        ``"enrollment"``: current enrollment (seats as used today).

    Returns
    -------
    ndarray
        ``(len(schools), 14)`` integer seats, column ``grade + 1``; 0 where unknown.
    """
    if basis not in ("capacity", "enrollment"):
        raise ValueError(f"basis={basis!r}; use 'capacity' or 'enrollment'")
    cap, enr = _numbers(schools, "capacity"), _numbers(schools, "enrollment")
    amount = np.where(np.isfinite(cap), cap, enr) if basis == "capacity" else enr
    return _spread(amount, list(schools["grades"]))


def spare_seats_by_grade(schools: pd.DataFrame) -> np.ndarray:
    """Spare seats (capacity minus enrollment, where both are known) spread over each school's grades."""
    spare = np.clip(_numbers(schools, "capacity") - _numbers(schools, "enrollment"), 0, None)
    return _spread(spare, list(schools["grades"]))


def _check_polygons(zones: gpd.GeoDataFrame, *, source: str, problems: Problems) -> None:
    for row, geom in zip(range(1, len(zones) + 1), zones.geometry.values, strict=True):
        if geom is None or geom.is_empty:
            problems.add(source, row, "geometry", "zone has no geometry", "give the zone's boundary polygon")
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            problems.add(source, row, "geometry", f"a {geom.geom_type} where a zone polygon is expected",
                         "give the zone's boundary as a Polygon or MultiPolygon")  # fmt: skip
        elif not geom.is_valid:
            problems.add(source, row, "geometry", f"invalid polygon ({shapely.is_valid_reason(geom)})",
                         "repair it (e.g. QGIS 'Fix geometries' or shapely.make_valid)")  # fmt: skip


def read_zones(
    path: str | Path,
    *,
    crs: object,
    id: str = "id",
    name: str | None = None,
    schools: str | None = None,
    kind: str = "attendance",
    repair: bool = False,
) -> gpd.GeoDataFrame:
    """Read zone polygons from any vector file (attendance zones, neighborhoods, drawn zones).

    Parameters
    ----------
    path
        GeoJSON, GeoPackage, shapefile, FlatGeobuf or GeoParquet.
    crs
        The city's metric CRS (``city.crs``); the zones are projected to it.
    id, name
        Columns holding each zone's id and name (name defaults to the id).
    schools
        Column holding the zone's school ids (one id, or several separated by ``;`` or ``,``);
        without it a zone's schools are those inside its polygon.
    kind
        The zones' kind (``attendance``, ``shared``, ...).
    repair
        Repair invalid polygons (self-intersections) with :func:`shapely.make_valid`, keeping
        their polygonal parts, instead of reporting them.

    Raises
    ------
    ValidationError
        Naming every row that is not a valid polygon, or a missing column.
    """
    path = Path(path)
    frame = gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)
    problems = Problems()
    for column in (id, name, schools):
        if column is not None and column not in frame.columns:
            problems.add(path.name, None, column, "column is missing", f"use one of {', '.join(map(str, frame.columns))}")
    if frame.crs is None:
        problems.add(path.name, None, "geometry", "the file has no CRS", "save it with its CRS (e.g. EPSG:4326)")
    problems.raise_if_any(city=path.name)
    if repair:
        frame = frame.set_geometry(_make_valid(frame.geometry))
    _check_polygons(frame, source=path.name, problems=problems)
    ids = frame[id].astype(str).str.strip()
    for row in np.flatnonzero(ids.duplicated().to_numpy()):
        problems.add(path.name, int(row) + 1, id, f"zone id {ids.iloc[row]!r} repeats", "give every zone its own id")
    problems.raise_if_any(city=path.name)
    out = gpd.GeoDataFrame(
        {"id": ids, "name": frame[name or id].astype(str), "kind": kind},
        geometry=frame.geometry.values,
        crs=frame.crs,
    ).to_crs(crs)
    if schools is not None:
        out["schools"] = [() if is_missing(v) else parse_list(str(v)) for v in frame[schools]]
    return out


def _make_valid(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Valid polygons: invalid ones repaired, keeping only their polygonal parts."""
    fixed = []
    for geom in geoms.values:
        if geom is not None and geom.geom_type in ("Polygon", "MultiPolygon") and not geom.is_valid:
            parts = [p for p in shapely.get_parts(shapely.make_valid(geom)) if p.geom_type in ("Polygon", "MultiPolygon")]
            geom = shapely.union_all(parts) if parts else geom
        fixed.append(geom)
    return gpd.GeoSeries(fixed, index=geoms.index, crs=geoms.crs)


def _unit_index(zones: pd.DataFrame, names: Sequence[str], *, what: str) -> np.ndarray:
    """Positions of the zones named (by id or name); ValidationError naming every unknown one."""
    ids = zones["id"].astype(str).tolist()
    labels = zones["name"].where(zones["name"].notna(), zones["id"]).astype(str).tolist()
    lookup = {**{n.lower(): i for i, n in enumerate(labels)}, **{n.lower(): i for i, n in enumerate(ids)}}
    problems = Problems()
    out = []
    for k, n in enumerate(names):
        if str(n).strip().lower() in lookup:
            out.append(lookup[str(n).strip().lower()])
        else:
            problems.add(what, k + 1, "unit", f"unknown unit {n!r}", f"use a zone id or name, e.g. {', '.join(ids[:5])}")
    problems.raise_if_any(city=what)
    return np.asarray(out, dtype=np.int64)


def _school_index(schools: pd.DataFrame, ids: Sequence[str], *, what: str) -> np.ndarray:
    index = {str(s): i for i, s in enumerate(schools["id"])}
    problems = Problems()
    for k, s in enumerate(ids):
        if str(s) not in index:
            problems.add(what, k + 1, "school", f"unknown school {s!r}", "use an id of the schools layer")
    problems.raise_if_any(city=what)
    return np.asarray([index[str(s)] for s in ids], dtype=np.int64)


def configured_zones(city: object) -> gpd.GeoDataFrame | None:
    """The shared zones listed in the city's ``city.toml`` (``[[enrollment.shared_zones]]`` tables
    with ``id``, ``units``, optional ``name``, ``schools`` and ``grades``), or ``None``."""
    table = city.settings.enrollment.shared_zones  # type: ignore[attr-defined]
    if not table:
        return None
    frames = [shared_zone(city, units=z.units, schools=z.schools, id=z.id, name=z.name) for z in table]
    return pd.concat(frames, ignore_index=True)


def configured_grades(city: object) -> tuple[int, ...] | None:
    """The grades the city's configured shared zones guarantee (their ``grades`` keys), or ``None`` for all."""
    listed = [z.grades for z in city.settings.enrollment.shared_zones if z.grades is not None]  # type: ignore[attr-defined]
    return tuple(sorted({g for grades in listed for g in grades})) if listed else None


def shared_zone(
    city: object,
    *,
    units: Sequence[str],
    schools: Sequence[str] | None = None,
    id: str = "shared",
    name: str | None = None,
) -> gpd.GeoDataFrame:
    """A shared zone made of units of the city's zones layer (e.g. neighborhoods).

    Parameters
    ----------
    city
        A :class:`facilities.City`.
    units
        Ids or names of zones (any kind) whose union is the shared zone.
    schools
        School ids of the zone (any sector); default the schools inside it.
    id, name
        The zone's id and name.

    Returns
    -------
    GeoDataFrame
        One row: ``id``, ``name``, ``kind`` ("shared"), ``units``, ``schools`` (tuple of ids), the
        units' summed ``population_*`` columns, and the geometry.

    Raises
    ------
    ValidationError
        Naming every unknown unit or school.
    """
    if not len(units):
        raise ValueError("give at least one unit (a zone id or name) for the shared zone")
    zones = city.zones  # type: ignore[attr-defined]
    pos = _unit_index(zones, units, what=f"shared zone {id!r} units")
    picked = zones.iloc[pos]
    geom = shapely.union_all(picked.geometry.values)
    if schools is None:
        inside = city.schools.geometry.within(geom.buffer(1e-6)).to_numpy()  # type: ignore[attr-defined]
        school_ids = tuple(city.schools["id"][inside].astype(str))  # type: ignore[attr-defined]
    else:
        _school_index(city.schools, schools, what=f"shared zone {id!r} schools")  # type: ignore[attr-defined]
        school_ids = tuple(str(s) for s in schools)
    row = {"id": id, "name": name or id, "kind": "shared", "units": tuple(picked["id"].astype(str)), "schools": school_ids}
    for column in zones.columns:
        if column.startswith("population_"):
            row[column] = pd.to_numeric(picked[column], errors="coerce").sum()
    return gpd.GeoDataFrame([row], geometry=[geom], crs=zones.crs)


# ---------------------------------------------------------------------------------------------
# Coverage of given zones


@dataclass(frozen=True)
class _Pieces:
    """Homes: points with residents by grade (and low-income residents), each in one zone.

    From population, each piece of a unit cut by a zone is represented by about 25 points of a
    regular grid inside it, sharing the piece's residents equally.
    """

    zone: np.ndarray  # (k,) zone position
    xy: np.ndarray  # (k, 2)
    residents: np.ndarray  # (k, 14)
    low_income: np.ndarray  # (k,) low-income residents (NaN when unknown)


def _xy(geoms: gpd.GeoSeries) -> np.ndarray:
    pts = geoms.representative_point() if (geoms.geom_type != "Point").any() else geoms
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def _low_income(units: pd.DataFrame, residents: np.ndarray) -> np.ndarray:
    """Low-income residents: each unit's low-income share of children (``population_low_income_0_17``
    over ``population_0_17``) times its residents; NaN when unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = _numbers(units, _LOW_INCOME) / _numbers(units, "population_0_17")
    return share * residents.sum(axis=1)


def _pieces_from_students(zones: gpd.GeoDataFrame, students: gpd.GeoDataFrame) -> _Pieces:
    pts, zs = zones.sindex.query(students.geometry.values, predicate="within")
    pts, first = np.unique(pts, return_index=True)  # a home in overlapping zones counts in the first
    zs = zs[first]
    residents = np.zeros((len(pts), _NG))
    residents[np.arange(len(pts)), students["grade"].to_numpy(int)[pts] + 1] = 1.0
    return _Pieces(zs, _xy(students.geometry.iloc[pts]), residents, np.full(len(pts), np.nan))


def _pieces_from_population(zones: gpd.GeoDataFrame, units: gpd.GeoDataFrame, participation: float) -> _Pieces:
    res = residents_by_grade(units, participation=participation)
    low = _low_income(units, res)
    left = gpd.GeoDataFrame({"_z": np.arange(len(zones))}, geometry=zones.geometry.values, crs=zones.crs)
    right = gpd.GeoDataFrame({"_u": np.arange(len(units))}, geometry=units.geometry.values, crs=units.crs)
    parts = gpd.overlay(left, right, how="intersection", keep_geom_type=True)
    parts = parts[parts.area > 0].reset_index(drop=True)
    u = parts["_u"].to_numpy(int)
    share = parts.area.to_numpy() / units.area.to_numpy()[u]
    points = [_grid_points(g) for g in parts.geometry.values]
    k = np.repeat(np.arange(len(parts)), [len(p) for p in points])
    frac = (share / np.array([len(p) for p in points]))[k]
    xy = np.concatenate(points) if points else np.zeros((0, 2))
    return _Pieces(parts["_z"].to_numpy(int)[k], xy, res[u[k]] * frac[:, None], low[u[k]] * frac)


def _grid_points(poly: shapely.Geometry, target: int = 25) -> np.ndarray:
    """About ``target`` points of a regular grid inside a polygon (its representative point if none)."""
    minx, miny, maxx, maxy = poly.bounds
    step = max(np.sqrt(poly.area / target), 1.0)
    gx, gy = np.meshgrid(np.arange(minx + step / 2, maxx, step), np.arange(miny + step / 2, maxy, step))
    inside = shapely.contains_xy(poly, gx.ravel(), gy.ravel())
    if not inside.any():
        p = poly.representative_point()
        return np.array([[p.x, p.y]])
    return np.column_stack([gx.ravel()[inside], gy.ravel()[inside]])


def _zone_school_sets(zones: gpd.GeoDataFrame, schools: gpd.GeoDataFrame) -> list[np.ndarray]:
    """Each zone's school positions: its ``schools`` column when given, else the schools inside it."""
    explicit = "schools" in zones.columns
    inside_pts, inside_z = zones.sindex.query(schools.geometry.values, predicate="within")
    out = []
    problems = Problems()
    index = {str(s): i for i, s in enumerate(schools["id"])}
    for z in range(len(zones)):
        listed = zones["schools"].iloc[z] if explicit else None
        if listed is None or (not isinstance(listed, (tuple, list)) and is_missing(listed)):
            out.append(np.sort(inside_pts[inside_z == z]))
            continue
        ids = listed if isinstance(listed, (tuple, list)) else parse_list(str(listed))
        for s in ids:
            if str(s) not in index:
                problems.add("zones", z + 1, "schools", f"zone {zones['id'].iloc[z]!r} lists unknown school {s!r}",
                             "use ids of the schools layer")  # fmt: skip
        out.append(np.asarray([index[str(s)] for s in ids if str(s) in index], dtype=np.int64))
    problems.raise_if_any(city="the zones")
    return out


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> list[float]:
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return [float("nan")] * len(qs)
    order = np.argsort(values[ok], kind="stable")
    v, w = values[ok][order], weights[ok][order]
    cum = np.cumsum(w) / w.sum()
    return [float(v[min(np.searchsorted(cum, q), len(v) - 1)]) for q in qs]


def _nearest_time(xy: np.ndarray, school_xy: np.ndarray, travel: Travel | None) -> np.ndarray:
    if travel is None or not len(xy) or not len(school_xy):
        return np.full(len(xy), np.nan)
    return np.asarray(travel(xy, school_xy), dtype=float).min(axis=1)


def _guarantee_rows(zone_ids: Sequence[str], residents: np.ndarray, seats: np.ndarray) -> pd.DataFrame:
    """Zone × grade rows (grades with residents or seats): residents, seats, guaranteed, share, shortfall."""
    z, g = np.nonzero((residents >= 0.5) | (seats > 0))
    r = np.round(residents[z, g]).astype(np.int64)
    s = seats[z, g].astype(np.int64)
    guaranteed = np.minimum(r, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(r > 0, guaranteed / np.maximum(r, 1), np.nan)
    return pd.DataFrame(
        {
            "zone": np.asarray(zone_ids, dtype=object)[z],
            "grade": g - 1,
            "grade_name": np.asarray(GRADE_NAMES, dtype=object)[g],
            "residents": r,
            "seats": s,
            "guaranteed": guaranteed,
            "share": np.round(share, 4),
            "shortfall": np.maximum(r - s, 0),
        }
    )


@dataclass(frozen=True, eq=False)
class Coverage:
    """Zones measured: residents, seats and the guarantee, travel and compactness.

    Attributes
    ----------
    zones
        GeoDataFrame, one row per zone: ``id``, ``name``, ``kind``, ``schools`` (ids),
        ``sectors``, ``n_schools``, ``residents``, ``seats``, ``guaranteed``, ``share``
        (guaranteed / residents), ``shortfall``, ``utilization`` (residents / seats),
        ``low_income_share``, ``travel_median_s``, ``travel_p90_s``, ``area_km2``,
        ``polsby_popper``.
    grades
        One row per zone and grade: ``residents``, ``seats``, ``guaranteed``, ``share``,
        ``shortfall``.
    source
        How residents were counted (``"students"`` or ``"population"``).
    """

    zones: gpd.GeoDataFrame
    grades: pd.DataFrame
    source: str

    def summary(self) -> dict[str, float]:
        """City-wide totals: residents, seats, guaranteed, share, shortfall, median Polsby–Popper."""
        g = self.grades
        r = int(g["residents"].sum())
        return {
            "zones": len(self.zones),
            "residents": r,
            "seats": int(g["seats"].sum()),
            "guaranteed": int(g["guaranteed"].sum()),
            "share": round(float(g["guaranteed"].sum()) / r, 4) if r else float("nan"),
            "shortfall": int(g["shortfall"].sum()),
            "polsby_popper_median": round(float(np.nanmedian(self.zones["polsby_popper"])), 4),
            "polsby_popper_min": round(float(np.nanmin(self.zones["polsby_popper"])), 4),
        }


def _pick_source(city: object, source: Source) -> str:
    """``"students"`` or ``"population"``: what ``source`` means for this city."""
    if source not in ("auto", "students", "population"):
        raise ValueError(f"source={source!r}; use 'auto', 'students' or 'population'")
    has_pop = bool(_bands(list(city.zones.columns))) and (city.zones["kind"] == "neighborhood").any()  # type: ignore[attr-defined]
    if source == "auto":
        return "population" if has_pop else "students"
    return source


def population_units(city: object) -> gpd.GeoDataFrame:
    """The city's population units: zones of kind ``neighborhood`` with population bands."""
    zones = city.zones  # type: ignore[attr-defined]
    units = zones[zones["kind"] == "neighborhood"].reset_index(drop=True)
    if not len(units) or not _bands(list(units.columns)):
        raise ValueError(
            f"{city.name} has no neighborhoods with population by age; add a zones layer of kind "  # type: ignore[attr-defined]
            "'neighborhood' with [layers.zones.population] bands, or use source='students'"
        )
    return units


def coverage(
    city: object,
    zones: gpd.GeoDataFrame | None = None,
    *,
    travel: Travel | None = None,
    source: Source = "auto",
    basis: Basis = "capacity",
    participation: float = 1.0,
    grades: Sequence[int] | None = None,
) -> Coverage:
    """Measure zones: residents and seats by grade, the guarantee, travel time and compactness.

    Parameters
    ----------
    city
        A :class:`facilities.City`.
    zones
        Zone polygons in ``city.crs`` (e.g. from :func:`shared_zone` or :func:`read_zones`), with
        an optional ``schools`` column; default the city's zones that are not neighborhoods, or
        its neighborhoods when it has no other zones.
    travel
        ``travel(origins_xy, destinations_xy) -> seconds``; without it travel is NaN.
    source
        Count residents from ``"students"`` homes or ``"population"`` by age band; ``"auto"``
        uses population when the city's neighborhoods have it.
    basis
        Seats from ``"capacity"`` or ``"enrollment"`` (see :func:`seats_by_grade`).
    participation
        Share of children counted as residents (population source only).
    grades
        The grades the zones guarantee (e.g. ``range(6, 9)`` for a middle-school zone); default all.

    Returns
    -------
    Coverage
    """
    if zones is None:
        zones = city.zones[city.zones["kind"] != "neighborhood"]  # type: ignore[attr-defined]
        if not len(zones):
            zones = city.zones  # type: ignore[attr-defined]
    zones = zones.reset_index(drop=True)
    problems = Problems()
    _check_polygons(zones, source="zones", problems=problems)
    problems.raise_if_any(city="the zones")
    if not len(zones):
        raise ValueError(f"{city.name} has no zones to measure; pass zones= or add a zones layer")  # type: ignore[attr-defined]
    schools = city.schools  # type: ignore[attr-defined]
    used = _pick_source(city, source)
    if used == "students":
        if not len(city.students):  # type: ignore[attr-defined]
            raise ValueError(f"{city.name} has no students and no neighborhood population to count residents from")  # type: ignore[attr-defined]
        pieces = _pieces_from_students(zones, city.students)  # type: ignore[attr-defined]
    else:
        pieces = _pieces_from_population(zones, population_units(city), participation)
    sets = _zone_school_sets(zones, schools)
    seats = seats_by_grade(schools, basis=basis)
    school_xy = _xy(schools.geometry)
    nz = len(zones)
    residents = np.zeros((nz, _NG))
    np.add.at(residents, pieces.zone, pieces.residents)
    zone_seats = np.stack([seats[s].sum(axis=0) if len(s) else np.zeros(_NG, np.int64) for s in sets])
    if grades is not None:
        outside = ~np.isin(np.arange(_NG) - 1, list(grades))
        residents[:, outside] = 0
        zone_seats[:, outside] = 0
    rows = _guarantee_rows(zones["id"].astype(str).tolist(), residents, zone_seats)
    totals = rows.groupby("zone", sort=False)[["residents", "seats", "guaranteed", "shortfall"]].sum()
    totals = totals.reindex(zones["id"].astype(str)).fillna(0).astype(int)
    med, p90 = np.full(nz, np.nan), np.full(nz, np.nan)
    low = np.full(nz, np.nan)
    weight = pieces.residents.sum(axis=1)
    for z in range(nz):
        mine = pieces.zone == z
        t = _nearest_time(pieces.xy[mine], school_xy[sets[z]], travel)
        med[z], p90[z] = _weighted_quantiles(t, weight[mine], (0.5, 0.9))
        if np.isfinite(pieces.low_income[mine]).any() and weight[mine].sum() > 0:
            low[z] = np.nansum(pieces.low_income[mine]) / weight[mine].sum()
    out = gpd.GeoDataFrame(
        {
            "id": zones["id"].astype(str),
            "name": zones["name"] if "name" in zones else zones["id"],
            "kind": zones["kind"] if "kind" in zones else "zone",
            "schools": [tuple(schools["id"].iloc[s].astype(str)) for s in sets],
            "sectors": [", ".join(sorted(set(schools["sector"].iloc[s].astype(str)))) for s in sets],
            "n_schools": [len(s) for s in sets],
            "residents": totals["residents"].to_numpy(),
            "seats": totals["seats"].to_numpy(),
            "guaranteed": totals["guaranteed"].to_numpy(),
            "shortfall": totals["shortfall"].to_numpy(),
        },
        geometry=zones.geometry.values,
        crs=zones.crs,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = np.round(np.where(out["residents"] > 0, out["guaranteed"] / out["residents"], np.nan), 4)
        out["utilization"] = np.round(np.where(out["seats"] > 0, out["residents"] / out["seats"], np.nan), 3)
    out["low_income_share"] = np.round(low, 4)
    out["travel_median_s"] = np.round(med, 1)
    out["travel_p90_s"] = np.round(p90, 1)
    out["area_km2"] = np.round(out.area.to_numpy() / 1e6, 3)
    out["polsby_popper"] = np.round(polsby_popper(out.geometry), 4)
    return Coverage(out, rows, used)


def gap_closers(
    city: object,
    cov: Coverage,
    *,
    max_distance: float = 3000.0,
    class_size: int = 22,
    limit: int = 5,
) -> pd.DataFrame:
    """What would close each zone's gap: nearby schools with spare seats, and vacant or under-used buildings.

    For every zone and grade with a shortfall, lists up to ``limit`` schools outside the zone
    that serve the grade and have spare seats in it (capacity minus enrollment), and buildings
    of status ``vacant`` or ``under-used`` with classrooms (``class_size`` seats each, all grades),
    within ``max_distance`` metres of the zone, closest first, with the running total of seats.

    Returns
    -------
    DataFrame
        ``zone``, ``grade``, ``shortfall``, ``kind`` ("school"/"building"), ``id``, ``name``,
        ``sector_or_owner``, ``distance_m``, ``seats``, ``cumulative``, ``closes_gap``.
    """
    schools, buildings = city.schools, city.buildings  # type: ignore[attr-defined]
    spare = spare_seats_by_grade(schools)
    candidates = buildings[buildings["status"].isin(["vacant", "under-used"])] if len(buildings) else buildings
    rows = []
    geoms = dict(zip(cov.zones["id"], cov.zones.geometry.values, strict=True))
    members = dict(zip(cov.zones["id"], cov.zones["schools"], strict=True))
    for rec in cov.grades[cov.grades["shortfall"] > 0].itertuples(index=False):
        zone_geom = geoms[rec.zone]
        offers = []
        d_school = schools.geometry.distance(zone_geom).to_numpy()
        outside = ~schools["id"].astype(str).isin(members[rec.zone]).to_numpy()
        ok = outside & (spare[:, rec.grade + 1] > 0) & (d_school <= max_distance)
        for i in np.flatnonzero(ok):
            offers.append(("school", schools["id"].iloc[i], schools["name"].iloc[i], schools["sector"].iloc[i],
                           d_school[i], int(spare[i, rec.grade + 1])))  # fmt: skip
        if len(candidates):
            d_b = candidates.geometry.distance(zone_geom).to_numpy()
            room = candidates["rooms_classroom"].to_numpy(int) * class_size
            for i in np.flatnonzero((d_b <= max_distance) & (room > 0)):
                offers.append(("building", candidates["id"].iloc[i], candidates["name"].iloc[i],
                               candidates["owner"].iloc[i], d_b[i], int(room[i])))  # fmt: skip
        offers.sort(key=lambda o: (o[4], o[0], str(o[1])))
        total = 0
        for kind, oid, name, who, dist, seats in offers[:limit]:
            total += seats
            rows.append({"zone": rec.zone, "grade": rec.grade, "shortfall": rec.shortfall, "kind": kind, "id": str(oid),
                         "name": name, "sector_or_owner": who, "distance_m": round(float(dist)), "seats": seats,
                         "cumulative": total, "closes_gap": total >= rec.shortfall})  # fmt: skip
    columns = ["zone", "grade", "shortfall", "kind", "id", "name", "sector_or_owner", "distance_m", "seats",
               "cumulative", "closes_gap"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------------------
# Zone design from units

Progress = Callable[[int, int], None]


def _adjacency(geoms: gpd.GeoSeries, tolerance: float) -> tuple[np.ndarray, ...]:
    """Each unit's neighbours: units whose boundaries come within ``tolerance`` metres."""
    a, b = geoms.sindex.query(geoms.buffer(tolerance).values, predicate="intersects")
    keep = a != b
    a, b = a[keep], b[keep]
    return tuple(np.sort(b[a == i]) for i in range(len(geoms)))


@dataclass(frozen=True, eq=False)
class ZoneData:
    """An immutable zone-design instance: units (the building blocks of zones) and schools.

    Build it with :meth:`from_city` or :meth:`from_geodataframe`.

    Attributes
    ----------
    unit_ids
        ``(n,)`` unit ids.
    geometry
        The units' polygons (metric CRS).
    residents
        ``(n, 14)`` residents of each unit by grade (column ``grade + 1``).
    low_income
        ``(n,)`` low-income residents of each unit (NaN when unknown).
    neighbors
        Each unit's adjacent units (positions).
    school_ids, sectors
        ``(m,)`` school ids and sectors.
    school_unit
        ``(m,)`` position of the unit holding each school (-1 when in none).
    seats
        ``(m, 14)`` seats of each school by grade.
    travel
        ``(n, m)`` travel from each unit's representative point to each school: seconds, or
        straight-line metres when no travel was given (``travel_unit``).
    distance
        ``(n, m)`` straight-line metres (for bus riders).
    current
        Residents attending each school today, one row per unit, school and grade (positions:
        ``unit``, ``school``, ``grade``, ``residents``): from students, or, for population, each
        grade's residents at the nearest school serving the grade.
    """

    unit_ids: np.ndarray
    geometry: gpd.GeoSeries
    residents: np.ndarray
    low_income: np.ndarray
    neighbors: tuple[np.ndarray, ...]
    school_ids: np.ndarray
    sectors: np.ndarray
    school_unit: np.ndarray
    seats: np.ndarray
    travel: np.ndarray
    distance: np.ndarray
    current: pd.DataFrame
    travel_unit: Literal["s", "m"] = "s"

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.unit_ids)

    @classmethod
    def from_geodataframe(
        cls,
        units: gpd.GeoDataFrame,
        schools: gpd.GeoDataFrame,
        *,
        travel: Travel | np.ndarray | None = None,
        residents: np.ndarray | None = None,
        current: pd.DataFrame | None = None,
        basis: Basis = "capacity",
        participation: float = 1.0,
        tolerance: float = 1.0,
    ) -> ZoneData:
        """Build from unit polygons (with ``id`` and population bands) and schools (canonical columns).

        Parameters
        ----------
        units
            Polygons with ``id`` and ``population_<lo>_<hi>`` columns (unless ``residents`` is
            given); ``population_low_income_0_17`` when known.
        schools
            Points with ``id``, ``sector``, ``grades``, ``capacity``/``enrollment``.
        travel
            ``travel(origins_xy, destinations_xy) -> seconds`` or an ``(n, m)`` matrix of seconds;
            ``None`` uses straight-line metres.
        residents
            ``(n, 14)`` residents by grade, instead of population bands.
        current
            Residents attending each school today: ``unit``, ``school``, ``grade``,
            ``residents`` (positions and grade ints; default: nearest school serving each grade).
        basis, participation
            See :func:`seats_by_grade` and :func:`residents_by_grade`.
        tolerance
            Units whose boundaries come within this many metres are adjacent.
        """
        units = units.reset_index(drop=True)
        schools = schools.reset_index(drop=True)
        problems = Problems()
        _check_polygons(units, source="units", problems=problems)
        ids = units["id"].astype(str)
        for row in np.flatnonzero(ids.duplicated().to_numpy()):
            problems.add("units", int(row) + 1, "id", f"unit id {ids.iloc[row]!r} repeats", "give every unit its own id")
        problems.raise_if_any(city="the units")
        res = residents_by_grade(units, participation=participation) if residents is None else np.asarray(residents, float)
        if res.shape != (len(units), _NG):
            raise ValueError(f"residents has shape {res.shape}; give ({len(units)}, {_NG})")
        uxy, sxy = _xy(units.geometry), _xy(schools.geometry)
        dist = np.hypot(uxy[:, None, 0] - sxy[None, :, 0], uxy[:, None, 1] - sxy[None, :, 1])
        if travel is None:
            cost, unit = dist, "m"
        else:
            cost = np.asarray(travel if isinstance(travel, np.ndarray) else travel(uxy, sxy), dtype=float)
            unit = "s"
            if cost.shape != dist.shape:
                raise ValueError(f"travel has shape {cost.shape}; give (units, schools) = {dist.shape}")
        seats = seats_by_grade(schools, basis=basis)
        if current is None:
            parts = []
            for g in np.flatnonzero(seats.sum(axis=0) > 0):
                serving = np.flatnonzero(seats[:, g] > 0)
                nearest = serving[np.argmin(np.where(np.isfinite(cost[:, serving]), cost[:, serving], np.inf), axis=1)]
                parts.append(pd.DataFrame({"unit": np.arange(len(units)), "school": nearest, "grade": g - 1, "residents": res[:, g]}))
            current = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["unit", "school", "grade", "residents"])
        pts, zs = units.sindex.query(schools.geometry.values, predicate="intersects")
        school_unit = np.full(len(schools), -1, dtype=np.int64)
        school_unit[pts[::-1]] = zs[::-1]  # a school on a shared boundary goes to the first unit
        return cls(
            unit_ids=ids.to_numpy(dtype=object),
            geometry=units.geometry,
            residents=res,
            low_income=_low_income(units, res),
            neighbors=_adjacency(units.geometry, tolerance),
            school_ids=schools["id"].astype(str).to_numpy(dtype=object),
            sectors=schools["sector"].astype(str).to_numpy(dtype=object) if "sector" in schools else np.full(len(schools), "", object),
            school_unit=school_unit,
            seats=seats,
            travel=cost,
            distance=dist,
            current=current,
            travel_unit=unit,
        )

    @classmethod
    def from_city(
        cls,
        city: object,
        *,
        units: gpd.GeoDataFrame | None = None,
        travel: Travel | np.ndarray | None = None,
        source: Source = "auto",
        basis: Basis = "capacity",
        participation: float = 1.0,
    ) -> ZoneData:
        """Build from a city: its neighborhoods (or ``units``) and all its schools.

        With ``source="students"`` residents are the students living in each unit and
        :attr:`current` is where they attend; otherwise residents come from population bands.
        """
        used = _pick_source(city, source)
        units = population_units(city) if units is None else units
        if used == "population":
            return cls.from_geodataframe(units, city.schools, travel=travel, basis=basis, participation=participation)  # type: ignore[attr-defined]
        st, schools = city.students, city.schools  # type: ignore[attr-defined]
        pts, us = units.reset_index(drop=True).sindex.query(st.geometry.values, predicate="within")
        pts, first = np.unique(pts, return_index=True)
        us = us[first]
        res = np.zeros((len(units), _NG))
        np.add.at(res, (us, st["grade"].to_numpy(int)[pts] + 1), 1.0)
        sidx = pd.Index(schools["id"].astype(str)).get_indexer(st["school"].astype(str).to_numpy()[pts])
        cur = pd.DataFrame({"unit": us, "school": sidx, "grade": st["grade"].to_numpy(int)[pts], "residents": 1.0})
        cur = cur[cur["school"] >= 0].groupby(["unit", "school", "grade"], as_index=False)["residents"].sum()
        return cls.from_geodataframe(units, schools, travel=travel, residents=res, current=cur, basis=basis)


@dataclass(frozen=True, eq=False)
class ZonePlan:
    """A plan of zones over units.

    Attributes
    ----------
    data
        The instance.
    labels
        ``(n,)`` zone of each unit (0..zones-1), -1 when the unit is in no zone.
    method
        How it was made (``"cp-sat"``, ``"greedy"``, ``"given"``).
    status
        Solver status (``"OPTIMAL"``, ``"FEASIBLE"``, ``"HEURISTIC"``, ...).
    issues
        Why some units or grades could not be served, by name.
    grades
        The grades the plan was designed for.
    seconds
        Time spent making it.
    """

    data: ZoneData
    labels: np.ndarray
    method: str
    status: str
    issues: tuple[str, ...] = ()
    grades: tuple[int, ...] = ()
    seconds: float = 0.0

    @property
    def n_zones(self) -> int:
        """Number of zones."""
        return int(self.labels.max()) + 1 if (self.labels >= 0).any() else 0

    @classmethod
    def from_labels(cls, data: ZoneData, labels: Sequence[object], *, grades: Sequence[int] | None = None) -> ZonePlan:
        """A given plan: ``labels`` names each unit's zone (any hashables; None/NaN for no zone)."""
        labels = list(labels)
        if len(labels) != data.n_units:
            raise ValueError(f"{len(labels)} labels for {data.n_units} units; give one per unit")
        keys = pd.Series([None if is_missing(x) else str(x) for x in labels], dtype=object)
        codes, _ = pd.factorize(keys, sort=True)
        return cls(data, codes.astype(np.int64), "given", "GIVEN", grades=tuple(grades or _default_grades(data)))

    def zone_schools(self) -> list[np.ndarray]:
        """School positions of each zone: schools lying in the zone's units that serve the plan's grades."""
        su = self.data.school_unit
        zone_of_school = np.where((su >= 0) & _serving(self.data, self.grades), self.labels[np.clip(su, 0, None)], -1)
        return [np.flatnonzero(zone_of_school == z) for z in range(self.n_zones)]

    def _zone_residents(self) -> np.ndarray:
        out = np.zeros((self.n_zones, _NG))
        ok = self.labels >= 0
        np.add.at(out, self.labels[ok], self.data.residents[ok])
        return out

    def _zone_seats(self) -> np.ndarray:
        return np.stack([self.data.seats[s].sum(axis=0) for s in self.zone_schools()]) if self.n_zones else np.zeros((0, _NG))

    def _mask(self) -> np.ndarray:
        mask = np.zeros(_NG, dtype=bool)
        mask[np.asarray(self.grades, dtype=np.int64) + 1] = True
        return mask

    def guarantee(self) -> pd.DataFrame:
        """Zone × grade rows of the plan's grades: residents, seats, guaranteed, share, shortfall."""
        mask = self._mask()
        ids = [f"Z{z + 1}" for z in range(self.n_zones)]
        return _guarantee_rows(ids, self._zone_residents() * mask, self._zone_seats() * mask)

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """One polygon per zone: ``id``, ``units``, ``schools``, ``sectors``, residents, seats, compactness."""
        d, sets = self.data, self.zone_schools()
        mask = self._mask()
        res, seats = self._zone_residents() * mask, self._zone_seats() * mask
        geoms = [shapely.union_all(d.geometry.values[self.labels == z]) for z in range(self.n_zones)]
        out = gpd.GeoDataFrame(
            {
                "id": [f"Z{z + 1}" for z in range(self.n_zones)],
                "name": [f"Zone {z + 1}" for z in range(self.n_zones)],
                "kind": "shared",
                "units": [tuple(d.unit_ids[self.labels == z]) for z in range(self.n_zones)],
                "schools": [tuple(d.school_ids[s]) for s in sets],
                "sectors": [", ".join(sorted(set(d.sectors[s]))) for s in sets],
                "n_schools": [len(s) for s in sets],
                "residents": np.round(res.sum(axis=1)).astype(int),
                "seats": seats.sum(axis=1).astype(int),
            },
            geometry=geoms,
            crs=d.geometry.crs,
        )
        out["polsby_popper"] = np.round(polsby_popper(out.geometry), 4)
        return out

    def unit_travel(self) -> np.ndarray:
        """Each unit's travel to the nearest school of its zone (NaN when none)."""
        return self._nearest(self.data.travel)

    def expected_travel(self) -> np.ndarray:
        """Each unit's trip to its zone's schools, weighted by their seats in the plan's grades."""
        out = np.full(self.data.n_units, np.nan)
        seats = self.data.seats[:, np.asarray(self.grades, dtype=np.int64) + 1].sum(axis=1).astype(float)
        for z, s in enumerate(self.zone_schools()):
            units = np.flatnonzero(self.labels == z)
            if len(s) and len(units) and seats[s].sum() > 0:
                out[units] = self.data.travel[np.ix_(units, s)] @ (seats[s] / seats[s].sum())
        return out

    def _nearest(self, matrix: np.ndarray) -> np.ndarray:
        out = np.full(self.data.n_units, np.nan)
        for z, s in enumerate(self.zone_schools()):
            units = np.flatnonzero(self.labels == z)
            if len(s) and len(units):
                out[units] = matrix[np.ix_(units, s)].min(axis=1)
        return out

    def metrics(self, *, band: tuple[float, float] = (0.85, 1.0), walk_m: float = WALK_LIMIT_M) -> dict[str, float]:
        """The plan's measures, for side-by-side comparison.

        Returns
        -------
        dict
            ``zones``; ``travel_median``/``travel_p90`` (resident-weighted quantiles of each
            unit's expected trip when its guaranteed seat may be at any zone school in proportion
            to their seats; seconds, or metres when the data has no travel);
            ``travel_nearest_median``/``p90`` (to the nearest zone school); ``coverage`` (share of
            residents guaranteed a seat); ``utilization_in_band`` (share of zones whose
            residents / seats lies in ``band``), ``utilization_min``/``max``; ``dissimilarity``
            (low-income dissimilarity index across zones, 0 = even, 1 = segregated) and
            ``low_income_gap`` (largest gap between a zone's low-income share and the city's);
            ``polsby_popper_median``/``min``; ``switchers`` (residents whose current school is
            outside their zone); ``bus_riders`` (residents farther than ``walk_m`` straight-line
            metres from their zone's nearest school); ``unzoned`` residents.
        """
        d, mask = self.data, self._mask()
        weight = (d.residents * mask).sum(axis=1)
        t = self.unit_travel()
        med, p90 = _weighted_quantiles(t, weight, (0.5, 0.9))
        g = self.guarantee()
        res_z, seats_z = g.groupby("zone")["residents"].sum(), g.groupby("zone")["seats"].sum()
        util = (res_z / seats_z.where(seats_z > 0)).dropna()
        zoned = self.labels >= 0
        low, tot = np.zeros(self.n_zones), np.zeros(self.n_zones)
        li = np.nan_to_num(d.low_income)
        np.add.at(low, self.labels[zoned], li[zoned])
        np.add.at(tot, self.labels[zoned], d.residents[zoned].sum(axis=1))
        known = np.isfinite(d.low_income).any() and low.sum() > 0
        dissim = 0.5 * np.abs(low / low.sum() - (tot - low) / max((tot - low).sum(), 1e-9)).sum() if known else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.nanmax(np.abs(low / tot - low.sum() / tot.sum())) if known else np.nan
        zone_of_school = np.full(len(d.school_ids), -1)
        for z, s in enumerate(self.zone_schools()):
            zone_of_school[s] = z
        cur = d.current[d.current["grade"].isin(self.grades)]
        units, schools = cur["unit"].to_numpy(int), cur["school"].to_numpy(int)
        moved = (zone_of_school[schools] != self.labels[units]) & (self.labels[units] >= 0)
        expected = self.expected_travel()
        emed, ep90 = _weighted_quantiles(expected, weight, (0.5, 0.9))
        pp = polsby_popper(self.to_geodataframe().geometry) if self.n_zones else np.array([np.nan])
        far = self._nearest(d.distance)
        total = int(g["residents"].sum())
        return {
            "zones": self.n_zones,
            "travel_median": round(emed, 1),
            "travel_p90": round(ep90, 1),
            "travel_nearest_median": round(med, 1),
            "travel_nearest_p90": round(p90, 1),
            "coverage": round(float(g["guaranteed"].sum()) / total, 4) if total else float("nan"),
            "shortfall": int(g["shortfall"].sum()),
            "utilization_in_band": round(float(((util >= band[0]) & (util <= band[1])).mean()), 4) if len(util) else float("nan"),
            "utilization_min": round(float(util.min()), 3) if len(util) else float("nan"),
            "utilization_max": round(float(util.max()), 3) if len(util) else float("nan"),
            "dissimilarity": round(float(dissim), 4),
            "low_income_gap": round(float(gap), 4),
            "polsby_popper_median": round(float(np.nanmedian(pp)), 4),
            "polsby_popper_min": round(float(np.nanmin(pp)), 4),
            "switchers": int(round(float(cur["residents"].to_numpy(float)[moved].sum()))),
            "bus_riders": int(round(float(weight[zoned & ~(far <= walk_m)].sum()))),
            "unzoned": int(round(float(weight[~zoned].sum()))),
        }


def _default_grades(data: ZoneData) -> tuple[int, ...]:
    have = (data.residents.sum(axis=0) >= 1) & (data.seats.sum(axis=0) > 0)
    return tuple(int(g) - 1 for g in np.flatnonzero(have))


def _graph_distances(data: ZoneData, centers: np.ndarray) -> np.ndarray:
    """Shortest-path distance over unit adjacency (edge = centroid distance), from each center."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    xy = _xy(data.geometry)
    a = np.concatenate([np.full(len(nb), i) for i, nb in enumerate(data.neighbors)]).astype(np.int64) if data.n_units else np.zeros(0, np.int64)
    b = np.concatenate(data.neighbors).astype(np.int64) if data.n_units else np.zeros(0, np.int64)
    w = np.maximum(np.hypot(*(xy[a] - xy[b]).T), 1.0)
    graph = sp.csr_matrix((w, (a, b)), shape=(data.n_units, data.n_units))
    return dijkstra(graph, directed=False, indices=centers)


def _prepare(data: ZoneData, grades: Sequence[int] | None) -> tuple[tuple[int, ...], list[str], np.ndarray, np.ndarray]:
    """Grades, issues named, the centers (units holding schools) and graph distances from them."""
    grades = tuple(sorted(set(int(g) for g in (grades if grades is not None else _default_grades(data)))))
    if not grades:
        raise ValueError("no grade has both residents and seats; give grades= or check seats and population")
    issues = []
    for g in grades:
        r, s = data.residents[:, g + 1].sum(), data.seats[:, g + 1].sum()
        if s < r:
            issues.append(f"grade {GRADE_NAMES[g + 1]}: the city has {int(s):,} seats for {int(round(r)):,} residents, "
                          "so no plan can guarantee every resident a seat")  # fmt: skip
    serving = _serving(data, grades)
    centers = np.unique(data.school_unit[serving & (data.school_unit >= 0)])
    if not len(centers):
        raise ValueError("no school serving the grades lies in any unit; check the schools' and units' locations and CRS")
    dist = _graph_distances(data, centers)
    unreachable = np.flatnonzero(~np.isfinite(dist).any(axis=0))
    if len(unreachable):
        names = ", ".join(map(str, data.unit_ids[unreachable][:10]))
        issues.append(f"{len(unreachable)} unit(s) touch no unit with a school and are left out of every zone: {names}")
    return grades, issues, centers, dist


def _serving(data: ZoneData, grades: Sequence[int]) -> np.ndarray:
    """Whether each school has seats in any of the grades."""
    return data.seats[:, np.asarray(grades, dtype=np.int64) + 1].sum(axis=1) > 0


def _voronoi(dist: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Each unit's nearest center (by graph distance) as a center position, -1 when unreachable."""
    best = np.argmin(dist, axis=0)
    return np.where(np.isfinite(dist.min(axis=0)), best, -1)


def _renumber(labels: np.ndarray) -> np.ndarray:
    out = np.full(len(labels), -1, dtype=np.int64)
    ok = labels >= 0
    out[ok] = pd.factorize(labels[ok], sort=True)[0]
    return out


def greedy_zones(
    data: ZoneData,
    *,
    min_schools: int = 2,
    max_schools: int = 8,
    grades: Sequence[int] | None = None,
) -> ZonePlan:
    """A simple region-growing plan (the reference for :func:`design`).

    Every unit joins its nearest unit holding a school (shortest path over unit adjacency), then
    zones short of seats in a grade, or with fewer than ``min_schools`` schools, are merged into
    the adjacent zone that leaves the smallest shortfall (preferring at most ``max_schools``
    schools, then the closest), until no merge helps.
    """
    import time

    t0 = time.perf_counter()
    grades, issues, centers, dist = _prepare(data, grades)
    labels = _voronoi(dist, centers)
    mask = np.zeros(_NG, dtype=bool)
    mask[np.asarray(grades) + 1] = True
    res = data.residents * mask
    located = (data.school_unit >= 0) & _serving(data, grades)
    nschool = np.bincount(data.school_unit[located], minlength=data.n_units)
    seat_unit = np.zeros((data.n_units, _NG))
    np.add.at(seat_unit, data.school_unit[data.school_unit >= 0], data.seats[data.school_unit >= 0] * mask)
    xy = _xy(data.geometry)
    zones = {z: set(np.flatnonzero(labels == z)) for z in np.unique(labels[labels >= 0])}

    def stats(members: set[int]) -> tuple[float, int]:
        idx = list(members)
        return float(np.clip(res[idx].sum(0) - seat_unit[idx].sum(0), 0, None).sum()), int(nschool[idx].sum())

    def centroid(members: set[int]) -> np.ndarray:
        idx = list(members)
        w = res[idx].sum(1) + 1e-9
        return (xy[idx] * w[:, None]).sum(0) / w.sum()

    blocked: set[int] = set()
    while True:
        bad = [(stats(m)[0], -stats(m)[1], z) for z, m in zones.items() if z not in blocked
               and (stats(m)[0] > 0 or stats(m)[1] < min_schools)]  # fmt: skip
        if not bad:
            break
        _, _, z = max(bad)
        members = zones[z]
        adjacent = {labels[k] for i in members for k in data.neighbors[i]} - {z, -1}
        if not adjacent:
            blocked.add(z)
            continue
        here = centroid(members)
        options = []
        for o in adjacent:
            short, n = stats(members | zones[o])
            options.append((short, n > max_schools, float(np.hypot(*(centroid(zones[o]) - here))), o))
        short_now = stats(members)[0]
        best = min(options)
        if best[0] >= short_now and stats(members)[1] >= min_schools:
            blocked.add(z)
            continue
        o = best[3]
        zones[o] |= members
        labels[list(members)] = o
        del zones[z]
    for z in blocked & set(zones):
        short, n = stats(zones[z])
        if short > 0:
            issues.append(f"zone of units {', '.join(map(str, data.unit_ids[sorted(zones[z])][:5]))}: "
                          f"{int(round(short)):,} residents short of seats and no merge helps")  # fmt: skip
    return ZonePlan(data, _renumber(labels), "greedy", "HEURISTIC", tuple(issues), grades, time.perf_counter() - t0)


def design_cpsat(
    data: ZoneData,
    *,
    min_schools: int = 2,
    max_schools: int = 8,
    grades: Sequence[int] | None = None,
    candidates: int = 6,
    time_limit: float = 60.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> ZonePlan:
    """Design contiguous shared zones with CP-SAT (exact model; best on up to a few hundred units).

    Each zone grows around a *center*, a unit holding a school. Unit *i* may join center *c* only
    if one of its neighbours closer to *c* (by shortest path over unit adjacency) joins *c* too,
    which makes every zone contiguous and star-shaped around its center (the "shortest-path
    contiguity" model of Oehrlein and Haunert 2017); each unit considers its ``candidates``
    nearest centers. Subject to that, the model minimizes the residents' travel to their zone's
    center (seconds, or metres without travel), with heavy penalties for residents short of a
    seat in any grade (``seats >= residents``, per zone and grade) and for zones with fewer
    than ``min_schools`` or more than ``max_schools`` schools, so a plan is always returned and
    what could not be met is reported. The nearest-center plan is the solver's starting hint.

    Parameters
    ----------
    data
        The instance.
    min_schools, max_schools
        Schools a zone should hold.
    grades
        Grades whose seats must cover residents (default every grade with residents and seats).
    candidates
        Nearest centers each unit may join.
    time_limit
        Seconds for CP-SAT.
    seed
        CP-SAT's random seed (one worker: the same seed gives the same plan).
    progress
        Called as ``progress(step, 3)`` after building, after solving and when done.

    Returns
    -------
    ZonePlan
        ``method="cp-sat"``; falls back to :func:`greedy_zones` (``status`` says so) when CP-SAT
        finds no plan in time.
    """
    import time

    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    if min_schools < 1 or max_schools < min_schools:
        raise ValueError(f"need 1 <= min_schools <= max_schools, got {min_schools} and {max_schools}")
    grades, issues, centers, dist = _prepare(data, grades)
    n, nc = data.n_units, len(centers)
    reach = np.isfinite(dist)
    rank = np.argsort(np.where(reach, dist, np.inf), axis=0, kind="stable")[:candidates]  # (K, n) center positions
    cand = [[int(c) for c in rank[:, i] if reach[c, i]] for i in range(n)]
    cand_set = [set(c) for c in cand]
    for k, c in enumerate(centers):  # a center always may hold itself
        if k not in cand_set[c]:
            cand[c].append(k)
            cand_set[c].add(k)
    cost_to = np.full((n, nc), np.inf)
    for k, c in enumerate(centers):
        own = np.flatnonzero((data.school_unit == c) & _serving(data, grades))
        cost_to[:, k] = data.travel[:, own].min(axis=1)
    finite = cost_to[np.isfinite(cost_to)]
    scale = max(float(finite.max()) if finite.size else 1.0, 1.0)
    mask = np.zeros(_NG, dtype=bool)
    mask[np.asarray(grades) + 1] = True
    res = np.round(data.residents * mask).astype(np.int64)
    weight = res.sum(axis=1)
    located = (data.school_unit >= 0) & _serving(data, grades)
    nschool = np.bincount(data.school_unit[located], minlength=n)
    seat_unit = np.zeros((n, _NG), dtype=np.int64)
    np.add.at(seat_unit, data.school_unit[data.school_unit >= 0], data.seats[data.school_unit >= 0])
    penalty_seat = int(10 * min(scale, 1e5))  # a resident without a seat costs more than any trip
    penalty_school = penalty_seat * max(int(weight.max()), 1)

    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for i in range(n):
        for k in cand[i]:
            x[i, k] = model.new_bool_var(f"x{i}_{k}")
    for i in range(n):
        if cand[i]:
            model.add_exactly_one(x[i, k] for k in cand[i])
    members: dict[int, list[int]] = {k: [] for k in range(nc)}
    for (i, k) in x:
        members[k].append(i)
    terms = []
    for k, c in enumerate(centers):
        open_k = x[c, k]
        for i in members[k]:
            if i == c:
                continue
            model.add_implication(x[i, k], open_k)
            closer = [x[j, k] for j in data.neighbors[i] if (j, k) in x and dist[k, j] < dist[k, i]]
            if closer:
                model.add_bool_or(closer).only_enforce_if(x[i, k])
            else:
                model.add(x[i, k] == 0)
        for g in np.flatnonzero(mask):
            coef = {i: int(seat_unit[i, g] - res[i, g]) for i in members[k]}
            if all(v >= 0 for v in coef.values()):
                continue
            short = model.new_int_var(0, int(res[members[k], g].sum()), f"short{k}_{g}")
            model.add(sum(v * x[i, k] for i, v in coef.items() if v) + short >= 0)
            terms.append(penalty_seat * short)
        count = sum(int(nschool[i]) * x[i, k] for i in members[k] if nschool[i])
        total_schools = int(nschool[members[k]].sum())
        under = model.new_int_var(0, min_schools, f"under{k}")
        over = model.new_int_var(0, max(total_schools, 0), f"over{k}")
        model.add(count + under >= min_schools * open_k)
        model.add(count - over <= max_schools)
        terms += [penalty_school * under, penalty_school * over]
    unit_scale = 1e4 / scale  # travel costs in 1/10000 of the longest trip
    terms += [int(round(weight[i] * cost_to[i, k] * unit_scale)) * v for (i, k), v in x.items() if np.isfinite(cost_to[i, k])]
    model.minimize(sum(terms))
    hint = _voronoi(dist, centers)
    for (i, k), v in x.items():
        model.add_hint(v, int(hint[i] == k))
    if progress:
        progress(1, 3)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    status = solver.solve(model)
    if progress:
        progress(2, 3)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        logger.info("zone design: CP-SAT found no plan (%s); using the greedy plan", name)
        fallback = greedy_zones(data, min_schools=min_schools, max_schools=max_schools, grades=grades)
        return ZonePlan(data, fallback.labels, "greedy", f"CP-SAT {name}; greedy plan", fallback.issues, grades,
                        time.perf_counter() - t0)  # fmt: skip
    labels = np.full(n, -1, dtype=np.int64)
    for (i, k), v in x.items():
        if solver.boolean_value(v):
            labels[i] = k
    plan = ZonePlan(data, _renumber(labels), "cp-sat", name, tuple(issues), grades, time.perf_counter() - t0)
    g = plan.guarantee()
    for rec in g[g["shortfall"] > 0].itertuples(index=False):
        issues.append(f"{rec.zone} grade {rec.grade_name}: {rec.shortfall:,} residents short of seats")
    for z, s in enumerate(plan.zone_schools()):
        if not min_schools <= len(s) <= max_schools:
            issues.append(f"Z{z + 1}: {len(s)} schools, outside {min_schools}..{max_schools}")
    if progress:
        progress(3, 3)
    return ZonePlan(data, plan.labels, "cp-sat", name, tuple(issues), grades, time.perf_counter() - t0)


def compare_plans(plans: Mapping[str, ZonePlan], **kwargs: object) -> pd.DataFrame:
    """Plans side by side: one column per plan, one row per measure of :meth:`ZonePlan.metrics`."""
    return pd.DataFrame({name: plan.metrics(**kwargs) for name, plan in plans.items()})  # type: ignore[arg-type]


def _contiguous_without(members: set[int], unit: int, neighbors: tuple[np.ndarray, ...]) -> bool:
    """Whether ``members`` minus ``unit`` is still connected (and not empty)."""
    rest = members - {unit}
    if not rest:
        return False
    start = next(iter(rest))
    seen, stack = {start}, [start]
    while stack:
        for k in neighbors[stack.pop()]:
            if k in rest and k not in seen:
                seen.add(k)
                stack.append(int(k))
    return len(seen) == len(rest)


def design(
    data: ZoneData,
    *,
    min_schools: int = 2,
    max_schools: int = 8,
    grades: Sequence[int] | None = None,
    time_limit: float = 60.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> ZonePlan:
    """Design contiguous shared zones with enough seats, short travel and compact shapes.

    Starts from :func:`greedy_zones` (region growing around the units holding schools, then
    merges until each zone has seats for its residents in every grade and ``min_schools``
    schools) and improves it by local search in the manner of AZP (Openshaw 1977): units
    without schools move, one at a time and in a seeded random order, to an adjacent zone when
    the donor zone stays contiguous and the move lowers

        ``penalty * residents short of a seat + sum over units of residents * expected trip``

    where a unit's expected trip is its travel to its zone's schools weighted by their seats in
    the grades (the trip a guaranteed seat implies). Passes repeat until none improves or
    ``time_limit`` runs out. Units holding schools stay put, so zones keep their schools.

    Parameters
    ----------
    data
        The instance.
    min_schools, max_schools
        Schools a zone should hold (merges prefer at most ``max_schools``).
    grades
        Grades whose seats must cover residents (default every grade with residents and seats).
    time_limit
        Seconds for the local search.
    seed
        Orders the moves: the same seed gives the same plan.
    progress
        Called as ``progress(pass, max_passes)`` after each pass.

    Returns
    -------
    ZonePlan
        ``method="local search"``; ``issues`` names the grades and zones still short of seats.
    """
    import time

    t0 = time.perf_counter()
    start = greedy_zones(data, min_schools=min_schools, max_schools=max_schools, grades=grades)
    grades = start.grades
    labels = start.labels.copy()
    nz = start.n_zones
    mask = np.zeros(_NG, dtype=bool)
    mask[np.asarray(grades) + 1] = True
    res = data.residents * mask
    weight = res.sum(axis=1)
    seats_z = start._zone_seats() * mask
    res_z = start._zone_residents() * mask
    seat_w = data.seats[:, mask].sum(axis=1).astype(float)
    w = np.zeros((len(data.school_ids), nz))
    for z, sch in enumerate(start.zone_schools()):
        if seat_w[sch].sum() > 0:
            w[sch, z] = seat_w[sch] / seat_w[sch].sum()
    expected = np.where(np.isfinite(data.travel), data.travel, 0.0) @ w  # (n, zones)
    penalty = 10.0 * max(float(np.nanmax(np.where(np.isfinite(data.travel), data.travel, 0))), 1.0)
    fixed = np.zeros(data.n_units, dtype=bool)
    fixed[data.school_unit[data.school_unit >= 0]] = True
    members = [set(np.flatnonzero(labels == z).tolist()) for z in range(nz)]
    rng = np.random.default_rng(seed)
    max_passes = 50
    for step in range(max_passes):
        moved = 0
        for i in rng.permutation(np.flatnonzero(~fixed & (labels >= 0))):
            a = labels[i]
            targets = {int(labels[k]) for k in data.neighbors[i]} - {a, -1}
            if not targets:
                continue
            short_a = np.clip(res_z[a] - seats_z[a], 0, None).sum()
            short_a2 = np.clip(res_z[a] - res[i] - seats_z[a], 0, None).sum()
            best, gain_best = -1, 1e-9
            for b in sorted(targets):
                short_b = np.clip(res_z[b] - seats_z[b], 0, None).sum()
                short_b2 = np.clip(res_z[b] + res[i] - seats_z[b], 0, None).sum()
                gain = penalty * (short_a + short_b - short_a2 - short_b2) + weight[i] * (expected[i, a] - expected[i, b])
                if gain > gain_best:
                    best, gain_best = b, gain
            if best >= 0 and _contiguous_without(members[a], int(i), data.neighbors):
                members[a].discard(int(i))
                members[best].add(int(i))
                res_z[a] -= res[i]
                res_z[best] += res[i]
                labels[i] = best
                moved += 1
        if progress:
            progress(step + 1, max_passes)
        if not moved or time.perf_counter() - t0 > time_limit:
            break
    plan = ZonePlan(data, labels, "local search", "HEURISTIC", grades=grades)
    issues = [m for m in start.issues if not m.startswith("zone of units")]
    g = plan.guarantee()
    for rec in g[g["shortfall"] > 0].itertuples(index=False):
        issues.append(f"{rec.zone} grade {rec.grade_name}: {rec.shortfall:,} residents short of seats")
    return ZonePlan(data, labels, "local search", "HEURISTIC", tuple(issues), grades, time.perf_counter() - t0)
