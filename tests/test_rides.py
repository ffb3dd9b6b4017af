"""Ride times read from the plan: they add up to the plan's riders, change with it, and count rides too
long."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from routing.rides import ride_distribution, stop_rides
from routing.scenarios import compare, prepare
from tests.test_scenarios import _city


@pytest.fixture(scope="module")
def comparison():  # type: ignore[no-untyped-def]
    return compare(prepare(_city(), network=None, time_limit=10, seed=1), time_limit=5, seed=1)


def test_every_rider_once_and_nobody_above_the_limit(comparison) -> None:  # type: ignore[no-untyped-def]
    prepared = comparison.prepared
    sectors = dict(zip(prepared.schools["id"], prepared.schools["sector"]))
    for result in comparison.results:
        rides = stop_rides(result.plans, sectors=sectors)
        for session, plan in result.plans.items():
            mine = rides[rides["session"] == session]
            assert mine["students"].sum() == plan.totals()["students"]
            assert mine["stop"].is_unique
        table = ride_distribution(rides, by=["session", "sector"])
        assert set(table["sector"]) == set(prepared.schools["sector"])
        assert (table["above_limit"] == 0).all()
        assert (table["max_min"] <= prepared.data.max_ride / 60 + 1e-9).all()
        cols = ["p50_min", "p90_min", "p95_min", "max_min"]
        assert (np.diff(table[cols].to_numpy(), axis=1) >= -1e-9).all()  # percentiles are ordered
        am = table[table["session"] == "am"]
        mean = (am["mean_min"] * am["students"]).sum() / am["students"].sum()
        assert mean * 60 == pytest.approx(result.plans["am"].totals()["mean_ride_s"])


def test_rides_change_with_the_plan_and_long_rides_are_counted(comparison) -> None:
    plan = comparison.results[0].plans["am"]
    before = ride_distribution(stop_rides(plan), by="school")
    # a plan whose first run waits 20 minutes at its first stop after the pickup: its riders ride longer
    run = plan.runs[0]
    late = tuple(dataclasses.replace(v, start=v.start + 1200, end=v.end + 1200) for v in run.visits[1:])
    longer = dataclasses.replace(
        plan, runs=(dataclasses.replace(run, visits=(run.visits[0], *late)), *plan.runs[1:])
    )
    after = ride_distribution(stop_rides(longer), by="school")
    school = plan.data.schools[run.schools[0]].id
    b, a = before.set_index("school").loc[school], after.set_index("school").loc[school]
    assert a["max_min"] > b["max_min"] and a["mean_min"] > b["mean_min"]
    first_ride = longer.runs[0].ride_times()[0][1]
    assert first_ride == pytest.approx(run.ride_times()[0][1] + 1200)
    rides = stop_rides(longer)
    over = ride_distribution(rides, by="school", max_ride=first_ride - 1).set_index("school")
    assert over.loc[school, "above_limit"] >= run.visits[0].students
    assert ride_distribution(rides, by="school", max_ride=rides["ride_s"].max())["above_limit"].sum() == 0
