"""A layer file's coordinate reference system: which one applies, and whether its coordinates can be in it.

A file may declare its CRS (a GeoJSON, a shapefile's ``.prj``) or not (a CSV's coordinate columns,
read in the layer's ``crs``, longitude/latitude by default). Files often declare the wrong one:
Boston's ``boston_precincts.geojson`` claims longitude/latitude while its coordinates are
Massachusetts state plane feet. ``crs_override`` in the layer's table replaces what the file
declares; ``crs`` only applies where the file declares nothing, and a ``crs`` that disagrees with the
file's declaration is reported rather than guessed at. Coordinates that cannot be in the CRS they are
read in are reported once per file, naming the key that fixes it and, where the city's other layers
allow, the CRS that places the file on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_crs_info
from pyproj.enums import PJType

from facilities import _validate as v

__all__ = ["WrongCrs", "file_crs", "impossible_coordinates", "report_wrong_crs"]

#: How far (degrees) a projected layer may lie outside its CRS's area of use before it is suspect.
AREA_MARGIN = 1.0


@dataclass(frozen=True)
class WrongCrs:
    """A file whose coordinates cannot be in the CRS it is read in.

    Attributes
    ----------
    layer, source
        The layer and the file, as messages name them.
    crs
        The CRS the coordinates were read in.
    bounds
        The coordinates' ``(minx, miny, maxx, maxy)``.
    declared
        Whether the file itself declares ``crs`` (the fix is then ``crs_override``, else ``crs``).
    reason
        Why the coordinates cannot be in ``crs``.
    """

    layer: str
    source: str
    crs: pyproj.CRS
    bounds: tuple[float, float, float, float]
    declared: bool
    reason: str


def _parse(value: object, *, key: str, layer: str, problems: v.Problems) -> pyproj.CRS | None:
    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError:
        problems.add(
            "city.toml",
            None,
            f"layers.{layer}.{key}",
            f"unknown CRS {value!r}",
            f'write e.g. {key} = "EPSG:2249"',
        )
        return None


def file_crs(
    declared: pyproj.CRS | None, cfg: dict, *, layer: str, source: str, problems: v.Problems
) -> tuple[pyproj.CRS | None, bool]:
    """The CRS a file's coordinates are read in, and whether it is the file's own declaration.

    ``crs_override`` wins over the file's declaration; ``crs`` applies where the file declares none
    (default longitude/latitude). A ``crs`` that differs from the file's declaration is a problem:
    the user says which is right.
    """
    if "crs_override" in cfg:
        return _parse(cfg["crs_override"], key="crs_override", layer=layer, problems=problems), False
    if declared is None:
        return _parse(cfg.get("crs", "EPSG:4326"), key="crs", layer=layer, problems=problems), False
    if "crs" in cfg:
        given = _parse(cfg["crs"], key="crs", layer=layer, problems=problems)
        if given is not None and not given.equals(declared, ignore_axis_order=True):
            problems.add(
                source,
                None,
                "crs",
                f"the file declares {_name(declared)} but city.toml says crs = {cfg['crs']!r}",
                "crs applies only to files without a CRS: if the file's declaration is wrong write "
                f'crs_override = "{cfg["crs"]}" '
                f"in [layers.{layer}] (or its [[layers.{layer}.files]] table), else remove crs",
            )
    return declared, True


def impossible_coordinates(geometry: gpd.GeoSeries) -> str | None:
    """Why ``geometry``'s coordinates cannot all be in its CRS, or ``None`` when they can.

    Longitude/latitude out of range in a geographic CRS; in a projected CRS, coordinates that look
    like longitudes/latitudes and lie, read in that CRS, far outside its area of use. Only a file
    whose every location is impossible is suspect (a few bad rows are reported row by row).
    """
    geoms = geometry[geometry.notna() & ~geometry.is_empty]
    if not len(geoms) or geometry.crs is None:
        return None
    b = geoms.bounds
    b = b[np.isfinite(b.to_numpy()).all(axis=1)]  # coordinates that are not numbers are reported by row
    if not len(b):
        return None
    inside = (b["minx"] >= -180) & (b["maxx"] <= 180) & (b["miny"] >= -90) & (b["maxy"] <= 90)
    if geometry.crs.is_geographic:
        return None if inside.any() else "are not longitudes/latitudes"
    area = geometry.crs.area_of_use
    if not inside.all() or area is None:
        return None
    try:
        lon, lat = _to_own_lonlat(
            geometry.crs, (b["minx"].min() + b["maxx"].max()) / 2, (b["miny"].min() + b["maxy"].max()) / 2
        )
    except pyproj.exceptions.ProjError:
        return None
    west, south, east, north = area.bounds
    if west - AREA_MARGIN <= lon <= east + AREA_MARGIN and south - AREA_MARGIN <= lat <= north + AREA_MARGIN:
        return None
    name = _name(geometry.crs)
    return f"look like longitudes/latitudes: read as {name} they lie outside its area ({area.name})"


def report_wrong_crs(
    wrong: list[WrongCrs], layers: dict[str, gpd.GeoDataFrame], problems: v.Problems
) -> None:
    """Add one problem per file of ``wrong``, with the fix and, where possible, the CRS that fits.

    Parameters
    ----------
    wrong
        The files found by :func:`impossible_coordinates`.
    layers
        The city's other layers (any CRS): a projected CRS that places a file on them is offered.
    problems
        Where the problems go.
    """
    if not wrong:
        return
    extent = _lonlat_extent(layers.values())
    for w in wrong:
        key = "crs_override" if w.declared else "crs"
        read = f"the file declares {_name(w.crs)}" if w.declared else f"read in {_name(w.crs)}"
        minx, miny, maxx, maxy = w.bounds
        fits = _fitting_crs(w.bounds, extent) if extent is not None else []
        if w.crs.is_geographic and fits:
            code, name = fits[0]
            value, why = f"EPSG:{code}", f" ({name}, which places it on the city's other layers)"
        elif w.crs.is_geographic:
            value, why = (
                "EPSG:....",
                " (the CRS its publisher used: a US city's is often its state plane, in feet)",
            )
        else:
            value, why = "EPSG:4326", ""
        problems.add(
            w.source,
            None,
            "geometry",
            f"{read}, but its coordinates (x {_num(minx)} to {_num(maxx)}, y {_num(miny)} to {_num(maxy)}) "
            f"{w.reason}",
            f'write {key} = "{value}"{why} in [layers.{w.layer}] (or its [[layers.{w.layer}.files]] table)',
        )


def _num(x: float) -> str:
    """``739,594`` for large coordinates, ``-71.0589`` for degrees."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.6g}"


def _name(crs: pyproj.CRS) -> str:
    authority = crs.to_authority()
    return f"{crs.name} ({':'.join(authority)})" if authority else crs.name


def _to_own_lonlat(crs: pyproj.CRS, x: float, y: float) -> tuple[float, float]:
    """``(x, y)`` of a projected CRS as longitude/latitude on its own datum (no datum shift: fast)."""
    lon, lat = pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(x, y)
    return float(lon), float(lat)


def _lonlat_extent(frames: object) -> tuple[float, float, float, float] | None:
    """The longitude/latitude box of the layers whose coordinates are plausible."""
    boxes = []
    for frame in frames:  # type: ignore[attr-defined]
        if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None or not len(frame):
            continue
        if impossible_coordinates(frame.geometry) is not None:
            continue
        try:
            with np.errstate(invalid="ignore"):
                box = frame.geometry[frame.geometry.notna()].to_crs(4326).total_bounds
        except Exception:  # noqa: BLE001, S112 - an unprojectable layer gives no extent
            continue
        if np.isfinite(box).all() and -180 <= box[0] <= box[2] <= 180 and -90 <= box[1] <= box[3] <= 90:
            boxes.append(box)
    if not boxes:
        return None
    stacked = np.array(boxes)
    return (stacked[:, 0].min(), stacked[:, 1].min(), stacked[:, 2].max(), stacked[:, 3].max())


def _fitting_crs(
    bounds: tuple[float, float, float, float], extent: tuple[float, float, float, float]
) -> list[tuple[int, str]]:
    """Projected EPSG CRSs covering ``extent`` that put ``bounds``' centre inside it, preferred first."""
    west, south, east, north = extent
    pad = 0.05  # degrees, about 5 km
    x, y = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    out = []
    aoi = AreaOfInterest(west, south, east, north)
    for info in query_crs_info(
        auth_name="EPSG", pj_types=PJType.PROJECTED_CRS, area_of_interest=aoi, contains=True
    ):
        if info.deprecated:
            continue
        try:
            lon, lat = _to_own_lonlat(pyproj.CRS.from_epsg(int(info.code)), x, y)
        except (pyproj.exceptions.ProjError, pyproj.exceptions.CRSError):
            continue
        if west - pad <= lon <= east + pad and south - pad <= lat <= north + pad:
            out.append((int(info.code), info.name))
    return sorted(out, key=_preference)


def _preference(crs: tuple[int, str]) -> tuple[bool, bool, int]:
    """Current datums first (NAD83, WGS 84 before NAD27 and the NAD83 realizations), then by code."""
    code, name = crs
    datum = name.split(" / ")[0]
    return "NAD27" in datum, "(" in datum, code
