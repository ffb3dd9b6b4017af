"""Bell times on the 2017 BPS Transportation Challenge data (../shared/data/boston), Back Bay part on streets."""

from __future__ import annotations

import pytest

from tests.conftest import shared_path

pytestmark = [pytest.mark.shared, pytest.mark.slow]


@pytest.fixture(scope="module")
def back_bay():  # type: ignore[no-untyped-def]
    shared_path("boston", "bps_simulated_students.xlsx")
    from bench.bench_bells import back_bay, load_bps2017

    return back_bay(load_bps2017())


def test_boston_bells_come_from_the_students_file() -> None:
    shared_path("boston", "bps_simulated_students.xlsx")
    from bench.bench_bells import load_bps2017

    city = load_bps2017()
    ridden = city.schools[city.schools["id"].isin(city.students["school"])]
    assert ridden["bell_start"].notna().all()
    assert set(ridden["bell_start"]) <= {7.5 * 3600, 8.5 * 3600, 9.5 * 3600}
    assert city.yards["buses"].sum() == 754


def test_back_bay_on_streets(back_bay) -> None:  # type: ignore[no-untyped-def]
    from routing.scenarios import DEFAULT_SCENARIOS, compare

    city, net = back_bay
    result = compare(city, scenarios=(DEFAULT_SCENARIOS[0], DEFAULT_SCENARIOS[2]), time_limit=20, seed=1, network=net, sessions=("am",))
    prepared = result.prepared
    assert set(prepared.stops.stops["node"]) <= set(net.node_ids.tolist())  # stops on the street
    a = prepared.stops.assignment
    assert (a["walk_m"] <= a["max_walk_m"] + 1e-6).all()
    quo, optimized = result.summary()["buses"]
    assert optimized <= quo
    assert result.results[1].policy_violations == ()
