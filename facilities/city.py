"""The city model: schools, buildings, students, zones, yards, bus types and charter needs, in one object.

A :class:`City` is immutable and always valid: it is built only through :meth:`City.from_frames`
(or :func:`facilities.read_city`, which reads a city folder and calls it), which parses every layer
to the canonical columns of :mod:`facilities.schema`, checks everything, and projects the layers to
one local metric CRS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from facilities import _validate as v
from facilities.schema import LAYERS, ROOM_TYPES, SECTORS, Layer, format_grades, format_time

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
    cache_dir
        Where downloads are cached.
    """

    file: Path | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    network_type: str = "drive"
    snap_max: float = 250.0
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
        The other tables of ``city.toml`` (``transport``, ``capacity``, ``lottery``, ...).
    root
        The city folder, when read from one.
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
    settings: dict[str, Any] = field(default_factory=dict)
    root: Path | None = None

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
        network: NetworkSpec | None = None,
        settings: dict[str, Any] | None = None,
        root: str | os.PathLike[str] | None = None,
        sources: dict[str, str] | None = None,
        rows: dict[str, list[int | None]] | None = None,
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
        network, settings, root
            See the attributes.
        sources, rows
            The file each layer came from and the row number of each record, for messages.

        Raises
        ------
        ValidationError
            Every problem found, each naming its layer (or file), row and column.
        """
        return _assemble(
            name=name, crs=crs, network=network, settings=settings, root=root, sources=sources, rows=rows,
            frames={
                "schools": schools, "buildings": buildings, "students": students, "zones": zones,
                "yards": yards, "bus_types": bus_types, "needs": needs,
            },
            problems=v.Problems(),
        )  # fmt: skip

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
        frames = {k: self.to_wgs84(getattr(self, k)) if k in _GEO_LAYERS else getattr(self, k) for k in LAYERS}
        frames.update(changes)
        return City.from_frames(name=self.name, crs=self.crs, network=self.network, settings=self.settings, root=self.root, **frames)

    def summary(self) -> str:
        """A few lines describing the city, as ``compact validate`` prints them."""
        s = self.schools
        lines = [f"{self.name}: valid city ({self.crs.name})"]
        by_sector = ", ".join(f"{(s['sector'] == sec).sum()} {sec}" for sec in SECTORS if (s["sector"] == sec).any())
        lines.append(f"  schools      {len(s):>7,}  ({by_sector})")
        tiers = sorted({format_time(t) for t in s["bell_start"].dropna()})
        if tiers:
            lines.append(f"  bell times   {len(tiers):>7,}  distinct starts ({', '.join(tiers[:8])}{', ...' if len(tiers) > 8 else ''})")
        b = self.buildings
        if len(b):
            by_status = ", ".join(f"{n} {st}" for st, n in b["status"].value_counts().sort_index().items())
            lines.append(f"  buildings    {len(b):>7,}  ({by_status}; {int(b['rooms_classroom'].sum()):,} classrooms)")
        st = self.students
        if len(st):
            services = ", ".join(f"{n:,} {sv}" for sv, n in st["service"].value_counts().sort_index().items())
            grades = format_grades(tuple(st["grade"].unique()))
            lines.append(f"  students     {len(st):>7,}  (grades {grades}; {services})")
        if len(self.zones):
            kinds = ", ".join(f"{n} {k}" for k, n in self.zones["kind"].value_counts().sort_index().items())
            lines.append(f"  zones        {len(self.zones):>7,}  ({kinds})")
        if len(self.yards):
            lines.append(f"  bus yards    {len(self.yards):>7,}  ({int(self.yards['buses'].sum()):,} buses)")
        if len(self.bus_types):
            lines.append(f"  bus types    {len(self.bus_types):>7,}  ({', '.join(f'{r.id} {r.seats} seats' for r in self.bus_types.itertuples())})")
        if len(self.needs):
            lines.append(f"  space needs  {len(self.needs):>7,}  ({int(self.needs['seats'].sum()):,} seats)")
        if self.network is not None:
            where = self.network.file.name if self.network.file else (self.network.place or f"bbox {self.network.bbox}")
            lines.append(f"  streets      {where} ({self.network.network_type})")
        else:
            lines.append("  streets      none: travel times use the network-free model")
        return "\n".join(lines)


def _assemble(
    *,
    name: str,
    crs: str | int | pyproj.CRS,
    frames: dict[str, pd.DataFrame | None],
    network: NetworkSpec | None,
    settings: dict[str, Any] | None,
    root: str | os.PathLike[str] | None,
    sources: dict[str, str] | None,
    rows: dict[str, list[int | None]] | None,
    problems: v.Problems,
) -> City:
    """Clean and check every layer, adding to ``problems`` (which may hold the loader's), then raise or build."""
    sources = dict(sources or {})
    rows = dict(rows or {})
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
        layers[layer_name] = _clean(frame, layer, target, source=sources.get(layer_name, layer_name), rows=layer_rows, problems=problems)
    _check_city(layers, sources, rows, user_columns, problems)
    problems.raise_if_any(city=name)
    _add_neighborhoods(layers)
    return City(
        name=name,
        crs=target,
        network=network,
        settings=dict(settings or {}),
        root=Path(root) if root is not None else None,
        **layers,  # type: ignore[arg-type]
    )


def _empty(layer: Layer, crs: pyproj.CRS) -> pd.DataFrame:
    columns = [f.name for f in layer.fields] + [f"rooms_{t}" for t in ROOM_TYPES if "rooms" in layer.groups]
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    for room in (c for c in columns if c.startswith("rooms_")):
        frame[room] = frame[room].astype(int)
    if layer.geometry is None:
        return frame
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _choose_crs(crs: str | int | pyproj.CRS, given: dict[str, pd.DataFrame | None], problems: v.Problems) -> pyproj.CRS:
    """The metric CRS: as given, or the UTM zone of the data's centre."""
    if not (isinstance(crs, str) and crs.lower() == "auto"):
        try:
            chosen = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError:
            problems.add("city.toml", None, "city.crs", f"unknown CRS {crs!r}", "write e.g. crs = \"EPSG:32619\", or crs = \"auto\"")
            return pyproj.CRS.from_epsg(3857)
        if not chosen.is_projected:
            problems.add("city.toml", None, "city.crs", f"{chosen.name} is not a metric (projected) CRS", "use crs = \"auto\" (UTM from the data) or a projected EPSG code")
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


def _clean(frame: pd.DataFrame, layer: Layer, crs: pyproj.CRS, *, source: str, rows: list[int | None], problems: v.Problems) -> pd.DataFrame:
    """Parse one layer's columns to canonical kinds, check its geometry, project it."""
    user_columns: dict[str, str] = dict(frame.attrs.get("columns", {}))
    units: dict[str, float | None] = dict(frame.attrs.get("units", {}))
    frame = frame.reset_index(drop=True)
    if len(rows) != len(frame):
        rows = list(range(1, len(frame) + 1))
    out = pd.DataFrame(index=frame.index)
    for f in layer.fields:
        if f.name in frame.columns:
            out[f.name] = v.parse_column(frame[f.name], f, source=source, column=user_columns.get(f.name, f.name), rows=rows, problems=problems, scale=units.get(f.name) or 1.0)
        elif f.required and not (layer.name == "students" and f.name == "id"):
            problems.add(source, None, f.name, f"required column for {f.name} ({f.help}) is missing", f"add it, or map it in city.toml [layers.{layer.name}.columns]")
            out[f.name] = pd.Series([None] * len(frame), dtype=object)
        else:
            out[f.name] = v.parse_column(pd.Series([None] * len(frame), dtype=object), f, source=source, column=f.name, rows=rows, problems=problems)
    if out["id"].isna().all() and layer.name == "students":
        out["id"] = [f"student-{r}" for r in rows]
    for group in layer.groups:
        _clean_group(frame, out, group, source=source, rows=rows, user_columns=user_columns, problems=problems)
    v.check_unique_ids(out["id"], source=source, column=user_columns.get("id", "id"), rows=rows, problems=problems)
    if layer.name == "schools" and "bell_start" in out:
        v.check_bell_times(out, source=source, rows=rows, columns=(user_columns.get("bell_start", "bell_start"), user_columns.get("bell_end", "bell_end")), problems=problems)
    if layer.geometry is None:
        return out
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        problems.add(source, None, "geometry", f"the {layer.name} layer has no locations", "give coordinates (x/y columns) or a geometry")
        return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries([None] * len(out), crs=crs), crs=crs)
    geometry = _check_geometry(frame.geometry, layer, source=source, rows=rows, problems=problems)
    try:
        projected = geometry.to_crs(crs)
    except Exception as err:  # noqa: BLE001 - any projection failure is reported, not raised
        problems.add(source, None, "geometry", f"cannot be projected: {err}", "check the layer's CRS (crs = \"EPSG:4326\" for longitude/latitude)")
        projected = gpd.GeoSeries([None] * len(out), crs=crs)
    return gpd.GeoDataFrame(out, geometry=projected.values, crs=crs)


def _clean_group(frame: pd.DataFrame, out: pd.DataFrame, group: str, *, source: str, rows: list[int | None], user_columns: dict[str, str], problems: v.Problems) -> None:
    count = v.Field(group, "int", minimum=0, default=0)
    keys = [c for c in frame.columns if c.startswith(f"{group}_")]
    if group == "rooms":
        for key in keys:
            if key[len("rooms_") :] not in ROOM_TYPES:
                problems.add(source, None, user_columns.get(key, key), f"unknown room type {key[6:]!r}", f"use {', '.join(ROOM_TYPES)}")
        keys = [f"rooms_{t}" for t in ROOM_TYPES]
    for key in keys:
        if key in frame.columns:
            out[key] = v.parse_column(frame[key], count, source=source, column=user_columns.get(key, key), rows=rows, problems=problems).fillna(0).astype(int)
        else:
            out[key] = 0


def _check_geometry(geoms: gpd.GeoSeries, layer: Layer, *, source: str, rows: list[int | None], problems: v.Problems) -> gpd.GeoSeries:
    """Report missing, empty, invalid or wrongly typed geometries; points layers accept polygons' representative points."""
    if geoms.crs is None:
        problems.add(source, None, "geometry", "the layer has no CRS", "set crs = \"EPSG:4326\" (or the file's CRS) in its [layers.<layer>] table")
        return geoms
    fixed = list(geoms.values)
    geographic = geoms.crs.is_geographic
    for i, (geom, row) in enumerate(zip(geoms.values, rows, strict=True)):
        if geom is None or geom.is_empty:
            problems.add(source, row, "geometry", "location is empty", "give the row a location")
            fixed[i] = None
            continue
        kind = geom.geom_type
        if kind == "Point" and not geom.is_valid:  # NaN coordinates: one problem per row, not a second "invalid polygon"
            if not any(p.file == source and p.row == row for p in problems):
                problems.add(source, row, "geometry", "the location's coordinates are not numbers", "fill in both coordinates")
            fixed[i] = None
            continue
        if layer.geometry == "point" and kind != "Point":
            if kind in ("Polygon", "MultiPolygon"):
                fixed[i] = geom.representative_point()
            else:
                problems.add(source, row, "geometry", f"a {kind} where a point is expected", "give a point (or a building footprint polygon)")
                fixed[i] = None
                continue
        elif layer.geometry == "polygon" and kind not in ("Polygon", "MultiPolygon"):
            problems.add(source, row, "geometry", f"a {kind} where a polygon is expected", "give the zone's boundary as a polygon")
            fixed[i] = None
            continue
        elif not geom.is_valid:
            problems.add(source, row, "geometry", f"invalid polygon ({shapely.is_valid_reason(geom)})", "repair it (e.g. QGIS 'Fix geometries' or shapely.make_valid)")
            fixed[i] = None
            continue
        if geographic:
            minx, miny, maxx, maxy = fixed[i].bounds
            if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
                problems.add(source, row, "geometry", f"({minx:.6g}, {miny:.6g}) is not a longitude/latitude", "set the layer's crs in city.toml to the coordinates' CRS, or swap x and y")
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
                    problems.add(sources.get(layer_name, layer_name), row, column, f"{f.name} {value!r} is not in {ref_layer}", f"use an id from the {ref_layer} layer's {ref_field} column")
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
            problems.add(sources.get(layer_name, layer_name), layer_rows[i], "geometry", f"location is more than {OUTSIDE_MARGIN / 1000:g} km outside the city", "check the coordinates (swapped x/y? wrong CRS?)")


def _extent(layers: dict[str, pd.DataFrame]) -> shapely.Geometry | None:
    """The city's extent: its zones, or else its schools' hull, with a margin."""
    zones = layers["zones"]
    if len(zones) and zones.geometry.notna().any():
        return shapely.union_all(zones.geometry.dropna().values).buffer(OUTSIDE_MARGIN)
    schools = layers["schools"]
    if len(schools) >= 3 and schools.geometry.notna().sum() >= 3:
        return shapely.convex_hull(shapely.union_all(schools.geometry.dropna().values)).buffer(5 * OUTSIDE_MARGIN)
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

