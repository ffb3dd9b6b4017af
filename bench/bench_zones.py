"""Zone design on a synthetic city of 500 units: local search and CP-SAT against greedy region growing.

The city is a square of Voronoi units around random points, children by age band in every unit
(the poorer ones in one corner), and about one school per four units (district, charter,
Catholic; elementary K-5, middle 6-8 and high 9-12) with about 10% more seats than residents in
every grade. Travel is straight-line metres times 1.3 at 20 mph (the network-free model).
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facilities.travel import StraightLineModel
from facilities.zones import ZoneData, compare_plans, design, design_cpsat, greedy_zones

#: South-west corner of the synthetic city, UTM zone 19N metres (near Boston).
_ORIGIN = (320_000.0, 4_680_000.0)
_LEVELS = {"elementary": tuple(range(0, 6)), "middle": (6, 7, 8), "high": (9, 10, 11, 12)}


def synthetic(
    n_units: int = 500, *, seed: int = 0, side: float = 20_000.0
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Units (Voronoi polygons with population bands) and schools of a synthetic city (UTM zone 19N
    metres)."""
    rng = np.random.default_rng(seed)
    x0, y0 = _ORIGIN
    pts = rng.uniform(0, side, size=(n_units, 2)) + (x0, y0)
    square = shapely.box(x0, y0, x0 + side, y0 + side)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=square))
    cells = shapely.intersection(cells, square)
    order = shapely.STRtree(cells).query(shapely.points(pts), predicate="intersects")
    geoms = np.empty(n_units, dtype=object)
    geoms[order[0]] = cells[order[1]]
    children = rng.gamma(4.0, 120.0, size=n_units).round()
    shares = np.array([5, 5, 5, 3]) / 18
    low = np.clip(
        0.2 + 0.5 * (1 - (pts - _ORIGIN).sum(axis=1) / (2 * side)) + rng.normal(0, 0.08, n_units), 0.02, 0.95
    )
    units = gpd.GeoDataFrame(
        {
            "id": [f"u{i:03d}" for i in range(n_units)],
            "name": [f"Unit {i}" for i in range(n_units)],
            "kind": "neighborhood",
            **{
                f"population_{b}": np.round(children * s).astype(int)
                for b, s in zip(("0_4", "5_9", "10_14", "15_17"), shares, strict=True)
            },
        },
        geometry=geoms,
        crs="EPSG:32619",
    )
    units["population_0_17"] = units[[c for c in units.columns if c.startswith("population_")]].sum(axis=1)
    units["population_low_income_0_17"] = np.round(units["population_0_17"] * low).astype(int)
    n_schools = max(n_units // 4, 6)
    hosts = rng.choice(n_units, size=n_schools, replace=False)
    levels = rng.choice(list(_LEVELS), size=n_schools, p=[0.6, 0.2, 0.2])
    levels[:3] = list(_LEVELS)  # every level present
    sectors = rng.choice(["district", "charter", "catholic"], size=n_schools, p=[0.6, 0.3, 0.1])
    per_grade = units["population_0_17"].sum() / 18 * 1.1
    capacity = [round(per_grade * len(_LEVELS[lv]) / max((levels == lv).sum(), 1)) for lv in levels]
    schools = gpd.GeoDataFrame(
        {
            "id": [f"s{k:03d}" for k in range(n_schools)],
            "name": [f"School {k}" for k in range(n_schools)],
            "sector": sectors,
            "grades": [_LEVELS[lv] for lv in levels],
            "capacity": capacity,
            "enrollment": np.round(np.array(capacity) * rng.uniform(0.7, 1.0, n_schools)).astype(int),
        },
        geometry=units.geometry.iloc[hosts].representative_point().values,
        crs=units.crs,
    )
    return units, schools


#: Seconds at 20 mph over 1.3 times the straight-line distance (the network-free model, Euclidean).
straight_travel = StraightLineModel(kind="euclidean").matrix


def run(quick: bool = False) -> None:
    """Print the comparison of CP-SAT zone design and the greedy reference."""
    n = 150 if quick else 500
    limit = 20.0 if quick else 60.0
    t0 = time.perf_counter()
    units, schools = synthetic(n, seed=1)
    data = ZoneData.from_geodataframe(units, schools, travel=straight_travel)
    t_build = time.perf_counter() - t0
    grades = tuple(range(0, 6))
    greedy = greedy_zones(data, min_schools=2, max_schools=8, grades=grades)
    local = design(data, min_schools=2, max_schools=8, grades=grades, time_limit=limit, seed=0)
    exact = design_cpsat(data, min_schools=2, max_schools=8, grades=grades, time_limit=limit, seed=0)
    plans = {"greedy (reference)": greedy, "design (local search)": local, "design_cpsat": exact}
    table = compare_plans(plans)
    table.loc["seconds"] = [round(p.seconds, 1) for p in plans.values()]
    table.loc["status"] = [p.status for p in plans.values()]
    print(
        f"zone design: {n} units, {len(schools)} schools, zones for grades K-5; instance built in "
        f"{t_build:.1f} s; "
        f"time limit {limit:g} s, CP-SAT 1 worker"
    )
    with pd.option_context("display.width", 120):
        print(table.to_string())
