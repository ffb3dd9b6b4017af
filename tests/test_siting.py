"""Site selection (p-median) against brute force on small instances and an OR-Library optimum."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facilities.siting import PMedian

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pmedian"


def _instance(seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 1000, (n, 2)), rng.uniform(0, 1000, (m, 2))
    cost = np.round(np.hypot(*(a[:, None, :] - b[None, :, :]).transpose(2, 0, 1)))
    return cost, rng.integers(0, 6, n).astype(float)


def _brute_force(cost: np.ndarray, w: np.ndarray, p: int, fixed: np.ndarray) -> float:
    free = np.flatnonzero(~fixed)
    return min(
        float(w @ cost[:, np.r_[np.flatnonzero(fixed), list(extra)].astype(int)].min(1))
        for extra in itertools.combinations(free, p)
    )


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.booleans())
def test_uncapacitated_matches_brute_force(seed: int, p: int, with_fixed: bool) -> None:
    cost, w = _instance(seed, 14, 7)
    fixed = np.zeros(7, dtype=bool)
    fixed[0] = with_fixed
    result = PMedian.from_cost_matrix(cost, w, p, fixed=fixed).solve(time_limit=30, seed=0)
    assert result.optimal
    assert result.objective == pytest.approx(_brute_force(cost, w, p, fixed))
    assert len(result.sites) == p + with_fixed and (not with_fixed or 0 in result.sites)
    # each point goes to its nearest open site
    served = cost[np.arange(14), result.assignment]
    assert np.allclose(served, cost[:, result.sites].min(1))
    assert result.bound <= result.objective + 1e-6 and result.gap == 0.0


def _brute_force_capacitated(cost: np.ndarray, w: np.ndarray, p: int, cap: np.ndarray) -> float:
    best = np.inf
    for sites in itertools.combinations(range(cost.shape[1]), p):
        for choice in itertools.product(sites, repeat=len(w)):
            load = np.bincount(choice, weights=w, minlength=cost.shape[1])
            if (load <= cap).all():
                best = min(best, float(w @ cost[np.arange(len(w)), choice]))
    return best


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_capacitated_single_source_matches_brute_force(seed: int) -> None:
    cost, w = _instance(seed, 6, 4)
    w = w + 1
    cap = np.full(4, np.ceil(w.sum() * 0.6))
    model = PMedian.from_cost_matrix(cost, w, 2, capacities=cap)
    result = model.solve(time_limit=30, seed=0)
    assert result.formulation == "classic" and result.optimal
    assert result.objective == pytest.approx(_brute_force_capacitated(cost, w, 2, cap))
    load = np.bincount(result.assignment, weights=w, minlength=4)
    assert (load <= cap + 1e-9).all() and set(result.assignment) <= set(result.sites)
    split = PMedian.from_cost_matrix(cost, w, 2, capacities=cap, single_source=False).solve(
        time_limit=30, seed=0
    )
    assert split.objective <= result.objective + 1e-6
    free = PMedian.from_cost_matrix(cost, w, 2).solve(time_limit=30, seed=0)
    assert free.objective <= split.objective + 1e-6


def test_infeasible_problems_say_why() -> None:
    cost, w = _instance(1, 5, 3)
    with pytest.raises(ValueError, match="largest sites.*hold 6 but the demand"):
        PMedian.from_cost_matrix(cost, w + 5, 1, capacities=np.full(3, 6.0)).solve()
    cost[2] = np.inf
    with pytest.raises(ValueError, match="demand point 2 cannot reach any site"):
        PMedian.from_cost_matrix(cost, w + 1, 1).solve()
    with pytest.raises(ValueError, match="p = 4 must be"):
        PMedian.from_cost_matrix(cost, w, 4)
    with pytest.raises(ValueError, match="weights has shape"):
        PMedian.from_cost_matrix(cost, w[:2], 1)


def test_from_geodataframe_uses_metric_distances_and_ids() -> None:
    rng = np.random.default_rng(3)
    demand = gpd.GeoDataFrame(
        {"id": [f"b{i}" for i in range(20)], "students": rng.integers(1, 30, 20)},
        geometry=gpd.points_from_xy(rng.uniform(0, 5000, 20), rng.uniform(0, 5000, 20)),
        crs="EPSG:32619",
    )
    sites = gpd.GeoDataFrame(
        {"id": [f"bldg{j}" for j in range(6)], "seats": [200.0] * 6, "open": [True] + [False] * 5},
        geometry=gpd.points_from_xy(rng.uniform(0, 5000, 6), rng.uniform(0, 5000, 6)),
        crs="EPSG:32619",
    )
    model = PMedian.from_geodataframe(demand, sites, weights_col="students", p=2, fixed_col="open")
    result = model.solve(time_limit=30, seed=0)
    assert "bldg0" in result.site_ids and len(result.site_ids) == 3
    cost = np.hypot(
        demand.geometry.x.to_numpy()[:, None] - sites.geometry.x.to_numpy(),
        demand.geometry.y.to_numpy()[:, None] - sites.geometry.y.to_numpy(),
    )
    expected = _brute_force(cost, demand["students"].to_numpy(float), 2, sites["open"].to_numpy())
    assert result.objective == pytest.approx(expected)
    travel = PMedian.from_geodataframe(
        demand, sites, weights_col="students", p=2, travel=lambda d, s: cost * 2
    )
    assert travel.solve(time_limit=30, seed=0).objective == pytest.approx(
        2 * _brute_force(cost, demand["students"].to_numpy(float), 2, np.zeros(6, bool))
    )
    with pytest.raises(ValueError, match="no column 'pupils'"):
        PMedian.from_geodataframe(demand, sites, weights_col="pupils", p=2)


@pytest.mark.shared
def test_or_library_pmed4_optimum() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (OR-Library p-median instances live in ../shared/data)")
    from bench.bench_pmedian import load, optima

    cost, p = load(SHARED / "pmed4.txt")
    result = PMedian.from_cost_matrix(cost, np.ones(len(cost)), p).solve(time_limit=120, seed=0)
    assert result.optimal and result.objective == optima()["pmed4"]


def test_sites_out_of_reach_are_respected() -> None:
    rng = np.random.default_rng(0)
    for _ in range(10):
        cost = rng.integers(1, 100, (8, 5)).astype(float)
        cost[rng.random(cost.shape) < 0.4] = np.inf
        cost[np.isinf(cost).all(1), 0] = 5.0
        result = PMedian.from_cost_matrix(cost, np.ones(8), 2).solve(time_limit=10, seed=0)
        assert np.isfinite(result.objective)
        assert result.objective == pytest.approx(_brute_force(cost, np.ones(8), 2, np.zeros(5, bool)))
