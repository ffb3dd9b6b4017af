"""Privacy by construction: no public row, cell or point locates fewer than 10 students."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from facilities.privacy import (
    HOME_RADIUS_M,
    MIN_CELL,
    PrivacyError,
    check_public,
    public_points,
    suppress_small,
)

COUNTS = ("students", "riders", "students_served", "count")


def points_locating_students(folder: Path, homes: gpd.GeoSeries) -> list[str]:
    """Every point in the files under ``folder`` within :data:`HOME_RADIUS_M` of a home and serving
    fewer than :data:`MIN_CELL` students (a column of counts), as ``"file[layer]: n points"``."""
    import pyogrio

    found = []
    metric = homes.to_crs(homes.estimate_utm_crs())
    for path in sorted(folder.rglob("*")):
        frames: list[tuple[str, gpd.GeoDataFrame]] = []
        if path.suffix in (".gpkg", ".geojson"):
            frames = [
                (f"{path.name}[{name}]", gpd.read_file(path, layer=name))
                for name, _ in pyogrio.list_layers(path)
            ]
        elif path.suffix == ".parquet":
            try:
                frames = [(path.name, gpd.read_parquet(path))]
            except ValueError:
                continue
        elif path.suffix == ".csv":
            table = pd.read_csv(path)
            xy = next(
                (
                    (x, y)
                    for x, y in (("lon", "lat"), ("x", "y"), ("longitude", "latitude"))
                    if {x, y} <= set(table.columns)
                ),
                None,
            )
            if xy is not None:
                frames = [
                    (
                        path.name,
                        gpd.GeoDataFrame(
                            table, geometry=gpd.points_from_xy(table[xy[0]], table[xy[1]]), crs=4326
                        ),
                    )
                ]
        for name, frame in frames:
            count = next((c for c in COUNTS if c in frame.columns), None)
            if count is None or frame.crs is None or not len(frame):
                continue
            pts = frame[frame.geom_type == "Point"].to_crs(metric.crs)
            few = pd.to_numeric(pts[count], errors="coerce").fillna(0) < MIN_CELL
            if not few.any():
                continue
            nearest = metric.sindex.nearest(pts.geometry[few].values, return_distance=True, return_all=False)[
                1
            ]
            near = int((nearest <= HOME_RADIUS_M).sum())
            if near:
                found.append(f"{name}: {near} points")
    return found


def _stops(counts: list[int], spacing: float = 30.0) -> gpd.GeoDataFrame:
    points = [shapely.Point(330_000 + k * spacing, 4_690_000) for k in range(len(counts))]
    return gpd.GeoDataFrame(
        {"id": [f"s{k}" for k in range(len(counts))], "school": "A", "students": counts},
        geometry=points,
        crs=32619,
    )


def test_small_counts_read_below_ten() -> None:
    table = pd.DataFrame({"zone": ["a", "b", "c"], "residents": [0, 4, 25]})
    assert suppress_small(table, ["residents"])["residents"].tolist() == [0, "<10", 25]


def test_public_points_keep_large_points_and_pool_or_withhold_the_others() -> None:
    stops = _stops([1] * 12 + [14] + [3], spacing=20.0)
    stops.loc[13, "geometry"] = shapely.Point(360_000, 4_690_000)  # alone, far away: withheld
    public = public_points(stops, count="students")
    assert (public["students"] >= MIN_CELL).all()
    assert public.loc[public["id"] == "s12", "students"].tolist() == [14], "a large stop is kept as it is"
    pooled = public[public["id"].str.startswith("cell-")]
    assert pooled["students"].sum() == 12 and set(pooled["school"]) == {"pooled"}
    assert public.attrs["withheld_students"] == 3
    assert int(public["students"].sum()) + public.attrs["withheld_students"] == int(stops["students"].sum())
    check_public(public, name="stops", count="students")


def test_public_points_in_longitude_latitude() -> None:
    stops = _stops([2] * 10).to_crs(4326)
    public = public_points(stops, count="students")
    assert public.crs == stops.crs and (public["students"] >= MIN_CELL).all()
    assert int(public["students"].sum()) + public.attrs["withheld_students"] == 20


def test_the_gate_refuses_rows_and_points_locating_few_students() -> None:
    with pytest.raises(PrivacyError, match="stops: 2 rows locate fewer than 10 students"):
        check_public(_stops([1, 30, 9]), name="stops", count="students")
    homes = gpd.GeoSeries([shapely.Point(330_010, 4_690_000)], crs=32619)
    with pytest.raises(PrivacyError, match="points.gpkg: 1 rows"):
        check_public(
            _stops([50, 50], spacing=100.0).drop(columns="students"), name="points.gpkg", homes=homes
        )
    check_public(
        _stops([50]).drop(columns="students").set_geometry([shapely.Point(331_000, 4_690_000)]),
        name="far",
        homes=homes,
    )


def test_the_scan_finds_a_stop_at_a_home(tmp_path: Path) -> None:
    stops = _stops([1, 40])
    homes = gpd.GeoSeries([shapely.Point(330_005, 4_690_010)], crs=32619)
    stops.to_crs(4326).to_parquet(tmp_path / "stops.parquet")
    assert points_locating_students(tmp_path, homes.to_crs(4326)) == ["stops.parquet: 1 points"]
    public_points(stops, count="students").to_crs(4326).to_parquet(tmp_path / "stops.parquet")
    assert points_locating_students(tmp_path, homes.to_crs(4326)) == []
    assert np.isfinite(HOME_RADIUS_M)
