"""Map layers for the app: the city's own streets and neighborhoods as the base, then its data.

Every map is drawn offline with pydeck (no tile server): the base is the city's street network
(:func:`street_layer`, from its GraphML or OSM file) and its neighborhood outlines
(:func:`outline_layer`). On top come schools by sector, buildings by status, zones, and student
homes, which are never drawn one by one: :func:`hexbin` counts them in hexagons and drops every
cell with fewer than ``min_count`` (10) students.

Each layer builder takes frames in the city's metric CRS and returns a :class:`pydeck.Layer` (or a
fill and its outline) whose objects carry a ``tip`` (the tooltip text); :func:`deck` frames the
layers in a view. A browser without a graphics card (software WebGL) compiles one shader per layer
type each time a map opens, so the maps use few: every area and point is a ``SolidPolygonLayer``
(points are small round polygons), every line a ``LineLayer``; names (a ``TextLayer``) only where
asked for.

>>> from app import maps
>>> px = maps.metres_per_pixel(city)  # doctest: +SKIP
>>> schools = maps.point_layer(city.schools, color=maps.SECTOR_COLORS, scale=px)  # doctest: +SKIP
>>> layers = [*maps.base_layers(city), schools]  # doctest: +SKIP
>>> st.pydeck_chart(maps.deck(layers, city=city))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely

from facilities.privacy import MIN_CELL as PRIVACY_MIN_CELL

if TYPE_CHECKING:
    from facilities import City

__all__ = [
    "MIN_CELL",
    "PRIVATE_SERVICES",
    "SECTOR_COLORS",
    "STATUS_COLORS",
    "base_layers",
    "count_text",
    "deck",
    "flat",
    "hexbin",
    "hexbin_layer",
    "label_layer",
    "legend",
    "line_layer",
    "metres_per_pixel",
    "outline_layer",
    "point_layer",
    "polygon_layer",
    "public_run_lines",
    "ramp",
    "ramp_legend",
    "street_layer",
    "text_layer",
]

Color = tuple[int, int, int] | tuple[int, int, int, int]
#: A layer, several (a list, e.g. a fill and its outline) or nothing (``None``).
Layers = pdk.Layer | list[pdk.Layer] | None

#: Colors of the school sectors (colorblind-safe, Okabe–Ito).
SECTOR_COLORS: dict[str, Color] = {
    "district": (0, 114, 178),
    "charter": (230, 159, 0),
    "catholic": (204, 121, 167),
    "private": (110, 110, 110),
}
#: Colors of the building statuses.
STATUS_COLORS: dict[str, Color] = {
    "occupied": (90, 90, 90),
    "under-used": (0, 158, 115),
    "vacant": (213, 94, 0),
}
#: Fewest student homes a map cell may show (the one privacy threshold, :data:`facilities.privacy.MIN_CELL`).
MIN_CELL = PRIVACY_MIN_CELL
#: Stop services placed at a student's home: never drawn, never in a public file.
PRIVATE_SERVICES = frozenset({"door-to-door", "wheelchair"})
_LOW: Color = (255, 237, 160)
_HIGH: Color = (189, 0, 38)
_STREET = (150, 150, 150)
_OUTLINE = (60, 60, 60)
_SQRT3 = math.sqrt(3.0)


# --------------------------------------------------------------------------------------------
# Aggregation of private points


def hexbin(
    points: gpd.GeoSeries | gpd.GeoDataFrame,
    *,
    size: float = 250.0,
    min_count: int = MIN_CELL,
    sums: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    """Count points in a hexagon grid and keep only the cells holding at least ``min_count``.

    Parameters
    ----------
    points
        Points in a projected (metric) CRS; a GeoDataFrame may carry the ``sums`` columns.
    size
        Hexagon circumradius (centre to corner), in the CRS's units (metres).
    min_count
        Cells with fewer points are dropped, never shown (student homes stay private).
    sums
        Numeric or boolean columns of ``points`` to add up per cell (e.g. ``"first_choice"``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per kept cell: ``q``, ``r`` (axial hexagon coordinates), ``count``, the ``sums``
        columns, and the hexagon as ``geometry``, in the points' CRS. ``attrs["hidden"]`` holds the
        number of points in the dropped cells.

    Raises
    ------
    ValueError
        If the points are in a geographic CRS (degrees), or ``size`` or ``min_count`` is not positive.
    """
    geo = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    if geo.crs is None or not geo.crs.is_projected:
        raise ValueError("hexbin needs points in a metric CRS; project them first (e.g. city.students is).")
    if size <= 0 or min_count < 1:
        raise ValueError(f"hexbin needs size > 0 and min_count >= 1; got size={size}, min_count={min_count}.")
    frame = pd.DataFrame({"q": np.zeros(0, int), "r": np.zeros(0, int)})
    if len(geo):
        q, r = _axial(geo.x.to_numpy(), geo.y.to_numpy(), size)
        frame = pd.DataFrame({"q": q, "r": r})
    for column in sums:
        frame[column] = np.asarray(points[column], dtype=float)
    cells = frame.groupby(["q", "r"], sort=True).agg(count=("q", "size"), **{c: (c, "sum") for c in sums})
    cells = cells.reset_index()
    kept = cells[cells["count"] >= min_count].reset_index(drop=True)
    out = gpd.GeoDataFrame(
        kept, geometry=_hexagons(kept["q"].to_numpy(), kept["r"].to_numpy(), size), crs=geo.crs
    )
    out.attrs["hidden"] = int(cells["count"].sum() - kept["count"].sum())
    return out


def _axial(x: np.ndarray, y: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial coordinates of the pointy-top hexagon of circumradius ``size`` holding each point."""
    qf = (_SQRT3 / 3 * x - y / 3) / size
    rf = (2 / 3 * y) / size
    sf = -qf - rf
    q, r, s = np.round(qf), np.round(rf), np.round(sf)
    dq, dr, ds = np.abs(q - qf), np.abs(r - rf), np.abs(s - sf)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    q = np.where(fix_q, -r - s, q)
    r = np.where(fix_r, -q - s, r)
    return q.astype(int), r.astype(int)


def _hexagons(q: np.ndarray, r: np.ndarray, size: float) -> np.ndarray:
    """Pointy-top hexagon polygons of the axial cells ``(q, r)``."""
    cx = size * _SQRT3 * (q + r / 2)
    cy = size * 1.5 * r
    angles = np.radians(30 + 60 * np.arange(6))
    xs = cx[:, None] + size * np.cos(angles)[None, :]
    ys = cy[:, None] + size * np.sin(angles)[None, :]
    rings = np.stack([xs, ys], axis=-1)
    return shapely.polygons(rings) if len(q) else np.array([], dtype=object)


# --------------------------------------------------------------------------------------------
# Layers


def _wgs84(frame: gpd.GeoDataFrame | gpd.GeoSeries) -> gpd.GeoSeries:
    geo = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    return geo.to_crs(4326) if geo.crs is not None and not geo.crs.equals("EPSG:4326") else geo


def _rings(geometry: gpd.GeoSeries) -> tuple[list[list[list[float]]], np.ndarray]:
    """Exterior rings of (multi)polygons as lon/lat lists, and the row each ring came from."""
    parts = geometry.explode(index_parts=False)
    rings = [np.round(np.asarray(p.exterior.coords)[:, :2], 6).tolist() for p in parts]
    return rings, parts.index.to_numpy()


def _colors(values: pd.Series, color: Color | Mapping[str, Color], alpha: int) -> list[list[int]]:
    if isinstance(color, Mapping):
        return [[*color.get(v, (0, 0, 0))[:3], alpha] for v in values]
    return [[*color[:3], alpha]] * len(values)


def point_layer(
    frame: gpd.GeoDataFrame,
    *,
    color: Color | Mapping[str, Color],
    scale: float,
    by: str | None = None,
    tip: Callable[[pd.Series], str] | None = None,
    radius: float = 6,
    alpha: int = 230,
    ring: bool = False,
    outline: bool = True,
    layer_id: str | None = None,
) -> list[pdk.Layer]:
    """Points (schools, buildings, stops) as small round polygons, colored by the values of column ``by``.

    Drawn in the polygons' own layer type (``SolidPolygonLayer``, outlines a ``LineLayer``): a
    software-WebGL browser compiles each layer type's shader anew each time a map is drawn, so a map
    without a ``ScatterplotLayer`` opens faster. A dot is ``radius`` pixels wide as the map is first
    drawn (``scale``) and, being a shape on the ground, grows as the map is zoomed in.

    Parameters
    ----------
    frame
        Points in any CRS.
    color
        One color, or colors by value of ``by``.
    scale
        Metres a pixel spans on the map as first drawn (:func:`metres_per_pixel`).
    by
        Column whose values pick the color.
    tip
        Tooltip text of a row (a dict of its columns); default its ``name`` (or ``id``).
    radius
        Dot radius in pixels, at the first view.
    alpha
        Opacity, 0–255.
    ring
        Draw rings (the color on the outline, a white centre) instead of dots, to tell
        buildings from the schools drawn over them.
    outline
        Draw a thin white outline around each dot (rings always have their colored one).
    layer_id
        pydeck layer id of the dots (the outlines: ``layer_id + "_outline"``).

    Returns
    -------
    list of pydeck.Layer
        The dots (one object per row of ``frame``, with its ``tip``) and, when drawn, their outlines.
    """
    geo = _wgs84(frame)
    values = frame[by] if by else pd.Series([None] * len(frame), index=frame.index)
    colors = _colors(values, color, alpha)
    rings = _dots(geo.x.to_numpy(), geo.y.to_numpy(), radius * scale, corners=6 if radius <= 3 else 12)
    rows = pd.DataFrame(frame.drop(columns=frame.geometry.name)).to_dict("records")  # 10x iterrows' speed
    tips = [tip(row) if tip else str(row.get("name") or row.get("id", "")) for row in rows]
    layers = [_solid(rings, [[255, 255, 255, 200]] * len(frame) if ring else colors, tips, layer_id=layer_id)]
    if ring or outline:
        layers.append(
            line_layer(
                rings,
                colors=colors if ring else (255, 255, 255, 255),
                width=3 if ring else 1,
                layer_id=f"{layer_id or 'points'}_outline",
                decimals=6,
            )
        )
    return layers


def _dots(lon: np.ndarray, lat: np.ndarray, metres: float, *, corners: int) -> list[list[list[float]]]:
    """A ring of ``corners`` corners, ``metres`` from its centre, around each lon/lat point (a dot of a
    few pixels needs no more than six)."""
    angles = np.radians(np.arange(corners + 1) * 360 / corners)
    dx = metres / (111_320.0 * np.cos(np.radians(lat)))
    dy = metres / 110_574.0
    xs = lon[:, None] + dx[:, None] * np.cos(angles)[None, :]
    ys = lat[:, None] + dy * np.sin(angles)[None, :]
    return np.round(np.stack([xs, ys], axis=-1), 6).tolist()


def _records(columns: Mapping[str, Sequence[object]]) -> list[dict[str, object]]:
    """Columns of equal length as the rows pydeck sends (what it makes of a DataFrame, in a fifth of
    the time: the streets are built on every rerun of a map)."""
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*columns.values())]


def _solid(
    rings: list[list[list[float]]],
    fills: list[list[int]],
    tips: list[str],
    *,
    layer_id: str | None,
    pickable: bool = True,
) -> pdk.Layer:
    """Filled polygons given as lon/lat rings, one fill and tip each (a ``SolidPolygonLayer``)."""
    return pdk.Layer(
        "SolidPolygonLayer",
        _records({"polygon": rings, "fill": fills, "tip": tips}),
        id=layer_id,
        get_polygon="polygon",
        get_fill_color="fill",
        filled=True,
        pickable=pickable,
    )


def polygon_layer(
    frame: gpd.GeoDataFrame,
    *,
    fill: Sequence[Sequence[int]] | Color,
    tip: Sequence[str] | None = None,
    line: Color = _OUTLINE,
    line_width: float = 1,
    layer_id: str | None = None,
    pickable: bool = True,
) -> list[pdk.Layer]:
    """Polygons (zones, hexagons) with one fill per row (RGBA lists) or one fill for all.

    Returns the fill (a ``SolidPolygonLayer``, id ``layer_id``) and, when ``line_width`` > 0, the
    outlines as straight segments (``LineLayer``, id ``layer_id + "_outline"``): deck.gl's
    ``PolygonLayer`` would draw them with a ``PathLayer``, whose shader costs a software-WebGL
    browser about twice a ``LineLayer``'s to compile each time a map is drawn anew.
    """
    rings, rows = _rings(_wgs84(frame).reset_index(drop=True))
    per_row = len(fill) == len(frame) and len(fill) > 0 and not isinstance(fill[0], int)
    fills = [list(fill[i]) for i in rows] if per_row else [list(fill)] * len(rows)
    tips = [tip[i] for i in rows] if tip is not None else [""] * len(rows)
    layers = [_solid(rings, fills, tips, layer_id=layer_id, pickable=pickable)]
    if line_width > 0:
        layers.append(
            line_layer(
                rings, colors=line, width=line_width, layer_id=f"{layer_id or 'polygons'}_outline", decimals=6
            )
        )
    return layers


def line_layer(
    paths: Sequence[Sequence[Sequence[float]]],
    *,
    colors: Sequence[Sequence[int]] | Color,
    tips: Sequence[str] | None = None,
    width: float | Sequence[float] = 3,
    layer_id: str | None = None,
    extra: Mapping[str, Sequence[object]] | None = None,
    decimals: int = 5,
) -> pdk.Layer:
    """Lines given as lists of ``[lon, lat]`` drawn as their straight segments (a ``LineLayer``):
    streets, outlines, match lines, bus runs; every line of every map.

    A software-WebGL browser (no graphics card) compiles a ``LineLayer``'s shader in about half the
    time of a ``PathLayer``'s, which it does each time a map is drawn anew (a page switch), and draws
    it faster. Each segment carries its line's color, width, tip and ``extra`` (a click on the map
    returns them): a run of 50 points sends its tip 49 times (the demo's morning runs: 0.6 MB of JSON
    as segments, 0.1 MB as paths), cheaper than a second line type's shader. Coordinates are rounded
    to ``decimals`` places (5: about a metre).
    """
    per_line = len(colors) == len(paths) and len(colors) > 0 and not isinstance(colors[0], int)
    widths = width if isinstance(width, Sequence) else [width] * len(paths)
    pieces = [np.round(np.asarray(p, dtype=float)[:, :2], decimals) for p in paths]
    line_of = np.repeat(np.arange(len(pieces)), [max(len(p) - 1, 0) for p in pieces])
    if len(line_of):
        source = np.concatenate([p[:-1] for p in pieces if len(p) > 1]).tolist()
        target = np.concatenate([p[1:] for p in pieces if len(p) > 1]).tolist()
    else:
        source, target = [], []
    columns: dict[str, list[object]] = {"source": source, "target": target}
    if per_line:
        columns["color"] = [list(colors[i]) for i in line_of]
    if isinstance(width, Sequence):
        columns["width"] = [float(widths[i]) for i in line_of]
    if tips is not None:
        columns["tip"] = [tips[i] for i in line_of]
    for name, values in (extra or {}).items():
        columns[name] = [values[i] for i in line_of]
    return pdk.Layer(
        "LineLayer",
        _records(columns),
        id=layer_id,
        get_source_position="source",
        get_target_position="target",
        get_color="color" if per_line else list(colors),
        width_units='"pixels"',
        get_width="width" if isinstance(width, Sequence) else width,
        width_min_pixels=1,
        pickable=tips is not None,
    )


def count_text(n: float, *, what: str = "students") -> str:
    """``"25 students"``, or ``"fewer than 10 students"`` below :data:`MIN_CELL` (never a small count)."""
    return f"{int(n):,} {what}" if n >= MIN_CELL else f"fewer than {MIN_CELL} {what}"


def ramp(
    values: Sequence[float] | np.ndarray, *, alpha: int = 190, low: Color = _LOW, high: Color = _HIGH
) -> list[list[int]]:
    """Colors from ``low`` to ``high`` for values scaled between their minimum and maximum."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return []
    span = np.nanmax(v) - np.nanmin(v)
    t = np.zeros_like(v) if not span else (v - np.nanmin(v)) / span
    t = np.nan_to_num(t)
    lo, hi = np.asarray(low[:3], float), np.asarray(high[:3], float)
    rgb = np.round(lo[None, :] + t[:, None] * (hi - lo)[None, :]).astype(int)
    return [[*row, alpha] for row in rgb.tolist()]


def hexbin_layer(
    cells: gpd.GeoDataFrame,
    *,
    value: str = "count",
    label: str = "students",
    alpha: int = 150,
    share: str | None = None,
    layer_id: str = "homes",
) -> pdk.Layer:
    """Hexagons of :func:`hexbin`, shaded by ``value`` (or by ``share``, a summed column over the count).

    The tooltip gives the count, and with ``share`` how many of them the column counts
    (e.g. ``"18 of 25 students: first_choice"``).
    """
    count = cells["count"].to_numpy(dtype=float)
    if share is None:
        tips = [f"{int(c):,} {label}" for c in count]
        shade = cells[value].to_numpy(dtype=float)
    else:
        part = cells[share].to_numpy(dtype=float)
        tips = [
            f"{p:,.0f} of {int(c):,} {label} ({p / c:.0%}): {share.replace('_', ' ')}"
            for p, c in zip(part, count)
        ]
        shade = part / count
    return polygon_layer(cells, fill=ramp(shade, alpha=alpha), tip=tips, line_width=0, layer_id=layer_id)[0]


@functools.lru_cache(maxsize=4)
def _street_paths(file: str, network_type: str) -> tuple[list[list[list[float]]], tuple[float, ...]]:
    """Every street of a network file once (either direction), as lon/lat paths, and its widths."""
    import osmnx as ox

    from routing.network import read_network

    graph = read_network(Path(file), network_type=network_type)
    edges = ox.graph_to_gdfs(graph, nodes=False).to_crs(4326)
    u = edges.index.get_level_values("u").to_numpy()
    v = edges.index.get_level_values("v").to_numpy()
    keep = ~pd.Series([(min(a, b), max(a, b)) for a, b in zip(u, v)]).duplicated().to_numpy()
    edges = edges[keep]
    major = {"motorway", "trunk", "primary", "secondary"}
    widths = tuple(2.0 if (set(h) if isinstance(h, list) else {h}) & major else 1.0 for h in edges["highway"])
    paths = [np.round(np.asarray(g.coords)[:, :2], 6).tolist() for g in edges.geometry]
    return paths, widths


def street_layer(city: City) -> pdk.Layer | None:
    """The city's streets, drawn from its network file; ``None`` when it has no file.

    The layer is built once per file and shared by every map that draws it (it is never changed).
    """
    if city.network is None or city.network.file is None or not Path(city.network.file).is_file():
        return None
    return _street_layer(str(city.network.file), city.network.network_type)


@functools.lru_cache(maxsize=4)
def _street_layer(file: str, network_type: str) -> pdk.Layer:
    paths, widths = _street_paths(file, network_type)
    return line_layer(paths, colors=_STREET, width=widths, layer_id="streets")


def outline_layer(zones: gpd.GeoDataFrame, *, layer_id: str = "neighborhoods") -> list[pdk.Layer]:
    """Zone outlines with a faint fill; the tooltip names the zone."""
    return polygon_layer(
        zones,
        fill=(240, 240, 235, 40),
        tip=list(zones["name"].fillna(zones["id"]).astype(str)),
        line=_OUTLINE,
        layer_id=layer_id,
    )


def label_layer(zones: gpd.GeoDataFrame, *, layer_id: str = "labels") -> pdk.Layer:
    """Zone names written at their centres."""
    centres = zones.geometry.representative_point()
    return text_layer(
        gpd.GeoDataFrame(
            {"text": zones["name"].fillna(zones["id"]).astype(str).to_list()},
            geometry=centres.values,
            crs=zones.crs,
        ),
        text="text",
        layer_id=layer_id,
    )


def text_layer(frame: gpd.GeoDataFrame, *, text: str, layer_id: str = "labels", size: int = 12) -> pdk.Layer:
    """The values of column ``text`` written at the points of ``frame`` (names, numbers tying marks to table
    rows).

    The font atlas holds only the characters written (deck.gl draws every character of its set on
    the page's first frame, about a hundred by default)."""
    centres = _wgs84(frame)
    texts = frame[text].astype(str).to_list()
    data = pd.DataFrame(
        {
            "position": [[round(float(x), 6), round(float(y), 6)] for x, y in zip(centres.x, centres.y)],
            "text": texts,
        }
    )
    return pdk.Layer(
        "TextLayer",
        data,
        id=layer_id,
        get_position="position",
        get_text="text",
        get_size=size,
        get_color=[40, 40, 40, 200],
        font_weight=600,
        font_family='"Helvetica Neue, Arial, sans-serif"',
        outline_width=2,
        outline_color=[255, 255, 255, 220],
        font_settings={"sdf": True},
        character_set=pdk.types.String("".join(sorted(set("".join(texts)))) or " "),
        pickable=False,
    )


def base_layers(
    city: City,
    *,
    under: Sequence[Layers] = (),
    streets: bool = True,
    neighborhoods: bool = True,
    labels: bool = False,
) -> list[pdk.Layer]:
    """The base map drawn from the city's own data: neighborhood outlines, streets and names.

    Every layer type a map holds costs a software-WebGL browser a shader compiled anew each time the
    map is drawn: names (a ``TextLayer``) are drawn only when asked (a neighborhood's tooltip names it
    anyway).

    Parameters
    ----------
    city
        The city whose zones of kind ``neighborhood`` and street network file are drawn.
    under
        Area layers (zones, hexagons) drawn between the outlines and the streets, so streets
        and names stay readable on top of them.
    streets, neighborhoods, labels
        Which parts to draw.
    """
    layers: list[pdk.Layer] = []
    hoods = city.zones[city.zones["kind"] == "neighborhood"] if len(city.zones) else city.zones
    if neighborhoods and len(hoods):
        layers.extend(outline_layer(hoods))
    layers.extend(flat(under))
    street = street_layer(city) if streets else None
    if street is not None:
        layers.append(street)
    if labels and len(hoods):
        layers.append(label_layer(hoods))
    return layers


def _bounds(city: City) -> tuple[float, float, float, float]:
    frames = [f for f in (city.zones, city.schools, city.buildings) if len(f)]
    boxes = np.array([_wgs84(f).total_bounds for f in frames])
    return (
        float(boxes[:, 0].min()),
        float(boxes[:, 1].min()),
        float(boxes[:, 2].max()),
        float(boxes[:, 3].max()),
    )


def flat(layers: Sequence[Layers]) -> list[pdk.Layer]:
    """``layers`` with the lists among them (e.g. :func:`polygon_layer`'s fill and outline) opened and
    ``None`` dropped."""
    out: list[pdk.Layer] = []
    for layer in layers:
        if isinstance(layer, list | tuple):
            out.extend(flat(layer))
        elif layer is not None:
            out.append(layer)
    return out


class _CompactDeck(pdk.Deck):
    """A :class:`pydeck.Deck` whose JSON has no indentation: a third of the bytes to send the browser
    and parse on each redraw (pydeck indents by two spaces)."""

    def to_json(self) -> str:
        from pydeck.bindings.json_tools import default_serialize

        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


def _view(bounds: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float]:
    """Latitude, longitude and zoom of a ``width`` x ``height`` pixel map framing ``bounds``."""
    west, south, east, north = bounds
    tall = (north - south) / max(math.cos(math.radians((north + south) / 2)), 0.1) * width / height
    span = max(east - west, tall, 1e-4)
    zoom = float(np.clip(math.log2(width * 360 / (512 * span)) - 0.2, 1, 18))
    return (north + south) / 2, (west + east) / 2, zoom


def metres_per_pixel(
    city: City | None = None,
    *,
    bounds: tuple[float, float, float, float] | None = None,
    height: int = 560,
    width: int = 900,
) -> float:
    """Metres a pixel spans on a map of :func:`deck` as first drawn (the same framing), to size dots."""
    lat, _, zoom = _view(bounds if bounds is not None else _bounds(city), width, height)
    return 40_075_016.686 * math.cos(math.radians(lat)) / (512 * 2**zoom)


def deck(
    layers: Sequence[Layers],
    *,
    city: City | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    height: int = 560,
    width: int = 900,
) -> pdk.Deck:
    """A pydeck map of ``layers`` framed on the city (or ``bounds``), with no tile server.

    Parameters
    ----------
    layers
        Layers bottom first (lists of layers opened, ``None`` entries skipped).
    city
        Frames the view on the city's zones, schools and buildings.
    bounds
        ``(west, south, east, north)`` in degrees, instead of the city's.
    height, width
        Map height, and the width it is framed for, in pixels.
    """
    lat, lon, zoom = _view(bounds if bounds is not None else _bounds(city), width, height)
    view = pdk.ViewState(latitude=lat, longitude=lon, zoom=zoom, pitch=0)
    return _CompactDeck(
        layers=flat(layers),
        initial_view_state=view,
        map_provider=None,  # no basemap: pydeck writes its style sentinel, which Streamlit reads as "none"
        height=height,
        tooltip={"text": "{tip}"},
    )


def ramp_legend(low: str, high: str, *, title: str = "") -> str:
    """An HTML key of :func:`ramp`'s shading: a gradient bar from ``low`` to ``high`` (their labels)."""
    a, b = (",".join(str(c) for c in color[:3]) for color in (_LOW, _HIGH))
    bar = (
        "display:inline-block;width:7em;height:0.7em;vertical-align:middle;"
        f"background:linear-gradient(90deg,rgb({a}),rgb({b}))"
    )
    head = f'<b style="margin-right:0.6em">{title}</b>' if title else ""
    return (
        f'<span style="font-size:0.9em;margin-right:2em;display:inline-block">{head}{low} '
        f'<span style="{bar}"></span> {high}</span>'
    )


def public_run_lines(
    prepared: object, plan: object, *, network: object | None = None
) -> list[shapely.LineString | None]:
    """Each run of a bus plan as a line through its shared stops and schools only, in the plan's CRS.

    Door-to-door and wheelchair stops (:data:`PRIVATE_SERVICES`) are a student's home, and a corner
    stop of fewer than ten students locates them too (:func:`routing.sheets.private_stops`, the rule of
    the public route sheets): the line skips both (it goes from the stop before to the stop after),
    so no drawn line leads to a home or a small stop.
    A run with fewer than two places left gives ``None`` (not drawn). Lines follow the streets of
    ``network`` (a compiled network) when given, else go straight.
    """
    from routing.sheets import private_stops
    from routing.travel import route_geometry

    data = plan.data  # type: ignore[attr-defined]
    stops = prepared.stops.stops  # type: ignore[attr-defined]
    small = private_stops(plan)  # type: ignore[arg-type]
    private = set(stops["id"][stops["service"].isin(PRIVATE_SERVICES)])
    private |= {stop.id for stop, hidden in zip(data.stops, small) if hidden}
    xy: dict[int, tuple[float, float]] = {}
    schools = prepared.schools.set_index("id")  # type: ignore[attr-defined]
    for s in data.schools:
        xy[s.location] = (float(schools.at[s.id, "x"]), float(schools.at[s.id, "y"]))
    stop_xy = dict(zip(stops["id"], zip(stops.geometry.x, stops.geometry.y)))
    for stop in data.stops:
        if stop.id not in private:
            xy[stop.location] = stop_xy[stop.id]
    lines: list[shapely.LineString | None] = []
    for run in plan.runs:  # type: ignore[attr-defined]
        points = [
            xy[v.location]
            for v in run.visits
            if v.location in xy and not (v.stop is not None and data.stops[v.stop].id in private)
        ]
        points = [p for k, p in enumerate(points) if k == 0 or p != points[k - 1]]
        if len(points) < 2:
            lines.append(None)
        elif network is None:
            lines.append(shapely.LineString(points))
        else:
            nearest = network.kdtree.query(np.asarray(points))[1]  # type: ignore[attr-defined]
            nodes = network.node_ids[nearest]
            lines.append(route_geometry(network, list(nodes)))  # type: ignore[arg-type]
    return lines


def legend(
    colors: Mapping[str, Color],
    *,
    title: str = "",
    counts: Mapping[str, int] | None = None,
    ring: bool = False,
    line: bool = False,
) -> str:
    """An HTML legend (for ``st.markdown(..., unsafe_allow_html=True)``): a title and colored marks.

    Marks are dots, rings (``ring``, as :func:`point_layer` draws them) or lines (``line``);
    legends joined in one string sit on one line.
    """
    items = [f'<b style="margin-right:0.6em">{title}</b>'] if title else []
    for name, color in colors.items():
        n = f" ({counts.get(name, 0):,})" if counts is not None else ""
        rgb = ",".join(str(c) for c in color[:3])
        if line:
            mark = f"width:1.4em;height:0.25em;background:rgb({rgb});vertical-align:middle"
        elif ring:
            mark = (
                "width:0.8em;height:0.8em;border-radius:50%;box-sizing:border-box;border:3px solid "
                f"rgb({rgb});background:#fff"
            )
        else:
            mark = f"width:0.8em;height:0.8em;border-radius:50%;background:rgb({rgb})"
        items.append(
            f'<span style="white-space:nowrap;margin-right:1.2em"><span style="display:inline-block;{mark};'
            f'margin-right:0.35em"></span>{name}{n}</span>'
        )
    return '<span style="font-size:0.9em;margin-right:2em;display:inline-block">' + "".join(items) + "</span>"
