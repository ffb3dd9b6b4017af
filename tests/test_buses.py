"""Chaining runs onto buses: exact minimum, feasible moves, yards; the whole solve."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from routing.budget import Deadline
from routing.buses import chain, min_buses, mix_loads, solve
from routing.problem import Run, Visit
from routing.runs import RunOptions, _linking_deadhead, school_runs, single_run
from routing.selection import _drop_repeats, _Selector
from tests.test_problem import toy_problem


def _runs(data, seed: int, n: int, *, cover: bool = False) -> list[Run]:
    """Random one-stop AM runs: pick up at a random stop, reach a random school by its bell
    (``cover``: the stops in turn, all their riders)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = i % len(data.stops) if cover else int(rng.integers(len(data.stops)))
        st = data.stops[k]
        sch = data.schools[int(rng.integers(len(data.schools)))]
        s_idx = data.schools.index(sch)
        bell = sch.am_bell + float(rng.integers(-3, 4)) * 900
        arrive = bell - sch.dwell
        end = arrive - data.durations[st.location, sch.location]
        riders = st.students if cover else 1
        out.append(
            Run(
                "am",
                (
                    Visit("pickup", st.location, s_idx, k, riders, end - 10, end),
                    Visit("dropoff", sch.location, s_idx, None, riders, arrive, bell),
                ),
                0,
            )
        )
    return out


def _feasible(data, runs, buses):
    assert sorted(r for b in buses for r in b.runs) == list(range(len(runs)))
    for b in buses:
        for i, j in zip(b.runs, b.runs[1:]):
            assert (
                runs[i].end + data.durations[runs[i].end_location, runs[j].start_location]
                <= runs[j].start + 1e-6
            )


def _brute_force_min(data, runs):
    """Fewest buses by trying every assignment of successors (tiny inputs only)."""
    n = len(runs)
    ok = [
        [
            i != j
            and runs[i].end + data.durations[runs[i].end_location, runs[j].start_location]
            <= runs[j].start + 1e-6
            for j in range(n)
        ]
        for i in range(n)
    ]
    best = n
    for succ in itertools.product(*[[None] + [j for j in range(n) if ok[i][j]] for i in range(n)]):
        used = [s for s in succ if s is not None]
        if len(used) == len(set(used)):
            best = min(best, n - len(used))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_chain_is_minimal_and_feasible(seed):
    data = toy_problem()
    runs = _runs(data, seed, 7)
    buses = chain(data, runs)
    _feasible(data, runs, buses)
    assert len(buses) == min_buses(data, runs) == _brute_force_min(data, runs)


def test_chain_prefers_less_deadhead_among_minimal_plans():
    data = toy_problem()
    runs = _runs(data, 11, 40)
    buses = chain(data, runs)
    D, yard = data.distances, data.yards[0].location

    def deadhead(seq):
        inner = sum(D[runs[x].end_location, runs[y].start_location] for x, y in zip(seq, seq[1:]))
        return D[yard, runs[seq[0]].start_location] + inner + D[runs[seq[-1]].end_location, yard]

    def feasible(seq):
        return all(
            runs[x].end + data.durations[runs[x].end_location, runs[y].start_location] <= runs[y].start + 1e-6
            for x, y in zip(seq, seq[1:])
        )

    rng = np.random.default_rng(0)
    # any other plan with as many buses, made by swapping the tails of two buses, has no less deadhead
    for _ in range(200):
        a, b = rng.choice(len(buses), 2, replace=False)
        ra, rb = list(buses[a].runs), list(buses[b].runs)
        i, j = int(rng.integers(len(ra))), int(rng.integers(len(rb)))
        na, nb = ra[: i + 1] + rb[j + 1 :], rb[: j + 1] + ra[i + 1 :]
        if feasible(na) and feasible(nb):
            assert deadhead(na) + deadhead(nb) >= deadhead(ra) + deadhead(rb) - 1.0


def test_solve_is_reproducible_and_alternatives_never_hurt():
    data = toy_problem(n_schools=4, stops_per_school=6, seed=5)
    one = solve(data, time_limit=5, seed=3, alternatives=1)
    again = solve(data, time_limit=5, seed=3, alternatives=1)
    assert one.runs == again.runs and one.buses == again.buses
    many = solve(data, time_limit=10, seed=3, alternatives=3)
    assert many.n_buses <= one.n_buses
    _feasible(data, list(many.runs), many.buses)
    assert sorted(k for r in many.runs for k in r.stops) == list(range(len(data.stops)))


def test_pm_plan_starts_runs_at_school_after_dismissal():
    data = toy_problem(seed=4)
    plan = solve(data, session="pm", time_limit=3, seed=0, alternatives=1)
    _feasible(data, list(plan.runs), plan.buses)
    for r in plan.runs:
        sch = data.schools[r.schools[0]]
        assert r.start_location == sch.location and r.start == pytest.approx(sch.pm_dismissal)


def test_solve_in_two_processes_is_reproducible():
    data = toy_problem(n_schools=4, stops_per_school=6, seed=6)
    a = solve(data, time_limit=5, seed=2, alternatives=3, workers=2)
    b = solve(data, time_limit=5, seed=2, alternatives=3, workers=2)
    assert a.stats["iterations"] == b.stats["iterations"]
    assert a.runs == b.runs and a.buses == b.buses


def _mixed_runs_are_feasible(data, runs):
    for r in runs:
        assert r.students <= data.bus_types[r.bus_type].seats
        drops = [v for v in r.visits if v.stop is None]
        assert [v.action for v in r.visits] == ["pickup"] * (len(r.visits) - len(drops)) + ["dropoff"] * len(
            drops
        )
        for v in drops:  # each school gets exactly its own students, by its bell
            assert v.students == sum(
                p.students for p in r.visits if p.stop is not None and p.school == v.school
            )
            assert v.end <= data.schools[v.school].am_bell + 1e-6
            assert v.end - v.start == pytest.approx(data.schools[v.school].dwell)
        for a, b in zip(r.visits, r.visits[1:]):
            assert b.start >= a.end + data.durations[a.location, b.location] - 1e-6
        for _, ride in r.ride_times():
            assert 0 <= ride <= data.max_ride + 1e-6


@pytest.mark.parametrize("seed", [0, 7])
def test_mixed_loads_never_need_more_buses_and_stay_feasible(seed):
    data = toy_problem(n_schools=4, stops_per_school=8, seed=seed, max_ride=2400).with_bells(
        am={"S1": 7 * 3600 + 600, "S2": 7 * 3600 + 900}
    )
    single = solve(data, time_limit=5, seed=0, alternatives=2)
    mixed = mix_loads(single, time_limit=10)
    assert mixed.n_buses <= single.n_buses
    assert mixed.stats["buses_before_mixing"] == single.n_buses
    assert sorted(k for r in mixed.runs for k in r.stops) == list(range(len(data.stops)))
    _mixed_runs_are_feasible(data, list(mixed.runs))
    _feasible(data, list(mixed.runs), mixed.buses)


def test_mixed_loads_are_for_am_plans():
    data = toy_problem(seed=4)
    plan = solve(data, session="pm", time_limit=3, seed=0, alternatives=1)
    with pytest.raises(ValueError, match="AM"):
        mix_loads(plan)


def _school_stops(data, s):
    return [k for k, st in enumerate(data.stops) if st.school == s]


@pytest.mark.parametrize("seed", range(4))
def test_dropping_repeats_covers_each_rider_once_and_keeps_runs_feasible(seed):
    data = toy_problem(n_schools=3, stops_per_school=8, seed=seed)
    runs = []
    for s in range(3):  # two overlapping run sets per school
        for rec in (RunOptions(ride_factor=1.0), RunOptions(ride_factor=0.5, seed=1)):
            runs += school_runs(data, s, _school_stops(data, s), options=rec, iterations=200)[0]
    out = _drop_repeats(data, runs)
    assert sorted(k for r in out for k in r.stops) == list(range(len(data.stops)))
    assert sum(r.students for r in out) == sum(st.students for st in data.stops)
    _mixed_runs_are_feasible(data, out)
    assert len(out) < len(runs)


@pytest.mark.parametrize("seed", [1, 5, 8])
def test_runs_combined_across_sets_need_no_more_buses_than_the_selection_counted(seed):
    data = toy_problem(n_schools=4, stops_per_school=7, seed=seed, max_ride=1500)
    plan = solve(data, time_limit=8, seed=0, alternatives=4)
    assert plan.n_buses <= plan.stats["mip_buses"]
    assert sorted(k for r in plan.runs for k in r.stops) == list(range(len(data.stops)))
    _mixed_runs_are_feasible(data, list(plan.runs))
    _feasible(data, list(plan.runs), plan.buses)


@pytest.mark.parametrize("seed", range(5))
def test_selection_counts_its_buses_exactly_and_within_the_relaxation_and_the_best_cover(seed):
    # runs ending at one school at several times: buses wait from one pool to the next
    data = toy_problem(n_schools=2, stops_per_school=3, seed=seed)
    runs = _runs(data, seed, 11, cover=True)
    selector = _Selector(data, [((0,), runs)])
    cols, info = selector.choose(deadline=Deadline(60))
    assert len(selector.end_waits) > 0
    chosen = [selector.runs[c] for c in cols]
    assert {k for r in chosen for k in r.stops} == set(range(len(data.stops)))
    assert info["mip_buses"] == min_buses(data, chosen)
    best = min(
        min_buses(data, subset)
        for size in range(1, len(runs) + 1)
        for subset in itertools.combinations(runs, size)
        if {k for r in subset for k in r.stops} == set(range(len(data.stops)))
    )
    assert info["lp_bound"] - 1e-3 * len(runs) <= best + 1e-6
    assert best <= info["mip_buses"]


def test_selection_stops_at_the_relaxation_s_bus_bound_with_that_many_buses():
    # the integer program stops at the first plan that needs the relaxation's buses rounded up: that
    # plan's buses are then the fewest any choice of runs can chain onto
    stopped = 0
    for seed in range(6):
        data = toy_problem(n_schools=2, stops_per_school=3, seed=seed)
        runs = _runs(data, seed, 11, cover=True)
        selector = _Selector(data, [((0,), runs[:6]), ((0,), runs[5:])])
        cols, info = selector.choose(deadline=Deadline(60))
        chosen = [selector.runs[c] for c in cols]
        assert {k for r in chosen for k in r.stops} == set(range(len(data.stops)))
        assert info["mip_buses"] == min_buses(data, chosen) >= info["bus_bound"]
        if "target" in str(info["mip_status"]).lower():
            stopped += 1
            assert info["mip_buses"] == info["bus_bound"]
            best = min(
                min_buses(data, subset)
                for size in range(1, len(runs) + 1)
                for subset in itertools.combinations(runs, size)
                if {k for r in subset for k in r.stops} == set(range(len(data.stops)))
            )
            assert best == info["mip_buses"]
    assert stopped > 0  # the rule fired


def test_restricted_programs_hold_the_relaxation_s_runs_and_whole_run_sets_up_to_the_cap(monkeypatch):
    data = toy_problem(n_schools=2, stops_per_school=3, seed=3)
    runs = _runs(data, 3, 12, cover=True)
    selector = _Selector(data, [((0,), rs) for rs in (runs[0:4], runs[3:7], runs[6:12])])  # overlapping sets
    assert sorted(set(np.concatenate(selector.sets))) == list(range(len(selector.runs)))
    first, last = set(selector.sets[0]), set(selector.sets[2]) - set(selector.sets[0])
    assert len(last) > 1
    y = np.zeros(len(selector.runs))
    a, b = min(first), max(last)
    y[[a, b]] = [0.5, 0.25]  # leans on the first set most, then the last
    monkeypatch.setattr(
        "routing.selection.RESTRICTED_RUNS", len(first | {b})
    )  # the last set would pass the cap
    wider = selector._restriction(y)
    assert set(np.nonzero(wider)[0]) == first | {b}
    monkeypatch.setattr("routing.selection.RESTRICTED_RUNS", 1)  # below the runs it uses: those stay in
    assert set(np.nonzero(selector._restriction(y))[0]) == {a, b}
    monkeypatch.setattr("routing.selection.RESTRICTED_RUNS", len(first | last))
    assert set(np.nonzero(selector._restriction(y))[0]) == first | last


def test_single_run_enforces_seats_and_the_ride_limit():
    data = toy_problem(seats=20, max_ride=1200, seed=2)
    stops = _school_stops(data, 0)
    near = min(stops, key=lambda k: data.durations[data.stops[k].location, data.schools[0].location])
    run = single_run(data, 0, [(near, 1)], "am", 0)
    assert run is not None and run.end == pytest.approx(data.schools[0].am_bell)
    assert single_run(data, 0, [(k, 8) for k in stops[:3]], "am", 0) is None  # 24 riders, 20 seats
    tight = toy_problem(seats=20, max_ride=10.0, seed=2)
    assert single_run(tight, 0, [(stops[0], 1), (stops[1], 1)], "am", 0) is None
    pm = single_run(data, 0, [(near, 1)], "pm", 0)
    assert pm is not None and pm.start == pytest.approx(data.schools[0].pm_dismissal)


def test_linking_deadhead_is_the_drive_from_the_nearest_school_that_fits():
    data = toy_problem(n_schools=3, seed=3)
    T = data.durations
    first = _school_stops(data, 0)
    locs = [data.stops[k].location for k in first]
    assert not _linking_deadhead(data, 0, locs, "am").any()  # nothing rings before the first bell
    last = _school_stops(data, 2)
    locs = [data.stops[k].location for k in last]
    got = _linking_deadhead(data, 2, locs, "am")
    sch = data.schools[2]
    for loc, value in zip(locs, got):
        fits = [
            T[u.location, loc]
            for u in data.schools[:2]
            if u.am_bell + T[u.location, loc] + T[loc, sch.location] + sch.dwell <= sch.am_bell
        ]
        assert value == pytest.approx(min(fits) if fits else 0.0)
    assert got.any()


def test_dropping_repeats_orders_runs_that_tie_in_time():
    data = toy_problem(n_schools=1, stops_per_school=2, seed=1)
    sch = data.schools[0]

    def run(k):  # the same times at two stops: a tie on duration and start
        st = data.stops[k]
        return Run(
            "am",
            (
                Visit("pickup", st.location, 0, k, st.students, 100.0, 120.0),
                Visit("dropoff", sch.location, 0, None, st.students, 500.0, 560.0),
            ),
            0,
        )

    out = _drop_repeats(data, [run(1), run(0)])
    assert sorted(k for r in out for k in r.stops) == [0, 1]
