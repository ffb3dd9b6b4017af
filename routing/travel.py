"""Travel times and distances: many-to-many matrices on a compiled street network, or without one.

The network is compiled once (:func:`compile_network`) into immutable arrays: node ids and
coordinates, sparse CSR matrices of travel times and lengths (and an undirected one for walking,
which ignores one-way streets) and a KD-tree for snapping. A matrix is then one bounded
:func:`scipy.sparse.csgraph.dijkstra` call per block of unique origins (or destinations, on the
reversed graph, when there are fewer of them) — never a networkx call per pair.

Cities that give no network use a :class:`StraightLineModel` (Manhattan, Euclidean or great-circle
distance times a circuity factor, at a speed). Both follow the :class:`TravelModel` protocol, so a
caller swaps one for the other (see :func:`travel_model`). The protocol and the straight-line model
live in :mod:`facilities.travel` (the layer below, so the facilities analyses use them too) and
are re-exported here:

>>> from routing.travel import travel_model
>>> model = travel_model(city.network, crs=city.crs)  # doctest: +SKIP
>>> seconds = model.matrix(students, schools)  # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import numpy as np
import pyproj
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from shapely import LineString

from facilities.travel import BUS_SPEED_MPS, StraightLineModel, TravelModel, _cut
from routing.network import WALK_SPEED_MPS, SnapResult, load_network, snap

__all__ = [
    "TravelModel",
    "CompiledNetwork",
    "StraightLineModel",
    "compile_network",
    "load_compiled",
    "travel_time_matrix",
    "distance_matrix",
    "shortest_path",
    "route_geometry",
    "travel_model",
    "BUS_SPEED_MPS",
]

log = logging.getLogger(__name__)

#: Dijkstra runs in blocks of origins whose dense rows fit in about this many bytes.
_BLOCK_BYTES = 64 * 2**20

Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class CompiledNetwork:
    """A street network compiled for fast matrices; build it with :func:`compile_network`.

    Attributes
    ----------
    node_ids
        osmnx node ids; a node's position in this array is its row/column in the CSR matrices.
    xy
        ``(n, 2)`` node coordinates in ``crs`` (metres).
    crs
        The network's metric CRS.
    time
        Directed CSR of edge travel times (seconds); parallel edges keep the fastest.
    length
        Directed CSR of edge lengths (metres); parallel edges keep the shortest.
    walk
        Undirected CSR of edge lengths (metres): walkers may go against one-way streets.
    kdtree
        KD-tree of ``xy``, for snapping.
    edge_geometry
        ``(u, v)`` positions -> ``(k, 2)`` coordinates of the fastest edge, for edges that bend.
    """

    node_ids: np.ndarray
    xy: np.ndarray
    crs: pyproj.CRS | None
    time: sp.csr_matrix
    length: sp.csr_matrix
    walk: sp.csr_matrix
    kdtree: cKDTree
    edge_geometry: Mapping[tuple[int, int], np.ndarray] = field(repr=False)
    _order: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.node_ids)

    def __repr__(self) -> str:
        return (
            f"CompiledNetwork({len(self)} nodes, {self.time.nnz} edges, "
            f"crs={self.crs.to_string() if self.crs else None})"
        )

    def positions(self, nodes: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Positions (matrix rows) of node ids; raises ``KeyError`` naming an unknown id."""
        nodes = np.asarray(nodes)
        pos = np.searchsorted(self.node_ids, nodes, sorter=self._order)
        pos = self._order[np.minimum(pos, len(self._order) - 1)]
        bad = self.node_ids[pos] != nodes
        if bad.any():
            raise KeyError(f"node {nodes[bad][0]!r} is not in the network ({int(bad.sum())} unknown ids)")
        return pos

    def snap(self, points: Any, *, max_distance: float | None = None) -> SnapResult:
        """Snap points to nodes (see :func:`routing.network.snap`)."""
        return snap(self, points, max_distance=max_distance)

    def matrix(
        self, origins: Any, destinations: Any, *, cutoff: float | None = None, workers: int = 1
    ) -> np.ndarray:
        """Driving times (seconds); see :func:`travel_time_matrix`."""
        return travel_time_matrix(self, origins, destinations, cutoff=cutoff, workers=workers)

    def distance_matrix(
        self, origins: Any, destinations: Any, *, cutoff: float | None = None, workers: int = 1
    ) -> np.ndarray:
        """Driving distances (metres); see :func:`distance_matrix`."""
        return distance_matrix(self, origins, destinations, cutoff=cutoff, workers=workers)


def compile_network(G: nx.MultiDiGraph) -> CompiledNetwork:
    """Compile a prepared graph (:func:`routing.network.load_network`) into a :class:`CompiledNetwork`.

    Parameters
    ----------
    G
        Nodes with ``x``/``y`` in a metric CRS; edges with ``length`` (m) and ``travel_time`` (s).

    Returns
    -------
    CompiledNetwork
    """
    node_ids = np.fromiter(G.nodes, dtype=np.int64 if all(isinstance(n, int) for n in G.nodes) else object)
    index = {n: i for i, n in enumerate(G.nodes)}
    xy = np.array([(d["x"], d["y"]) for _, d in G.nodes(data=True)], dtype=float).reshape(-1, 2)
    edges = list(G.edges(data=True))
    missing = [(u, v) for u, v, d in edges if "travel_time" not in d or "length" not in d]
    if missing:
        raise ValueError(
            f"{len(missing)} edges lack travel_time or length (first {missing[0]}); "
            "prepare the graph with routing.network.load_network or prepare_network"
        )
    u = np.fromiter((index[a] for a, _, _ in edges), dtype=np.intp, count=len(edges))
    v = np.fromiter((index[b] for _, b, _ in edges), dtype=np.intp, count=len(edges))
    seconds = np.fromiter((d["travel_time"] for _, _, d in edges), dtype=float, count=len(edges))
    metres = np.fromiter((d["length"] for _, _, d in edges), dtype=float, count=len(edges))
    n = len(node_ids)
    fastest = _first_per_pair(u, v, seconds)
    geometry = {
        (int(u[i]), int(v[i])): np.asarray(edges[i][2]["geometry"].coords)
        for i in fastest
        if "geometry" in edges[i][2]
    }
    crs = G.graph.get("crs")
    node_ids.setflags(write=False)
    xy.setflags(write=False)
    return CompiledNetwork(
        node_ids=node_ids,
        xy=xy,
        crs=pyproj.CRS.from_user_input(crs) if crs is not None else None,
        time=_csr(u, v, seconds, n),
        length=_csr(u, v, metres, n),
        walk=_csr(np.r_[u, v], np.r_[v, u], np.r_[metres, metres], n),
        kdtree=cKDTree(xy),
        edge_geometry=geometry,
        _order=np.argsort(node_ids, kind="stable"),
    )


def travel_time_matrix(
    net: CompiledNetwork,
    origins: Any,
    destinations: Any,
    *,
    cutoff: float | None = None,
    access_speed: float = WALK_SPEED_MPS,
    progress: Progress | None = None,
    workers: int = 1,
) -> np.ndarray:
    """Driving times (seconds) from every origin to every destination.

    Parameters
    ----------
    net
        The compiled network.
    origins, destinations
        Node ids (a 1-D integer array), a :class:`~routing.network.SnapResult`, or points (a
        GeoSeries / GeoDataFrame, or an ``(n, 2)`` x/y array), which are snapped to their nearest
        node. Snap first with :func:`~routing.network.snap` to report points far from the network.
    cutoff
        Bound on the search (seconds): times beyond it are ``inf``, and the search stops there,
        which is much faster for local questions.
    access_speed
        Speed (m/s) of the straight stretch between a point and its node, added at both ends;
        default walking, since that stretch is a walk to the curb (0 for node ids).
    progress
        Called with ``(done, total)`` origins after each block.
    workers
        Processes to search in (scipy's Dijkstra runs on one core); worth it for large matrices.

    Returns
    -------
    numpy.ndarray
        ``(len(origins), len(destinations))`` float64.
    """
    return _network_matrix(
        net, net.time, origins, destinations, cutoff, 1.0 / access_speed, progress, workers
    )


def distance_matrix(
    net: CompiledNetwork,
    origins: Any,
    destinations: Any,
    *,
    cutoff: float | None = None,
    walking: bool = False,
    progress: Progress | None = None,
    workers: int = 1,
) -> np.ndarray:
    """Network distances (metres) from every origin to every destination.

    Parameters
    ----------
    net, origins, destinations, progress, workers
        As :func:`travel_time_matrix`; a point's straight distance to its node is added.
    cutoff
        Bound on the search (metres): distances beyond it are ``inf``.
    walking
        Walking distances: one-way streets may be walked both ways (``net.walk``). This is the
        distance to compare with a student's maximum walk.

    Returns
    -------
    numpy.ndarray
        ``(len(origins), len(destinations))`` float64.
    """
    graph = net.walk if walking else net.length
    return _network_matrix(net, graph, origins, destinations, cutoff, 1.0, progress, workers)


def shortest_path(net: CompiledNetwork, origin: Any, destination: Any, *, weight: str = "time") -> list[Any]:
    """The node ids of a fastest (``weight="time"``), shortest (``"length"``) or walking (``"walk"``) path.

    Raises
    ------
    ValueError
        When ``destination`` cannot be reached from ``origin``.
    """
    return _paths(net, [origin, destination], weight)[0]


def route_geometry(net: CompiledNetwork, stops: Sequence[Any], *, weight: str = "time") -> LineString:
    """The street-following line through ``stops`` (node ids, in order), for drawing a run.

    Each leg follows a fastest path (or shortest / walking, by ``weight``); edges that bend
    follow their street geometry, in the network's CRS.
    """
    coords: list[np.ndarray] = []
    for leg in _paths(net, stops, weight):
        pos = net.positions(leg)
        for a, b in zip(pos[:-1], pos[1:]):
            coords.append(_edge_coords(net, int(a), int(b)))
    if not coords:
        point = net.xy[net.positions([stops[0]])[0]]
        return LineString([point, point])
    line = np.concatenate([coords[0]] + [c[1:] for c in coords[1:]])
    return LineString(line)


def travel_model(
    network: Any = None,
    *,
    kind: Literal["manhattan", "euclidean", "great_circle"] = "manhattan",
    circuity: float = 1.3,
    speed_mps: float = BUS_SPEED_MPS,
    crs: Any = None,
    cache_dir: str | Path | None = None,
) -> TravelModel:
    """The travel model of a city: its street network when it has one, else a straight-line model.

    Parameters
    ----------
    network
        A :class:`CompiledNetwork`, a prepared graph, a network file or a ``facilities.NetworkSpec``
        (loaded with :func:`~routing.network.load_network`), or ``None`` for a straight-line model.
    kind, circuity, speed_mps
        The straight-line model's parameters (see :class:`StraightLineModel`).
    crs
        The city's metric CRS: the network is projected to it, and straight-line coordinates are in it.
    cache_dir
        Download cache for networks given by place or bbox.

    Returns
    -------
    TravelModel
    """
    if network is None:
        return StraightLineModel(kind=kind, circuity=circuity, speed_mps=speed_mps, crs=crs)
    if isinstance(network, CompiledNetwork):
        return network
    if isinstance(network, nx.Graph):
        return compile_network(network)
    return load_compiled(network, crs=crs, cache_dir=cache_dir)


def load_compiled(source: Any, *, crs: Any = None, cache_dir: str | Path | None = None) -> CompiledNetwork:
    """A network file or ``facilities.NetworkSpec``, loaded (:func:`~routing.network.load_network`)
    and compiled, the graph's memory handed back to the operating system.

    Parameters
    ----------
    source, crs, cache_dir
        As :func:`~routing.network.load_network`.

    Returns
    -------
    CompiledNetwork
    """
    compiled = compile_network(load_network(source, crs=crs, cache_dir=cache_dir))
    _release_freed_memory()  # the graph read from the file is gone: hundreds of MB for a city
    return compiled


# --- internals -----------------------------------------------------------------------------------


def _release_freed_memory() -> None:
    """Hand the memory of freed objects back to the operating system.

    A city's networkx graph is millions of small objects; once freed, glibc keeps their pages for
    the process (about 300 MB of the Boston-scale Riverton), which the travel matrices, allocated
    apart, never reuse. Elsewhere than glibc this does nothing.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _first_per_pair(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Indices of the lightest edge of each ``(u, v)`` pair."""
    order = np.lexsort((w, v, u))
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = (u[order][1:] != u[order][:-1]) | (v[order][1:] != v[order][:-1])
    return order[keep]


def _csr(u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR adjacency keeping the lightest of parallel edges (explicit zeros stay edges for csgraph)."""
    keep = _first_per_pair(u, v, w)
    return sp.csr_matrix((w[keep], (u[keep], v[keep])), shape=(n, n))


def _locate(net: CompiledNetwork, points: Any) -> tuple[np.ndarray, np.ndarray]:
    """Matrix positions of the points and their straight distances (m) to those nodes."""
    if isinstance(points, SnapResult):
        return points.position, points.distance
    array = None if hasattr(points, "geometry") else np.asarray(points)
    if array is not None and array.ndim == 1 and array.dtype.kind in "iuO":
        return net.positions(array), np.zeros(len(array))
    snapped = snap(net, points)
    return snapped.position, snapped.distance


def _network_matrix(
    net: CompiledNetwork,
    graph: sp.csr_matrix,
    origins: Any,
    destinations: Any,
    cutoff: float | None,
    offset_scale: float,
    progress: Progress | None,
    workers: int = 1,
) -> np.ndarray:
    o_pos, o_off = _locate(net, origins)
    d_pos, d_off = _locate(net, destinations)
    uo, o_inv = _distinct(o_pos)
    ud, d_inv = _distinct(d_pos)
    if len(ud) < len(uo):  # search backwards from the fewer destinations
        core = _dijkstra_block(graph.T.tocsr(), ud, uo, cutoff, progress, workers).T
    else:
        core = _dijkstra_block(graph, uo, ud, cutoff, progress, workers)
    # rows and columns in the caller's order; no copy when the searches already ran in it
    if o_inv is not None:
        core = core[o_inv] if d_inv is None else core[np.ix_(o_inv, d_inv)]
    elif d_inv is not None:
        core = core[:, d_inv]
    out = np.ascontiguousarray(core)
    if o_off.any():
        out += o_off[:, None] * offset_scale
    if d_off.any():
        out += d_off[None, :] * offset_scale
    return _cut(out, cutoff)


def _distinct(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The distinct positions to search from and, when some repeat, where each position's row is.

    Distinct positions are searched in the given order (``None``: no reordering, no copy of the
    matrix); each search is independent of the others, so the values are the same either way.
    """
    uniq, inv = np.unique(pos, return_inverse=True)
    return (pos, None) if len(uniq) == len(pos) else (uniq, inv)


def _dijkstra_block(
    graph: sp.csr_matrix,
    sources: np.ndarray,
    targets: np.ndarray,
    cutoff: float | None,
    progress: Progress | None,
    workers: int = 1,
) -> np.ndarray:
    """Bounded Dijkstra from ``sources`` in blocks; only the ``targets`` columns are kept.

    With ``workers > 1`` the blocks run in that many processes (scipy's Dijkstra holds the GIL).
    """
    n = graph.shape[0]
    block = max(1, _BLOCK_BYTES // (8 * max(n, 1)))
    if workers > 1 and len(sources) >= 4 * workers:
        block = min(block, -(-len(sources) // (2 * workers)))
    limit = np.inf if cutoff is None else float(cutoff)
    starts = range(0, len(sources), block)
    out = np.empty((len(sources), len(targets)))
    jobs = ((graph, sources[start : start + block], targets, limit) for start in starts)
    if workers > 1 and len(starts) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_MP) as pool:
            rows_iter = pool.map(_rows, *zip(*jobs, strict=True))
            _fill(out, starts, block, rows_iter, progress)
    else:
        _fill(out, starts, block, (_rows(*job) for job in jobs), progress)
    return out


#: Worker processes fork (cheap, and the compiled graph is shared copy-on-write) where the OS can.
_MP = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)


def _rows(graph: sp.csr_matrix, sources: np.ndarray, targets: np.ndarray, limit: float) -> np.ndarray:
    return dijkstra(graph, directed=True, indices=sources, limit=limit)[:, targets]


def _fill(
    out: np.ndarray, starts: range, block: int, rows_iter: Iterable[np.ndarray], progress: Progress | None
) -> None:
    for start, rows in zip(starts, rows_iter, strict=True):
        out[start : start + block] = rows
        if progress is not None:
            progress(min(start + block, len(out)), len(out))


def _paths(net: CompiledNetwork, stops: Sequence[Any], weight: str) -> list[list[Any]]:
    """Node-id paths between consecutive stops."""
    graphs = {"time": net.time, "length": net.length, "walk": net.walk}
    if weight not in graphs:
        raise ValueError(f"weight must be one of {', '.join(graphs)}, not {weight!r}")
    pos = net.positions(list(stops))
    sources = np.unique(pos[:-1])
    _, pred = dijkstra(graphs[weight], directed=True, indices=sources, return_predecessors=True)
    row = {int(s): i for i, s in enumerate(sources)}
    legs = []
    for a, b in zip(pos[:-1], pos[1:]):
        path = [int(b)]
        while path[-1] != a:
            path.append(int(pred[row[int(a)], path[-1]]))
            if path[-1] < 0:
                raise ValueError(f"node {net.node_ids[b]!r} cannot be reached from node {net.node_ids[a]!r}")
        legs.append(net.node_ids[path[::-1]].tolist())
    return legs


def _edge_coords(net: CompiledNetwork, a: int, b: int) -> np.ndarray:
    """Coordinates of the edge from position ``a`` to ``b``, oriented a -> b."""
    if (a, b) in net.edge_geometry:
        return net.edge_geometry[(a, b)]
    if (b, a) in net.edge_geometry:  # a walk against a one-way street follows that street backwards
        return net.edge_geometry[(b, a)][::-1]
    return net.xy[[a, b]]
