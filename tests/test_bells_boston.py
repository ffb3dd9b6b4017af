"""Bell times on the 2017 BPS Transportation Challenge data (../shared/data/boston): the Compact's experiment.

``tests/cities/bps2017/city.toml`` gives each school its sector (matched to the public school layers)
and its bell times (from the students file); ``match_schools.py`` writes it.
"""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from tests.conftest import CITIES, shared_path

pytestmark = [pytest.mark.shared]

#: Schools the challenge names that are not district schools (issue 13), by the challenge's names.
NOT_DISTRICT = {
    "charter": [
        "Academy Of Pacific Rim",
        "Boston Prep",
        "Roxbury Prep Mission Hill",
        "MATCH MS",
        "E BROOKE #1 (RS)",
        "Excel Acad 1 (EB)",
    ],
    "catholic": ["Pope JP II Col Rd", "Pope JP II Lower Mills", "St John"],
    "private": ["Advent School", "Park Street Sch"],
}


def _matcher():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("match_schools", CITIES / "bps2017" / "match_schools.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def city():  # type: ignore[no-untyped-def]
    shared_path("boston", "bps_simulated_students.xlsx")
    from facilities import read_city

    return read_city(CITIES / "bps2017")


def test_city_toml_is_what_the_matching_makes() -> None:
    shared = shared_path("boston")
    assert (CITIES / "bps2017" / "city.toml").read_text() == _matcher().render(shared)


def test_every_school_has_a_sector_and_says_how_it_was_matched(city) -> None:  # type: ignore[no-untyped-def]
    schools = city.schools
    assert (
        len(schools) == 137 and schools["sector"].isin(["district", "charter", "catholic", "private"]).all()
    )
    sector = dict(zip(schools["id"], schools["sector"]))
    for kind, names in NOT_DISTRICT.items():
        assert all(sector[n] == kind for n in names), kind
    matched = _matcher().school_sectors(shared_path("boston"))
    assert set(matched["name"]) == set(schools["id"])
    assert matched["method"].str.match(r"(school id \d+ = (BPS|NP)-\d+|normalized name|manual: .+)").all()
    assert (matched.set_index("name")["sector"] == pd.Series(sector)).all()


def test_bells_come_from_the_students_file(city) -> None:  # type: ignore[no-untyped-def]
    raw = pd.read_excel(
        shared_path("boston", "bps_simulated_students.xlsx"),
        usecols=["Assigned School", "Current School Start Time", "Current School End Time"],
    )
    seconds = {c: pd.to_timedelta(raw[c].astype(str)).dt.total_seconds() for c in raw.columns[1:]}
    bells = city.schools.set_index("id")
    start = raw["Assigned School"].str.strip().map(bells["bell_start"])
    end = raw["Assigned School"].str.strip().map(bells["bell_end"])
    assert (start == seconds["Current School Start Time"]).all() and (
        end == seconds["Current School End Time"]
    ).all()
    ridden = bells.index.isin(raw["Assigned School"].str.strip())
    assert bells.loc[ridden, "bell_start"].isin([7.5 * 3600, 8.5 * 3600, 9.5 * 3600]).all()
    assert bells.loc[~ridden, "bell_start"].isna().all()  # no rider, no bell time: said, not guessed


@pytest.mark.slow
def test_the_compact_experiment_saves_buses(city) -> None:  # type: ignore[no-untyped-def]
    from routing.scenarios import DEFAULT_SCENARIOS, compare

    result = compare(city, scenarios=DEFAULT_SCENARIOS[:2], time_limit=20, seed=1, sessions=("am",))
    summary = result.summary().set_index("scenario")
    assert summary.loc["status quo", "riders"] == len(city.students)
    assert summary.loc["status quo", "buses"] > 100
    # alignment never needs more buses than the status quo (its search keeps only what lowers the
    # count); its dollars may still move by a few miles either way
    assert summary.loc["aligned", "buses"] <= summary.loc["status quo", "buses"]
    changes = result.results[1].bells.changes.set_index("school")
    sector = city.schools.set_index("id")["sector"]
    moved = changes.index[changes["change_min"].fillna(0) != 0]
    assert set(sector[moved]) <= {
        "charter",
        "catholic",
    }  # the Compact: charter and Catholic schools move, BPS does not
    tiers = {7.5 * 3600, 8.5 * 3600, 9.5 * 3600}
    aligned = result.results[1].bells.starts
    moving = sector.index[
        sector.isin(["charter", "catholic"]) & city.schools.set_index("id")["bell_start"].notna()
    ]
    assert len(moving) >= 20 and all(aligned[s] in tiers for s in moving)


@pytest.fixture(scope="module")
def back_bay():  # type: ignore[no-untyped-def]
    shared_path("boston", "bps_simulated_students.xlsx")
    from bench.bench_bells import back_bay, load_bps2017

    return back_bay(load_bps2017())


@pytest.mark.slow
def test_back_bay_on_streets(back_bay) -> None:  # type: ignore[no-untyped-def]
    from routing.scenarios import DEFAULT_SCENARIOS, compare

    city, net = back_bay
    result = compare(
        city,
        scenarios=(DEFAULT_SCENARIOS[0], DEFAULT_SCENARIOS[2]),
        time_limit=20,
        seed=1,
        network=net,
        sessions=("am",),
    )
    prepared = result.prepared
    assert set(prepared.stops.stops["node"]) <= set(net.node_ids.tolist())  # stops on the street
    a = prepared.stops.assignment
    assert (a["walk_m"] <= a["max_walk_m"] + 1e-6).all()
    quo, optimized = result.summary()["buses"]
    assert optimized <= quo
    assert result.results[1].policy_violations == ()
