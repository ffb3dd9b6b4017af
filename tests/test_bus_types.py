"""Several bus types and lift buses through the chaining, the bell-time search and the scenarios.

Every plan is checked from the inputs, without the engine's code: each bus drives runs of one
type only, and that type is the bus's; a run with a wheelchair stop rides a bus with a lift; no
run carries more students than its type's seats; each bus can drive from one run to the next in
time. The instances are built so that letting a bus mix types would save buses (asserted), so an
engine or evaluator that mixed them would be caught: the bell search's count must equal the number
of buses of the final plan of the same shifted runs.

Imports go through the public names (``routing.buses.chain``, ``routing.bells.optimize_bells``,
...), which stay when the modules are split.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from routing.bells import BellPolicy, RunChains, align_bells, district_tiers, optimize_bells
from routing.buses import chain, min_buses, solve
from routing.problem import Bus, ProblemData, Run
from routing.runs import school_runs
from routing.scenarios import Prepared, Scenario, prepare, run_scenario, scenario_bells
from tests.test_bells import SETTINGS, _schools
from tests.test_scenarios import _city

#: Bus types: a big plain bus, a small plain bus (some schools' runs use it) and a lift bus.
BUS_TYPES = pd.DataFrame(
    {"id": ["big", "small", "lift"], "seats": [66, 30, 14], "wheelchair": [False, False, True]}
)
SMALL_BUS_SCHOOLS = (1, 4)  # E2 and C1 run small buses
Instance = tuple[ProblemData, dict[str, list[Run]]]


def _type_for(data: ProblemData, school: int, lift: bool) -> int:
    names = [b.id for b in data.bus_types]
    return names.index("lift" if lift else "small" if school in SMALL_BUS_SCHOOLS else "big")


@pytest.fixture(scope="module")
def problem() -> Instance:
    """Six schools on a 10 km square (network-free), a fifth of the stops wheelchair stops, runs
    of three bus types at the current bells (AM and PM)."""
    rng = np.random.default_rng(8)
    schools = _schools()
    n_stops = 80
    xy = np.vstack(
        [[[5000, 5000]], rng.random((len(schools), 2)) * 10_000, rng.random((n_stops, 2)) * 10_000]
    )
    metres = np.abs(xy[:, None, 0] - xy[None, :, 0]) + np.abs(xy[:, None, 1] - xy[None, :, 1])
    service = rng.choice(["corner"] * 4 + ["wheelchair"], n_stops)
    data = ProblemData.from_matrices(
        durations=metres / 8.9,
        distances=metres,
        schools=pd.DataFrame(
            {
                "id": schools["id"],
                "location": np.arange(1, 7),
                "am_bell": schools["bell_start"],
                "pm_dismissal": schools["bell_end"],
                "dwell": 300.0,
            }
        ),
        stops=pd.DataFrame(
            {
                "id": [f"p{i}" for i in range(n_stops)],
                "location": np.arange(7, 7 + n_stops),
                "school": rng.choice(schools["id"], n_stops),
                "service": service,
                "students": np.where(
                    service == "wheelchair", rng.integers(1, 3, n_stops), rng.integers(1, 25, n_stops)
                ),
            }
        ),
        yards=pd.DataFrame({"id": ["Y"], "location": [0]}),
        bus_types=BUS_TYPES,
        max_ride=2700.0,
        stop_time_fixed=19.0,
        stop_time_per_student=2.6,
    )
    runs: dict[str, list[Run]] = {"am": [], "pm": []}
    for session in runs:
        for k in range(len(schools)):
            for lift in (False, True):
                stops = [i for i, s in enumerate(data.stops) if s.school == k and s.needs_lift == lift]
                if stops:
                    got, left = school_runs(
                        data, k, stops, session=session, bus_type=_type_for(data, k, lift), time_limit=2.0
                    )
                    assert not left
                    runs[session] += got
    return data, runs


def _lift_runs(data: ProblemData, runs: list[Run]) -> list[bool]:
    return [
        any(v.stop is not None and data.stops[v.stop].service == "wheelchair" for v in r.visits) for r in runs
    ]


def check_fleet(
    data: ProblemData, runs: list[Run] | tuple[Run, ...], buses: list[Bus] | tuple[Bus, ...]
) -> None:
    """Every run on exactly one bus; a bus drives runs of its own type only, in time; wheelchair
    riders on lift buses; no run over its type's seats."""
    assert sorted(k for b in buses for k in b.runs) == list(range(len(runs)))
    for b in buses:
        assert {runs[k].bus_type for k in b.runs} == {b.bus_type}, (
            f"a bus carries runs of types {[runs[k].bus_type for k in b.runs]}"
        )
        for k, nxt in zip(b.runs, b.runs[1:]):
            a, c = runs[k], runs[nxt]
            assert a.end + data.durations[a.end_location, c.start_location] <= c.start + 1e-6
    for run, lift in zip(runs, _lift_runs(data, list(runs)), strict=True):
        bus_type = data.bus_types[run.bus_type]
        assert bus_type.wheelchair or not lift, "a wheelchair stop rides a bus without a lift"
        assert run.students <= bus_type.seats


def _by_type(runs: list[Run]) -> dict[int, list[Run]]:
    out: dict[int, list[Run]] = {}
    for r in runs:
        out.setdefault(r.bus_type, []).append(r)
    return out


def _shifted(run: Run, d: float) -> Run:
    """A run moved by ``d`` seconds (the fixed-run model of the bell search)."""
    from dataclasses import replace

    return replace(run, visits=tuple(replace(v, start=v.start + d, end=v.end + d) for v in run.visits))


def _plan_buses(
    data: ProblemData, runs: dict[str, list[Run]], shift: np.ndarray, end_shift: np.ndarray
) -> dict[str, int]:
    """Buses of the final plan of runs shifted by their school's start (AM) or dismissal (PM) change."""
    out = {}
    for session, rs in runs.items():
        moved = [_shifted(r, float((end_shift if session == "pm" else shift)[r.schools[0]])) for r in rs]
        buses = chain(data, moved)
        check_fleet(data, moved, buses)
        out[session] = len(buses)
    return out


def test_the_instance_has_every_type_and_mixing_types_would_save_buses(problem: Instance) -> None:
    data, runs = problem
    for session, rs in runs.items():
        assert {r.bus_type for r in rs} == {0, 1, 2}
        per_type = sum(min_buses(data, group) for group in _by_type(rs).values())
        one_type = [dataclasses.replace(r, bus_type=0) for r in rs]  # as if any bus could drive any run
        assert min_buses(data, one_type) < per_type, (
            f"{session}: the test needs runs of different types that one bus could chain"
        )


def test_chain_keeps_types_apart_and_lift_runs_on_lift_buses(problem: Instance) -> None:
    data, runs = problem
    for rs in runs.values():
        buses = chain(data, rs)
        check_fleet(data, rs, buses)
        assert len(buses) == sum(min_buses(data, group) for group in _by_type(rs).values())


def test_the_evaluator_counts_the_buses_of_the_final_plan(problem: Instance) -> None:
    data, runs = problem
    chains = RunChains.from_runs(data, runs)
    rng = np.random.default_rng(1)
    zero = np.zeros(len(data.schools))
    assert chains.session_buses() == _plan_buses(data, runs, zero, zero)
    for _ in range(4):
        shift = rng.choice([-3600.0, -1800.0, 0.0, 1800.0, 3600.0], size=len(data.schools))
        end_shift = rng.choice([-1800.0, 0.0, 1800.0], size=len(data.schools))
        assert chains.session_buses(shift, end_shift=end_shift) == _plan_buses(data, runs, shift, end_shift)


def test_the_bell_search_count_is_the_final_plans(problem: Instance) -> None:
    data, runs = problem
    chains = RunChains.from_runs(data, runs)
    schools = _schools()
    starts = dict(zip(schools["id"], schools["bell_start"], strict=True))
    ends = dict(zip(schools["id"], schools["bell_end"], strict=True))
    policy = BellPolicy.from_settings(SETTINGS)
    for times in (
        optimize_bells(chains, schools, policy=policy, time_limit=3, seed=2, tiers=district_tiers(schools)),
        align_bells(schools, policy=BellPolicy(), chains=chains, time_limit=2, seed=2),
    ):
        x, y = times.shift(chains.school_ids, starts), times.end_shift(chains.school_ids, ends)
        assert times.buses == max(_plan_buses(data, runs, x, y).values())


def test_the_engine_puts_wheelchair_stops_on_lift_buses(problem: Instance) -> None:
    data, _ = problem
    for session in ("am", "pm"):
        plan = solve(data, session=session, time_limit=6, seed=1, alternatives=2, workers=1)
        check_fleet(data, plan.runs, plan.buses)
        lifts = [r for r, lift in zip(plan.runs, _lift_runs(data, list(plan.runs)), strict=True) if lift]
        assert lifts and all(data.bus_types[r.bus_type].wheelchair for r in lifts)
        assert plan.n_buses == sum(min_buses(data, group) for group in _by_type(list(plan.runs)).values())


@pytest.fixture(scope="module", params=["fixed", "select"])
def scenario_city(request: pytest.FixtureRequest) -> Prepared:
    """The scenarios test city (a big bus and a lift bus; door-to-door and wheelchair riders), with
    each engine: fixed runs (the search's count is the plan's) and run selection (never more)."""
    return prepare(_city(), network=None, time_limit=8, seed=1, engine=request.param)


def test_scenario_plans_keep_types_apart_and_match_the_search(scenario_city: Prepared) -> None:
    prepared = scenario_city
    data = prepared.data
    for session, rs in prepared.runs.items():
        assert len({r.bus_type for r in rs}) == 2, session
        assert any(_lift_runs(data, list(rs)))
    for scenario in (Scenario("optimized", "optimized"), Scenario("aligned", "aligned")):
        searched = scenario_bells(prepared, scenario, time_limit=3, seed=1)
        result = run_scenario(prepared, scenario, time_limit=3, seed=1)
        assert result.bells.starts == searched.starts
        if prepared.engine == "fixed":  # the same runs: the plan is exactly what the search counted
            assert searched.buses == result.metrics["session_buses"], scenario.name
        else:  # runs chosen again at the bells found: never more buses than the search counted
            assert result.metrics["session_buses"] <= searched.buses, scenario.name
        for plan in result.plans.values():
            check_fleet(plan.data, plan.runs, plan.buses)
