"""Eligibility and stop placement: everyone eligible gets exactly one stop within their own walk."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facilities import ValidationError
from routing.stops import EligibilityRule, eligibility_rules, eligible_riders, place_stops

CRS = "EPSG:32619"


def _students(
    n: int, seed: int, *, spread: float = 3000.0, max_walk: float | None = 400.0
) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    xy = 330_000 + rng.random((n, 2)) * spread
    return gpd.GeoDataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "grade": rng.integers(0, 13, n),
            "school": rng.choice(["A", "B"], n),
            "service": rng.choice(["corner", "corner", "corner", "door-to-door", "wheelchair"], n),
            "max_walk": np.full(n, np.nan) if max_walk is None else rng.uniform(max_walk / 2, max_walk, n),
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1] + 4_680_000),
        crs=CRS,
    )


SCHOOLS = gpd.GeoDataFrame(
    {"id": ["A", "B"]}, geometry=gpd.points_from_xy([331_500, 331_000], [4_681_500, 4_682_500]), crs=CRS
)


def test_rules_read_both_forms() -> None:
    long = eligibility_rules(
        {"eligibility": [{"grades": "K-5", "walk_beyond_mi": 1.0}, {"grades": "9-12", "transit_pass": True}]}
    )
    short = eligibility_rules({"eligibility": {"K-5": 1609.344}})
    assert long[0] == short[0] == EligibilityRule(tuple(range(0, 6)), 1609.344, False)
    assert long[1].transit_pass


def test_bad_rules_are_named() -> None:
    with pytest.raises(ValidationError, match="grades"):
        eligibility_rules({"eligibility": [{"grades": "K-5"}, {"grades": "5-8"}]})


def test_eligibility_by_distance_and_service() -> None:
    students = _students(400, 1)
    rules = (EligibilityRule(tuple(range(0, 9)), 1200.0), EligibilityRule((9, 10, 11, 12), transit_pass=True))
    out = eligible_riders(students, SCHOOLS, rules=rules)
    special = out["service"] != "corner"
    assert out.loc[special, "eligible"].all()
    corner = out[~special]
    young = corner["grade"] <= 8
    assert (corner.loc[young, "eligible"] == (corner.loc[young, "walk_to_school"] > 1200)).all()
    assert not corner.loc[~young, "eligible"].any()
    assert (corner.loc[~young, "reason"] == "transit pass").all()


def _check_plan(riders: gpd.GeoDataFrame, plan, default_walk: float) -> None:  # type: ignore[no-untyped-def]
    a = plan.assignment
    placed = set(a["student"])
    assert a["student"].is_unique  # nobody on two stops
    assert placed | set(plan.infeasible["student"]) == set(riders["id"])  # everyone placed or named
    assert not placed & set(plan.infeasible["student"])
    # walks recomputed independently: Manhattan distance from home to the stop
    home = riders.set_index("id").geometry
    stop = plan.stops.set_index("id").geometry
    hx, hy = home.loc[a["student"]].x.to_numpy(), home.loc[a["student"]].y.to_numpy()
    sx, sy = stop.loc[a["stop"]].x.to_numpy(), stop.loc[a["stop"]].y.to_numpy()
    corner = riders.set_index("id").loc[a["student"], "service"].to_numpy() == "corner"
    walk = np.abs(hx - sx) + np.abs(hy - sy)
    limit = riders.set_index("id").loc[a["student"], "max_walk"].fillna(default_walk).to_numpy()
    assert (walk[corner] <= limit[corner] + 1e-6).all()
    counts = a.groupby("stop").size()
    assert (plan.stops.set_index("id").loc[counts.index, "students"] == counts).all()
    # a stop serves one school and one service
    school = riders.set_index("id").loc[a["student"], "school"].to_numpy()
    assert (plan.stops.set_index("id").loc[a["stop"], "school"].to_numpy() == school).all()


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 120), seed=st.integers(0, 1000), cap=st.integers(1, 30))
def test_everyone_within_their_walk(n: int, seed: int, cap: int) -> None:
    riders = _students(n, seed)
    plan = place_stops(riders, stop_capacity=cap, seed=seed)
    _check_plan(riders, plan, 400.0)
    assert (plan.stops["students"] <= cap).all()
    assert plan.infeasible.empty  # the grid's corners are always within 100 m


def test_default_walk_and_unreachable_students_are_named() -> None:
    riders = _students(60, 3, max_walk=None)
    plan = place_stops(riders, max_walk=300.0, seed=0)
    _check_plan(riders, plan, 300.0)
    tiny = riders.assign(max_walk=1.0)
    plan = place_stops(tiny, grid_spacing=100.0, seed=0)
    corner = tiny.loc[tiny["service"] == "corner", "id"]
    assert set(plan.infeasible["student"]) <= set(corner)
    assert len(plan.infeasible) > 0 and plan.infeasible["reason"].str.contains("walk").all()


def test_same_seed_same_stops() -> None:
    riders = _students(200, 7)
    a, b = place_stops(riders, seed=5), place_stops(riders, seed=5)
    pd.testing.assert_frame_equal(a.assignment, b.assignment)


def test_stops_on_the_street_network(shared) -> None:  # type: ignore[no-untyped-def]
    from routing.network import load_network
    from routing.travel import compile_network, distance_matrix

    net = compile_network(load_network(shared / "boston" / "boston_backbay_drive.graphml", crs=CRS))
    (x0, y0), (x1, y1) = net.xy.min(axis=0), net.xy.max(axis=0)
    rng = np.random.default_rng(2)
    n = 150
    xy = np.column_stack([rng.uniform(x0 + 300, x1 - 300, n), rng.uniform(y0 + 300, y1 - 300, n)])
    riders = gpd.GeoDataFrame(
        {"id": [f"s{i}" for i in range(n)], "school": "A", "service": "corner", "max_walk": 400.0},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=CRS,
    )
    plan = place_stops(riders, network=net, seed=1)
    assert set(plan.stops["node"]) <= set(net.node_ids.tolist())  # every stop is a street node
    a = plan.assignment.merge(plan.stops[["id", "node"]], left_on="stop", right_on="id")
    home = riders.set_index("id").loc[a["student"]]
    walk = np.array(
        [
            distance_matrix(net, np.array([[p.x, p.y]]), np.array([node]), walking=True)[0, 0]
            for p, node in zip(home.geometry, a["node"])
        ]
    )
    assert (walk <= 400.0 + 1e-6).all()
    assert len(a) + len(plan.infeasible) == n
