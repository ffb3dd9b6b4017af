"""Map layers: student homes are only ever drawn in cells of at least ten, and layers say what they hold."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from app import maps

CRS = "EPSG:32619"


def _points(xy: np.ndarray, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 400),
    spread=st.floats(50, 5000),
    size=st.floats(20, 800),
    min_count=st.integers(1, 30),
    seed=st.integers(0, 2**16),
)
def test_hexbin_never_emits_a_small_cell_and_counts_every_point_once(n, spread, size, min_count, seed):
    rng = np.random.default_rng(seed)
    xy = 330_000 + rng.normal(scale=spread, size=(n, 2))
    flag = rng.random(n) < 0.3
    cells = maps.hexbin(_points(xy, flag=flag), size=size, min_count=min_count, sums=["flag"])
    assert (cells["count"] >= min_count).all()
    assert int(cells["count"].sum()) + cells.attrs["hidden"] == n
    assert not cells.duplicated(["q", "r"]).any()
    assert (cells["flag"] <= cells["count"]).all()
    # every counted point lies in (or on the edge of) its cell's hexagon, and no other cell claims it
    inside = shapely.contains_xy(
        cells.geometry.buffer(1e-6 * size).to_numpy()[:, None], xy[:, 0][None, :], xy[:, 1][None, :]
    )
    assert (inside.sum(axis=1) >= cells["count"].to_numpy()).all()
    if n:
        areas = cells.geometry.area.to_numpy()
        assert np.allclose(areas, 1.5 * np.sqrt(3) * size**2)


def test_hexbin_keeps_a_dense_cluster_and_hides_a_lone_home():
    cluster = np.full((25, 2), 330_000.0) + np.linspace(0, 5, 25)[:, None]
    lone = np.array([[340_000.0, 4_700_000.0]])
    cells = maps.hexbin(_points(np.vstack([cluster, lone])), size=200)
    assert cells["count"].tolist() == [25]
    assert cells.attrs["hidden"] == 1


def test_hexbin_refuses_degrees():
    points = gpd.GeoSeries(gpd.points_from_xy([-71.1], [42.3]), crs="EPSG:4326")
    with pytest.raises(ValueError, match="metric CRS"):
        maps.hexbin(points)


def test_hexbin_layer_tooltips_only_show_counts_of_ten_or_more():
    rng = np.random.default_rng(3)
    xy = 330_000 + rng.normal(scale=1500, size=(500, 2))
    layer = maps.hexbin_layer(maps.hexbin(_points(xy), size=300))
    counts = [int(tip.split()[0].replace(",", "")) for tip in pd.DataFrame(layer.data)["tip"]]
    assert counts and min(counts) >= maps.MIN_CELL


def test_deck_is_offline_and_framed_on_the_data():
    zones = gpd.GeoDataFrame(
        {"id": ["a"], "name": ["A"], "kind": ["neighborhood"]},
        geometry=[shapely.box(-71.12, 42.30, -71.04, 42.36)],
        crs="EPSG:4326",
    )
    spec = json.loads(maps.deck([maps.outline_layer(zones)], bounds=tuple(zones.total_bounds)).to_json())
    # pydeck's sentinel: Streamlit's frontend then draws no basemap (without it, it fetches a carto style)
    assert spec["mapStyle"] == "__MAP_STYLE__" and "http" not in json.dumps(spec)
    assert spec.get("mapProvider") in (None, "")
    view = spec["initialViewState"]
    assert -71.12 < view["longitude"] < -71.04 and 42.30 < view["latitude"] < 42.36
    assert 10 < view["zoom"] < 16


def test_point_layer_colors_by_value():
    frame = gpd.GeoDataFrame(
        {"id": ["s1", "s2"], "name": ["One", "Two"], "sector": ["district", "charter"]},
        geometry=gpd.points_from_xy([330_000, 331_000], [4_690_000, 4_691_000]),
        crs=CRS,
    )
    dots, outline = maps.point_layer(frame, color=maps.SECTOR_COLORS, by="sector", scale=10, layer_id="s")
    data = pd.DataFrame(dots.data)
    assert [list(c[:3]) for c in data["fill"]] == [
        list(maps.SECTOR_COLORS["district"]),
        list(maps.SECTOR_COLORS["charter"]),
    ]
    assert data["tip"].tolist() == ["One", "Two"]
    # drawn as the polygons' layer type (no ScatterplotLayer to compile): a ring of 6 pixels of 10 m
    assert dots.type == "SolidPolygonLayer" and outline.type == "LineLayer" and outline.id == "s_outline"
    centres = gpd.GeoSeries(frame.geometry).to_crs(4326)
    for ring, centre in zip(data["polygon"], centres):
        drawn = gpd.GeoSeries([shapely.Polygon(ring)], crs=4326).to_crs(CRS).iloc[0]
        here = gpd.GeoSeries([centre], crs=4326).to_crs(CRS).iloc[0]
        assert drawn.centroid.distance(here) < 0.5
        assert 55 < drawn.exterior.distance(here) <= 60.5  # 6 px x 10 m, a 12-gon's sides inside
    dots, rings = maps.point_layer(frame, color=maps.STATUS_COLORS, by="sector", scale=10, ring=True)
    assert all(list(f) == [255, 255, 255, 200] for f in pd.DataFrame(dots.data)["fill"])  # white centres
    assert {tuple(c[:3]) for c in pd.DataFrame(rings.data)["color"]} == {(0, 0, 0)}  # no status: black rings


def test_metres_per_pixel_matches_the_maps_framing():
    zones = gpd.GeoDataFrame(
        {"id": ["a"], "name": ["A"], "kind": ["neighborhood"]},
        geometry=[shapely.box(-71.12, 42.30, -71.04, 42.36)],
        crs="EPSG:4326",
    )
    bounds = tuple(zones.total_bounds)
    spec = json.loads(maps.deck([maps.outline_layer(zones)], bounds=bounds).to_json())
    view = spec["initialViewState"]
    expected = 40_075_016.686 * np.cos(np.radians(view["latitude"])) / (512 * 2 ** view["zoom"])
    assert maps.metres_per_pixel(bounds=bounds) == pytest.approx(expected)


def test_count_text_never_shows_a_small_count():
    assert maps.count_text(25, what="riders") == "25 riders"
    assert maps.count_text(9, what="riders") == "fewer than 10 riders"
    assert maps.count_text(1) == "fewer than 10 students"


def test_public_run_lines_pass_only_through_shared_stops_and_schools(tmp_path):
    """A drawn run never leads to a door-to-door or wheelchair stop (a student's home), nor to a corner
    stop of fewer than ten students."""
    from facilities import read_city
    from facilities.demo import generate
    from facilities.privacy import MIN_CELL
    from routing.scenarios import DEFAULT_SCENARIOS, prepare, run_scenario

    city = read_city(generate(size="test", seed=7, out=tmp_path / "city"))
    prepared = prepare(city, sessions=("am",), time_limit=2, seed=0)
    plan = run_scenario(prepared, DEFAULT_SCENARIOS[0]).plans["am"]
    stops = prepared.stops.stops
    homes = stops[stops["service"].isin(maps.PRIVATE_SERVICES)]
    assert len(homes), "the test city has door-to-door riders"
    small = {st.id for st in plan.data.stops if st.students < MIN_CELL}
    assert small - set(homes["id"]), "the test city has corner stops of fewer than ten students"
    shown = ~stops["service"].isin(maps.PRIVATE_SERVICES) & ~stops["id"].isin(small)
    public = np.r_[
        np.c_[stops.geometry.x, stops.geometry.y][shown],
        np.c_[prepared.schools["x"], prepared.schools["y"]],
    ]
    lines = maps.public_run_lines(prepared, plan)
    assert len(lines) == len(plan.runs) and any(line is not None for line in lines)
    for line in lines:
        if line is None:
            continue
        for x, y in line.coords:
            assert np.hypot(public[:, 0] - x, public[:, 1] - y).min() < 1e-6, "a run line passes a small stop"
    only_homes = [
        k
        for k, run in enumerate(plan.runs)
        if all(plan.data.stops[v.stop].id in set(homes["id"]) for v in run.visits if v.stop is not None)
    ]
    assert all(lines[k] is None for k in only_homes)


def test_a_text_layer_s_font_atlas_holds_exactly_the_characters_it_writes():
    names = ["Cedar Grove", "Élan Heights", "12", ""]
    layer = maps.text_layer(_points(np.array([[330_000.0, 4_690_000.0]] * 4), name=names), text="name")
    drawn = json.loads(pdk_json(layer))["layers"][0]
    assert set(drawn["characterSet"]) == set("".join(names))
    assert [row["text"] for row in drawn["data"]] == names


def pdk_json(layer) -> str:
    import pydeck as pdk

    return pdk.Deck(layers=[layer], map_provider=None).to_json()
