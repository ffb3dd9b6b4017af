"""Travel-time matrices on the compiled network, paths, and the network-free travel model."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.network import WALK_SPEED_MPS, load_network, snap
from routing.travel import (
    CompiledNetwork,
    StraightLineModel,
    TravelModel,
    compile_network,
    distance_matrix,
    load_compiled,
    route_geometry,
    shortest_path,
    travel_model,
    travel_time_matrix,
)

BACKBAY = Path(__file__).parents[2] / "shared" / "data" / "boston" / "boston_backbay_drive.osm"


@pytest.fixture(scope="module")
def backbay() -> tuple[nx.MultiDiGraph, CompiledNetwork]:
    if not BACKBAY.is_file():
        pytest.skip(f"{BACKBAY} is absent (real data lives in ../shared/data, next to the project)")
    G = load_network(BACKBAY)
    return G, compile_network(G)


def random_network(seed: int, n: int, m: int) -> nx.MultiDiGraph:
    """A random directed street-like graph with parallel edges, one-ways and zero-length edges."""
    rng = np.random.default_rng(seed)
    G = nx.MultiDiGraph(crs="EPSG:32619")
    xy = rng.uniform(0, 2000, size=(n, 2))
    G.add_nodes_from((i, {"x": x, "y": y}) for i, (x, y) in enumerate(xy))
    for _ in range(m):
        u, v = (int(i) for i in rng.integers(0, n, size=2))
        if u != v:
            length = float(np.hypot(*(xy[u] - xy[v]))) * rng.choice([0.0, 1.0, 1.3], p=[0.05, 0.8, 0.15])
            G.add_edge(u, v, length=length, travel_time=length / rng.uniform(5, 20))
    return G


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 40), density=st.floats(0.5, 4.0))
def test_matrix_equals_networkx_dijkstra(seed, n, density):
    G = random_network(seed, n, int(n * density))
    net = compile_network(G)
    rng = np.random.default_rng(seed)
    origins = rng.choice(list(G.nodes), size=min(n, 7))
    destinations = rng.choice(list(G.nodes), size=min(n, 5))  # fewer: the search runs backwards
    for weight, matrix in (
        ("travel_time", travel_time_matrix(net, origins, destinations)),
        ("length", distance_matrix(net, origins, destinations)),
    ):
        for i, o in enumerate(origins):
            reach = nx.single_source_dijkstra_path_length(G, int(o), weight=weight)
            expected = [reach.get(int(d), np.inf) for d in destinations]
            np.testing.assert_allclose(matrix[i], expected, rtol=1e-9, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 30))
def test_walking_ignores_one_way_streets(seed, n):
    G = random_network(seed, n, 2 * n)
    net = compile_network(G)
    nodes = list(G.nodes)
    walk = distance_matrix(net, nodes, nodes, walking=True)
    drive = distance_matrix(net, nodes, nodes)
    streets = nx.Graph()
    streets.add_nodes_from(nodes)
    for u, v, length in sorted(
        G.edges(data="length"), key=lambda e: -e[2]
    ):  # the shortest parallel edge wins
        streets.add_edge(u, v, length=length)
    reach = dict(nx.all_pairs_dijkstra_path_length(streets, weight="length"))
    expected = np.array([[reach[a].get(b, np.inf) for b in nodes] for a in nodes])
    np.testing.assert_allclose(walk, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(walk, walk.T, rtol=1e-9)
    assert np.all(walk <= drive + 1e-9)


def test_backbay_matrix_matches_networkx_on_random_pairs(backbay):
    G, net = backbay
    rng = np.random.default_rng(1)
    origins = rng.choice(net.node_ids, size=30)
    destinations = rng.choice(net.node_ids, size=40)
    seconds = net.matrix(origins, destinations)
    for i, o in enumerate(origins):
        reach = nx.single_source_dijkstra_path_length(G, int(o), weight="travel_time")
        np.testing.assert_allclose(seconds[i], [reach[int(d)] for d in destinations], rtol=1e-9)
    assert np.isfinite(seconds).all()  # one strongly connected component


def test_triangle_inequality_and_zero_diagonal(backbay):
    _, net = backbay
    nodes = np.random.default_rng(2).choice(net.node_ids, size=60, replace=False)
    for m in (travel_time_matrix(net, nodes, nodes), distance_matrix(net, nodes, nodes, walking=True)):
        assert np.all(np.diag(m) == 0)
        via = (m[:, :, None] + m[None, :, :]).min(axis=1)  # best i -> j -> k
        assert np.all(m <= via + 1e-6)


def test_one_way_streets_make_times_asymmetric(backbay):
    _, net = backbay
    nodes = net.node_ids[:100]
    seconds = travel_time_matrix(net, nodes, nodes)
    assert np.abs(seconds - seconds.T).max() > 1.0
    walk = distance_matrix(net, nodes, nodes, walking=True)
    np.testing.assert_allclose(walk, walk.T)
    assert np.all(walk <= distance_matrix(net, nodes, nodes) + 1e-6)


def test_cutoff_gives_inf_beyond_and_same_values_within(backbay):
    _, net = backbay
    nodes = net.node_ids[::5]
    full = travel_time_matrix(net, nodes, nodes)
    cutoff = float(np.median(full))
    cut = travel_time_matrix(net, nodes, nodes, cutoff=cutoff)
    assert np.array_equal(np.isinf(cut), full > cutoff)
    np.testing.assert_array_equal(cut[full <= cutoff], full[full <= cutoff])
    metres = distance_matrix(net, nodes, nodes, cutoff=500.0)
    assert np.all(np.isinf(metres) | (metres <= 500.0))


def test_points_pay_their_snap_offset_at_access_speed(backbay):
    _, net = backbay
    rng = np.random.default_rng(3)
    points = net.xy[rng.choice(len(net), size=25)] + rng.normal(0, 40, size=(25, 2))
    snapped = snap(net, points)
    at_nodes = travel_time_matrix(net, snapped.node, snapped.node)
    seconds = travel_time_matrix(net, points, points)
    expected = at_nodes + (snapped.distance[:, None] + snapped.distance[None, :]) / WALK_SPEED_MPS
    np.testing.assert_allclose(seconds, expected)
    np.testing.assert_allclose(travel_time_matrix(net, snapped, snapped), expected)
    metres = distance_matrix(net, points, points)
    np.testing.assert_allclose(
        metres,
        distance_matrix(net, snapped.node, snapped.node)
        + snapped.distance[:, None]
        + snapped.distance[None, :],
    )


def test_geoseries_in_another_crs_is_reprojected(backbay):
    _, net = backbay
    xy = net.xy[:10]
    points = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=net.crs).to_crs(4326)
    np.testing.assert_allclose(
        net.matrix(points, points), net.matrix(net.node_ids[:10], net.node_ids[:10]), atol=0.01
    )


def test_path_follows_the_matrix_and_geometry_follows_streets(backbay):
    G, net = backbay
    rng = np.random.default_rng(4)
    for o, d in rng.choice(net.node_ids, size=(10, 2)):
        path = shortest_path(net, o, d)
        assert path[0] == o and path[-1] == d
        cost = sum(min(e["travel_time"] for e in G[a][b].values()) for a, b in zip(path[:-1], path[1:]))
        assert cost == pytest.approx(travel_time_matrix(net, [o], [d])[0, 0])
        line = route_geometry(net, [o, d])
        start, end = net.xy[net.positions([o, d])]
        np.testing.assert_allclose(line.coords[0], start, atol=1e-6)
        np.testing.assert_allclose(line.coords[-1], end, atol=1e-6)
        assert line.length >= np.hypot(*(end - start)) - 1e-6
        fastest = [min(G[a][b].values(), key=lambda e: e["travel_time"]) for a, b in zip(path[:-1], path[1:])]
        assert line.length == pytest.approx(sum(e["length"] for e in fastest), rel=5e-3)


def test_route_through_several_stops_chains_the_legs(backbay):
    _, net = backbay
    stops = list(net.node_ids[[0, 50, 100, 150]])
    line = route_geometry(net, stops, weight="length")
    legs = sum(distance_matrix(net, [a], [b])[0, 0] for a, b in zip(stops[:-1], stops[1:]))
    assert line.length == pytest.approx(legs, rel=0.02)


def test_unreachable_and_unknown_nodes_are_named():
    G = random_network(0, 3, 0)
    G.add_edge(0, 1, length=10.0, travel_time=1.0)
    net = compile_network(G)
    assert np.isinf(travel_time_matrix(net, [1], [0])[0, 0])
    with pytest.raises(ValueError, match="cannot be reached"):
        shortest_path(net, 1, 0)
    with pytest.raises(KeyError, match="99"):
        travel_time_matrix(net, [99], [0])


def test_parallel_edges_keep_the_fastest_and_the_shortest():
    G = random_network(0, 2, 0)
    G.add_edge(0, 1, length=100.0, travel_time=50.0)
    G.add_edge(0, 1, length=300.0, travel_time=20.0)
    net = compile_network(G)
    assert travel_time_matrix(net, [0], [1])[0, 0] == 20.0
    assert distance_matrix(net, [0], [1])[0, 0] == 100.0


def test_progress_reports_every_origin(backbay):
    _, net = backbay
    calls = []
    travel_time_matrix(
        net, net.node_ids[:20], net.node_ids[:30], progress=lambda done, total: calls.append((done, total))
    )
    assert calls[-1] == (20, 20)


# --- network-free model ----------------------------------------------------------------------------

coords = st.lists(st.tuples(st.floats(-5e4, 5e4), st.floats(-5e4, 5e4)), min_size=1, max_size=12)


@settings(max_examples=50, deadline=None)
@given(a=coords, b=coords, circuity=st.floats(1.0, 2.0), speed=st.floats(1.0, 30.0))
def test_manhattan_model_properties(a, b, circuity, speed):
    model = StraightLineModel(kind="manhattan", circuity=circuity, speed_mps=speed)
    base = StraightLineModel(kind="manhattan", circuity=1.0, speed_mps=speed)
    metres = model.distance_matrix(a, b)
    np.testing.assert_allclose(metres, circuity * base.distance_matrix(a, b))
    np.testing.assert_allclose(model.matrix(a, b), metres / speed)
    np.testing.assert_allclose(model.distance_matrix(b, a), metres.T)
    square = model.distance_matrix(a, a)
    assert np.all(np.diag(square) == 0)
    np.testing.assert_allclose(square, square.T)
    euclid = StraightLineModel(kind="euclidean", circuity=circuity).distance_matrix(a, b)
    assert np.all(euclid <= metres + 1e-6) and np.all(metres <= np.sqrt(2) * euclid + 1e-6)


def test_great_circle_model_known_distances_and_metric_input():
    model = StraightLineModel(kind="great_circle", circuity=1.0)
    one_degree = model.distance_matrix([(-71.0, 42.0)], [(-71.0, 43.0), (-71.0, 42.0)])
    assert one_degree[0, 0] == pytest.approx(111_195, rel=1e-3)
    assert one_degree[0, 1] == 0
    lonlat = gpd.GeoSeries(gpd.points_from_xy([-71.06, -71.10, -71.08], [42.36, 42.34, 42.35]), crs=4326)
    utm = lonlat.to_crs(32619)
    projected = StraightLineModel(kind="great_circle", circuity=1.3, crs=32619)
    expected = 1.3 * model.distance_matrix(lonlat, lonlat)
    np.testing.assert_allclose(projected.distance_matrix(utm, utm), expected, rtol=1e-6, atol=1e-6)
    xy = np.column_stack([utm.x, utm.y])
    np.testing.assert_allclose(projected.distance_matrix(xy, xy), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        StraightLineModel(kind="euclidean", circuity=1.3).distance_matrix(utm, utm), expected, rtol=2e-3
    )


def test_straight_line_cutoff_and_bad_parameters():
    model = StraightLineModel(kind="manhattan", speed_mps=10.0)
    seconds = model.matrix([(0, 0)], [(0, 100), (0, 10_000)], cutoff=60)
    assert np.isfinite(seconds[0, 0]) and np.isinf(seconds[0, 1])
    with pytest.raises(ValueError, match="kind"):
        StraightLineModel(kind="crow")
    with pytest.raises(ValueError, match="positive"):
        StraightLineModel(speed_mps=0)
    with pytest.raises(ValueError, match="metric"):
        StraightLineModel(kind="manhattan", crs=4326)
    with pytest.raises(ValueError, match="metric"):
        model.matrix(gpd.GeoSeries(gpd.points_from_xy([-71.0], [42.0]), crs=4326), [(0, 0)])


def test_travel_model_swaps_network_and_network_free(backbay):
    G, net = backbay
    free = travel_model(None, kind="great_circle", crs=net.crs)
    assert isinstance(free, StraightLineModel) and isinstance(free, TravelModel)
    assert isinstance(net, TravelModel)
    assert travel_model(net) is net
    assert isinstance(travel_model(G), CompiledNetwork)
    points = net.xy[:15]
    on_streets, straight = net.distance_matrix(points, points), free.distance_matrix(points, points) / 1.3
    assert np.all(on_streets >= straight - 1.0)  # no street trip is shorter than the great circle


def test_matrix_in_processes_equals_one_process() -> None:
    """Searching in several processes changes nothing but the time."""
    G = nx.MultiDiGraph(crs="EPSG:32619")
    rng = np.random.default_rng(3)
    for i in range(400):
        G.add_node(i, x=float(i % 20) * 100, y=float(i // 20) * 100)
    for i in range(400):
        for j in (i + 1, i + 20):
            if j < 400 and (j != i + 1 or j % 20):
                t = float(rng.uniform(5, 30))
                G.add_edge(i, j, length=100.0, travel_time=t)
                G.add_edge(j, i, length=100.0, travel_time=t * float(rng.uniform(1, 2)))
    net = compile_network(G)
    nodes = np.asarray(net.node_ids)
    one = travel_time_matrix(net, nodes[:120], nodes[::3])
    two = travel_time_matrix(net, nodes[:120], nodes[::3], workers=2)
    np.testing.assert_array_equal(one, two)
    ahead = distance_matrix(net, nodes[::2], nodes[::2])
    np.testing.assert_array_equal(ahead, distance_matrix(net, nodes[::2], nodes[::2], workers=2))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 40))
def test_rows_and_columns_in_the_callers_order(seed, n):
    """Distinct nodes in any order (searched in that order, no reordering copy) and repeated nodes
    (searched once) give every pair the value of the same nodes sorted, bit for bit, in the
    caller's order."""
    G = random_network(seed, n, 3 * n)
    net = compile_network(G)
    rng = np.random.default_rng(seed)
    nodes = np.asarray(net.node_ids)
    distinct = rng.permutation(nodes)
    repeated = rng.choice(nodes, size=n + 5)  # some nodes twice
    for origins, destinations in ((distinct, distinct), (repeated, distinct), (distinct, repeated)):
        got = travel_time_matrix(net, origins, destinations)
        assert got.flags.c_contiguous and got.shape == (len(origins), len(destinations))
        o, d = np.unique(origins), np.unique(destinations)
        want = travel_time_matrix(net, o, d)[
            np.ix_(np.searchsorted(o, origins), np.searchsorted(d, destinations))
        ]
        np.testing.assert_array_equal(got, want)


def test_load_compiled_is_the_network_loaded_then_compiled(backbay):
    """One call (the graph's memory given back) compiles the same streets, edge for edge."""
    _, net = backbay
    again = load_compiled(BACKBAY)
    np.testing.assert_array_equal(again.node_ids, net.node_ids)
    np.testing.assert_array_equal(again.xy, net.xy)
    for a, b in ((again.time, net.time), (again.length, net.length), (again.walk, net.walk)):
        assert (a != b).nnz == 0 and a.nnz == b.nnz
    nodes = net.node_ids[::7]
    np.testing.assert_array_equal(again.matrix(nodes, nodes), net.matrix(nodes, nodes))
