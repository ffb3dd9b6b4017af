"""Load a street network, prepare it for routing, and snap points to it.

A network comes from an osmnx GraphML file, an OSM XML file (``.osm`` or ``.osm.bz2``) or, for
online users, an osmnx download by place name or bounding box (saved as GraphML in a cache folder
and reused next time). :func:`load_network` runs every step; each step is also a function of its own:

1. :func:`read_network` or :func:`download_network` — the raw graph, in WGS84, filtered to the
   network type (``"drive"``, ``"walk"`` or ``"all"``);
2. :func:`prepare_network` — project to a metric CRS, keep the largest strongly connected component,
   then :func:`add_speeds` (speeds and travel times on every edge).

:func:`snap` finds each point's nearest network node and reports the points farther than a threshold.
:func:`check_network` loads a city's network as every command does and checks it before work
starts: readable, with streets, and covering the schools and students (at least
:data:`MIN_COVERED` of each within ``snap_max``); it raises one error naming every problem.

>>> from routing.network import load_network, snap
>>> G = load_network("streets.osm.bz2")  # doctest: +SKIP
>>> snapped = snap(G, schools, max_distance=250)  # doctest: +SKIP
>>> snapped.far_ids  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pyproj

from facilities import Problem, ValidationError
from facilities.io import atomic_write
from facilities.travel import point_coordinates  # re-exported: one place for point x/y

__all__ = [
    "MIN_COVERED",
    "NetworkCheck",
    "check_network",
    "NETWORK_TYPES",
    "DRIVE_SPEEDS_KPH",
    "FALLBACK_SPEED_KPH",
    "WALK_SPEED_MPS",
    "SnapResult",
    "load_network",
    "read_network",
    "download_network",
    "prepare_network",
    "add_speeds",
    "snap",
    "point_coordinates",
]

log = logging.getLogger(__name__)

#: Network types understood here (osmnx's names).
NETWORK_TYPES: tuple[str, ...] = ("drive", "walk", "all")

#: Typical US urban speeds (km/h) by OSM highway type, used for edges without a ``maxspeed`` tag.
#: Motorways and trunks at their usual urban limits (55 and 45 mph), arterials at 30–35 mph,
#: residential and unclassified streets at 25 mph (the default urban limit in most US cities),
#: links and service roads slower.
DRIVE_SPEEDS_KPH: dict[str, float] = {
    "motorway": 88.0,
    "motorway_link": 56.0,
    "trunk": 72.0,
    "trunk_link": 48.0,
    "primary": 56.0,
    "primary_link": 40.0,
    "secondary": 48.0,
    "secondary_link": 40.0,
    "tertiary": 40.0,
    "tertiary_link": 32.0,
    "unclassified": 40.0,
    "residential": 40.0,
    "living_street": 16.0,
    "service": 16.0,
    "road": 40.0,
}
#: Speed (km/h) of edges whose highway type is unknown and never tagged with a speed (25 mph).
FALLBACK_SPEED_KPH = 40.0
#: Walking speed (m/s), about 3.1 mph.
WALK_SPEED_MPS = 1.4

# Highway values that are never streets of the given type (as osmnx's download filters).
_NEVER = {"abandoned", "construction", "no", "planned", "platform", "proposed", "raceway", "razed"}
_NOT_DRIVE = _NEVER | {
    "bridleway",
    "bus_guideway",
    "busway",
    "corridor",
    "cycleway",
    "elevator",
    "escalator",
    "footway",
    "path",
    "pedestrian",
    "steps",
    "track",
}
_NOT_WALK = _NEVER | {"bus_guideway", "busway", "motor", "motorway", "motorway_link"}
_PRIVATE_SERVICE = {"alley", "driveway", "emergency_access", "parking", "parking_aisle", "private"}


class _NetworkSource(Protocol):
    """What :func:`load_network` reads from a ``facilities.NetworkSpec`` (duck-typed, read-only)."""

    @property
    def file(self) -> Path | None: ...
    @property
    def place(self) -> str | None: ...
    @property
    def bbox(self) -> tuple[float, float, float, float] | None: ...
    @property
    def network_type(self) -> str: ...


@dataclass(frozen=True)
class SnapResult:
    """Points snapped to their nearest network node.

    Attributes
    ----------
    ids
        The points' ids (a GeoDataFrame's ``id`` column, else the index, else ``0..n-1``).
    node
        The nearest node's id, per point.
    position
        The nearest node's position in the compiled network's node order (its row in the matrices).
    distance
        Straight-line distance (metres) from each point to its node.
    far
        ``True`` where ``distance`` exceeds ``max_distance``: these points are too far from any
        street to trust their travel times, and should be reported by id.
    max_distance
        The threshold used (``inf`` when none was given).
    """

    ids: np.ndarray
    node: np.ndarray
    position: np.ndarray
    distance: np.ndarray
    far: np.ndarray
    max_distance: float

    def __len__(self) -> int:
        return len(self.node)

    @property
    def far_ids(self) -> list[Any]:
        """Ids of the points farther than ``max_distance`` from the network."""
        return self.ids[self.far].tolist()

    def describe_far(self, *, layer: str = "points") -> str:
        """A one-line message naming the far points, for a report or a log (empty when none)."""
        if not self.far.any():
            return ""
        shown = ", ".join(
            f"{i} ({d:.0f} m)" for i, d in zip(self.ids[self.far][:10], self.distance[self.far][:10])
        )
        more = f" and {int(self.far.sum()) - 10} more" if self.far.sum() > 10 else ""
        return (
            f"{int(self.far.sum())} {layer} are farther than {self.max_distance:.0f} m from the street "
            "network: "
            f"{shown}{more}. Check their coordinates, or extend the network to cover them."
        )


def load_network(
    source: str | Path | _NetworkSource | None = None,
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    network_type: str | None = None,
    crs: Any = None,
    cache_dir: str | Path | None = None,
    hwy_speeds: dict[str, float] | None = None,
) -> nx.MultiDiGraph:
    """Load a street network ready for routing: projected, strongly connected, with travel times.

    Parameters
    ----------
    source
        A GraphML or OSM XML file (``.graphml``, ``.osm``, ``.osm.bz2``), or a
        ``facilities.NetworkSpec`` (any object with ``file``, ``place``, ``bbox``, ``network_type``
        and optionally ``cache_dir``). Give exactly one of ``source``, ``place`` and ``bbox``.
    place
        A place name osmnx can geocode, downloaded (online) and cached in ``cache_dir``.
    bbox
        ``(west, south, east, north)`` in degrees, downloaded and cached like ``place``.
    network_type
        ``"drive"``, ``"walk"`` or ``"all"``; default the spec's, else ``"drive"``.
    crs
        Metric CRS to project to; default the UTM zone of the network.
    cache_dir
        Folder where downloads are kept as GraphML; default the spec's ``cache_dir`` (no cache
        when neither is given).
    hwy_speeds
        Speeds (km/h) by highway type for edges without a ``maxspeed`` tag, overriding
        :data:`DRIVE_SPEEDS_KPH`.

    Returns
    -------
    networkx.MultiDiGraph
        Nodes with ``x``/``y`` in ``crs``; edges with ``length`` (m), ``speed_kph`` and
        ``travel_time`` (s).
    """
    file = getattr(source, "file", None) if not isinstance(source, str | Path) else source
    if source is not None and not isinstance(source, str | Path):
        place = place or getattr(source, "place", None)
        bbox = bbox or getattr(source, "bbox", None)
        network_type = network_type or getattr(source, "network_type", None)
        cache_dir = cache_dir or getattr(source, "cache_dir", None)
    given = [name for name, value in (("file", file), ("place", place), ("bbox", bbox)) if value is not None]
    if len(given) != 1:
        raise ValueError(
            f"load_network needs exactly one of a file, a place name or a bbox; got {given or 'none'}. "
            "Set one of file / place / bbox in the [network] table of city.toml."
        )
    network_type = network_type or "drive"
    if file is not None:
        raw = read_network(file, network_type=network_type)
    else:
        raw = download_network(place=place, bbox=bbox, network_type=network_type, cache_dir=cache_dir)
    return prepare_network(raw, crs=crs, hwy_speeds=hwy_speeds, walking=network_type == "walk")


def read_network(path: str | Path, *, network_type: str = "drive") -> nx.MultiDiGraph:
    """Read a street network file and keep the streets of ``network_type``.

    Parameters
    ----------
    path
        osmnx GraphML (``.graphml``) or OSM XML (``.osm``, ``.osm.bz2``, read by
        :func:`osmnx.graph_from_xml`, which decompresses ``.bz2`` itself).
    network_type
        ``"drive"`` drops footways, paths, cycleways, steps, private or parking service roads and
        ``access=no/private`` ways; ``"walk"`` drops motorways and makes every street two-way;
        ``"all"`` keeps everything.

    Returns
    -------
    networkx.MultiDiGraph
        The simplified graph in its file's CRS (WGS84 for OSM XML), its largest weakly connected
        component only.
    """
    path = Path(path)
    _check_network_type(network_type, file=str(path))
    if not path.is_file():
        raise ValidationError(
            [
                Problem(
                    str(path),
                    None,
                    None,
                    "street network file not found",
                    "check [network] file in city.toml",
                )
            ],
            city=str(path.parent),
        )
    name = path.name.lower()
    if name.endswith(".graphml"):
        G = _filter(ox.load_graphml(path), network_type)
    elif name.endswith((".osm", ".osm.bz2", ".xml")):
        raw = ox.graph_from_xml(path, bidirectional=network_type == "walk", simplify=False, retain_all=True)
        G = ox.simplify_graph(ox.truncate.largest_component(_filter(raw, network_type), strongly=False))
    else:
        raise ValidationError(
            [
                Problem(
                    str(path),
                    None,
                    None,
                    "unknown street network format",
                    "give an osmnx .graphml file or an OSM XML .osm / .osm.bz2 file",
                )
            ],
            city=str(path.parent),
        )
    G = ox.truncate.largest_component(G, strongly=False)
    log.info("read %s: %d nodes, %d edges (%s)", path.name, len(G), G.number_of_edges(), network_type)
    return G


def download_network(
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    network_type: str = "drive",
    cache_dir: str | Path | None = None,
) -> nx.MultiDiGraph:
    """Download a street network with osmnx, or reuse the copy saved in ``cache_dir``.

    Parameters
    ----------
    place
        A place name osmnx can geocode (:func:`osmnx.graph_from_place`).
    bbox
        ``(west, south, east, north)`` in degrees (:func:`osmnx.graph_from_bbox`).
    network_type
        osmnx network type.
    cache_dir
        Folder for the GraphML copy, named after the query; ``None`` downloads every time.

    Returns
    -------
    networkx.MultiDiGraph
        The raw (unprojected) graph.
    """
    _check_network_type(network_type, file="[network]")
    if (place is None) == (bbox is None):
        raise ValueError("download_network needs exactly one of place= or bbox=")
    west, south, east, north = (float(v) for v in bbox) if bbox is not None else (0.0, 0.0, 0.0, 0.0)
    box = (west, south, east, north)
    query = place if place is not None else "bbox " + " ".join(f"{v:.6f}" for v in box)
    cached = None
    if cache_dir is not None:
        slug = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-")[:60]
        digest = hashlib.sha1(f"{query}|{network_type}".encode()).hexdigest()[:8]
        cached = Path(cache_dir) / f"{slug}-{network_type}-{digest}.graphml"
        if cached.is_file():
            log.info("using cached network %s", cached)
            return ox.load_graphml(cached)
    log.info("downloading the %s network of %s", network_type, query)
    if place is not None:
        G = ox.graph_from_place(place, network_type=network_type)
    else:
        G = ox.graph_from_bbox(box, network_type=network_type)
    if cached is not None:
        with atomic_write(cached) as tmp:
            ox.save_graphml(G, tmp)
    return G


def prepare_network(
    G: nx.MultiDiGraph,
    *,
    crs: Any = None,
    hwy_speeds: dict[str, float] | None = None,
    walking: bool = False,
) -> nx.MultiDiGraph:
    """Project a raw network, keep its largest strongly connected component, add travel times.

    Parameters
    ----------
    G
        A raw osmnx graph (any CRS).
    crs
        Metric CRS to project to; default the graph's own CRS when already projected, else the UTM
        zone of its nodes.
    hwy_speeds
        Passed to :func:`add_speeds`.
    walking
        Price every edge at :data:`WALK_SPEED_MPS` instead of driving speeds.

    Returns
    -------
    networkx.MultiDiGraph
        A new graph; ``G`` is not changed.
    """
    graph_crs = pyproj.CRS.from_user_input(G.graph.get("crs", "EPSG:4326"))
    if crs is not None:
        G = ox.project_graph(G, to_crs=crs)
    elif graph_crs.is_geographic:
        G = ox.project_graph(G)
    else:
        G = G.copy()
    if pyproj.CRS.from_user_input(G.graph["crs"]).is_geographic:
        raise ValueError(f"crs must be a metric CRS (metres), not {crs!r}; leave it out to use the UTM zone")
    n_before = len(G)
    G = ox.truncate.largest_component(G, strongly=True)
    if len(G) < n_before:
        log.info("kept the largest strongly connected component: %d of %d nodes", len(G), n_before)
    return add_speeds(G, hwy_speeds=hwy_speeds, walking=walking)


def add_speeds(
    G: nx.MultiDiGraph,
    *,
    hwy_speeds: dict[str, float] | None = None,
    fallback: float = FALLBACK_SPEED_KPH,
    walking: bool = False,
) -> nx.MultiDiGraph:
    """Add ``speed_kph`` and ``travel_time`` (seconds) to every edge, in place.

    Driving speeds come from each edge's ``maxspeed`` tag; an edge without one gets its highway
    type's speed from ``hwy_speeds`` (default :data:`DRIVE_SPEEDS_KPH`), an unlisted type the mean
    tagged speed of its type, and a type never tagged ``fallback`` (osmnx's ``add_edge_speeds``).

    Parameters
    ----------
    G
        A graph whose edges have ``length`` in metres.
    hwy_speeds
        km/h by highway type, merged over :data:`DRIVE_SPEEDS_KPH`.
    fallback
        km/h for edges no other rule prices.
    walking
        Give every edge :data:`WALK_SPEED_MPS` instead.

    Returns
    -------
    networkx.MultiDiGraph
        ``G``.
    """
    if walking:
        nx.set_edge_attributes(G, WALK_SPEED_MPS * 3.6, "speed_kph")
    else:
        ox.add_edge_speeds(G, hwy_speeds={**DRIVE_SPEEDS_KPH, **(hwy_speeds or {})}, fallback=fallback)
    return ox.add_edge_travel_times(G)


def snap(network: Any, points: Any, *, max_distance: float | None = None) -> SnapResult:
    """Snap points to their nearest network node and report those too far from any street.

    Parameters
    ----------
    network
        A prepared graph (:func:`load_network`) or a :class:`routing.travel.CompiledNetwork`
        (faster when snapping often: its KD-tree is built once).
    points
        A GeoSeries / GeoDataFrame of points (reprojected to the network's CRS when they differ),
        or an ``(n, 2)`` array of x/y in the network's CRS.
    max_distance
        Points farther than this (metres) are marked ``far``; they are still snapped.

    Returns
    -------
    SnapResult
    """
    if isinstance(network, nx.Graph):
        from routing.travel import compile_network  # the compiled form owns the KD-tree

        network = compile_network(network)
    xy, ids = point_coordinates(points, crs=network.crs)
    distance, position = network.kdtree.query(xy) if len(xy) else (np.empty(0), np.empty(0, dtype=np.intp))
    limit = np.inf if max_distance is None else float(max_distance)
    return SnapResult(
        ids=ids,
        node=network.node_ids[position],
        position=np.asarray(position, dtype=np.intp),
        distance=np.asarray(distance, dtype=float),
        far=np.asarray(distance) > limit,
        max_distance=limit,
    )


def _check_network_type(network_type: str, *, file: str) -> None:
    if network_type not in NETWORK_TYPES:
        raise ValidationError(
            [
                Problem(
                    file,
                    None,
                    "network_type",
                    f"unknown network type {network_type!r}",
                    f"use one of {', '.join(NETWORK_TYPES)}",
                )
            ],
            city=file,
        )


def _values(tag: Any) -> Sequence[str]:
    return [str(v) for v in tag] if isinstance(tag, list) else ([] if tag is None else [str(tag)])


def _filter(G: nx.MultiDiGraph, network_type: str) -> nx.MultiDiGraph:
    """Drop the edges that are not streets of ``network_type``, then the isolated nodes."""
    if network_type == "all":
        return G
    drop = []
    for u, v, k, data in G.edges(keys=True, data=True):
        highway = _values(data.get("highway"))
        if network_type == "drive":
            bad = (
                any(h in _NOT_DRIVE for h in highway)
                or any(s in _PRIVATE_SERVICE for s in _values(data.get("service")))
                or any(a in ("no", "private") for a in _values(data.get("access")))
                or "yes" in _values(data.get("area"))
            )
        else:
            bad = any(h in _NOT_WALK for h in highway) or "private" in _values(data.get("service"))
        if bad or not highway:
            drop.append((u, v, k))
    if drop:
        G = G.copy()
        G.remove_edges_from(drop)
        G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
        log.info("dropped %d edges that are not %s streets", len(drop), network_type)
    return G


#: Below this share of a layer's points within ``snap_max`` of a street, the network does not cover
#: the city (it holds a corner of it, or is in the wrong place): an error, not a warning, since every
#: travel time and bus count would be computed on the covered part alone. A city whose network covers
#: a part on purpose sets ``[network] min_covered`` lower.
MIN_COVERED = 0.9


@dataclass(frozen=True)
class NetworkCheck:
    """A city's checked street network (see :func:`check_network`).

    Attributes
    ----------
    network
        The compiled network (a :class:`routing.travel.CompiledNetwork`), or only its nodes.
    covered
        Per layer checked, the share of its points within ``snap_max`` of a street.
    notes
        Lines about points far from the streets (fewer than :data:`MIN_COVERED` of a layer).
    """

    network: Any
    covered: dict[str, float]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Nodes:
    """The nodes of a network's largest strongly connected part, for snapping (no travel times)."""

    crs: pyproj.CRS
    node_ids: np.ndarray
    kdtree: Any

    def __len__(self) -> int:
        return len(self.node_ids)


def _streets_only(spec: Any, *, crs: Any) -> _Nodes:
    """The nodes :func:`load_network` would keep, projected to ``crs``, without pricing the edges."""
    from scipy.spatial import cKDTree

    network_type = getattr(spec, "network_type", None) or "drive"
    if getattr(spec, "file", None) is not None:
        raw = read_network(spec.file, network_type=network_type)
    else:
        raw = download_network(
            place=spec.place, bbox=spec.bbox, network_type=network_type, cache_dir=spec.cache_dir
        )
    if raw.number_of_edges() == 0:
        raise ValueError("Graph contains no edges.")
    largest: set[Any] = max(nx.strongly_connected_components(raw), key=len)
    kept = np.asarray(list(largest))
    x = np.asarray([raw.nodes[n]["x"] for n in kept], dtype=float)
    y = np.asarray([raw.nodes[n]["y"] for n in kept], dtype=float)
    target = pyproj.CRS.from_user_input(crs)
    x, y = pyproj.Transformer.from_crs(raw.graph.get("crs", "EPSG:4326"), target, always_xy=True).transform(
        x, y
    )
    return _Nodes(crs=target, node_ids=kept, kdtree=cKDTree(np.column_stack([x, y])))


def check_network(
    spec: Any,
    *,
    crs: Any,
    layers: Mapping[str, gpd.GeoDataFrame],
    city: str = "the city",
    travel_times: bool = True,
) -> NetworkCheck:
    """Load a city's street network and check it is usable: readable, with streets, covering the city.

    Parameters
    ----------
    spec
        The city's ``facilities.NetworkSpec``.
    crs
        The city's metric CRS.
    layers
        Point layers to check coverage for (``{"schools": ..., "students": ...}``); empty ones are skipped.
    city
        The city's name, for the error.
    travel_times
        Build the travel model (what commands route on); without, only the nodes of the largest
        strongly connected part are placed and snapped to (what ``compact validate`` needs: the
        same nodes, in a fraction of the time).

    Returns
    -------
    NetworkCheck
        ``network`` is the compiled network (or, without ``travel_times``, the nodes snapped to).

    Raises
    ------
    facilities.ValidationError
        The network file cannot be read, holds no streets, or fewer than :data:`MIN_COVERED` of a
        layer's points lie within ``spec.snap_max`` of a street.
    """
    from routing.travel import CompiledNetwork, load_compiled

    source = spec.file.name if getattr(spec, "file", None) is not None else "the street network"
    fix = "export the street network again (osmnx: ox.save_graphml), or fix [network] in city.toml"
    network: CompiledNetwork | _Nodes
    try:
        network = load_compiled(spec, crs=crs) if travel_times else _streets_only(spec, crs=crs)
    except ValidationError:
        raise
    except ET.ParseError as err:
        what = f"is not readable GraphML/XML ({err}): truncated or not a network file"
        raise ValidationError([Problem(source, None, None, what, fix)], city=city) from None
    except (ValueError, KeyError, nx.NetworkXException) as err:
        text = str(err).strip("'\"") or type(err).__name__
        empty = "no edges" in text or "null graph" in text.lower()
        what = "holds no streets (no edges)" if empty else f"cannot be used ({text})"
        raise ValidationError([Problem(source, None, None, what, fix)], city=city) from None
    if len(network) < 2:
        raise ValidationError([Problem(source, None, None, "holds no streets (no edges)", fix)], city=city)
    covered: dict[str, float] = {}
    notes: list[str] = []
    problems: list[Problem] = []
    for name, layer in layers.items():
        points = layer[layer.geometry.notna()] if len(layer) else layer
        if not len(points):
            continue
        snapped = snap(network, points, max_distance=spec.snap_max)
        share = float(1.0 - snapped.far.mean())
        covered[name] = share
        least = float(getattr(spec, "min_covered", MIN_COVERED))
        if share < least:
            problems.append(
                Problem(
                    source,
                    None,
                    None,
                    f"covers only {share:.0%} of the {name} ({int(snapped.far.sum()):,} of {len(snapped):,} "
                    "lie farther than "
                    f"{spec.snap_max:.0f} m from a street; at least {least:.0%} must be within it)",
                    "give a street network covering the whole city (a larger place or bbox), or "
                    "check its CRS "
                    "(a network covering a part on purpose: lower [network] min_covered)",
                )
            )
        elif snapped.far.any():
            notes.append(snapped.describe_far(layer=name))
    if problems:
        raise ValidationError(problems, city=city)
    return NetworkCheck(network=network, covered=covered, notes=tuple(notes))
