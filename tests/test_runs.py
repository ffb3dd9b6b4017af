"""Runs for each school: every rider once, seats, ride limit, bell, AM and PM, both solvers."""

from __future__ import annotations

import numpy as np
import pytest

from routing.problem import Run
from routing.runs import RunOptions, VrpInput, school_runs, solve_vrp
from tests.test_problem import toy_problem


def _school_stops(data, school):
    return [k for k, s in enumerate(data.stops) if s.school == school]


def _check_runs(data, school, runs: list[Run], session):
    stops = _school_stops(data, school)
    served = sorted(k for r in runs for k in r.stops)
    assert served == sorted(stops)
    sch = data.schools[school]
    for r in runs:
        assert r.students <= data.bus_types[r.bus_type].seats
        for _, ride in r.ride_times():
            assert 0 <= ride <= data.max_ride + 1e-6
        for a, b in zip(r.visits, r.visits[1:]):  # legs possible at the speed
            assert b.start >= a.end + data.durations[a.location, b.location] - 1e-6
        if session == "am":
            assert r.visits[-1].location == sch.location and r.end <= sch.am_bell + 1e-6
            assert r.visits[-1].end - r.visits[-1].start == pytest.approx(sch.dwell)
        else:
            assert r.visits[0].location == sch.location and r.visits[0].start >= sch.pm_dismissal - 1e-6
            assert r.visits[0].end == pytest.approx(sch.pm_dismissal + sch.dwell)
            assert all(v.action == "dropoff" for v in r.visits[1:])


@pytest.mark.parametrize("solver", ["pyvrp", "ortools"])
@pytest.mark.parametrize("session", ["am", "pm"])
def test_runs_are_feasible(solver, session):
    data = toy_problem(seed=1)
    runs, bad = school_runs(data, 0, _school_stops(data, 0), session=session, solver=solver, time_limit=1)
    assert not bad
    _check_runs(data, 0, runs, session)
    # riders fit in fewer runs than stops only when seats allow; never more runs than stops
    assert len(runs) <= len(_school_stops(data, 0))


def test_tighter_ride_limit_never_gives_longer_rides():
    data = toy_problem(seed=2)
    runs, _ = school_runs(data, 1, _school_stops(data, 1), options=RunOptions(ride_factor=0.5), time_limit=1)
    rides = [t for r in runs for _, t in r.ride_times()]
    direct = [
        data.durations[data.stops[k].location, data.schools[1].location] for k in _school_stops(data, 1)
    ]
    assert max(rides) <= max(0.5 * data.max_ride, max(direct)) + 1e-6


def test_same_seed_same_runs():
    data = toy_problem(seed=3)
    a, _ = school_runs(data, 2, _school_stops(data, 2), options=RunOptions(seed=7), time_limit=5)
    b, _ = school_runs(data, 2, _school_stops(data, 2), options=RunOptions(seed=7), time_limit=5)
    assert a == b


def test_stop_too_far_is_reported_by_id_and_rest_solved():
    data = toy_problem(max_ride=1200)
    stops = _school_stops(data, 0)
    far = max(stops, key=lambda k: data.durations[data.stops[k].location, data.schools[0].location])
    tight = data.durations[data.stops[far].location, data.schools[0].location] - 1
    data = data.replace(max_ride=float(tight))
    runs, bad = school_runs(data, 0, stops, time_limit=1)
    assert data.stops[far].id in {b.stop for b in bad}
    assert "over the" in bad[0].reason
    assert sorted(k for r in runs for k in r.stops) == sorted(
        set(stops) - {k for k in stops if data.stops[k].id in {b.stop for b in bad}}
    )


def test_stop_with_more_riders_than_seats_is_split():
    data = toy_problem(seats=5)
    stops = _school_stops(data, 0)
    runs, _ = school_runs(data, 0, stops, time_limit=1)
    carried = {}
    for r in runs:
        assert r.students <= 5
        for v in r.visits[:-1]:
            carried[v.stop] = carried.get(v.stop, 0) + v.students
    assert carried == {k: data.stops[k].students for k in stops}


@pytest.mark.parametrize("solver", ["pyvrp", "ortools"])
def test_solve_vrp_respects_capacity_and_windows(solver):
    rng = np.random.default_rng(0)
    n = 12
    xy = rng.uniform(0, 100, size=(n + 1, 2))
    d = np.rint(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    demand = np.concatenate([[0], rng.integers(1, 10, n)])
    inp = VrpInput(
        d,
        d,
        demand,
        np.zeros(n + 1, dtype=np.int64),
        np.zeros(n + 1, dtype=np.int64),
        np.full(n + 1, 1000),
        25,
        0,
        n,
        1000,
    )
    routes = solve_vrp(inp, solver=solver, time_limit=1)
    assert sorted(c for r in routes for c in r) == list(range(1, n + 1))
    assert all(demand[r].sum() <= 25 for r in routes)
