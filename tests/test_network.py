"""Loading street networks (files, downloads with a cache), speeds, and snapping points to them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pyproj
import pytest

from facilities import NetworkSpec, ValidationError
from routing.network import DRIVE_SPEEDS_KPH, WALK_SPEED_MPS, add_speeds, load_network, read_network, snap

BOSTON = Path(__file__).parents[2] / "shared" / "data" / "boston"


def _data(name: str) -> Path:
    path = BOSTON / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (real data lives in ../shared/data, next to the project)")
    return path


@pytest.fixture(scope="module")
def backbay() -> nx.MultiDiGraph:
    return load_network(_data("boston_backbay_drive.osm"))


def test_backbay_osm_counts_before_and_after_the_strong_component(backbay):
    raw = read_network(_data("boston_backbay_drive.osm"))
    assert (len(raw), raw.number_of_edges()) == (581, 1124)
    assert len(backbay) == 488
    assert nx.is_strongly_connected(backbay)
    assert set(backbay.nodes) <= set(raw.nodes)


def test_graphml_gives_the_same_network_as_osm_xml(backbay):
    raw = read_network(_data("boston_backbay_drive.graphml"))
    assert (len(raw), raw.number_of_edges()) == (581, 1124)
    G = load_network(NetworkSpec(file=_data("boston_backbay_drive.graphml")))
    assert set(G.nodes) == set(backbay.nodes)
    assert G.number_of_edges() == backbay.number_of_edges()


def test_prepared_network_is_metric_with_positive_travel_times(backbay):
    crs = pyproj.CRS.from_user_input(backbay.graph["crs"])
    assert crs.is_projected and crs.axis_info[0].unit_name == "metre"
    for _, _, d in backbay.edges(data=True):
        assert d["length"] >= 0 and d["speed_kph"] > 0
        assert d["travel_time"] == pytest.approx(d["length"] / (d["speed_kph"] / 3.6), rel=1e-3, abs=0.1)


def test_given_crs_is_used(backbay):
    G = load_network(_data("boston_backbay_drive.osm"), crs="EPSG:26986")  # Massachusetts state plane
    assert pyproj.CRS.from_user_input(G.graph["crs"]) == pyproj.CRS("EPSG:26986")
    assert len(G) == len(backbay)
    with pytest.raises(ValueError, match="metric"):
        load_network(_data("boston_backbay_drive.osm"), crs="EPSG:4326")


def test_bz2_osm_loads():
    G = load_network(_data("west_oakland.osm.bz2"))
    assert len(G) > 0 and nx.is_strongly_connected(G)
    assert all("travel_time" in d for _, _, d in G.edges(data=True))


def test_drive_filter_drops_footways_that_all_keeps():
    path = _data("cambridge_allston_2019.osm.bz2")
    drive = read_network(path, network_type="drive")
    everything = read_network(path, network_type="all")
    kinds = {h for _, _, h in drive.edges(data="highway") for h in (h if isinstance(h, list) else [h])}
    assert not kinds & {"footway", "path", "cycleway", "steps", "pedestrian"}
    assert everything.number_of_edges() > drive.number_of_edges()


def test_walk_network_is_two_way_at_walking_speed():
    G = load_network(_data("west_oakland.osm.bz2"), network_type="walk")
    assert all(G.has_edge(v, u) for u, v in G.edges())
    speeds = [d["speed_kph"] for _, _, d in G.edges(data=True)]
    assert speeds == pytest.approx([WALK_SPEED_MPS * 3.6] * len(speeds))


def test_speeds_fall_back_by_highway_type():
    G = nx.MultiDiGraph(crs="EPSG:32619")
    G.add_nodes_from([(n, {"x": 1000.0 * n, "y": 0.0}) for n in (1, 2, 3)])
    G.add_edge(1, 2, length=1000.0, highway="residential")
    G.add_edge(2, 1, length=1000.0, highway="residential", maxspeed="50 mph")
    G.add_edge(2, 3, length=1000.0, highway="mystery")
    add_speeds(G)
    assert G[1][2][0]["speed_kph"] == pytest.approx(DRIVE_SPEEDS_KPH["residential"])
    assert G[2][1][0]["speed_kph"] == pytest.approx(50 * 1.609344, abs=0.01)
    assert G[2][3][0]["speed_kph"] > 0
    faster = add_speeds(G.copy(), hwy_speeds={"residential": 80.0})
    assert faster[1][2][0]["travel_time"] < G[1][2][0]["travel_time"]


def test_download_is_cached_and_reused(tmp_path, monkeypatch):
    raw = ox.graph_from_xml(_data("west_oakland.osm.bz2"))
    calls = []

    def fake_download(query, *, network_type):
        calls.append((query, network_type))
        return raw.copy()

    monkeypatch.setattr(ox, "graph_from_place", fake_download)
    spec = SimpleNamespace(
        file=None, place="West Oakland, California", bbox=None, network_type="drive", cache_dir=tmp_path
    )
    first = load_network(spec)
    second = load_network(spec)
    assert calls == [("West Oakland, California", "drive")]
    assert len(list(tmp_path.glob("*.graphml"))) == 1
    assert set(first.nodes) == set(second.nodes)
    assert first.number_of_edges() == second.number_of_edges()


def test_bbox_download_passes_west_south_east_north(tmp_path, monkeypatch):
    raw = ox.graph_from_xml(_data("west_oakland.osm.bz2"))
    seen = []
    monkeypatch.setattr(ox, "graph_from_bbox", lambda bbox, *, network_type: seen.append(bbox) or raw.copy())
    load_network(bbox=(-122.3, 37.8, -122.2, 37.9), cache_dir=tmp_path)
    load_network(bbox=(-122.3, 37.8, -122.2, 37.9), cache_dir=tmp_path)
    assert seen == [(-122.3, 37.8, -122.2, 37.9)]


def test_bad_sources_say_what_to_do(tmp_path):
    with pytest.raises(ValidationError, match="not found"):
        load_network(tmp_path / "missing.osm")
    (tmp_path / "streets.shp").write_text("")
    with pytest.raises(ValidationError, match="graphml"):
        load_network(tmp_path / "streets.shp")
    with pytest.raises(ValidationError, match="network type"):
        load_network(tmp_path / "streets.shp", network_type="boat")
    with pytest.raises(ValueError, match="exactly one"):
        load_network(tmp_path / "streets.osm", place="Boston")
    with pytest.raises(ValueError, match="exactly one"):
        load_network()


def test_snap_reports_points_beyond_max_distance(backbay):
    nodes = list(backbay.nodes)[:20]
    xy = np.array([(backbay.nodes[n]["x"], backbay.nodes[n]["y"]) for n in nodes])
    rng = np.random.default_rng(0)
    offsets = rng.uniform(0, 600, size=len(xy))
    angle = rng.uniform(0, 2 * np.pi, size=len(xy))
    points = xy + offsets[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    crs = backbay.graph["crs"]
    gdf = gpd.GeoDataFrame(
        {"id": [f"s{i}" for i in range(len(xy))]}, geometry=gpd.points_from_xy(*points.T), crs=crs
    )
    result = snap(backbay, gdf, max_distance=250)
    assert len(result) == len(gdf)
    assert np.all(
        result.distance <= offsets + 1e-6
    )  # the nearest node is no farther than the one we moved from
    assert np.array_equal(result.far, result.distance > 250)
    assert result.far_ids == [f"s{i}" for i in np.flatnonzero(result.distance > 250)]
    np.testing.assert_allclose(
        np.hypot(
            *(points - np.array([(backbay.nodes[n]["x"], backbay.nodes[n]["y"]) for n in result.node])).T
        ),
        result.distance,
    )
    if result.far.any():
        assert result.far_ids[0] in result.describe_far(layer="schools")


def test_snap_reprojects_points_and_keeps_index_ids(backbay):
    nodes = list(backbay.nodes)[:5]
    xy = [(backbay.nodes[n]["x"], backbay.nodes[n]["y"]) for n in nodes]
    points = gpd.GeoSeries(
        gpd.points_from_xy(*zip(*xy)), crs=backbay.graph["crs"], index=list("abcde")
    ).to_crs(4326)
    result = snap(backbay, points)
    assert result.node.tolist() == nodes
    assert result.ids.tolist() == list("abcde")
    assert not result.far.any() and result.distance.max() < 0.01
    with pytest.raises(ValueError, match="not points"):
        snap(backbay, points.to_crs(backbay.graph["crs"]).buffer(5.0))


def _points_near(graph: nx.MultiDiGraph, nodes: list, offset: float) -> gpd.GeoDataFrame:
    xy = np.array([(graph.nodes[n]["x"] + offset, graph.nodes[n]["y"]) for n in nodes])
    ids = [f"p{i}" for i in range(len(xy))]
    return gpd.GeoDataFrame({"id": ids}, geometry=gpd.points_from_xy(*xy.T), crs=graph.graph["crs"])


def test_check_network_measures_coverage_and_refuses_a_corner(backbay):
    from routing.network import MIN_COVERED, check_network

    spec = NetworkSpec(file=_data("boston_backbay_drive.osm"), snap_max=250.0)
    crs = backbay.graph["crs"]
    nodes = list(backbay.nodes)[:40]
    near = _points_near(backbay, nodes, 10.0)
    checked = check_network(spec, crs=crs, layers={"schools": near, "students": near.iloc[:0]})
    assert checked.covered == {"schools": 1.0} and checked.notes == () and len(checked.network) == 488
    few_far = pd.concat([near, _points_near(backbay, nodes[:2], 5_000.0)], ignore_index=True)
    checked = check_network(spec, crs=crs, layers={"schools": few_far})
    assert checked.covered["schools"] == pytest.approx(40 / 42)
    assert "2 schools are farther than 250 m" in checked.notes[0]
    corner = pd.concat([near.iloc[:4], _points_near(backbay, nodes[4:], 5_000.0)], ignore_index=True)
    with pytest.raises(ValidationError) as err:
        check_network(spec, crs=crs, layers={"students": corner}, city="Testville")
    text = str(err.value)
    assert "boston_backbay_drive.osm: covers only 10% of the students (36 of 40" in text
    assert f"{MIN_COVERED:.0%}" in text and "min_covered" in text
    pilot = NetworkSpec(file=spec.file, snap_max=250.0, min_covered=0.05)  # a part of the city, on purpose
    assert check_network(pilot, crs=crs, layers={"students": corner}).covered["students"] == pytest.approx(
        0.1
    )


def test_check_network_names_an_unreadable_or_empty_file(tmp_path):
    from routing.network import check_network

    (tmp_path / "streets.graphml").write_text("<graphml><graph><node id='1'>")
    spec = NetworkSpec(file=tmp_path / "streets.graphml")
    with pytest.raises(ValidationError, match="streets.graphml: is not readable GraphML/XML"):
        check_network(spec, crs=pyproj.CRS(32619), layers={})
    G = nx.MultiDiGraph(crs="EPSG:4326")
    G.add_node(1, x=-71.0, y=42.3)
    G.add_node(2, x=-71.001, y=42.301)
    ox.save_graphml(G, tmp_path / "edgeless.graphml")
    with pytest.raises(ValidationError, match="edgeless.graphml: holds no streets"):
        check_network(NetworkSpec(file=tmp_path / "edgeless.graphml"), crs=pyproj.CRS(32619), layers={})
