"""Riverton: the synthetic city that ships in ``data/demo``, regenerated from a seed and a size.

Riverton is fictional but shaped like Boston: a jittered street grid with arterials every eight
blocks, collectors between them, one-way residential pairs, a diagonal avenue and parks, cut by a
river crossed by a few bridges; neighborhoods with population by age and a low-income share (the
poorer ones across the river); district schools on three bell tiers, charter and Catholic schools
on bell times of their own; school buildings whose rooms match their enrollment, plus vacant and
under-used buildings offered to charter schools; bus riders (and some walkers) living on streets;
a bus yard and a fleet in Boston's ratios (about 25,000 riders, 220 schools and 650 buses).

Everything is drawn from one :class:`numpy.random.Generator` seeded by ``seed``, and every file is
written in a fixed order without timestamps, so a seed and a size give byte-identical files.

Examples
--------
>>> from facilities.demo import generate
>>> folder = generate(size="test", seed=7, out="/tmp/riverton-test")  # doctest: +SKIP
>>> from facilities import read_city
>>> city = read_city(folder)  # doctest: +SKIP

From the shell (the Makefile's ``make demo-data``)::

    python -m facilities.demo --size demo --seed 2026 --out data/demo
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import shapely
from shapely.geometry import MultiPoint, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from facilities.geocode import synthetic
from facilities.schema import GRADE_NAMES, ROOM_TYPES, format_grades, format_time, parse_grades

__all__ = ["APPLICATION_GRADES", "SIZES", "Size", "generate", "main"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Size:
    """How big a Riverton to build.

    Attributes
    ----------
    extent
        Side of the (square) city, metres.
    block
        Street spacing, metres.
    neighborhoods, schools, riders, available, needs, yards, bridges, parks
        How many of each; ``riders`` counts students eligible for a bus (walkers come on top,
        a fifth of all students), ``available`` counts buildings offered to charter schools.
    """

    extent: float
    block: float
    neighborhoods: int
    schools: int
    riders: int
    available: int
    needs: int
    yards: int
    bridges: int
    parks: int


def _sizes(table: str) -> dict[str, Size]:
    """Sizes from a table: a header of :class:`Size`'s fields, then one row a size, its name first."""
    header, *rows = (line.split() for line in table.strip().splitlines())
    return {name: Size(**dict(zip(header, map(int, values), strict=True))) for name, *values in rows}


#: The sizes :func:`generate` knows: ``test`` (tiny, for unit tests), ``demo`` (committed in
#: ``data/demo``) and ``city`` (Boston-scale, for benchmarks).
SIZES: dict[str, Size] = _sizes(
    """
        extent  block  neighborhoods  schools  riders  available  needs  yards  bridges  parks
test      3000    120              4       14     400          8      8      1        2      1
demo      6000    110             12       60    6000         25      8      1        3      3
city     14000    120             24      220   25000         90     16      4        8     20
"""
)

#: Where Riverton sits (a real-looking place, so the UTM zone logic has work to do).
ORIGIN = (-71.08, 42.33)
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(ORIGIN[1]))

#: Boston's ratios: about 650 buses for 25,000 riders, at about $100k a bus-year.
BUSES_PER_RIDER = 650 / 25_000
#: Eligibility (walk distance beyond which a student rides, metres) by grade band, as in Boston.
ELIGIBILITY = {"K-5": 1609, "6-8": 2414, "9-12": 3219}
#: Class sizes by grade band used to size classrooms (and by the capacity model).
CLASS_SIZES = {"PK-3": 20, "4-8": 28, "9-12": 30}
DISTRICT_TIERS = (7 * 3600 + 1800, 8 * 3600 + 1800, 9 * 3600 + 1800)
#: Grades whose families apply in the demo's lottery (``choices.csv``): K, 6 and 9.
APPLICATION_GRADES = (0, 6, 9)
_SOUGHT_AFTER = (0.2, 2.5)  # share of schools families seek out, and their extra appeal (utility)
_SECTOR_PULL = {"district": 0.0, "charter": 0.3, "catholic": -0.3}
_PER_KM = 0.4  # appeal lost per km from home
_LIST_LENGTH = (3, 6)  # schools a family ranks, at least and at most
_DISTRICT_DAY = 6 * 3600 + 1800

_AVENUES = (
    "Adams",
    "Beacon",
    "Cedar",
    "Dana",
    "Elm",
    "Forest",
    "Grove",
    "Harvard",
    "Irving",
    "Juniper",
    "Kent",
    "Linden",
    "Maple",
    "Newbury",
    "Oak",
    "Pearl",
    "Quincy",
    "Russell",
    "Spruce",
    "Tremont",
    "Union",
    "Vernon",
    "Walnut",
    "Willow",
    "York",
    "Ash",
    "Birch",
    "Chestnut",
    "Dover",
    "Essex",
    "Fuller",
    "Gordon",
    "Hawthorne",
    "Ivy",
    "Jay",
    "Kirkland",
    "Laurel",
    "Myrtle",
    "Norfolk",
    "Orchard",
)
_STREET_KINDS = ("Avenue", "Road", "Terrace", "Lane", "Way")
_NEIGHBORHOODS = (
    "Millbrook",
    "Eastbrook",
    "Lower Falls",
    "Fairmount",
    "Cedar Grove",
    "Kingsley",
    "Ashmont Park",
    "Old Harbor",
    "Mill Hill",
    "Westgate",
    "North End",
    "Bayview",
    "Stonybrook",
    "Foundry Square",
    "Highland",
    "Brightwater",
    "Oak Square",
    "Sumner Hill",
    "Franklin Field",
    "Canal District",
    "Meadowbank",
    "Parkside",
    "Linden Heights",
    "Ropewalk",
)
_FIRST = (
    "Abigail",
    "Benjamin",
    "Clara",
    "Dorothy",
    "Edward",
    "Frederick",
    "Harriet",
    "Ida",
    "James",
    "Julia",
    "Lucy",
    "Margaret",
    "Nathaniel",
    "Phillis",
    "Prince",
    "Robert",
    "Sarah",
    "Thomas",
    "William",
    "Maria",
    "Elijah",
    "Frances",
    "Crispus",
    "Lydia",
    "Horace",
    "Susan",
    "Josiah",
    "Ellen",
)
_LAST = (
    "Adams",
    "Baldwin",
    "Channing",
    "Douglass",
    "Eliot",
    "Fuller",
    "Garrison",
    "Hale",
    "Hutchinson",
    "Lowell",
    "Mather",
    "Otis",
    "Parkman",
    "Revere",
    "Sumner",
    "Tobin",
    "Warren",
    "Winthrop",
    "Alcott",
    "Bradford",
    "Curley",
    "Dever",
    "Everett",
    "Frothingham",
    "Greenwood",
    "Hurley",
    "Kilmer",
    "Lyndon",
    "Mason",
    "Ohrenberger",
    "Perkins",
    "Quincy",
    "Russell",
    "Shaw",
    "Trotter",
    "Wheatley",
    "Young",
    "Attucks",
    "Bates",
    "Condon",
    "Dearborn",
    "Emerson",
    "Haley",
    "Holmes",
)
_CHARTER_WORDS = (
    "Excel",
    "Horizon",
    "Pioneer",
    "Summit",
    "Compass",
    "Harbor",
    "Beacon",
    "Kestrel",
    "Lighthouse",
    "Ascend",
    "Keystone",
    "Bridge",
    "Catalyst",
    "Cornerstone",
    "Frontier",
    "Meridian",
    "Northstar",
    "Prospect",
    "Renaissance",
    "Roxbury Prep",
    "Vanguard",
    "Wellspring",
    "Academy of the Pacific",
    "City on a Hill",
    "Codman",
    "Equinox",
    "Foundry",
    "Granite",
    "Helix",
    "Insight",
)
_CHARTER_KINDS = ("Charter School", "Charter Public School", "Collegiate Charter", "Prep Charter")
_SAINTS = (
    "Agatha",
    "Ambrose",
    "Anne",
    "Anthony",
    "Augustine",
    "Bernard",
    "Brendan",
    "Brigid",
    "Catherine",
    "Cecilia",
    "Clement",
    "Columbkille",
    "Dominic",
    "Elizabeth",
    "Francis",
    "Gregory",
    "Helen",
    "Ignatius",
    "Jerome",
    "John",
    "Joseph",
    "Jude",
    "Katharine",
    "Kevin",
    "Lucy",
    "Margaret",
    "Mark",
    "Mary",
    "Matthew",
    "Monica",
    "Patrick",
    "Peter",
    "Rose",
    "Teresa",
    "Thomas",
    "Vincent",
)

#: Speed limits by road class (Boston's default is 25 mph; 20 mph in the dense core).
_MAXSPEED = {"primary": "35 mph", "secondary": "30 mph", "tertiary": "25 mph", "residential": "25 mph"}
_SLOW = "20 mph"
_BOOL = {True: "yes", False: "no"}


# ---------------------------------------------------------------------------------------- geometry
def _lonlat(xy: np.ndarray, digits: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Local metres (east, north of :data:`ORIGIN`) to rounded lon/lat."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    lon = np.round(ORIGIN[0] + xy[:, 0] / _M_PER_DEG_LON, digits)
    lat = np.round(ORIGIN[1] + xy[:, 1] / _M_PER_DEG_LAT, digits)
    return lon, lat


def _uniform_in(poly: Polygon, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points drawn uniformly inside ``poly``."""
    x0, y0, x1, y1 = poly.bounds
    out: list[np.ndarray] = []
    while sum(len(o) for o in out) < n:
        pts = rng.uniform((x0, y0), (x1, y1), size=(4 * n, 2))
        out.append(pts[shapely.contains_xy(poly, pts[:, 0], pts[:, 1])])
    return np.concatenate(out)[:n]


@dataclass(frozen=True)
class _River:
    """A river crossing the city west to east along a gentle sine, ``2 * half_width`` metres wide."""

    y0: float
    amplitude: float
    wavelength: float
    phase: float
    half_width: float
    extent: float

    def center(self, x: np.ndarray | float) -> np.ndarray:
        return self.y0 + self.amplitude * np.sin(2 * np.pi * np.asarray(x) / self.wavelength + self.phase)

    def line(self, margin: float = 0.0) -> np.ndarray:
        half = self.extent / 2 + margin
        xs = np.arange(-half, half + 1e-9, 50.0)
        return np.column_stack([xs, self.center(xs)])

    def polygon(self) -> Polygon:
        line = self.line(margin=100.0)
        lower = line - (0.0, self.half_width)
        upper = line + (0.0, self.half_width)
        return Polygon(np.concatenate([lower, upper[::-1]]))

    def sides(self) -> tuple[Polygon, Polygon]:
        """The city south and north of the river's centre line."""
        half = self.extent / 2
        line = self.line()
        south = Polygon(np.concatenate([[(-half, -half), (half, -half)], line[::-1]]))
        north = Polygon(np.concatenate([line, [(half, half), (-half, half)]]))
        return south, north


def _make_river(size: Size, rng: np.random.Generator) -> _River:
    return _River(
        y0=-0.1 * size.extent + rng.uniform(-0.03, 0.03) * size.extent,
        amplitude=rng.uniform(0.04, 0.07) * size.extent,
        wavelength=rng.uniform(0.8, 1.2) * size.extent,
        phase=rng.uniform(0, 2 * np.pi),
        half_width=max(90.0, 0.9 * size.block),
        extent=size.extent,
    )


# ----------------------------------------------------------------------------------------- streets
@dataclass
class _Streets:
    """The street graph with each node's local coordinates and each street segment."""

    graph: nx.MultiDiGraph
    xy: dict[int, tuple[float, float]]
    segments: pd.DataFrame  # u, v, highway, bridge, x0, y0, x1, y1 (one row per undirected segment)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} Street"


def _line_class(k: int) -> str:
    """Road class of the k-th grid line: arterials every 8 lines, collectors between them."""
    if k % 16 == 4:
        return "primary"
    if k % 8 == 4:
        return "secondary"
    if k % 8 == 0:
        return "tertiary"
    return "residential"


def _make_streets(size: Size, river: _River, rng: np.random.Generator) -> _Streets:
    """A jittered grid cut by the river, with bridges, one-way pairs, a diagonal and parks."""
    n = int(size.extent // size.block) + 1
    half = (n - 1) * size.block / 2
    jitter = rng.uniform(-0.12, 0.12, size=(n, n, 2)) * size.block
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    pos = np.stack([ii * size.block - half, jj * size.block - half], axis=-1) + jitter
    col_class = [_line_class(i) for i in range(n)]
    row_class = [_line_class(j) for j in range(n)]
    river_poly = river.polygon()
    alive = ~shapely.intersects_xy(river_poly.buffer(15.0), pos[..., 0].ravel(), pos[..., 1].ravel()).reshape(
        n, n
    )
    # parks: the interior of a few 3x3-block residential squares holds no streets
    residential = [k for k in range(1, n - 3) if all(_line_class(k + d) == "residential" for d in (0, 1, 2))]
    for _ in range(size.parks):
        i0, j0 = rng.choice(residential), rng.choice(residential)
        alive[i0 : i0 + 2, j0 : j0 + 2] = False
    # one-way pairs: in some eight-block squares the north-south residential streets alternate
    one_way_square = rng.random(size=(n // 8 + 1, n // 8 + 1)) < 0.3

    rows: list[tuple] = []  # (u, v, highway, oneway, name, bridge)
    for j in range(n):
        for i in range(n - 1):
            if alive[i, j] and alive[i + 1, j]:
                rows.append((_node(i, j, n), _node(i + 1, j, n), row_class[j], False, _ordinal(j + 1), False))
    for i in range(n):
        name = f"{_AVENUES[i % len(_AVENUES)]} {_STREET_KINDS[(i // len(_AVENUES)) % len(_STREET_KINDS)]}"
        for j in range(n - 1):
            if not (alive[i, j] and alive[i, j + 1]):
                continue
            one_way = col_class[i] == "residential" and one_way_square[i // 8, j // 8]
            u, v = (
                (_node(i, j, n), _node(i, j + 1, n))
                if i % 2 == 0 or not one_way
                else (_node(i, j + 1, n), _node(i, j, n))
            )
            rows.append((u, v, col_class[i], bool(one_way), name, False))
    # a diagonal avenue running north-east through the north side
    j_start = int(np.searchsorted(pos[n // 2, :, 1], river.center(0.0) + river.half_width + 2 * size.block))
    i = int(rng.integers(1, max(2, n // 4)))
    for j in range(j_start, n - 1):
        if i + 1 >= n:
            break
        if alive[i, j] and alive[i + 1, j + 1]:
            rows.append(
                (_node(i, j, n), _node(i + 1, j + 1, n), "secondary", False, "Old Colony Road", False)
            )
        i += 1
    seg = pd.DataFrame(rows, columns=["u", "v", "highway", "oneway", "name", "bridge"])
    seg[["x0", "y0"]] = _coords(seg["u"], n, pos)
    seg[["x1", "y1"]] = _coords(seg["v"], n, pos)
    lines = shapely.linestrings(
        np.stack([seg[["x0", "y0"]].to_numpy(), seg[["x1", "y1"]].to_numpy()], axis=1)
    )
    seg = seg[~shapely.intersects(lines, river_poly)]
    # a few local streets are missing (dead ends, cul-de-sacs)
    drop = (seg["highway"] == "residential") & ~seg["oneway"] & (rng.random(len(seg)) < 0.04)
    seg = seg[~drop]
    seg = pd.concat([seg, _bridges(size, river, alive, pos, col_class)], ignore_index=True)
    return _build_graph(seg, n, pos, core=0.12 * size.extent)


def _node(i: int, j: int, n: int) -> int:
    """Id of the node at column ``i``, row ``j`` of an ``n`` x ``n`` grid."""
    return j * n + i + 1


def _coords(ids: pd.Series, n: int, pos: np.ndarray) -> np.ndarray:
    """Local coordinates of the nodes ``ids`` (the inverse of :func:`_node`)."""
    k = ids.to_numpy() - 1
    return pos[k % n, k // n]


def _bridges(
    size: Size, river: _River, alive: np.ndarray, pos: np.ndarray, col_class: list[str]
) -> pd.DataFrame:
    """Bridges carry a few arterials across the river (spread west to east)."""
    n = alive.shape[0]
    arterials = [i for i in range(n) if col_class[i] in ("primary", "secondary")]
    picks = sorted(
        {arterials[int(round(k))] for k in np.linspace(0, len(arterials) - 1, size.bridges + 2)[1:-1]}
    )
    rows = []
    for i in picks:
        center = river.center(pos[i, :, 0])
        south = [j for j in range(n) if alive[i, j] and pos[i, j, 1] < center[j]]
        north = [j for j in range(n) if alive[i, j] and pos[i, j, 1] > center[j]]
        if not south or not north:
            continue
        js, jn = max(south), min(north)
        name = f"{_AVENUES[i % len(_AVENUES)]} Street Bridge"
        (x0, y0), (x1, y1) = pos[i, js], pos[i, jn]
        rows.append((_node(i, js, n), _node(i, jn, n), "primary", False, name, True, x0, y0, x1, y1))
    return pd.DataFrame(
        rows, columns=["u", "v", "highway", "oneway", "name", "bridge", "x0", "y0", "x1", "y1"]
    )


def _build_graph(seg: pd.DataFrame, n: int, pos: np.ndarray, *, core: float) -> _Streets:
    """An osmnx-style MultiDiGraph (lon/lat, lengths in metres, mph speed limits), strongly connected.

    Residential streets within ``core`` metres of the centre get the dense core's 20 mph limit.
    """
    seg = seg.sort_values(["u", "v"], kind="stable").reset_index(drop=True)
    nodes = np.unique(seg[["u", "v"]].to_numpy())
    xy_arr = _coords(pd.Series(nodes), n, pos)
    lon, lat = _lonlat(xy_arr, digits=7)
    G = nx.MultiDiGraph(crs="epsg:4326", simplified=True, name="Riverton")
    for k, node_id in enumerate(nodes.tolist()):
        G.add_node(node_id, y=float(lat[k]), x=float(lon[k]))
    where = {int(node_id): k for k, node_id in enumerate(nodes.tolist())}
    iu = seg["u"].map(where).to_numpy()
    iv = seg["v"].map(where).to_numpy()
    length = np.round(ox.distance.great_circle(lat[iu], lon[iu], lat[iv], lon[iv]), 3)
    mid = (seg[["x0", "y0"]].to_numpy() + seg[["x1", "y1"]].to_numpy()) / 2
    slow = np.hypot(mid[:, 0], mid[:, 1]) < core
    for k, r in enumerate(seg.itertuples(index=False)):
        attrs = {
            "osmid": 100_000 + k,
            "highway": r.highway,
            "name": r.name,
            "maxspeed": _SLOW if (r.highway == "residential" and slow[k]) else _MAXSPEED[r.highway],
            "length": float(length[k]),
        }
        if r.bridge:
            attrs["bridge"] = "yes"
        G.add_edge(r.u, r.v, oneway=bool(r.oneway), reversed=False, **attrs)
        if not r.oneway:
            G.add_edge(r.v, r.u, oneway=False, reversed=True, **attrs)
    keep = max(nx.strongly_connected_components(G), key=len)
    G.remove_nodes_from(sorted(set(G.nodes) - keep))
    for node_id in G.nodes:
        G.nodes[node_id]["street_count"] = len(set(G.successors(node_id)) | set(G.predecessors(node_id)))
    seg = seg[seg["u"].isin(keep) & seg["v"].isin(keep)].reset_index(drop=True)
    xy = {
        int(node_id): (float(x), float(y))
        for node_id, (x, y) in zip(nodes.tolist(), xy_arr, strict=True)
        if node_id in keep
    }
    return _Streets(graph=G, xy=xy, segments=seg)


# ------------------------------------------------------------------------------------ neighborhoods
def _make_neighborhoods(size: Size, river: _River, rng: np.random.Generator) -> pd.DataFrame:
    """Neighborhoods tiling the city (Voronoi cells on each bank), poorer and denser south of the river."""
    south, north = river.sides()
    k_south = max(1, round(size.neighborhoods * south.area / (south.area + north.area)))
    water = river.polygon()
    rows = []
    for bank, poly, k in (("south", south, k_south), ("north", north, size.neighborhoods - k_south)):
        sample = _uniform_in(poly, 4000, rng)
        seeds = sample[rng.choice(len(sample), size=k, replace=False)]
        for _ in range(15):  # Lloyd's iterations: cells of similar size
            owner = np.argmin(((sample[:, None, :] - seeds[None, :, :]) ** 2).sum(-1), axis=1)
            seeds = np.array(
                [sample[owner == c].mean(axis=0) if np.any(owner == c) else seeds[c] for c in range(k)]
            )
        cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=box(*poly.buffer(size.extent).bounds))
        for cell in sorted(cells.geoms, key=lambda g: (round(g.centroid.y), round(g.centroid.x))):
            shape = cell.intersection(poly)
            if not shape.is_empty:
                rows.append({"bank": bank, "geometry": shape})
    frame = pd.DataFrame(rows)
    names = rng.permutation(_NEIGHBORHOODS[: max(len(frame), 12)])[: len(frame)]
    frame["name"] = names
    frame["id"] = [f"N{k + 1:02d}" for k in range(len(frame))]
    south_bank = (frame["bank"] == "south").to_numpy()
    frame["low_income_share"] = np.round(
        np.where(south_bank, rng.uniform(0.42, 0.72, len(frame)), rng.uniform(0.10, 0.38, len(frame))), 2
    )
    land_km2 = np.array([g.difference(water).area / 1e6 for g in frame["geometry"]])
    density = rng.uniform(4500, 7500, len(frame)) * (1 + 0.8 * frame["low_income_share"].to_numpy())
    total = np.round(density * land_km2, -1).astype(int)
    child_share = 0.12 + 0.16 * frame["low_income_share"].to_numpy() + rng.uniform(-0.01, 0.01, len(frame))
    children = total * child_share
    bands = rng.dirichlet([29, 28, 27, 16], size=len(frame)) * 100  # 0-4, 5-9, 10-14, 15-17
    bands = bands / bands.sum(axis=1, keepdims=True)
    for c, band in enumerate(("0_4", "5_9", "10_14", "15_17")):
        frame[f"population_{band}"] = np.round(children * bands[:, c]).astype(int)
    frame["population_0_17"] = frame[[f"population_{b}" for b in ("0_4", "5_9", "10_14", "15_17")]].sum(
        axis=1
    )
    frame["population_total"] = total
    frame["population_low_income_0_17"] = np.round(
        frame["population_0_17"] * frame["low_income_share"]
    ).astype(int)
    frame["kind"] = "neighborhood"
    frame["child_density"] = frame["population_0_17"] / land_km2
    return frame


# ------------------------------------------------------------------------------------ street points
@dataclass
class _Points:
    """Candidate addresses: points beside street segments (a few metres off the centre line)."""

    xy: np.ndarray
    normal: np.ndarray  # unit vector from the street to the point
    highway: np.ndarray
    street: np.ndarray
    neighborhood: np.ndarray  # index into the neighborhoods frame
    weight: np.ndarray  # children per km2 where the point lies
    block: np.ndarray  # the block's index along its street (house numbers)
    along: np.ndarray  # position along the block, 0-1, the way numbers rise
    left: np.ndarray  # on the left of the street, looking the way numbers rise (odd numbers)


def _street_points(
    streets: _Streets, hoods: pd.DataFrame, river: _River, n: int, rng: np.random.Generator, *, grid: int
) -> _Points:
    seg = streets.segments[~streets.segments["bridge"]]
    a = seg[["x0", "y0"]].to_numpy()
    b = seg[["x1", "y1"]].to_numpy()
    length = np.hypot(*(b - a).T)
    share = {"residential": 1.0, "tertiary": 0.8, "secondary": 0.4, "primary": 0.25}
    p = length * seg["highway"].map(share).to_numpy()
    k = rng.choice(len(seg), size=n, p=p / p.sum())
    t = rng.uniform(0.1, 0.9, n)[:, None]
    direction = (b[k] - a[k]) / length[k, None]
    normal = np.column_stack([-direction[:, 1], direction[:, 0]]) * rng.choice([-1.0, 1.0], size=(n, 1))
    xy = a[k] + t * (b[k] - a[k]) + normal * rng.uniform(6.0, 14.0, (n, 1))
    hood = np.full(n, -1)
    for h, geom in enumerate(hoods["geometry"]):
        hood[shapely.contains_xy(geom, xy[:, 0], xy[:, 1])] = h
    ok = (hood >= 0) & ~shapely.intersects_xy(river.polygon().buffer(40.0), xy[:, 0], xy[:, 1])
    block, along, left = _numbering(seg, k, t[:, 0], normal, grid)
    return _Points(
        xy=xy[ok],
        normal=normal[ok],
        highway=seg["highway"].to_numpy()[k][ok],
        street=seg["name"].to_numpy()[k][ok],
        neighborhood=hood[ok],
        weight=hoods["child_density"].to_numpy()[hood[ok]],
        block=block[ok],
        along=along[ok],
        left=left[ok],
    )


def _numbering(
    seg: pd.DataFrame, k: np.ndarray, t: np.ndarray, normal: np.ndarray, grid: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For points at ``t`` along segments ``k``: the block's index along the street, the position
    along it the way numbers rise (west to east, south to north) and the side (left: odd numbers)."""
    u, v = seg["u"].to_numpy()[k] - 1, seg["v"].to_numpy()[k] - 1
    iu, ju, iv, jv = u % grid, u // grid, v % grid, v // grid
    east_west = ju == jv
    block = np.where(east_west, np.minimum(iu, iv), np.minimum(ju, jv))
    rising = np.where(east_west, iv > iu, jv > ju)
    along = np.where(rising, t, 1.0 - t)
    a = seg[["x0", "y0"]].to_numpy()[k]
    b = seg[["x1", "y1"]].to_numpy()[k]
    ahead = (b - a) * np.where(rising, 1.0, -1.0)[:, None]
    left = ahead[:, 0] * normal[:, 1] - ahead[:, 1] * normal[:, 0] > 0
    return block, along, left


def _pick_sites(
    points: _Points,
    weight: np.ndarray,
    n: int,
    taken: list[np.ndarray],
    spacing: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Indices of ``n`` points drawn by ``weight``, each at least ``spacing`` metres from the others and
    ``taken``."""
    if n <= 0:
        return np.zeros(0, dtype=int)
    order = rng.choice(
        len(weight), size=min(len(weight), 60 * n + 200), replace=False, p=weight / weight.sum()
    )
    chosen: list[int] = []
    for idx in order.tolist():
        here = points.xy[idx]
        if all(np.hypot(*(here - other)) >= spacing for other in taken):
            chosen.append(idx)
            taken.append(here)
            if len(chosen) == n:
                break
    found = np.array(chosen, dtype=int)
    if len(found) < n and spacing > 50:  # the city is full at this spacing: relax it for the rest
        found = np.concatenate(
            [found, _pick_sites(points, weight, n - len(found), taken, spacing * 0.8, rng)]
        )
    return found


# ---------------------------------------------------------------------------- schools and buildings
def _levels(table: str) -> dict[str, tuple[tuple[str, float, tuple[int, int]], ...]]:
    """Grade spans from a table: one row a span (sector, grades, share, fewest and most seats)."""
    spans: dict[str, list[tuple[str, float, tuple[int, int]]]] = {}
    for sector, grades, share, low, high in (line.split() for line in table.strip().splitlines()):
        spans.setdefault(sector, []).append((grades, float(share), (int(low), int(high))))
    return {sector: tuple(rows) for sector, rows in spans.items()}


#: Grade spans by sector: (grades, share of the sector's schools, range of seats).
_LEVELS = _levels(
    """
district  K-5   0.22  300   560
district  PK-5  0.20  300   560
district  K-8   0.10  420   760
district  PK-8  0.12  420   760
district  6-8   0.14  380   700
district  9-12  0.22  500  1300
charter   K-5   0.20  250   450
charter   K-8   0.20  350   560
charter   5-8   0.20  240   400
charter   6-12  0.15  450   720
charter   9-12  0.25  300   560
catholic  PK-8  0.70  180   420
catholic  9-12  0.30  350   750
"""
)
_SECTOR_SHARE = {"district": 0.60, "charter": 0.25, "catholic": 0.15}
_ID_PREFIX = {"district": "DIS", "charter": "CHA", "catholic": "CAT"}
#: Rent or operating cost by owner, dollars a square metre a year.
_COST_PER_M2 = {"district": 115.0, "archdiocese": 140.0, "city": 95.0, "private": 280.0}
_CONDITION = {"district": (35, 92), "archdiocese": (25, 70), "city": (40, 85), "private": (60, 95)}
_ACCESSIBLE = {"district": 0.55, "archdiocese": 0.25, "city": 0.7, "private": 0.95}
_CAFETERIA = {"district": 0.9, "archdiocese": 0.7, "city": 0.5, "private": 0.2}


def _grades(text: str) -> tuple[int, ...]:
    """``'PK-5'`` gives ``(-1, 0, ..., 5)``; ``'6'`` gives ``(6,)``."""
    lo, _, hi = text.partition("-")
    return tuple(range(GRADE_NAMES.index(lo) - 1, GRADE_NAMES.index(hi or lo)))


def _class_size(grade: int) -> int:
    return CLASS_SIZES["PK-3"] if grade <= 3 else CLASS_SIZES["4-8"] if grade <= 8 else CLASS_SIZES["9-12"]


def _seats_per_room(grades: Sequence[int]) -> float:
    return float(np.mean([_class_size(g) for g in grades]))


def _split(n: int, shares: Sequence[float]) -> list[int]:
    """``n`` split by ``shares`` with largest remainders (the counts add up to ``n``)."""
    raw = np.asarray(shares, dtype=float) / np.sum(shares) * n
    counts = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[k] += 1
    return counts.tolist()


def _rooms(classrooms: int, top_grade: int) -> dict[str, int]:
    """The other rooms a school building of ``classrooms`` classrooms has for its grades."""
    return {
        "classroom": classrooms,
        "small": max(1, classrooms // 5),
        "science": 0 if top_grade <= 5 else max(1, classrooms // (8 if top_grade <= 8 else 5)),
        "special_education": max(1, classrooms // 10),
        "art": 1 + (classrooms > 30),
        "music": 1 + (classrooms > 30),
        "library": 1,
        "computer": (classrooms > 12) + (top_grade >= 9),
        "office": 2 + classrooms // 15,
    }


def _building(
    owner: str,
    status: str,
    name: str,
    site: int,
    rooms: dict[str, int],
    *,
    gym_chance: float,
    rng: np.random.Generator,
    available: str = "",
) -> dict:
    gym = bool(rng.random() < gym_chance)
    cafeteria = bool(rng.random() < _CAFETERIA[owner])
    area = rooms["classroom"] * 70 * 2.4 + 850 * gym + 400 * cafeteria
    return {
        "name": name,
        "owner": owner,
        "status": status,
        "site": site,
        "rooms": rooms,
        "gross_area": float(round(area, -1)),
        "gym": gym,
        "cafeteria": cafeteria,
        "accessible": bool(rng.random() < _ACCESSIBLE[owner]),
        "condition": int(rng.integers(*_CONDITION[owner])),
        "annual_cost": float(round(area * _COST_PER_M2[owner] * rng.uniform(0.85, 1.15), -3)),
        "available": available,
    }


def _school_names(sector: str, grades: str, count: int, rng: np.random.Generator, used: set[str]) -> str:
    for _ in range(1000):
        if sector == "district":
            person = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            kind = {"9-12": "High School", "6-8": "Middle School"}.get(
                grades, "K-8 School" if grades.endswith("8") else "Elementary School"
            )
            name = f"{person} {kind}"
        elif sector == "charter":
            name = f"{rng.choice(_CHARTER_WORDS)} {rng.choice(_CHARTER_KINDS)}"
        else:
            saint = rng.choice(_SAINTS)
            name = f"St. {saint} Catholic High School" if grades == "9-12" else f"St. {saint} School"
        if name not in used:
            used.add(name)
            return name
    return _unique_name(f"{name} {count}", used)


def _unique_name(name: str, used: set[str], street: str = "") -> str:
    """``name``, else followed by its street (or neighborhood), else numbered, so that no two names
    in a file repeat (no random draw: the rest of the city stays as it was); the name found joins
    ``used``."""
    named = [name, f"{name} ({street})"] if street and street not in name else [name]
    found = next(
        n for n in itertools.chain(named, (f"{name} {k}" for k in itertools.count(2))) if n not in used
    )
    used.add(found)
    return found


def _make_schools(
    size: Size, points: _Points, hoods: pd.DataFrame, rng: np.random.Generator
) -> tuple[list[dict], list[dict], list[np.ndarray]]:
    """Schools of the three sectors and the buildings they occupy (some shared, some under-used)."""
    poverty = hoods["low_income_share"].to_numpy()[points.neighborhood]
    bias = {"district": np.ones_like(poverty), "charter": 0.3 + poverty, "catholic": 1.1 - poverty}
    spacing = 0.4 * math.sqrt(size.extent**2 / size.schools)
    taken: list[np.ndarray] = []
    schools: list[dict] = []
    used: set[str] = set()
    for sector, count in zip(_SECTOR_SHARE, _split(size.schools, list(_SECTOR_SHARE.values())), strict=True):
        levels = _LEVELS[sector]
        spans = [
            lv
            for lv, k in zip(levels, _split(count, [s for _, s, _ in levels]), strict=True)
            for _ in range(k)
        ]
        spans = [spans[k] for k in rng.permutation(len(spans))]
        sites = _pick_sites(points, points.weight * bias[sector], count, taken, spacing, rng)
        for k, ((text, _, (lo, hi)), site) in enumerate(zip(spans, sites, strict=True)):
            grades = _grades(text)
            rooms = math.ceil(rng.integers(lo, hi + 1) / _seats_per_room(grades))
            schools.append(
                {
                    "id": f"{_ID_PREFIX[sector]}{k + 1:03d}",
                    "name": _school_names(sector, text, k, rng, used),
                    "sector": sector,
                    "grades": grades,
                    "classrooms": rooms,
                    "site": int(site),
                    "utilization": rng.uniform(0.86, 1.02),
                }
            )
    _bell_times(schools, rng)
    return schools, _house_schools(size, schools, points, hoods, rng), taken


def _bell_times(schools: list[dict], rng: np.random.Generator) -> None:
    """District schools on three tiers; charter and Catholic schools on times of their own."""
    charter_starts = (
        7 * 60 + 40,
        7 * 60 + 45,
        7 * 60 + 50,
        7 * 60 + 55,
        8 * 60 + 5,
        8 * 60 + 10,
        8 * 60 + 15,
        8 * 60 + 20,
        8 * 60 + 40,
        8 * 60 + 50,
        9 * 60 + 5,
    )
    catholic_starts = (7 * 60 + 50, 8 * 60, 8 * 60 + 5, 8 * 60 + 10, 8 * 60 + 15, 8 * 60 + 20)
    for s in schools:
        if s["sector"] == "district":
            top = max(s["grades"])
            chances = (
                (0.8, 0.2, 0.0)
                if top >= 9
                else (0.5, 0.5, 0.0)
                if min(s["grades"]) >= 6
                else (0.0, 0.45, 0.55)
            )
            s["bell_start"] = DISTRICT_TIERS[int(rng.choice(3, p=chances))]
            s["bell_end"] = s["bell_start"] + _DISTRICT_DAY
        else:
            starts, day = (
                (charter_starts, (420, 450)) if s["sector"] == "charter" else (catholic_starts, (400, 415))
            )
            s["bell_start"] = int(rng.choice(starts)) * 60
            s["bell_end"] = s["bell_start"] + int(rng.integers(day[0] // 5, day[1] // 5 + 1)) * 300


def _house_schools(
    size: Size, schools: list[dict], points: _Points, hoods: pd.DataFrame, rng: np.random.Generator
) -> list[dict]:
    """Put every school in a building: district schools in district buildings (a few share one,
    a few are under-used), charters in leased space (one in a district building), Catholic schools
    in archdiocese buildings. Sets each school's enrollment, capacity and building."""
    district = [s for s in schools if s["sector"] == "district"]
    charters = [s for s in schools if s["sector"] == "charter"]
    lower = [s for s in district if max(s["grades"]) <= 8]
    pairs = max(1, round(size.schools / 30))
    hosted = max(1, round(size.schools / 60))
    joins: dict[str, dict] = {}  # guest school id -> host school
    order = rng.permutation(len(lower))
    for a, b in zip(order[: 2 * pairs : 2], order[1 : 2 * pairs : 2], strict=True):
        joins[lower[b]["id"]] = lower[a]
    single = [
        s for s in district if s["id"] not in joins and s["id"] not in {h["id"] for h in joins.values()}
    ]
    hosts = [single[k] for k in rng.permutation(len(single))[:hosted]]
    for guest, host in zip(charters, hosts, strict=False):
        joins[guest["id"]] = host
    candidates = [s for s in single if s not in hosts]
    poverty = np.array([hoods["low_income_share"].iloc[points.neighborhood[s["site"]]] for s in candidates])
    under_n = min(len(candidates), round(0.32 * size.available))
    under = {
        candidates[k]["id"]
        for k in rng.choice(len(candidates), size=under_n, replace=False, p=poverty / poverty.sum())
    }
    buildings: list[dict] = []
    host_of: dict[str, int] = {}
    charter_owner = ("private", "archdiocese", "city")
    for s in schools:
        if s["id"] in joins:
            continue
        if s["id"] in under:
            s["utilization"] = rng.uniform(0.42, 0.66)
        guests = [g for g in schools if joins.get(g["id"]) is s]
        members = [s, *guests]
        rooms: dict[str, int] = {}
        for m in members:
            for kind, count in _rooms(m["classrooms"], max(m["grades"])).items():
                rooms[kind] = rooms.get(kind, 0) + count
        top = max(max(m["grades"]) for m in members)
        if s["sector"] == "district":
            owner, gym_chance = (
                "district",
                0.95 if top >= 9 else 0.8 if min(s["grades"]) >= 6 else 0.7 if top == 8 else 0.45,
            )
        elif s["sector"] == "catholic":
            owner, gym_chance = "archdiocese", 0.9 if top >= 9 else 0.6
        else:
            owner = charter_owner[len(buildings) % 3]
            gym_chance = {"private": 0.15, "archdiocese": 0.6, "city": 0.4}[owner]
        status = "under-used" if s["id"] in under else "occupied"
        buildings.append(
            _building(
                owner,
                status,
                f"{s['name']} building",
                s["site"],
                rooms,
                gym_chance=gym_chance,
                rng=rng,
                available="2026-07-01" if status == "under-used" else "",
            )
        )
        for m in members:
            host_of[m["id"]] = len(buildings) - 1
    for s in schools:
        s["building"] = host_of[s["id"]]
        s["site"] = buildings[host_of[s["id"]]]["site"]
        seats = s["classrooms"] * _seats_per_room(s["grades"])
        s["enrollment"] = int(round(seats * s["utilization"]))
        s["capacity"] = int(round(seats * rng.uniform(0.95, 1.06) / 5) * 5)
    return buildings


def _add_vacant(
    size: Size,
    buildings: list[dict],
    points: _Points,
    hoods: pd.DataFrame,
    taken: list[np.ndarray],
    rng: np.random.Generator,
) -> None:
    """Vacant buildings offered to charter schools: former district schools (mostly where enrollment
    fell, south of the river), closed parish schools, commercial space on arterials, city buildings."""
    under = sum(b["status"] == "under-used" for b in buildings)
    kinds = ("district", "archdiocese", "private", "city")
    counts = _split(max(0, size.available - under), (0.35, 0.35, 0.18, 0.12))
    poverty = hoods["low_income_share"].to_numpy()[points.neighborhood]
    on_arterial = np.isin(points.highway, ("primary", "secondary")).astype(float)
    weights = {
        "district": 0.3 + poverty,
        "archdiocese": np.ones_like(poverty),
        "private": on_arterial,
        "city": np.ones_like(poverty),
    }
    rooms_range = {"district": (10, 29), "archdiocese": (8, 19), "private": (6, 21), "city": (6, 15)}
    gym_chance = {"district": 0.7, "archdiocese": 0.5, "private": 0.1, "city": 0.4}
    spacing = 0.3 * math.sqrt(size.extent**2 / size.schools)
    used = {b["name"] for b in buildings}
    for owner, count in zip(kinds, counts, strict=True):
        for site in _pick_sites(points, points.weight * weights[owner], count, taken, spacing, rng).tolist():
            street = points.street[site]
            drawn = {
                "district": f"Former {rng.choice(_LAST)} School",
                "archdiocese": f"St. {rng.choice(_SAINTS)} Parish School (closed)",
                "private": f"{int(rng.integers(1, 90)) * 10} {street} (commercial)",
                "city": f"{street} Community Building",
            }[owner]
            name = _unique_name(drawn, used, street)
            rooms = _rooms(int(rng.integers(*rooms_range[owner])), 8 if owner != "private" else 5)
            available = "2026-07-01" if rng.random() < 0.7 else "2027-07-01"
            buildings.append(
                _building(
                    owner,
                    "vacant",
                    name,
                    site,
                    rooms,
                    gym_chance=gym_chance[owner],
                    rng=rng,
                    available=available,
                )
            )


# ------------------------------------------------------------------------------------------- needs
def _spare_classrooms(building: int, buildings: list[dict], schools: list[dict]) -> int:
    used = sum(
        math.ceil(s["enrollment"] / _seats_per_room(s["grades"]))
        for s in schools
        if s["building"] == building
    )
    return buildings[building]["rooms"]["classroom"] - used


def _make_needs(
    size: Size,
    schools: list[dict],
    buildings: list[dict],
    hoods: pd.DataFrame,
    points: _Points,
    rng: np.random.Generator,
) -> list[dict]:
    """Charter schools' space needs, made to exercise every answer of the matching.

    A need's seats and classrooms are its first year's; its plan adds a grade a year, and the
    matching adds the classrooms each new grade takes (other rooms are for the full plan).

    Some fit a whole vacant building (a former district school, a closed parish school, commercial
    space), some only a share of an under-used district building (too small a budget for a whole
    one), one competes for the large buildings, and one cannot be met: it needs a gym and full
    accessibility on a budget half the cost of the cheapest such building, and won't share.
    """
    hood_of = [hoods["name"].iloc[points.neighborhood[b["site"]]] for b in buildings]
    names = hoods["name"].tolist()
    charters = [s for s in schools if s["sector"] == "charter"]
    vacant = [k for k, b in enumerate(buildings) if b["status"] == "vacant"]
    under = sorted(
        (k for k, b in enumerate(buildings) if b["status"] == "under-used"),
        key=lambda k: -_spare_classrooms(k, buildings, schools),
    )
    used_names = {s["name"] for s in schools}
    taken: set[int] = set()

    def new_name() -> str:
        return _school_names("charter", "", len(used_names), rng, used_names)

    def pick(owner: str, *, gym: bool | None = None) -> int | None:
        fits = [
            k
            for k in vacant
            if buildings[k]["owner"] == owner
            and k not in taken
            and (gym is None or buildings[k]["gym"] == gym)
        ]
        if not fits:
            return None
        k = max(fits, key=lambda k: buildings[k]["rooms"]["classroom"])
        taken.add(k)
        return k

    def need(grades: str, years: int, classrooms: int, budget: float, hood: list[str], **extra) -> dict:
        first = _grades(grades)
        final = tuple(range(first[0], first[-1] + years)) if years > 1 else first
        seats_final = int(classrooms * _seats_per_room(final) * 0.9)
        per_grade = seats_final // len(final)
        rooms = _rooms(classrooms, max(final))  # specialty rooms for the full plan ...
        rooms["classroom"] = math.ceil(
            per_grade * len(first) / _seats_per_room(first)
        )  # ... classrooms for year one
        return {
            "grades": first,
            "add_grade_per_year": years > 1,
            "years": years,
            "seats": per_grade * len(first),
            "seats_per_grade": per_grade,
            "rooms": rooms,
            "budget": float(round(budget, -3)),
            "lunch_periods": 1 + (seats_final > 350),
            "neighborhoods": hood,
            "priority": float(round(rng.uniform(1, 10), 1)),
            "gym": False,
            "cafeteria": False,
            "accessible": False,
            "co_location": True,
            "school": "",
            "name": "",
            **extra,
        }

    def other_hood(hood: str) -> list[str]:
        return [hood, str(rng.choice([n for n in names if n != hood]))]

    def fill(k: int, grades: str, years: int, spare: int, cost: float, hood: list[str], **extra) -> dict:
        """A need filling building ``k`` but ``spare`` classrooms, on ``cost`` times its yearly cost."""
        b = buildings[k]
        return need(grades, years, b["rooms"]["classroom"] - spare, b["annual_cost"] * cost, hood, **extra)

    plans: list[dict] = []
    turn = iter(charters[k % len(charters)] for k in range(4 * size.needs))
    for _ in range(size.needs):
        if len(plans) >= size.needs:
            break
        charter = next(turn)
        if (k := pick("district", gym=True)) is not None:  # a new campus filling a former district school
            b = buildings[k]
            campus = _unique_name(f"{charter['name']} (second campus)", used_names, hood_of[k])
            hood = other_hood(hood_of[k])
            facts = {"gym": True, "cafeteria": b["cafeteria"], "accessible": b["accessible"]}
            plans.append(fill(k, "K-1", 5, 2, 1.15, hood, school=charter["id"], name=campus, **facts))
        if (k := pick("archdiocese")) is not None:  # a new middle school in a closed parish school
            plans.append(fill(k, "6", 3, 1, 1.2, other_hood(hood_of[k]), name=new_name(), co_location=False))
        if (k := pick("private")) is not None:  # an elementary charter in accessible commercial space
            plans.append(fill(k, "K-1", 5, 1, 1.1, [hood_of[k]], name=new_name(), accessible=True))
        for k in [k for k in under if k not in taken][
            :2
        ]:  # only a share of an under-used building fits the budget
            taken.add(k)
            spare = _spare_classrooms(k, buildings, schools)
            rooms = max(2, min(spare - 1, 6))
            share = buildings[k]["annual_cost"] * rooms / buildings[k]["rooms"]["classroom"]
            whole = [
                buildings[v]["annual_cost"] for v in vacant if buildings[v]["rooms"]["classroom"] >= rooms
            ]
            budget = min(share * 1.5, 0.8 * min(whole)) if whole else share * 1.5
            host = {g for sc in schools if sc["building"] == k for g in sc["grades"]}
            guest = next(
                (c for c in charters if set(c["grades"]) & host), next(turn)
            )  # grades the host can share with
            grade = str(max((set(guest["grades"]) & host) or {g for g in guest["grades"] if g >= 0}))
            annex = need(
                grade,
                1,
                rooms,
                budget,
                [hood_of[k]],
                school=guest["id"],
                name=_unique_name(f"{guest['name']} (grade {grade} annex)", used_names, hood_of[k]),
            )
            annex["rooms"] = {
                "classroom": annex["rooms"]["classroom"],
                "small": 1,
            }  # the campus's other rooms serve it
            plans.append(annex)
        plans.append(
            need(
                "9",
                4,
                15,
                float(np.median([buildings[v]["annual_cost"] for v in vacant])) * 1.2,
                list(rng.choice(names, 2, replace=False)),
                name=new_name(),
                gym=True,
                cafeteria=True,
            )
        )
        big = [
            b["annual_cost"]
            for b in buildings
            if b["gym"] and b["accessible"] and b["rooms"]["classroom"] >= 12
        ]
        plans.append(
            need(
                "K-2",
                6,
                12,
                0.5 * min(big) if big else 250_000.0,
                [str(rng.choice(names))],
                name=new_name(),
                gym=True,
                cafeteria=True,
                accessible=True,
                co_location=False,
            )
        )
    plans = plans[: size.needs]
    for k, plan in enumerate(plans):
        plan["id"] = f"NEED{k + 1:02d}"
    return plans


# ---------------------------------------------------------------------------------------- students
def _max_walk(grade: int) -> float:
    return 400.0 if grade <= 2 else 800.0 if grade <= 8 else 1200.0


def _band(grade: int) -> str:
    return "K-5" if grade <= 5 else "6-8" if grade <= 8 else "9-12"


def _make_students(
    size: Size, schools: list[dict], points: _Points, rng: np.random.Generator
) -> pd.DataFrame:
    """Bus riders living beyond their grade's walk distance (nearer their school than not; charter
    and Catholic students from farther), plus walkers (a fifth of the students) inside it.

    High-school students ride less (as in Boston, most take transit), and Catholic schools
    transport fewer of their students.
    """
    scale = math.sqrt(size.extent / 6000)
    reach = {"district": 1500 * scale, "charter": 3000 * scale, "catholic": 2500 * scale}
    sector_rate = {"district": 1.0, "charter": 1.0, "catholic": 0.6}

    def grade_rates(grades: Sequence[int]) -> np.ndarray:
        return np.array([1.0 if g <= 8 else 0.3 for g in grades if g >= 0])

    demand = [s["enrollment"] * sector_rate[s["sector"]] * grade_rates(s["grades"]).mean() for s in schools]
    riders = _split(size.riders, demand)
    frames = []
    for s, n_ride in zip(schools, riders, strict=True):
        grades = np.array([g for g in s["grades"] if g >= 0])
        rates = grade_rates(s["grades"])
        n_walk = round(0.25 * n_ride)
        drawn = rng.choice(grades, size=n_ride + n_walk, p=rates / rates.sum())
        here = points.xy[s["site"]]
        dist = np.hypot(*(points.xy - here).T)
        for band in ("K-5", "6-8", "9-12"):
            limit = ELIGIBILITY[band]
            in_band = np.array([_band(g) == band for g in drawn], dtype=bool)
            if not in_band.any():
                continue
            ride_grades = drawn[:n_ride][in_band[:n_ride]]
            walk_grades = drawn[n_ride:][in_band[n_ride:]]
            far = (
                points.weight
                * np.exp(-np.maximum(dist - limit, 0) / reach[s["sector"]])
                * (dist >= limit + 50)
            )
            near = points.weight * ((dist <= limit / 1.45) & (dist >= 100))
            for grade_list, weight in ((ride_grades, far), (walk_grades, near)):
                k = min(len(grade_list), int(np.count_nonzero(weight)))
                if k == 0:
                    continue
                homes = rng.choice(len(weight), size=k, replace=False, p=weight / weight.sum())
                frames.append(pd.DataFrame({"school": s["id"], "grade": grade_list[:k], "home": homes}))
    students = pd.concat(frames, ignore_index=True)
    u = rng.random(len(students))
    students["service"] = np.where(u < 0.01, "wheelchair", np.where(u < 0.15, "door-to-door", "corner"))
    students["max_walk"] = [
        0.0 if svc != "corner" else _max_walk(g)
        for svc, g in zip(students["service"], students["grade"], strict=True)
    ]
    students = students.sort_values(["school", "grade", "home"], kind="stable").reset_index(drop=True)
    students["id"] = [f"S{k + 1:05d}" for k in range(len(students))]
    return students


def _applications(
    students: pd.DataFrame, homes: np.ndarray, schools: pd.DataFrame, sites: np.ndarray, seed: int
) -> pd.DataFrame:
    """Families' ranked lists for the lottery's entry grades, drawn from a generator of their own
    (the other layers stay as they were).

    Each student in an entry grade (:data:`APPLICATION_GRADES`) ranks 3 to 6 of the schools of
    every sector serving that grade, by a random utility: the school's appeal (a fifth of the
    schools are sought after), a pull by sector, minus distance from home, plus Gumbel noise. The
    sought-after schools near many homes get more first choices than they have seats.
    """
    rng = np.random.default_rng([seed, 16])
    share, pull = _SOUGHT_AFTER
    appeal = rng.normal(0.0, 0.7, len(schools)) + pull * (rng.random(len(schools)) < share)
    appeal += schools["sector"].map(_SECTOR_PULL).fillna(0.0).to_numpy(float)
    served = [set(parse_grades(text)) for text in schools["grades"]]
    ids, school_ids = students["id"].to_numpy(), schools["id"].to_numpy()
    parts = []
    for grade in APPLICATION_GRADES:
        who = np.flatnonzero(students["grade"].to_numpy() == grade)
        offer = np.flatnonzero([grade in g for g in served])
        if not len(who) or not len(offer):
            continue
        km = np.hypot(*(homes[who, None, :] - sites[None, offer, :]).transpose(2, 0, 1)) / 1000
        utility = appeal[offer] - _PER_KM * km + rng.gumbel(size=km.shape)
        ranked = offer[np.argsort(-utility, axis=1, kind="stable")]
        length = np.minimum(rng.integers(_LIST_LENGTH[0], _LIST_LENGTH[1] + 1, size=len(who)), len(offer))
        keep = np.arange(len(offer))[None, :] < length[:, None]
        rows, ranks = np.nonzero(keep)
        parts.append(
            pd.DataFrame(
                {"student": ids[who[rows]], "school": school_ids[ranked[rows, ranks]], "rank": ranks + 1}
            )
        )
    columns = ["student", "school", "rank"]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return frame.sort_values(["student", "rank"], kind="stable").reset_index(drop=True)[columns]


# ------------------------------------------------------------------------------------------- fleet
def _make_yards(size: Size, points: _Points, buses: int) -> pd.DataFrame:
    """Bus yards on primary arterials at the edge of the city, one per quadrant (the demo has one)."""
    arterial = np.flatnonzero(points.highway == "primary")
    xy = points.xy[arterial]
    quadrants = ((1, -1), (-1, 1), (1, 1), (-1, -1))[: size.yards]
    sites = [int(arterial[np.argmax(xy @ np.array(q, dtype=float))]) for q in quadrants]
    names = ("Southeast", "Northwest", "Northeast", "Southwest")
    return pd.DataFrame(
        {
            "id": [f"Y{k + 1}" for k in range(len(sites))],
            "name": [f"{names[k]} Bus Yard" for k in range(len(sites))],
            "buses": _split(buses, [1.0] * len(sites)),
            "site": sites,
        }
    )


def _bus_types(buses: int) -> pd.DataFrame:
    """Big buses, minibuses and minibuses with a wheelchair lift (Boston: about $100k a bus-year)."""
    return pd.DataFrame(
        {
            "id": ["big", "mini", "mini_lift"],
            "seats": [71, 29, 24],
            "wheelchair": ["no", "no", "yes"],
            "count": _split(buses, (0.55, 0.30, 0.15)),
            "cost_per_year": [102_000.0, 94_000.0, 99_000.0],
        }
    )


# ------------------------------------------------------------------------------------------ output
def _hood_names(xy: np.ndarray, hoods: pd.DataFrame) -> np.ndarray:
    """Name of the neighborhood holding each point (the nearest one for a point on no land)."""
    geoms = hoods["geometry"].to_numpy()
    found = np.full(len(xy), -1)
    for h, geom in enumerate(geoms):
        found[(found < 0) & shapely.contains_xy(geom, xy[:, 0], xy[:, 1])] = h
    for k in np.flatnonzero(found < 0):
        found[k] = int(np.argmin(shapely.distance(geoms, Point(xy[k]))))
    return hoods["name"].to_numpy()[found]


def _with_lonlat(frame: pd.DataFrame, xy: np.ndarray) -> pd.DataFrame:
    frame["lon"], frame["lat"] = _lonlat(xy)
    return frame


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _geojson(features: list[tuple[dict, BaseGeometry]]) -> str:
    def to_lonlat(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(_lonlat(coords))

    out = [
        {
            "type": "Feature",
            "properties": props,
            "geometry": shapely.geometry.mapping(shapely.transform(geom, to_lonlat)),
        }
        for props, geom in features
    ]
    return json.dumps({"type": "FeatureCollection", "features": out}, separators=(",", ":")) + "\n"


def _rooms_columns(rooms: list[dict[str, int]]) -> pd.DataFrame:
    return pd.DataFrame({f"rooms_{t}": [r.get(t, 0) for r in rooms] for t in ROOM_TYPES})


def _manifest(size_name: str, seed: int) -> str:
    layer = '[layers.{0}]\nfile = "{0}.{1}"\n'
    points = 'x = "lon"\ny = "lat"\ncrs = "EPSG:4326"\n'
    parts = [
        f"# Riverton, a synthetic city shaped like Boston. Regenerate with:\n"
        f"#   python -m facilities.demo --size {size_name} --seed {seed} --out <folder>\n",
        f'[city]\nname = "Riverton ({size_name})"\ncrs = "auto"\n',
        '[network]\nfile = "streets.graphml"\nnetwork_type = "drive"\nsnap_max = 250\n',
        *(layer.format(name, "csv") + points for name in ("schools", "buildings", "students")),
        "[layers.students.address]    # students' addresses as the district exports them; rows with\n"
        'address = "address"          # coordinates keep them, the others are placed from address_points\n'
        'zip = "zip"\n',
        *(layer.format(name, "csv") + points for name in ("yards", "address_points")),
        layer.format("zones", "geojson"),
        *(layer.format(name, "csv") for name in ("bus_types", "needs")),
        "# choices.csv holds the lottery's applications (ranked lists of the students of grades K, 6\n"
        "# and 9): compact zones lottery <city> --choices <city>/choices.csv --grades K,6,9\n",
        '[map]\nwater = "river.geojson"      # drawn under the other layers\n',
        "[transport]\n"
        "bell_tiers = ["
        + ", ".join(repr(format_time(t)).replace(chr(39), chr(34)) for t in DISTRICT_TIERS)
        + "]\n"
        "max_ride = 3600              # seconds on the bus, at most\n"
        "cost_per_bus_year = 100000\n"
        'cost_per_bus_year_source = "Boston Public Schools, about $100k per bus-year"\n'
        "cost_per_mile = 3.0          # fuel and upkeep, dollars a mile driven\n",
        "[transport.eligibility]      # walking distance (metres) beyond which a student rides, by "
        "grade band\n" + "".join(f'"{band}" = {metres}\n' for band, metres in ELIGIBILITY.items()),
        "[transport.hazards]          # a student may not walk across these: they ride, and no stop is "
        "across them\n"
        'file = "river.geojson"\n',
        "[transport.bells]            # what the bell-time optimizer may change\n"
        'earliest = "07:15"\nlatest = "09:30"\nstep_minutes = 15\nshifts_minutes = [-10, -5, 5, 10]\n'
        "max_change_minutes = 60\n\n"
        '[[transport.bells.rules]]\nlabel = "no high school before 8:00"\ngrades = "9-12"\nearliest = '
        '"08:00"\n\n'
        '[[transport.bells.rules]]\nlabel = "elementary dismissal before 16:00"\ngrades = '
        '"PK-5"\nend_before = "16:00"\n',
        "[capacity]\ntarget = [0.85, 1.00]       # utilization band of a well-used building\n",
        "[capacity.class_size]        # students a classroom seats, by grade band\n"
        + "".join(f'"{band}" = {seats}\n' for band, seats in CLASS_SIZES.items()),
    ]
    return "\n".join(parts)


def _shared_zone_table(schools: pd.DataFrame, hoods: pd.DataFrame) -> str:
    """A Denver-style shared middle-school zone: two touching neighborhoods whose grade-7 schools
    include at least one district and two charter schools (the most such schools wins)."""
    middle = schools[schools["grades"].map(lambda g: 7 in parse_grades(g))]
    best: tuple[int, str, str] | None = None
    geoms = dict(zip(hoods["name"], hoods["geometry"], strict=True))
    for a, b in itertools.combinations(sorted(geoms), 2):
        if not geoms[a].touches(geoms[b]) and not geoms[a].intersects(geoms[b]):
            continue
        inside = middle[middle["neighborhood"].isin([a, b])]
        sectors = inside["sector"].value_counts()
        if (
            sectors.get("district", 0) >= 1
            and sectors.get("charter", 0) >= 2
            and (best is None or len(inside) > best[0])
        ):
            best = (len(inside), a, b)
    if best is None:
        return ""
    _, a, b = best
    ids = ", ".join(f'"{i}"' for i in sorted(middle.loc[middle["neighborhood"].isin([a, b]), "id"]))
    return (
        "\n# A shared middle-school zone, as in Denver: every grade 6-8 student living in it is\n"
        "# guaranteed a seat at one of its district and charter schools.\n"
        "[[enrollment.shared_zones]]\n"
        f'id = "shared-middle"\nname = "{a}-{b} shared middle-school zone"\n'
        f'units = ["{a}", "{b}"]\nschools = [{ids}]\ngrades = "6-8"\n'
    )


def _readme(size_name: str, seed: int, counts: dict[str, int]) -> str:
    lines = [
        f"# Riverton ({size_name})",
        "",
        "A synthetic city shaped like Boston, generated by `facilities/demo.py` — do not edit by hand;",
        f"regenerate with `python -m facilities.demo --size {size_name} --seed {seed} --out <folder>`",
        "(`make demo-data` for `data/demo`). `city.toml` maps every file; `facilities.read_city` loads it.",
        "",
        "| file | what | count |",
        "|---|---|---|",
    ]
    what = {
        "streets.graphml": "street network (osmnx GraphML: arterials, local and one-way streets, bridges)",
        "zones.geojson": "neighborhoods: population by age band, low-income share",
        "river.geojson": "the river (a few bridges cross it)",
        "schools.csv": "district (three bell tiers), charter and Catholic schools",
        "buildings.csv": "school buildings and vacant or under-used ones, rooms by type",
        "students.csv": "students' homes (bus riders and some walkers), grade, school, service, address "
        "as exported",
        "address_points.csv": "the city's address points: number, street, unit, ZIP (one row per unit)",
        "choices.csv": "the lottery's applications: students of grades K, 6 and 9 rank 3 to 6 schools "
        "of every sector (student, school, rank; `compact zones lottery --choices`); count: applicants",
        "needs.csv": "charter schools' space needs",
        "yards.csv": "bus yards",
        "bus_types.csv": "bus types and fleet",
    }
    lines += [f"| `{file}` | {text} | {counts[file]} |" for file, text in what.items()]
    return "\n".join(lines) + "\n"


def _addresses(
    points: _Points, homes: np.ndarray, hoods: int, seed: int
) -> tuple[list[str], list[str], pd.DataFrame]:
    """Students' address lines and ZIPs as a district exports them, and the city's address points
    (drawn from a generator of their own: the other layers stay as they were)."""
    rng = np.random.default_rng([seed, 15])
    number = synthetic.house_numbers(
        street=points.street, block=points.block, along=points.along, left=points.left
    )
    units = np.where(rng.random(len(points.xy)) < 0.25, 3, 0)
    zips = synthetic.zip_codes(hoods)
    zip_code = np.array(zips)[points.neighborhood]
    lines, zip_column, variants = synthetic.student_addresses(
        homes=homes,
        number=number,
        street=points.street,
        zip_code=zip_code,
        units=units,
        all_zips=zips,
        rng=rng,
    )
    missing = np.zeros(len(points.xy), dtype=bool)
    missing[homes[np.array(variants) == "not on file"]] = True
    lon, lat = _lonlat(points.xy)
    table = synthetic.address_points(
        number=number, street=points.street, zip_code=zip_code, units=units, lon=lon, lat=lat, missing=missing
    )
    return lines, zip_column, table


def _write(
    folder: Path,
    size_name: str,
    seed: int,
    *,
    river: _River,
    streets: _Streets,
    hoods: pd.DataFrame,
    schools: list[dict],
    buildings: list[dict],
    needs: list[dict],
    students: pd.DataFrame,
    yards: pd.DataFrame,
    bus_types: pd.DataFrame,
    points: _Points,
) -> None:
    """Write every file of the city folder (deterministically: fixed order, fixed formats)."""
    ox.save_graphml(streets.graph, folder / "streets.graphml")
    pop = [c for c in hoods.columns if c.startswith("population_")]
    zone_props = hoods[["id", "name", "kind", "low_income_share", *pop]].to_dict("records")
    (folder / "zones.geojson").write_text(
        _geojson(list(zip(zone_props, hoods["geometry"], strict=True))), encoding="utf-8"
    )
    (folder / "river.geojson").write_text(
        _geojson([({"name": "Mill River", "kind": "water"}, river.polygon())]), encoding="utf-8"
    )

    b_xy = np.array([points.xy[b["site"]] + 15.0 * points.normal[b["site"]] for b in buildings])
    b_ids = [f"B{k + 1:03d}" for k in range(len(buildings))]
    frame = pd.DataFrame(
        {
            "id": b_ids,
            "name": [b["name"] for b in buildings],
            "owner": [b["owner"] for b in buildings],
            "status": [b["status"] for b in buildings],
            "gross_area": [b["gross_area"] for b in buildings],
            "gym": [_BOOL[b["gym"]] for b in buildings],
            "cafeteria": [_BOOL[b["cafeteria"]] for b in buildings],
            "accessible": [_BOOL[b["accessible"]] for b in buildings],
            "condition": [b["condition"] for b in buildings],
            "annual_cost": [b["annual_cost"] for b in buildings],
            "available": [b["available"] for b in buildings],
            "neighborhood": _hood_names(b_xy, hoods),
        }
    )
    frame = pd.concat([frame, _rooms_columns([b["rooms"] for b in buildings])], axis=1)
    _write_csv(_with_lonlat(frame, b_xy), folder / "buildings.csv")

    order = sorted(schools, key=lambda s: s["id"])
    s_xy = b_xy[[s["building"] for s in order]]
    frame = pd.DataFrame(
        {
            "id": [s["id"] for s in order],
            "name": [s["name"] for s in order],
            "sector": [s["sector"] for s in order],
            "grades": [format_grades(s["grades"]) for s in order],
            "enrollment": [s["enrollment"] for s in order],
            "capacity": [s["capacity"] for s in order],
            "building": [b_ids[s["building"]] for s in order],
            "bell_start": [format_time(s["bell_start"]) for s in order],
            "bell_end": [format_time(s["bell_end"]) for s in order],
            "neighborhood": _hood_names(s_xy, hoods),
        }
    )
    _write_csv(_with_lonlat(frame, s_xy), folder / "schools.csv")
    frame_schools = frame

    h_xy = points.xy[students["home"].to_numpy()]
    frame = students[["id", "grade", "school", "service", "max_walk"]].copy()
    frame["grade"] = [GRADE_NAMES[g + 1] for g in frame["grade"]]
    frame["neighborhood"] = _hood_names(h_xy, hoods)
    frame["address"], frame["zip"], addresses = _addresses(
        points, students["home"].to_numpy(), len(hoods), seed
    )
    _write_csv(_with_lonlat(frame, h_xy), folder / "students.csv")
    _write_csv(addresses, folder / "address_points.csv")
    choices = _applications(students, h_xy, frame_schools, s_xy, seed)
    _write_csv(choices, folder / "choices.csv")

    y_xy = points.xy[yards["site"].to_numpy()] + 20.0 * points.normal[yards["site"].to_numpy()]
    _write_csv(_with_lonlat(yards.drop(columns="site"), y_xy), folder / "yards.csv")
    _write_csv(bus_types, folder / "bus_types.csv")

    frame = pd.DataFrame(
        {
            "id": [n["id"] for n in needs],
            "school": [n["school"] for n in needs],
            "name": [n["name"] for n in needs],
            "grades": [format_grades(n["grades"]) for n in needs],
            "add_grade_per_year": [_BOOL[n["add_grade_per_year"]] for n in needs],
            "years": [n["years"] for n in needs],
            "seats": [n["seats"] for n in needs],
            "seats_per_grade": [n["seats_per_grade"] for n in needs],
        }
    )
    frame = pd.concat([frame, _rooms_columns([n["rooms"] for n in needs])], axis=1)
    for column in ("gym", "cafeteria", "accessible", "co_location"):
        frame[column] = [_BOOL[n[column]] for n in needs]
    frame["lunch_periods"] = [n["lunch_periods"] for n in needs]
    frame["budget"] = [n["budget"] for n in needs]
    frame["neighborhoods"] = [";".join(n["neighborhoods"]) for n in needs]
    frame["priority"] = [n["priority"] for n in needs]
    _write_csv(frame, folder / "needs.csv")

    (folder / "city.toml").write_text(
        _manifest(size_name, seed) + _shared_zone_table(frame_schools, hoods), encoding="utf-8"
    )
    counts = {
        "streets.graphml": streets.graph.number_of_nodes(),
        "zones.geojson": len(hoods),
        "river.geojson": 1,
        "schools.csv": len(schools),
        "buildings.csv": len(buildings),
        "students.csv": len(students),
        "address_points.csv": len(addresses),
        "choices.csv": choices["student"].nunique(),
        "needs.csv": len(needs),
        "yards.csv": len(yards),
        "bus_types.csv": len(bus_types),
    }
    (folder / "README.md").write_text(_readme(size_name, seed, counts), encoding="utf-8")


def generate(*, size: str = "demo", seed: int = 2026, out: str | os.PathLike[str] | None = None) -> Path:
    """Generate Riverton and write it as a city folder (layer files and ``city.toml``).

    Parameters
    ----------
    size
        ``"demo"`` (about 60 schools and 6,000 riders; committed in ``data/demo``), ``"city"``
        (Boston-scale: about 220 schools and 25,000 riders, for benchmarks) or ``"test"`` (tiny).
    seed
        Seed of the random generator; a seed and a size always give byte-identical files.
    out
        Folder to write; it is replaced as a whole, atomically (written next to it under a
        temporary name, then renamed). Default: ``riverton-<size>-<seed>`` in the system's
        temporary folder.

    Returns
    -------
    Path
        The city folder, ready for :func:`facilities.read_city`.

    Raises
    ------
    ValueError
        If ``size`` is not one of :data:`SIZES`.

    Examples
    --------
    >>> folder = generate(size="test", seed=1, out="/tmp/riverton")  # doctest: +SKIP
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: use one of {', '.join(SIZES)}")
    spec = SIZES[size]
    target = Path(out) if out is not None else Path(tempfile.gettempdir()) / f"riverton-{size}-{seed}"
    rng = np.random.default_rng(seed)
    river = _make_river(spec, rng)
    streets = _make_streets(spec, river, rng)
    hoods = _make_neighborhoods(spec, river, rng)
    points = _street_points(
        streets, hoods, river, max(20_000, 5 * spec.riders), rng, grid=int(spec.extent // spec.block) + 1
    )
    schools, buildings, taken = _make_schools(spec, points, hoods, rng)
    _add_vacant(spec, buildings, points, hoods, taken, rng)
    needs = _make_needs(spec, schools, buildings, hoods, points, rng)
    students = _make_students(spec, schools, points, rng)
    buses = round(spec.riders * BUSES_PER_RIDER)
    log.info(
        "Riverton (%s, seed %d): %d street nodes, %d schools, %d students",
        size,
        seed,
        len(streets.graph),
        len(schools),
        len(students),
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _write(
            tmp,
            size,
            seed,
            river=river,
            streets=streets,
            hoods=hoods,
            schools=schools,
            buildings=buildings,
            needs=needs,
            students=students,
            yards=_make_yards(spec, points, buses),
            bus_types=_bus_types(buses),
            points=points,
        )
        tmp.chmod(0o755)
        _replace_dir(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


def _replace_dir(new: Path, target: Path) -> None:
    """Put the folder ``new`` at ``target``, replacing what is there (the old one is moved aside first)."""
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    old.rmdir()
    os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        os.replace(old, target)
        raise
    shutil.rmtree(old)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m facilities.demo --size demo --seed 2026 --out data/demo``."""
    parser = argparse.ArgumentParser(
        prog="python -m facilities.demo", description="Generate Riverton, the synthetic demo city."
    )
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="demo",
        help="demo (committed), city (Boston-scale) or test (tiny)",
    )
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--out", type=Path, default=None, help="folder to write (replaced as a whole)")
    args = parser.parse_args(argv)
    folder = generate(size=args.size, seed=args.seed, out=args.out)
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
