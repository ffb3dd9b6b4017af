"""The engine of the bell-time scenarios: bus types (lift and small buses, priced by type), the bell
search's count against the final plan (on the status quo's chosen runs), the one "can follow" test,
and mixed loads as an option."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from routing.bells import RunChains
from routing.chaining import can_follow, follow_matrix, min_buses
from routing.scenarios import (
    DEFAULT_SCENARIOS,
    Scenario,
    compare,
    fleet_by_type,
    prepare,
    run_scenario,
    with_mixed_loads,
)
from routing.scenarios.evaluate import no_worse_than
from tests.test_scenarios import _city

TYPES = pd.DataFrame(
    {
        "id": ["big", "mini", "lift", "small_lift"],
        "seats": [66, 24, 20, 8],
        "wheelchair": [False, False, True, True],
        "cost_per_year": [102_000.0, 90_000.0, 110_000.0, 95_000.0],
    }
)


@pytest.fixture(scope="module", params=["select", "fixed"])
def prepared(request):  # type: ignore[no-untyped-def]
    city = dataclasses.replace(_city(), bus_types=TYPES)
    return prepare(city, network=None, time_limit=10, seed=2, engine=request.param)


@pytest.fixture(scope="module")
def results(prepared):  # type: ignore[no-untyped-def]
    return [run_scenario(prepared, sc, time_limit=3, seed=2) for sc in DEFAULT_SCENARIOS]


# type: ignore[no-untyped-def]
def test_buses_never_mix_lift_and_plain_runs_and_take_the_cheapest_type_that_fits(results) -> None:
    for r in results:
        for plan in r.plans.values():
            types = plan.data.bus_types
            for bus in plan.buses:
                runs = [plan.runs[k] for k in bus.runs]
                lift = {types[run.bus_type].wheelchair for run in runs}
                assert len(lift) == 1  # lift and plain runs never share a bus
                assert types[bus.bus_type].wheelchair == lift.pop()
                load = max(run.students for run in runs)
                assert types[bus.bus_type].seats >= load
                cheaper = [
                    t
                    for t in types
                    if t.wheelchair == types[bus.bus_type].wheelchair
                    and t.seats >= load
                    and t.cost_per_year < types[bus.bus_type].cost_per_year
                ]
                assert not cheaper
            wheelchair = {k for k, st in enumerate(plan.data.stops) if st.needs_lift}
            for bus in plan.buses:  # wheelchair riders ride lift buses only
                if any(set(plan.runs[k].stops) & wheelchair for k in bus.runs):
                    assert types[bus.bus_type].wheelchair


def test_buses_are_counted_and_priced_by_type(results) -> None:  # type: ignore[no-untyped-def]
    types = results[0].plans["am"].data.bus_types
    assert any(r.metrics["buses_small_lift"] + r.metrics["buses_mini"] for r in results)  # small buses used
    for r in results:
        fleet = fleet_by_type(r.plans)
        # the fleet's types sum to its buses; a bus keeps its type all day, so no fewer than a session's
        assert sum(fleet.values()) == r.metrics["buses"] >= r.metrics["session_buses"]
        for t, bt in enumerate(types):
            assert r.metrics[f"buses_{bt.id}"] == fleet.get(t, 0)
        for plan in (
            r.plans.values()
        ):  # every session's buses fit in the fleet, a type driving its own or smaller buses' runs
            for lift in (False, True):
                kinds = sorted(
                    (t for t, b in enumerate(types) if b.wheelchair == lift), key=lambda t: -types[t].seats
                )
                for k in range(len(kinds)):
                    used = sum(1 for b in plan.buses if b.bus_type in kinds[: k + 1])
                    assert used <= sum(fleet.get(t, 0) for t in kinds[: k + 1])
        bus_dollars = sum(n * types[t].cost_per_year for t, n in fleet.items())
        daily = r.metrics["miles_per_day"] * 1.5 * 180
        assert r.metrics["dollars_per_year"] == pytest.approx(bus_dollars + daily)


# type: ignore[no-untyped-def]
def test_the_bell_search_counts_the_buses_of_the_final_plan(prepared, results) -> None:
    for r in results[1:]:
        if prepared.engine == "select":  # the final plan never needs more than the search counted
            assert r.metrics["session_buses"] <= r.metrics["search_buses"]
            continue
        # the evaluator's count is exact for the fixed runs moved to the new bells: the final plan's
        ids = prepared.chains.school_ids
        cur = prepared.schools.set_index("id")
        shift = np.array([r.bells.starts[s] - cur.loc[s, "bell_start"] for s in ids])
        end_shift = np.array([r.bells.ends[s] - cur.loc[s, "bell_end"] for s in ids])
        moved = {
            k: [run.shifted((end_shift if k == "pm" else shift)[run.schools[0]]) for run in rs]
            for k, rs in prepared.runs.items()
        }
        data = r.plans["am"].data
        assert r.metrics["search_buses"] == max(min_buses(data, rs) for rs in moved.values())
        assert r.metrics["search_buses"] == prepared.chains.buses(shift, end_shift=end_shift)
        assert r.metrics["session_buses"] == r.metrics["search_buses"]


def test_one_can_follow_test_for_chaining_and_the_evaluator(prepared) -> None:  # type: ignore[no-untyped-def]
    runs = list(prepared.runs["am"])
    ok = follow_matrix(prepared.data, runs)
    T = prepared.data.durations
    for i, a in enumerate(runs[:30]):
        for j, b in enumerate(runs[:30]):
            expected = (
                i != j
                and a.bus_type == b.bus_type
                and bool(can_follow(a.end, T[a.end_location, b.start_location], b.start))
            )
            assert ok[i, j] == expected
    chains = RunChains.from_runs(prepared.data, {"am": runs})
    assert chains.buses() == min_buses(prepared.data, runs)


def test_mixed_loads_are_their_own_scenario_and_never_need_more_buses() -> None:
    city = dataclasses.replace(_city(), bus_types=TYPES)
    prepared = prepare(city, network=None, time_limit=10, seed=2, sessions=("am",), mixed_loads=True)
    listed = with_mixed_loads([Scenario("status quo")])
    assert [s.name for s in listed] == ["status quo", "status quo, mixed loads"] and listed[1].mixed_loads
    single, mixed = (run_scenario(prepared, sc, time_limit=2, seed=2) for sc in listed)
    assert single.metrics["mixed_runs"] == 0
    assert mixed.metrics["buses"] <= single.metrics["buses"]
    carried = sorted(
        (k, v.students) for r in mixed.plans["am"].runs for v in r.visits for k in [v.stop] if k is not None
    )
    merged: dict[int, int] = {}
    for k, n in carried:
        merged[k] = merged.get(k, 0) + n
    assert merged == {k: st.students for k, st in enumerate(mixed.plans["am"].data.stops)}  # every rider once


def test_an_unknown_engine_is_one_clear_error() -> None:
    from typer.testing import CliRunner

    from app.cli import app
    from tests.conftest import DEMO

    result = CliRunner().invoke(app, ["bells", "compare", str(DEMO), "--engine", "magic"])
    assert result.exit_code == 1
    assert "--engine 'magic' is not an engine" in result.output and "Traceback" not in result.output


def test_the_selection_engine_never_needs_more_buses_than_the_fixed_runs() -> None:
    city = dataclasses.replace(_city(), bus_types=TYPES)
    fixed, select = (prepare(city, network=None, time_limit=6, seed=3, engine=e) for e in ("fixed", "select"))
    assert fixed.runs == select.runs  # the same fixed runs: the bell search sees the same evaluator
    for sc in DEFAULT_SCENARIOS:
        a, b = (run_scenario(p, sc, time_limit=2, seed=3) for p in (fixed, select))
        if sc.kind != "optimized":  # optimized: a second round on the chosen runs may move on
            assert a.bells.starts == b.bells.starts and a.bells.ends == b.bells.ends
        assert b.metrics["buses"] <= a.metrics["buses"]


def test_the_bell_search_counts_the_runs_the_status_quo_chose_whatever_the_order() -> None:
    city = dataclasses.replace(_city(), bus_types=TYPES)
    prepared = prepare(city, network=None, time_limit=6, seed=3, sessions=("am",))
    listed = (DEFAULT_SCENARIOS[2], DEFAULT_SCENARIOS[0], DEFAULT_SCENARIOS[1])  # the status quo not first
    result = compare(prepared, scenarios=listed, time_limit=2, seed=3)
    assert [r.scenario.name for r in result.results] == [s.name for s in listed]
    quo = result.results[1]
    searched = result.prepared.searched
    assert prepared.searched is None and searched == {k: tuple(p.runs) for k, p in quo.plans.items()}
    cur = prepared.schools.set_index("id")
    for r in (result.results[0], result.results[2]):
        # the search counts the status quo's runs moved to the scenario's bells; the plan needs no more
        shift = {s: r.bells.starts[s] - cur.loc[s, "bell_start"] for s in result.prepared.chains.school_ids}
        data = r.plans["am"].data
        for runs in (searched["am"], prepared.runs["am"]):  # nor than the fixed runs moved
            moved = [run.shifted(shift[data.schools[run.schools[0]].id]) for run in runs]
            assert r.metrics["session_buses"] <= min_buses(data, moved)
        assert r.metrics["search_buses"] == min_buses(
            data, [run.shifted(shift[data.schools[run.schools[0]].id]) for run in searched["am"]]
        )
    optimized, aligned = result.results[0], result.results[2]
    assert optimized.buses <= aligned.buses  # optimized never above aligned (its policy allows them)
    if optimized.buses < aligned.buses:  # the floor the other way round: the aligned scenario takes them
        took = no_worse_than(result.prepared, aligned, optimized)
        assert took.scenario == aligned.scenario and took.buses == optimized.buses
        assert took.bells.starts == optimized.bells.starts and took.policy_violations == ()
        assert took.bells.changes["reason"].str.endswith("fewer buses with the runs chosen at them)").all()
        strict = dataclasses.replace(
            aligned, scenario=Scenario("strict", "aligned", bells={"max_change_minutes": 1})
        )
        assert no_worse_than(result.prepared, strict, optimized) is strict  # its policy forbids them
    ordered = (
        compare(prepared, scenarios=DEFAULT_SCENARIOS, time_limit=2, seed=3).summary().set_index("scenario")
    )
    again = result.summary().set_index("scenario").loc[ordered.index]
    pd.testing.assert_frame_equal(
        again.drop(columns=["buses_saved", "dollars_saved_per_year"]),
        ordered.drop(columns=["buses_saved", "dollars_saved_per_year"]),
        check_like=True,  # the columns in the order of the first row's metrics
    )
