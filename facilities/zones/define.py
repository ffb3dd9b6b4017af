"""Zone definitions: zones read from files, shared zones built from units, the city's configured zones."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facilities._rows import RowSources, source_row
from facilities._validate import Problems, parse_list
from facilities.schema import is_missing, parse_grades
from facilities.zones.measure import fail

if TYPE_CHECKING:
    from facilities.city import City

__all__ = [
    "read_zones",
    "shared_zone",
    "schools_in_units",
    "configured_zones",
    "configured_grades",
    "zone_grades",
    "zone_school_sets",
    "level_grades",
]


def _check_polygons(zones: gpd.GeoDataFrame, *, source: str, problems: Problems) -> None:
    """Every zone a valid polygon; each bad one named by its file and row (:func:`source_row`)."""
    for position, geom in enumerate(zones.geometry.values):
        if geom is not None and not geom.is_empty and geom.geom_type in ("Polygon", "MultiPolygon"):
            if geom.is_valid:
                continue
            message, fix = (
                f"invalid polygon ({shapely.is_valid_reason(geom)})",
                "repair it (e.g. QGIS 'Fix geometries' or shapely.make_valid)",
            )
        elif geom is None or geom.is_empty:
            message, fix = "zone has no geometry", "give the zone's boundary polygon"
        else:
            message = f"a {geom.geom_type} where a zone polygon is expected"
            fix = "give the zone's boundary as a Polygon or MultiPolygon"
        problems.add(*source_row(zones, position, source=source), "geometry", message, fix)


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
    if not path.is_file():
        fail(
            str(path),
            None,
            None,
            "file not found",
            "give a zones file (GeoJSON, GeoPackage, shapefile)",
            city=path.name,
        )
    frame = gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)
    problems = Problems()
    for column in (id, name, schools):
        if column is not None and column not in frame.columns:
            problems.add(
                path.name,
                None,
                column,
                "column is missing",
                f"use one of {', '.join(map(str, frame.columns))}",
            )
    if frame.crs is None:
        problems.add(
            path.name, None, "geometry", "the file has no CRS", "save it with its CRS (e.g. EPSG:4326)"
        )
    problems.raise_if_any(city=path.name)
    if repair:
        frame = frame.set_geometry(_make_valid(frame.geometry))
    _check_polygons(frame, source=path.name, problems=problems)
    ids = frame[id].astype(str).str.strip()
    for row in np.flatnonzero(ids.duplicated().to_numpy()):
        problems.add(
            path.name, int(row) + 1, id, f"zone id {ids.iloc[row]!r} repeats", "give every zone its own id"
        )
    problems.raise_if_any(city=path.name)
    out = gpd.GeoDataFrame(
        {"id": ids, "name": frame[name or id].astype(str), "kind": kind},
        geometry=frame.geometry.values,
        crs=frame.crs,
    ).to_crs(crs)
    if schools is not None:
        out["schools"] = [() if is_missing(v) else parse_list(str(v)) for v in frame[schools]]
    out.attrs["rows"] = RowSources(path.name, {i: k for k, i in enumerate(ids, start=1)})
    return out


def _make_valid(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Valid polygons: invalid ones repaired, keeping only their polygonal parts."""
    fixed = []
    for geom in geoms.values:
        if geom is not None and geom.geom_type in ("Polygon", "MultiPolygon") and not geom.is_valid:
            parts = [
                p
                for p in shapely.get_parts(shapely.make_valid(geom))
                if p.geom_type in ("Polygon", "MultiPolygon")
            ]
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
            problems.add(
                what,
                k + 1,
                "unit",
                f"unknown unit {n!r}",
                f"use a zone id or name, e.g. {', '.join(ids[:5])}",
            )
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


def _need_zones(city: City, why: str) -> None:
    """A ValidationError naming the zones layer when the city has none."""
    if len(city.zones):
        return
    fail(
        "zones",
        None,
        None,
        f"{why}, but {city.name} has no zones layer",
        "add [layers.zones] (neighborhoods, census units, wards or attendance zones) to city.toml",
        city=city.name,
    )


def configured_zones(city: City) -> gpd.GeoDataFrame | None:
    """The shared zones listed in the city's ``city.toml`` (``[[enrollment.shared_zones]]`` tables
    with ``id``, ``units``, optional ``name``, ``schools`` and ``grades``), or ``None``."""
    table = city.settings.enrollment.shared_zones
    if not table:
        return None
    _need_zones(city, "city.toml [[enrollment.shared_zones]] builds shared zones from units")
    frames = [shared_zone(city, units=z.units, schools=z.schools, id=z.id, name=z.name) for z in table]
    return pd.concat(frames, ignore_index=True)


def configured_grades(city: City) -> tuple[int, ...] | None:
    """The grades the city's configured shared zones guarantee (their ``grades`` keys), or ``None``
    for all."""
    listed = [z.grades for z in city.settings.enrollment.shared_zones if z.grades is not None]
    return tuple(sorted({g for grades in listed for g in grades})) if listed else None


def shared_zone(
    city: City,
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
        fail(
            f"shared zone {id!r}",
            None,
            "units",
            "no units given",
            "give at least one unit (a zone id or name), e.g. --units 'Bayview,Westgate'",
            city=f"shared zone {id!r}",
        )
    _need_zones(city, f"shared zone {id!r} is built from units")
    zones = city.zones
    pos = _unit_index(zones, units, what=f"shared zone {id!r} units")
    picked = zones.iloc[pos]
    geom = shapely.union_all(picked.geometry.values)
    if schools is None:
        school_ids = schools_in_units(city, units)
    else:
        _school_index(city.schools, schools, what=f"shared zone {id!r} schools")
        school_ids = tuple(str(s) for s in schools)
    row = {
        "id": id,
        "name": name or id,
        "kind": "shared",
        "units": tuple(picked["id"].astype(str)),
        "schools": school_ids,
    }
    for column in zones.columns:
        if column.startswith("population_"):
            row[column] = pd.to_numeric(picked[column], errors="coerce").sum()
    return gpd.GeoDataFrame([row], geometry=[geom], crs=zones.crs)


def _listed(value: object) -> tuple[str, ...] | None:
    """School ids listed in a zone's ``schools``/``school`` cell (``None`` when the cell is empty)."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return tuple(str(v) for v in value)
    if value is None or is_missing(value):
        return None
    return tuple(parse_list(str(value)))


def zone_school_sets(
    zones: pd.DataFrame, schools: gpd.GeoDataFrame, *, inside: bool = True
) -> list[np.ndarray]:
    """Each zone's school positions: the ids in its ``schools`` (or ``school``, the school an
    attendance zone feeds) column when given, else the schools inside it (``inside=True``) or none.

    Raises
    ------
    ValidationError
        Naming every zone that lists a school not in the schools layer.
    """
    column = "schools" if "schools" in zones.columns else "school" if "school" in zones.columns else None
    if inside and len(zones) and len(schools):
        inside_pts, inside_z = gpd.GeoSeries(zones.geometry.values, crs=zones.crs).sindex.query(
            schools.geometry.values, predicate="within"
        )
    else:
        inside_pts, inside_z = np.zeros(0, np.int64), np.zeros(0, np.int64)
    out = []
    problems = Problems()
    index = {str(s): i for i, s in enumerate(schools["id"])}
    for z in range(len(zones)):
        ids = _listed(zones[column].iloc[z]) if column else None
        if ids is None:
            out.append(np.sort(inside_pts[inside_z == z]))
            continue
        for s in ids:
            if s not in index:
                problems.add(
                    *source_row(zones, z, source="zones"),
                    column,
                    f"zone {zones['id'].iloc[z]!r} lists unknown school {s!r}",
                    "use ids of the schools layer",
                )
        out.append(np.asarray([index[s] for s in ids if s in index], dtype=np.int64))
    problems.raise_if_any(city="the zones")
    return out


def level_grades(level: object) -> tuple[int, ...] | None:
    """The grades of a zone's ``level``: elementary PK-5, middle 6-8, high 9-12, or grades as written
    (``'K-5'``); ``None`` when unknown."""
    if level is None or is_missing(level):
        return None
    text = str(level).strip().lower()
    for word, grades in (
        ("elem", range(-1, 6)),
        ("primary", range(-1, 6)),
        ("middle", range(6, 9)),
        ("junior", range(6, 9)),
        ("high", range(9, 13)),
        ("secondary", range(9, 13)),
    ):
        if word in text:
            return tuple(grades)
    try:
        return tuple(parse_grades(str(level)))
    except ValueError:
        return None


def zone_grades(zones: pd.DataFrame, schools: gpd.GeoDataFrame) -> np.ndarray:
    """``(len(zones), 14)`` whether each zone serves each grade (column ``grade + 1``).

    From the zone's ``level`` (elementary, middle, high or grades), else, for an attendance zone
    naming the school it feeds, the grades its schools serve; else every grade (a shared zone
    guarantees every grade, whatever its schools serve).
    """
    out = np.ones((len(zones), 14), dtype=bool)
    named = "schools" in zones.columns or "school" in zones.columns
    sets = zone_school_sets(zones, schools, inside=False) if named else [np.zeros(0, np.int64)] * len(zones)
    levels = zones["level"].tolist() if "level" in zones.columns else [None] * len(zones)
    kinds = zones["kind"].astype(str).tolist() if "kind" in zones.columns else [""] * len(zones)
    for z, (level, members, kind) in enumerate(zip(levels, sets, kinds, strict=True)):
        grades = level_grades(level)
        if grades is None and len(members) and kind == "attendance":
            grades = tuple(
                {
                    int(g)
                    for gs in schools["grades"].iloc[members]
                    if isinstance(gs, (tuple, list))
                    for g in gs
                    if -1 <= int(g) <= 12
                }
            )
        if grades:
            out[z] = False
            out[z, np.asarray(grades, dtype=np.int64) + 1] = True
    return out


def schools_in_units(city: City, units: Sequence[str]) -> tuple[str, ...]:
    """Ids of every school located in the named units (zone ids or names), in the schools' order.

    This is what a shared zone built from these units holds by default (:func:`shared_zone`);
    a school on a boundary between units counts once.
    """
    _need_zones(city, "a shared zone is built from units")
    zones = city.zones
    pos = _unit_index(zones, units, what="units")
    schools = city.schools
    if not len(schools):
        return ()
    hit, _ = gpd.GeoSeries(zones.geometry.values[pos], crs=zones.crs).sindex.query(
        schools.geometry.values, predicate="intersects"
    )
    return tuple(schools["id"].iloc[np.unique(hit)].astype(str))
