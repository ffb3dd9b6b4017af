"""Bus-plan data: construction, validation, bells, and the plan's itinerary and CSV."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from facilities import ValidationError
from routing.problem import BusPlan, ProblemData

SPEED = 10.0  # m/s


def toy_problem(
    *, n_schools: int = 3, stops_per_school: int = 8, seats: int = 20, max_ride: float = 1200.0, seed: int = 0
) -> ProblemData:
    """A small random city on a Manhattan grid: schools with staggered bells, stops, one yard."""
    rng = np.random.default_rng(seed)
    n = 1 + n_schools + n_schools * stops_per_school
    xy = rng.uniform(0, 6000, size=(n, 2))
    dist = np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2)
    schools = pd.DataFrame(
        {
            "id": [f"S{i}" for i in range(n_schools)],
            "location": np.arange(1, n_schools + 1),
            "am_bell": [7 * 3600 + 40 * 60 * i for i in range(n_schools)],
            "pm_dismissal": [14 * 3600 + 40 * 60 * i for i in range(n_schools)],
            "dwell": 60.0,
        }
    )
    school_of = np.repeat(np.arange(n_schools), stops_per_school)
    stops = pd.DataFrame(
        {
            "id": [f"P{k}" for k in range(len(school_of))],
            "location": np.arange(1 + n_schools, n),
            "school": [f"S{s}" for s in school_of],
            "students": rng.integers(1, 9, size=len(school_of)),
        }
    )
    return ProblemData.from_matrices(
        durations=dist / SPEED,
        distances=dist,
        schools=schools,
        stops=stops,
        yards=pd.DataFrame({"id": ["Y"], "location": [0]}),
        bus_types=pd.DataFrame({"id": ["bus"], "seats": [seats]}),
        max_ride=max_ride,
        stop_time_fixed=20.0,
        stop_time_per_student=3.0,
        name="toy",
    )


def test_data_is_immutable_and_validated():
    data = toy_problem()
    assert len(data.stops) == 24 and data.stops[0].school == 0
    with pytest.raises(ValueError):
        data.durations[0, 1] = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.max_ride = 1.0  # type: ignore[misc]
    assert data.stop_time(4) == pytest.approx(32.0)


def test_from_matrices_names_every_problem():
    data = toy_problem()
    base = dict(
        durations=data.durations,
        distances=data.distances,
        yards=pd.DataFrame({"id": ["Y"], "location": [0]}),
        bus_types=pd.DataFrame({"id": ["b"], "seats": [10]}),
        max_ride=600,
    )
    schools = pd.DataFrame({"id": ["S0"], "location": [1], "am_bell": [25200]})
    with pytest.raises(ValidationError, match="unknown school 'NOPE'"):
        ProblemData.from_matrices(
            schools=schools,
            stops=pd.DataFrame({"id": ["p"], "location": [2], "school": ["NOPE"], "students": [1]}),
            **base,
        )
    with pytest.raises(ValidationError, match="missing column"):
        ProblemData.from_matrices(
            schools=schools.drop(columns="am_bell"),
            stops=pd.DataFrame({"id": ["p"], "location": [2], "school": ["S0"], "students": [1]}),
            **base,
        )
    with pytest.raises(ValidationError) as err:
        ProblemData.from_matrices(
            schools=schools,
            stops=pd.DataFrame(
                {"id": ["p", "q"], "location": [2, 10_000], "school": ["S0", "S0"], "students": [1, 0]}
            ),
            **base,
        )
    text = str(err.value)
    assert "location 10000" in text and "0 students" in text


def test_with_bells_changes_only_the_named_schools():
    data = toy_problem()
    later = data.with_bells(am={"S1": 9 * 3600.0})
    assert later.schools[1].am_bell == 9 * 3600.0
    assert later.schools[0] == data.schools[0] and data.schools[1].am_bell != 9 * 3600.0
    with pytest.raises(ValidationError, match="unknown school"):
        data.with_bells(am={"ZZ": 0.0})


def test_plan_itinerary_is_continuous_and_csv_is_written(tmp_path):
    from routing.buses import solve

    data = toy_problem()
    plan = solve(data, time_limit=2, seed=0, alternatives=1)
    assert isinstance(plan, BusPlan) and plan.n_buses >= 1
    for b in range(plan.n_buses):
        it = plan.itinerary(b)
        assert it["start_loc"].iloc[0] == "Y" and it["end_loc"].iloc[-1] == "Y"
        assert np.allclose(it["start_time"].to_numpy()[1:], it["end_time"].to_numpy()[:-1])
        assert (it["end_time"] >= it["start_time"] - 1e-9).all()
    totals = plan.totals()
    assert totals["students"] == sum(s.students for s in data.stops)
    assert totals["max_ride_s"] <= data.max_ride + 1e-6
    out = plan.to_bird_csv(tmp_path / "plan.csv")
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["bus_id", "start_loc", "end_loc", "action", "start_time", "end_time"]
    assert frame["bus_id"].nunique() == plan.n_buses
    assert [p.name for p in tmp_path.iterdir()] == ["plan.csv"]
