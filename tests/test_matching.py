"""Matching charter needs to buildings: hard rules, no over-assignment, reasons, what-if, determinism."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from facilities import ValidationError
from facilities.capacity import utilization
from facilities.matching import MatchData, greedy, solve, what_if
from facilities.schema import ROOM_TYPES

X0, Y0 = -77.03, 38.90


def _points(offsets: list[tuple[float, float]]) -> gpd.GeoSeries:
    return gpd.GeoSeries(
        gpd.points_from_xy([X0 + dx for dx, _ in offsets], [Y0 + dy for _, dy in offsets]), crs=4326
    )


def small_city() -> tuple[pd.DataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Four buildings (two hosting a district school, two vacant) and five charter needs."""
    rooms = {t: [1, 1, 0, 1] for t in ROOM_TYPES}
    rooms["classroom"] = [25, 30, 10, 20]
    rooms["science"] = [2, 2, 1, 0]
    buildings = gpd.GeoDataFrame(
        {
            "id": ["B1", "B2", "B3", "B4"],
            "name": ["Host K-5", "Host HS", "Small vacant", "Big vacant"],
            "status": ["under-used", "under-used", "vacant", "vacant"],
            "gym": [True, True, False, True],
            "cafeteria": [True, True, True, True],
            "accessible": [True, False, True, False],
            "annual_cost": [100_000, 200_000, 300_000, 500_000],
            **{f"rooms_{t}": v for t, v in rooms.items()},
        },
        geometry=_points([(0, 0), (0.01, 0.01), (0.03, 0), (-0.02, 0)]),
    )
    schools = gpd.GeoDataFrame(
        {
            "id": ["S1", "S2", "C1", "C2", "C3"],
            "name": ["Host elementary", "Host high", "Charter A", "Charter B", "Charter C"],
            "sector": ["district", "district", "charter", "charter", "charter"],
            "grades": ["K-5", "9-12", "K-2", "6-8", "K"],
            "enrollment": [200, 300, 100, 150, 50],
            "building": ["B1", "B2", None, None, None],
        },
        geometry=_points([(0, 0), (0.01, 0.01), (0.02, 0), (-0.01, 0), (0.0, 0.02)]),
    )
    needs = pd.DataFrame(
        {
            "id": ["N1", "N2", "N3", "N4", "N5"],
            "school": ["C1", "C2", "C1", "C3", "C2"],
            "name": ["Charter A grows", "Charter B", "Too big", "Needs access", "High school"],
            "grades": ["K-2", "6", "K", "K-1", "9"],
            "seats": [100, 80, 2000, 60, 90],
            "years": [5, 3, 2, 3, 4],
            "gym": [False, True, False, False, False],
            "accessible": [False, False, False, True, False],
            "budget": [400_000, None, None, None, None],
            "rooms_science": [0, 0, 0, 0, 1],
        }
    )
    return needs, buildings, schools


@pytest.fixture(scope="module")
def data() -> MatchData:
    needs, buildings, schools = small_city()
    return MatchData.from_frames(needs, buildings, schools)


@pytest.fixture(scope="module")
def result(data):
    return solve(data, time_limit=10, seed=0)


def check_no_over_assignment(result) -> None:
    """Every building-year: rooms by type, gym and lunch periods used ≤ what its schools leave free;
    a whole building holds one need. Computed independently from the capacity module."""
    d = result.data
    free = utilization(buildings=d.buildings, schools=d.schools, rules=d.rules.capacity).buildings.set_index(
        "building"
    )
    per_year = result.by_year
    for (b, _year), group in per_year.groupby(["building", "year"]):
        for t in ROOM_TYPES:
            assert group[f"rooms_{t}"].sum() <= free.at[b, f"spare_{t}"], (b, t)
        assert group["gym_slots"].sum() <= free.at[b, "gym_free"]
        assert group["lunch_periods"].sum() <= free.at[b, "lunch_free"]
    whole = result.assignments[result.assignments["mode"] == "whole"]
    assert not whole["building"].duplicated().any()
    assert set(whole["building"]).isdisjoint(
        result.assignments.loc[result.assignments["mode"] != "whole", "building"]
    )


def check_hard_rules(result) -> None:
    d = result.data
    needs = d.needs.set_index("id")
    blds = d.buildings.set_index("id")
    for row in result.assignments.itertuples():
        need, bld = needs.loc[row.need], blds.loc[row.building]
        assert d.reasons(row.need, row.building) == [] or row.year_last < row.plan_years
        assert bld["mode"] in ("whole", "co_location")
        if need["accessible"]:
            assert bld["accessible"]
        if need["gym"]:
            assert bld["gym"]
        if need["cafeteria"]:
            assert bld["cafeteria"]
        if pd.notna(need["budget"]):  # a yearly budget: every year housed
            costs = result.by_year.loc[result.by_year["need"] == row.need, "cost"]
            assert (costs <= need["budget"]).all(), (row.need, costs.max(), need["budget"])
        if bld["mode"] == "co_location":
            assert need["co_location"]
            grades = set(need["grades"]) | set(bld["host_grade_set"])
            assert not (min(grades) <= d.rules.young_max and max(grades) >= d.rules.old_min)


def test_answer_respects_capacity_and_every_hard_rule(result):
    assert result.status == "optimal" and result.gap == 0
    check_no_over_assignment(result)
    check_hard_rules(result)


def test_an_infeasible_need_is_reported_with_reasons_and_the_others_are_matched(result):
    unmatched = result.unmatched.set_index("need")
    assert "N3" in unmatched.index and "classrooms short" in unmatched.at["N3", "reasons"]
    assert {"N1", "N2", "N4", "N5"} <= set(result.assignments["need"])


def test_reasons_name_each_broken_rule(data):
    assert data.reasons("N1", "B1") == []
    assert data.reasons("N2", "B3") == ["no gym"]
    assert "not accessible" in data.reasons("N4", "B4")
    assert any("cannot share with grades K-2" in r for r in data.reasons("N1", "B2"))
    assert any(
        r.startswith("costs $500,000 a year, over its $400,000 budget") for r in data.reasons("N1", "B4")
    )
    short = [r for r in data.reasons("N3", "B3") if "classrooms short" in r]
    n3 = data.needs.set_index("id").loc["N3"]
    expected = int(np.ceil(2000 / 20)) - 10
    assert short == [f"{expected} classrooms short"] and n3["seats"] == 2000
    assert "1 science room short" in data.reasons("N5", "B4")
    with pytest.raises(KeyError, match="no building 'B9'"):
        data.reasons("N1", "B9")


def test_a_need_outgrowing_its_building_is_housed_for_the_years_that_fit():
    needs, buildings, schools = small_city()
    needs = needs.iloc[[0]].assign(budget=None)
    buildings = buildings.iloc[[2]]  # 10 classrooms; N1 needs 5, 7, 9, 11, 13
    r = solve(MatchData.from_frames(needs, buildings, schools.iloc[2:]), time_limit=5)
    a = r.assignments.iloc[0]
    assert (a["building"], a["year_last"], a["plan_years"]) == ("B3", 3, 5)
    assert "year 4: 1 classroom short" in r.unmatched.set_index("need").at["N1", "reasons"]


def test_same_input_same_answer(data, result):
    again = solve(data, time_limit=10, seed=0)
    pd.testing.assert_frame_equal(result.assignments, again.assignments)
    assert result.objective == again.objective


def test_cp_sat_is_never_worse_than_greedy(data, result):
    assert result.objective <= greedy(data).objective + 1e-6


def test_alternatives_are_ranked_and_mark_the_answer(data, result):
    alt = result.alternatives("N1", k=5)
    assert len(alt) >= 1 and alt["score"].is_monotonic_increasing
    assert alt["building"].tolist() == sorted(
        set(alt["building"]), key=alt.set_index("building")["score"].get
    )
    assigned = result.assignments.set_index("need").at["N1", "building"]
    assert alt.loc[alt["assigned"], "building"].tolist() == [assigned]
    assert all(data.fit[0, data.building_ids.index(b)] > 0 for b in alt["building"])


def test_priority_decides_who_gets_the_one_building():
    needs, buildings, schools = small_city()
    buildings = buildings.iloc[[2]]  # one vacant building, whole only
    two = needs.iloc[[3, 3]].assign(id=["low", "high"], accessible=False, priority=[1, 5])
    r = solve(MatchData.from_frames(two, buildings, schools.iloc[2:]), time_limit=5)
    assert r.assignments["need"].tolist() == ["high"]
    assert "went to needs that score higher" in r.unmatched.set_index("need").at["low", "reasons"]


def test_what_if_withdraw_and_add_re_solve(data, result):
    taken = result.assignments.set_index("need").at["N2", "building"]
    changed = what_if(
        data,
        withdraw=[taken],
        add=[{"id": "N9", "school": "C2", "name": "New", "grades": "K", "seats": 40, "years": 2}],
    )
    assert taken not in changed.building_ids and "N9" in changed.need_ids and len(data.building_ids) == 4
    r = solve(changed, time_limit=10)
    assert taken not in set(r.assignments["building"]) and "N9" in set(r.assignments["need"])
    check_no_over_assignment(r)
    check_hard_rules(r)
    with pytest.raises(KeyError, match="B77"):
        what_if(data, withdraw=["B77"])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"seats": [-5, 80, 2000, 60, 90]}, r"row 1.*seats"),
        ({"grades": ["K-2", "6", "14", "K-1", "9"]}, r"row 3.*grade"),
    ],
)
def test_bad_needs_are_errors_naming_the_row(change, match):
    needs, buildings, schools = small_city()
    with pytest.raises(ValidationError, match=match):
        MatchData.from_frames(needs.assign(**change), buildings, schools)


def test_unknown_facts_are_conditions_never_failures_and_rank_after_certain_fits():
    needs, buildings, schools = small_city()
    # B4 (big, vacant): gym and accessibility unknown, rooms not counted, a reported capacity of 500
    b4 = buildings["id"] == "B4"
    buildings = buildings.assign(
        gym=buildings["gym"].astype(object),
        accessible=buildings["accessible"].astype(object),
        capacity=[None, None, None, 500],
    )
    buildings.loc[b4, ["gym", "accessible"]] = None
    for t in ROOM_TYPES:
        buildings.loc[b4, f"rooms_{t}"] = 0
    data = MatchData.from_frames(needs, buildings, schools)
    # N2 needs a gym: B4's unknown gym is no reason, it is a condition
    assert not any("gym" in r for r in data.reasons("N2", "B4"))
    assert data.conditions("N2", "B4")[0] == "gym confirmed"
    classrooms = int(data.buildings.set_index("id").at["B4", "classrooms"])
    assert (
        classrooms == 500 // data.buildings.set_index("id").at["B4", "class_size"]
        if "class_size" in data.buildings
        else classrooms > 0
    )
    assert (
        f"room counts confirmed ({classrooms} classrooms estimated from reported capacity)"
        in data.conditions("N2", "B4")
    )
    assert "no gym" in data.reasons("N2", "B3")  # B3's gym is a known no: a reason
    # N4 needs access: B4's unknown accessibility is a condition, B2's known "no" a reason
    assert "accessibility confirmed" in data.conditions("N4", "B4") and "not accessible" in data.reasons(
        "N4", "B2"
    )
    assert data.conditions("N1", "B1") == []
    result = solve(data, time_limit=10, seed=0)
    a = result.assignments.set_index("need")
    conditional = a[a["building"] == "B4"]
    assert (conditional["conditions"].str.startswith("fits if: ")).all()
    assert (a.loc[a["building"] != "B4", "conditions"] == "").all()
    assert result.summary()["housed_if_confirmed"] == len(conditional)


def test_a_certain_fit_ranks_before_a_nearer_one_that_depends_on_an_unknown_gym():
    needs, buildings, schools = small_city()
    twin = buildings[buildings["id"] == "B4"].copy()
    twin["id"], twin["gym"] = "B4-unknown-gym", None
    twin["geometry"] = _points([(0.0, 0.0)]).values  # nearer the schools than B4
    buildings = pd.concat([buildings.assign(gym=buildings["gym"].astype(object)), twin], ignore_index=True)
    data = MatchData.from_frames(needs[needs["id"] == "N2"], gpd.GeoDataFrame(buildings, crs=4326), schools)
    scores = pd.Series(data.scores()[0], index=data.building_ids)
    assert (
        data.travel[0, data.building_ids.index("B4-unknown-gym")]
        < data.travel[0, data.building_ids.index("B4")]
    )
    assert scores["B4"] < scores["B4-unknown-gym"] < np.inf
    chosen = solve(data, time_limit=10, seed=0).assignments
    assert chosen["building"].tolist() != ["B4-unknown-gym"] and chosen["conditions"].tolist() == [""]


def test_travel_matrix_is_used(data):
    needs, buildings, schools = small_city()
    seconds = pd.DataFrame(3600.0, index=needs["id"], columns=buildings["id"])
    seconds.loc["N2", "B4"] = 60.0
    d = MatchData.from_frames(needs, buildings, schools, travel=seconds)
    assert d.travel[1, 3] == 1.0 and d.travel[0, 0] == 60.0
    with pytest.raises(KeyError, match="no row or column"):
        MatchData.from_frames(needs, buildings, schools, travel=seconds.drop(columns="B4"))


def test_outputs_are_written(result, tmp_path):
    paths = result.to_files(tmp_path / "out")
    table = pd.read_csv(paths["csv"])
    assert table["need"].tolist() == result.assignments["need"].tolist()
    lines = gpd.read_file(paths["gpkg"], layer="matches")
    assert len(lines) == len(table) and lines.crs.to_epsg() == 4326
    assert len(gpd.read_file(paths["gpkg"], layer="buildings")) == 4
    summary = json.loads(paths["json"].read_text())
    assert summary["status"] == "optimal" and summary["housed"] == len(table) and summary["unmatched"]
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left
