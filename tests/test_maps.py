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
    inside = shapely.contains_xy(cells.geometry.buffer(1e-6 * size).to_numpy()[:, None], xy[:, 0][None, :], xy[:, 1][None, :])
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
    layer = maps.point_layer(frame, color=maps.SECTOR_COLORS, by="sector")
    data = pd.DataFrame(layer.data)
    assert [list(c[:3]) for c in data["fill"]] == [list(maps.SECTOR_COLORS["district"]), list(maps.SECTOR_COLORS["charter"])]
    assert data["tip"].tolist() == ["One", "Two"]
    lon, lat = data["position"][0]
    assert -72 < lon < -70 and 42 < lat < 43
