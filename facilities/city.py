"""The city model: schools, buildings, students, zones, yards, bus types and charter needs, in one object.

A :class:`City` is immutable and always valid: it is built only through :meth:`City.from_frames`
(or :func:`facilities.read_city`, which reads a city folder and calls it), which parses every layer
to the canonical columns of :mod:`facilities.schema`, checks everything, and projects the layers to
one local metric CRS.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from facilities import _validate as v
from facilities._rows import RowSources
from facilities.population import apportion_missing
from facilities.schema import (
    LAYERS,
    ROOM_TYPES,
    SECTORS,
    Layer,
    format_grades,
    format_time,
    grade_programs,
    parse_program,
)
from facilities.settings import Settings, parse_settings

__all__ = ["City", "NetworkSpec"]

_GEO_LAYERS = tuple(name for name, layer in LAYERS.items() if layer.geometry is not None)
#: How far (metres) a point may lie outside the city's extent before it is reported.
OUTSIDE_MARGIN = 2_000.0


@dataclass(frozen=True)
class NetworkSpec:
    """Where a city's street network comes from: exactly one of a file, a place name or a bounding box.

    Attributes
    ----------
    file
        An osmnx GraphML or OSM XML file (``.osm``, ``.osm.bz2``).
    place
        A place name osmnx can geocode (online users; downloaded once into ``cache_dir``).
    bbox
        ``(west, south, east, north)`` in degrees (online users).
    network_type
        osmnx network type, ``"drive"`` for buses.
    snap_max
        Points farther than this (metres) from a street are reported.
    min_covered
        Fewest share of the schools and of the students within ``snap_max`` of a street (below it,
        the streets do not cover the city: an error); 0.9 unless the city says otherwise.
    cache_dir
        Where downloads are cached.
    """

    file: Path | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    network_type: str = "drive"
    snap_max: float = 250.0
    min_covered: float = 0.9
    cache_dir: Path | None = None


@dataclass(frozen=True)
class City:
    """A validated city, every layer in canonical columns and in the metric CRS :attr:`crs`.

    Build one with :func:`facilities.read_city` or :meth:`from_frames`; derive variants with
    :func:`dataclasses.replace` (a what-if keeps the original intact).

    Attributes
    ----------
    name
        The city's name.
    crs
        The local metric CRS every geometry is in.
    schools, buildings, students, zones, yards
        GeoDataFrames with an ``id`` column and every canonical field of :mod:`facilities.schema`.
    bus_types, needs
        DataFrames (no geometry).
    network
        Where the street network comes from, or ``None`` (network-free travel model).
    settings
        The other tables of ``city.toml``, typed and checked (:class:`facilities.settings.Settings`:
        ``city.settings.transport.max_ride``, ...).
    root
        The city folder, when read from one.
    filtered
        What loading did to rows, by layer: rows the filters left out (``{"schools":
        {"charter-schools.geojson: drop GRADES": 12}}``) and polygons repaired.
    ungraded_students
        Students whose grade is an adult or ungraded program (``'Adult'``, ``'AD'``, ``'UG'``,
        ``'Ungraded'``): kept here, with ``program`` (``"adult"`` or ``"ungraded"``) and an empty
        ``grade``, and left out of :attr:`students`, which every grade-based analysis reads
        (capacity and coverage by grade, the lottery, siting by grade). They ride buses through
        :meth:`transport_students`.
    """

    name: str
    crs: pyproj.CRS
    schools: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    students: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    yards: gpd.GeoDataFrame
    bus_types: pd.DataFrame
    needs: pd.DataFrame
    network: NetworkSpec | None = None
    settings: Settings = field(default_factory=Settings)
    root: Path | None = None
    filtered: dict[str, dict[str, int]] = field(default_factory=dict)
    #: The city's address points (``address_points`` layer), which place students from their addresses.
    address_points: gpd.GeoDataFrame | None = None
    #: How the students' addresses were placed (:class:`facilities.geocode.MatchReport`), or ``None``.
    geocoding: Any = None
    ungraded_students: gpd.GeoDataFrame = field(default_factory=lambda: _no_ungraded(None))

    def __post_init__(self) -> None:
        if not isinstance(self.settings, Settings):  # a dict given to dataclasses.replace is checked too
            object.__setattr__(self, "settings", parse_settings(self.settings or {}))

    @classmethod
    def from_frames(
        cls,
        *,
        name: str = "city",
        crs: str | int | pyproj.CRS = "auto",
        schools: pd.DataFrame,
        buildings: pd.DataFrame | None = None,
        students: pd.DataFrame | None = None,
        zones: pd.DataFrame | None = None,
        yards: pd.DataFrame | None = None,
        bus_types: pd.DataFrame | None = None,
        needs: pd.DataFrame | None = None,
        address_points: pd.DataFrame | None = None,
        network: NetworkSpec | None = None,
        settings: Settings | dict[str, Any] | None = None,
        root: str | os.PathLike[str] | None = None,
        sources: dict[str, str] | None = None,
        rows: dict[str, list[int | None]] | None = None,
        geocoding: Any = None,
    ) -> City:
        """Build a validated city from frames whose columns carry canonical names.

        Values may be raw (``"K-5"``, ``"07:30"``, ``"yes"``) or already canonical. Geometry layers
        must be GeoDataFrames with a CRS.

        Parameters
        ----------
        name
            The city's name, used in messages.
        crs
            The metric CRS to compute in, or ``"auto"`` for the UTM zone of the data.
        schools, buildings, students, zones, yards, bus_types, needs
            The layers; only ``schools`` is required.
        network, root
            See the attributes.
        settings
            The typed settings, or the settings tables of ``city.toml`` as a dict (checked here).
        sources, rows
            The file each layer came from and the row number of each record, for messages.
        address_points, geocoding
            See the attributes.

        Raises
        ------
        ValidationError
            Every problem found, each naming its layer (or file), row and column.
        """
        return _assemble(
            name=name,
            crs=crs,
            network=network,
            settings=settings,
            root=root,
            sources=sources,
            rows=rows,
            frames={
                "schools": schools,
                "buildings": buildings,
                "students": students,
                "zones": zones,
                "yards": yards,
                "bus_types": bus_types,
                "needs": needs,
                "address_points": address_points,
            },
            problems=v.Problems(),
            geocoding=geocoding,
        )

    def to_wgs84(self, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Return ``frame`` in WGS84 (longitude/latitude), as outputs are written."""
        return frame.to_crs(4326)

    def layer(self, name: str) -> pd.DataFrame:
        """Return the layer called ``name`` (``"schools"``, ``"buildings"``, ...)."""
        if name not in LAYERS:
            raise KeyError(f"no layer {name!r}; layers are {', '.join(LAYERS)}")
        return getattr(self, name)

    def replace(self, **changes: Any) -> City:
        """Return a copy with some layers replaced, validated again."""
        frames = {
            k: self.to_wgs84(getattr(self, k)) if k in _GEO_LAYERS else getattr(self, k) for k in LAYERS
        }
        if len(self.ungraded_students) and "students" not in changes:
            ungraded = self.to_wgs84(self.ungraded_students)
            # their programs are read back as their grades
            ungraded = ungraded.assign(grade=ungraded["program"]).drop(columns="program")
            frames["students"] = pd.concat([frames["students"], ungraded], ignore_index=True)
        frames.update(changes)
        city = City.from_frames(
            name=self.name,
            crs=self.crs,
            network=self.network,
            settings=self.settings,
            root=self.root,
            geocoding=self.geocoding,
            **frames,
        )
        return dataclasses.replace(city, filtered=self.filtered)

    def transport_students(self, *, walk_beyond: Mapping[int, float] | None = None) -> gpd.GeoDataFrame:
        """Every student who may ride a bus: :attr:`students` and the ungraded and adult students.

        Walk eligibility is decided by grade, and an ungraded student has none; yet an ungraded
        special-education student who rides must still get a bus. Each ungraded or adult student is
        therefore given, in ``grade``, the grade whose walk rule decides their ride:

        - with ``walk_beyond`` (the city's walking distance by grade): the grade of their school's
          strictest rule (the shortest distance among the grades it serves); where the school has no
          grades, or none with a rule, the grade of the city's strictest rule;
        - without it: the youngest grade their school serves (in district policies the youngest
          children walk the least), or PK where the school has no grades.

        Door-to-door and wheelchair students ride whatever their grade. ``program`` marks the
        ungraded and adult students (empty for the others), so a table by grade can leave them out.

        Parameters
        ----------
        walk_beyond
            Metres beyond which a student of each grade rides (grades with a transit pass left out).

        Returns
        -------
        geopandas.GeoDataFrame
            The students' canonical columns plus ``program``; ``grade`` is always filled.
        """
        graded = self.students.assign(program=None)
        ungraded = self.ungraded_students
        if not len(ungraded):
            return graded
        rules = dict(walk_beyond or {})
        strictest = min(rules, key=lambda g: (rules[g], g)) if rules else -1
        walk_grade: dict[object, int] = {}
        for sid, grades in zip(self.schools["id"], self.schools["grades"], strict=True):
            served = [g for g in (grades or ()) if g in rules] if rules else list(grades or ())
            walk_grade[sid] = min(served, key=lambda g: (rules.get(g, 0.0), g)) if served else strictest
        grade = pd.Series(
            [walk_grade.get(sid, strictest) for sid in ungraded["school"]], index=ungraded.index, dtype=object
        )
        out = pd.concat([graded, ungraded.assign(grade=grade)], ignore_index=True)
        return gpd.GeoDataFrame(out, geometry="geometry", crs=self.crs)

    def summary(self) -> str:
        """A few lines describing the city, as ``compact validate`` prints them."""
        s = self.schools
        lines = [f"{self.name}: valid city ({self.crs.name})"]
        by_sector = ", ".join(
            f"{(s['sector'] == sec).sum()} {sec}" for sec in SECTORS if (s["sector"] == sec).any()
        )
        lines.append(f"  schools      {len(s):>7,}  ({by_sector})")
        ungraded = s["grades"].map(lambda g: isinstance(g, tuple) and not g)
        if ungraded.any():
            programs = sorted({p for ps in s.loc[ungraded, "programs"] for p in (ps or ())})
            lines.append(
                f"               {int(ungraded.sum()):>7,}  of them {' or '.join(programs) or 'ungraded'} "
                "only: kept, left out of grade-based analyses"
            )
        tiers = sorted({format_time(t) for t in s["bell_start"].dropna()})
        if tiers:
            lines.append(
                f"  bell times   {len(tiers):>7,}  distinct starts "
                f"({', '.join(tiers[:8])}{', ...' if len(tiers) > 8 else ''})"
            )
        b = self.buildings
        if len(b):
            by_status = ", ".join(f"{n} {st}" for st, n in b["status"].value_counts().sort_index().items())
            counted = int((b[[f"rooms_{t}" for t in ROOM_TYPES]].sum(axis=1) > 0).sum())
            rooms = f"{int(b['rooms_classroom'].sum()):,} classrooms" + (
                f" in the {counted:,} whose rooms are counted" if counted < len(b) else ""
            )
            lines.append(
                f"  buildings    {len(b):>7,}  ({by_status}; {rooms if counted else 'rooms not counted'})"
            )
        st = self.students
        if len(st):
            services = ", ".join(f"{n:,} {sv}" for sv, n in st["service"].value_counts().sort_index().items())
            grades = format_grades(tuple(st["grade"].unique()))
            lines.append(f"  students     {len(st):>7,}  (grades {grades}; {services})")
        if self.geocoding is not None:
            lines.append(f"  addresses    {self.geocoding.summary_line()}")
        if self.address_points is not None and len(self.address_points):
            lines.append(f"  address points {len(self.address_points):>5,}")
        if len(ug := self.ungraded_students):
            by_program = ", ".join(f"{n:,} {p}" for p, n in ug["program"].value_counts().sort_index().items())
            label = "               " if len(st) else "  students     "
            lines.append(
                f"{label}{len(ug):>7,}  students ungraded or adult ({by_program}): kept, "
                "left out of grade-based analyses"
            )
        if len(self.zones):
            kinds = ", ".join(
                _kind_words(self.zones, k, n)
                for k, n in self.zones["kind"].value_counts().sort_index().items()
            )
            lines.append(f"  zones        {len(self.zones):>7,}  ({kinds})")
            feeds = self.zones["school"].dropna()
            orphans = feeds[~feeds.isin(set(self.schools["id"]))]
            if len(orphans):
                named = ", ".join(self.zones.loc[orphans.index, "id"].astype(str)[:5])
                lines.append(
                    f"               {len(orphans):>7,}  of them feed a school not in the schools layer "
                    f"({named})"
                )
        if len(self.yards):
            lines.append(f"  bus yards    {len(self.yards):>7,}  ({int(self.yards['buses'].sum()):,} buses)")
        if len(self.bus_types):
            lines.append(
                f"  bus types    {len(self.bus_types):>7,}  "
                f"({', '.join(f'{r.id} {r.seats} seats' for r in self.bus_types.itertuples())})"
            )
        if len(self.needs):
            lines.append(f"  space needs  {len(self.needs):>7,}  ({int(self.needs['seats'].sum()):,} seats)")
        for layer_name, counts in self.filtered.items():
            detail = "; ".join(f"{why} {n:,}" for why, n in counts.items())
            lines.append(f"  filters      {layer_name}: {detail}")
        if self.network is not None:
            where = (
                self.network.file.name
                if self.network.file
                else (self.network.place or f"bbox {self.network.bbox}")
            )
            lines.append(f"  streets      {where} ({self.network.network_type})")
        else:
            lines.append("  streets      none: travel times use the network-free model")
        return "\n".join(lines)


def _kind_words(zones: pd.DataFrame, kind: str, n: int) -> str:
    """``'104 attendance (74 elementary, 21 middle, 9 high)'``: a zone kind's count, by level when given."""
    levels = zones.loc[zones["kind"] == kind, "level"].dropna().value_counts()
    by_level = f" ({', '.join(f'{m} {level}' for level, m in levels.items())})" if len(levels) else ""
    return f"{n} {kind}{by_level}"


def _assemble(
    *,
    name: str,
    crs: str | int | pyproj.CRS,
    frames: dict[str, pd.DataFrame | None],
    network: NetworkSpec | None,
    settings: Settings | dict[str, Any] | None,
    root: str | os.PathLike[str] | None,
    sources: dict[str, str] | None,
    rows: dict[str, list[int | None]] | None,
    problems: v.Problems,
    geocoding: Any = None,
) -> City:
    """Clean and check every layer, adding to ``problems`` (which may hold the loader's), then raise or
    build."""
    sources = dict(sources or {})
    rows = dict(rows or {})
    if not isinstance(settings, Settings):
        settings = parse_settings(settings or {}, problems=problems)
    target = _choose_crs(crs, frames, problems)
    layers: dict[str, pd.DataFrame] = {}
    user_columns: dict[str, dict[str, str]] = {}
    for layer_name, layer in LAYERS.items():
        frame = frames.get(layer_name)
        if frame is None:
            layers[layer_name] = _empty(layer, target)
            continue
        user_columns[layer_name] = dict(frame.attrs.get("columns", {}))
        layer_rows = rows.get(layer_name) or list(range(1, len(frame) + 1))
        layers[layer_name] = _clean(
            frame,
            layer,
            target,
            source=sources.get(layer_name, layer_name),
            rows=layer_rows,
            problems=problems,
        )
    _check_city(layers, sources, rows, user_columns, problems)
    problems.raise_if_any(city=name)
    _add_neighborhoods(layers)
    layers["zones"] = apportion_missing(layers["zones"])
    for layer_name, frame in layers.items():  # messages name the user's file and row, not a position
        kept = getattr(frames.get(layer_name), "attrs", {}).get("rows")
        if layer_name in frames and "id" in frame and layer_name in rows:
            ids = frame["id"].astype(str).tolist()
            given = {i: r for i, r in zip(ids, rows[layer_name], strict=False) if r is not None}
            frame.attrs["rows"] = RowSources(sources.get(layer_name, layer_name), given)
        elif isinstance(kept, RowSources):  # a layer of a city read from files, given again (City.replace)
            frame.attrs["rows"] = kept
    students = layers["students"]
    has_program = "program" in students
    ungraded = students["program"].notna().to_numpy() if has_program else np.zeros(len(students), bool)
    layers["students"] = students[~ungraded].drop(columns="program", errors="ignore").reset_index(drop=True)
    kept = students[ungraded].reset_index(drop=True)
    filtered = {
        layer_name: {
            f"{src}: {why}": n
            for src, counts in frame.attrs.get("dropped", {}).items()
            for why, n in counts.items()
        }
        for layer_name, frame in frames.items()
        if frame is not None and frame.attrs.get("dropped")
    }
    return City(
        name=name,
        crs=target,
        network=network,
        settings=settings,
        root=Path(root) if root is not None else None,
        filtered=filtered,
        geocoding=geocoding,
        ungraded_students=kept if ungraded.any() else _no_ungraded(target),
        **layers,
    )


def _no_ungraded(crs: pyproj.CRS | None) -> gpd.GeoDataFrame:
    """An empty :attr:`City.ungraded_students`: the students' columns plus ``program``."""
    frame = _empty(LAYERS["students"], crs)
    frame["program"] = pd.Series(dtype=object)
    return frame


def _empty(layer: Layer, crs: pyproj.CRS | None) -> pd.DataFrame:
    columns = [f.name for f in layer.fields] + [f"rooms_{t}" for t in ROOM_TYPES if "rooms" in layer.groups]
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    for room in (c for c in columns if c.startswith("rooms_")):
        frame[room] = frame[room].astype(int)
    if layer.geometry is None:
        return frame
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _choose_crs(
    crs: str | int | pyproj.CRS, given: dict[str, pd.DataFrame | None], problems: v.Problems
) -> pyproj.CRS:
    """The metric CRS: as given, or the UTM zone of the data's centre."""
    if not (isinstance(crs, str) and crs.lower() == "auto"):
        try:
            chosen = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError:
            problems.add(
                "city.toml",
                None,
                "city.crs",
                f"unknown CRS {crs!r}",
                'write e.g. crs = "EPSG:32619", or crs = "auto"',
            )
            return pyproj.CRS.from_epsg(3857)
        if not chosen.is_projected:
            problems.add(
                "city.toml",
                None,
                "city.crs",
                f"{chosen.name} is not a metric (projected) CRS",
                'use crs = "auto" (UTM from the data) or a projected EPSG code',
            )
        return chosen
    points = []
    for name in _GEO_LAYERS:
        frame = given.get(name)
        if isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None and len(frame):
            geoms = frame.geometry[~(frame.geometry.isna() | frame.geometry.is_empty)]
            if len(geoms):
                try:
                    with np.errstate(invalid="ignore"):  # unparseable coordinates are NaN; reported per layer
                        points.append(geoms.to_crs(4326).representative_point())
                except Exception:  # noqa: BLE001 - unprojectable coordinates are reported per layer
                    continue
    if not points:
        return pyproj.CRS.from_epsg(3857)
    allpts = pd.concat(points)
    lon, lat = allpts.x.to_numpy(), allpts.y.to_numpy()
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 84)
    if not ok.any():
        return pyproj.CRS.from_epsg(3857)
    return utm_crs(float(np.median(lon[ok])), float(np.median(lat[ok])))


def utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The WGS84 UTM zone CRS holding ``(lon, lat)`` (the regular 6-degree zones)."""
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _clean(
    frame: pd.DataFrame,
    layer: Layer,
    crs: pyproj.CRS,
    *,
    source: str,
    rows: list[int | None],
    problems: v.Problems,
) -> pd.DataFrame:
    """Parse one layer's columns to canonical kinds, check its geometry, project it."""
    user_columns: dict[str, str] = dict(frame.attrs.get("columns", {}))
    units: dict[str, float | None] = dict(frame.attrs.get("units", {}))
    frame = frame.reset_index(drop=True)
    if len(rows) != len(frame):
        rows = list(range(1, len(frame) + 1))
    out = pd.DataFrame(index=frame.index)
    for f in layer.fields:
        if layer.name == "students" and f.name == "grade" and "grade" in frame.columns:
            column = user_columns.get("grade", "grade")
            out["grade"], out["program"] = _student_grades(
                frame["grade"], f, source=source, column=column, rows=rows, problems=problems
            )
        elif f.name in frame.columns:
            out[f.name] = v.parse_column(
                frame[f.name],
                f,
                source=source,
                column=user_columns.get(f.name, f.name),
                rows=rows,
                problems=problems,
                scale=units.get(f.name) or 1.0,
            )
        elif f.required and not (layer.name == "students" and f.name == "id"):
            problems.add(
                source,
                None,
                f.name,
                f"required column for {f.name} ({f.help}) is missing",
                f"add it, or map it in city.toml [layers.{layer.name}.columns]",
            )
            out[f.name] = pd.Series([None] * len(frame), dtype=object)
        else:
            out[f.name] = v.parse_column(
                pd.Series([None] * len(frame), dtype=object),
                f,
                source=source,
                column=f.name,
                rows=rows,
                problems=problems,
            )
    if layer.name == "schools" and "programs" not in frame.columns and "grades" in frame.columns:
        out["programs"] = frame["grades"].map(grade_programs)
    if out["id"].isna().all() and layer.name == "students":
        out["id"] = [f"student-{r}" for r in rows]
    for group in layer.groups:
        _clean_group(
            frame, out, group, source=source, rows=rows, user_columns=user_columns, problems=problems
        )
    v.check_unique_ids(
        out["id"], source=source, column=user_columns.get("id", "id"), rows=rows, problems=problems
    )
    if layer.name == "schools" and "bell_start" in out:
        v.check_bell_times(
            out,
            source=source,
            rows=rows,
            columns=(user_columns.get("bell_start", "bell_start"), user_columns.get("bell_end", "bell_end")),
            problems=problems,
        )
    if layer.geometry is None:
        return out
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        problems.add(
            source,
            None,
            "geometry",
            f"the {layer.name} layer has no locations",
            "give coordinates (x/y columns) or a geometry",
        )
        return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries([None] * len(out), crs=crs), crs=crs)
    geometry = _check_geometry(frame.geometry, layer, source=source, rows=rows, problems=problems)
    try:
        projected = geometry.to_crs(crs)
    except Exception as err:  # noqa: BLE001 - any projection failure is reported, not raised
        problems.add(
            source,
            None,
            "geometry",
            f"cannot be projected: {err}",
            'check the layer\'s CRS (crs = "EPSG:4326" for longitude/latitude)',
        )
        projected = gpd.GeoSeries([None] * len(out), crs=crs)
    return gpd.GeoDataFrame(out, geometry=projected.values, crs=crs)


def _student_grades(
    values: pd.Series,
    spec: v.Field,
    *,
    source: str,
    column: str,
    rows: list[int | None],
    problems: v.Problems,
) -> tuple[pd.Series, pd.Series]:
    """Students' grades, and the program of those whose grade value names one (adult, ungraded).

    A program row's grade is left empty (not a problem); every other row is parsed as a grade.
    """
    programs = values.map(parse_program)
    graded = programs.isna().to_numpy()
    graded_rows = [r for r, g in zip(rows, graded, strict=True) if g]
    parsed = v.parse_column(
        values[graded], spec, source=source, column=column, rows=graded_rows, problems=problems
    )
    return parsed.reindex(values.index).astype(object), programs.astype(object)


def _clean_group(
    frame: pd.DataFrame,
    out: pd.DataFrame,
    group: str,
    *,
    source: str,
    rows: list[int | None],
    user_columns: dict[str, str],
    problems: v.Problems,
) -> None:
    # rooms are whole; population may be an estimate with decimals (ACS tables, apportioned counts)
    rooms = group == "rooms"
    count = v.Field(group, "int" if rooms else "float", minimum=0, default=0 if rooms else None)
    keys = [c for c in frame.columns if c.startswith(f"{group}_")]
    if group == "rooms":
        for key in keys:
            if key[len("rooms_") :] not in ROOM_TYPES:
                problems.add(
                    source,
                    None,
                    user_columns.get(key, key),
                    f"unknown room type {key[6:]!r}",
                    f"use {', '.join(ROOM_TYPES)}",
                )
        keys = [f"rooms_{t}" for t in ROOM_TYPES]
    for key in keys:
        if key not in frame.columns:
            out[key] = 0
            continue
        parsed = v.parse_column(
            frame[key], count, source=source, column=user_columns.get(key, key), rows=rows, problems=problems
        )
        # a room not counted is none; a population not counted is unknown (apportioned from census units)
        out[key] = parsed.fillna(0).astype(int) if group == "rooms" else parsed.astype(float)


def _check_geometry(
    geoms: gpd.GeoSeries, layer: Layer, *, source: str, rows: list[int | None], problems: v.Problems
) -> gpd.GeoSeries:
    """Report missing, empty, invalid or wrongly typed geometries; points layers accept polygons'
    representative points."""
    if geoms.crs is None:
        problems.add(
            source,
            None,
            "geometry",
            "the layer has no CRS",
            'set crs = "EPSG:4326" (or the file\'s CRS) in its [layers.<layer>] table',
        )
        return geoms
    fixed = list(geoms.values)
    geographic = geoms.crs.is_geographic
    for i, (geom, row) in enumerate(zip(geoms.values, rows, strict=True)):
        if geom is None or geom.is_empty:
            problems.add(source, row, "geometry", "location is empty", "give the row a location")
            fixed[i] = None
            continue
        kind = geom.geom_type
        if kind == "Point" and not np.isfinite(geom.coords[0]).all():  # blank coordinates: reported when read
            fixed[i] = None
            continue
        if layer.geometry == "point" and kind != "Point":
            if kind in ("Polygon", "MultiPolygon"):
                fixed[i] = geom.representative_point()
            else:
                problems.add(
                    source,
                    row,
                    "geometry",
                    f"a {kind} where a point is expected",
                    "give a point (or a building footprint polygon)",
                )
                fixed[i] = None
                continue
        elif layer.geometry == "polygon" and kind not in ("Polygon", "MultiPolygon"):
            problems.add(
                source,
                row,
                "geometry",
                f"a {kind} where a polygon is expected",
                "give the zone's boundary as a polygon",
            )
            fixed[i] = None
            continue
        elif not geom.is_valid:
            problems.add(
                source,
                row,
                "geometry",
                f"invalid polygon ({shapely.is_valid_reason(geom)})",
                "repair it (e.g. QGIS 'Fix geometries' or shapely.make_valid)",
            )
            fixed[i] = None
            continue
        if geographic:
            minx, miny, maxx, maxy = fixed[i].bounds
            if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
                problems.add(
                    source,
                    row,
                    "geometry",
                    f"({minx:.6g}, {miny:.6g}) is not a longitude/latitude",
                    "set the layer's crs in city.toml to the coordinates' CRS, or swap x and y",
                )
                fixed[i] = None
    return gpd.GeoSeries(fixed, index=geoms.index, crs=geoms.crs)


def _check_city(
    layers: dict[str, pd.DataFrame],
    sources: dict[str, str],
    rows: dict[str, list[int | None]],
    user_columns: dict[str, dict[str, str]],
    problems: v.Problems,
) -> None:
    """Cross-layer checks: references resolve, points lie within the city."""
    for layer_name, layer in LAYERS.items():
        frame = layers[layer_name]
        layer_rows = rows.get(layer_name) or list(range(1, len(frame) + 1))
        for f in layer.fields:
            if f.ref is None or f.name not in frame or not len(frame):
                continue
            ref_layer, ref_field = f.ref.split(".")
            known = set(layers[ref_layer][ref_field].dropna())
            if not known and ref_layer != "schools" and f.required is False:
                continue
            for value, row in zip(frame[f.name].tolist(), layer_rows, strict=False):
                if not v.is_missing(value) and value not in known:
                    column = user_columns.get(layer_name, {}).get(f.name, f.name)
                    problems.add(
                        sources.get(layer_name, layer_name),
                        row,
                        column,
                        f"{f.name} {value!r} is not in {ref_layer}",
                        f"use an id from the {ref_layer} layer's {ref_field} column",
                    )
    extent = _extent(layers)
    if extent is None:
        return
    for layer_name in ("schools", "buildings", "students", "yards"):
        frame = layers[layer_name]
        if not len(frame) or not isinstance(frame, gpd.GeoDataFrame):
            continue
        outside = ~frame.geometry.isna() & ~frame.geometry.within(extent)
        layer_rows = rows.get(layer_name) or list(range(1, len(frame) + 1))
        for i in np.flatnonzero(outside.to_numpy()):
            problems.add(
                sources.get(layer_name, layer_name),
                layer_rows[i],
                "geometry",
                f"location is more than {OUTSIDE_MARGIN / 1000:g} km outside the city",
                "check the coordinates (swapped x/y? wrong CRS?)",
            )


def _extent(layers: dict[str, pd.DataFrame]) -> shapely.Geometry | None:
    """The city's extent: its zones, or else its schools' hull, with a margin."""
    zones = layers["zones"]
    if len(zones) and zones.geometry.notna().any():
        return shapely.union_all(zones.geometry.dropna().values).buffer(OUTSIDE_MARGIN)
    schools = layers["schools"]
    if len(schools) >= 3 and schools.geometry.notna().sum() >= 3:
        return shapely.convex_hull(shapely.union_all(schools.geometry.dropna().values)).buffer(
            5 * OUTSIDE_MARGIN
        )
    return None


def _add_neighborhoods(layers: dict[str, pd.DataFrame]) -> None:
    """Fill ``neighborhood`` of point layers from zones of kind ``neighborhood`` where not given."""
    zones = layers["zones"]
    hoods = zones[zones["kind"] == "neighborhood"] if len(zones) else zones
    if not len(hoods):
        return
    labels = hoods["name"].where(hoods["name"].notna(), hoods["id"])
    for layer_name in ("schools", "buildings", "students"):
        frame = layers[layer_name]
        if not len(frame) or "neighborhood" not in frame:
            continue
        missing = frame["neighborhood"].isna().to_numpy()
        if not missing.any():
            continue
        idx_pts, idx_zone = hoods.sindex.query(frame.geometry[missing].values, predicate="within")
        names = np.full(missing.sum(), None, dtype=object)
        names[idx_pts] = labels.to_numpy()[idx_zone]
        column = frame["neighborhood"].astype(object).to_numpy(copy=True)
        column[missing] = names
        frame["neighborhood"] = column
