"""The charter-need match keeps its hard rules on real cities: Boston and Washington, DC.

Boston (``../shared/data/boston``, the layer ``tests/cities/boston`` reads): the 122 district
schools of a listed type (special schools left out) share 114 buildings; the 25 charter schools
whose grades are listed become needs, co-locating in the district's buildings. DC
(``../shared/data/dc``): the 69 closed district buildings, whole, for needs made from the charter
schools (the fixture of ``test_facilities_dc``). Neither city publishes room counts, enrollment or
rents: they are assumed (below) from each school's type, which is enough for the rules, whose
checks read only the input tables: rooms by type, gym and lunch periods within what the hosts
leave free each year, one need per whole building, accessibility, gym, cafeteria, the yearly
budget, and no grades up to 5 sharing with grades from 9 over the years housed.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from facilities.matching import MatchData, MatchResult, solve
from facilities.schema import parse_grades
from tests.conftest import shared_path
from tests.test_facilities_dc import dc_match  # noqa: F401  (the DC match, a fixture)
from tests.test_matching import check_hard_rules, check_no_over_assignment
from tests.test_matching_bruteforce import check_budgets

#: Assumed rooms of a Boston district school by its type: classrooms, science rooms.
ROOMS = {
    "ES": (18, 1),
    "K-8": (26, 2),
    "MS": (20, 2),
    "HS": (36, 4),
    "6/7-12": (34, 4),
    "K-12": (40, 4),
    "ELC": (10, 0),
}
GRADES = {
    "ES": "K-5",
    "K-8": "K-8",
    "MS": "6-8",
    "HS": "9-12",
    "6/7-12": "7-12",
    "K-12": "K-12",
    "ELC": "PK-1",
}


def check_grades_over_the_years(result: MatchResult) -> None:
    """No co-location puts grades up to 5 with grades from 9, counting every grade the need adds in
    the years it is housed and the grades of the schools in the building (from the schools table)."""
    d = result.data
    needs = d.needs.set_index("id")
    schools = d.schools
    for row in result.assignments.itertuples():
        if row.mode != "co_location":
            continue
        first = tuple(needs.at[row.need, "grades"])
        grows = needs.at[row.need, "add_grade_per_year"] is not False
        grades = set(first) | (
            set(range(first[-1] + 1, min(first[-1] + row.year_last - 1, 12) + 1)) if grows else set()
        )
        for host in schools.loc[schools["building"] == row.building, "grades"]:
            grades |= set(host)
        assert not (min(grades) <= d.rules.young_max and max(grades) >= d.rules.old_min), (
            row.need,
            row.building,
            sorted(grades),
        )


def check_all(result: MatchResult) -> None:
    assert len(result.assignments) > 0
    check_no_over_assignment(result)
    check_hard_rules(result)
    check_budgets(result)
    check_grades_over_the_years(result)


@pytest.fixture(scope="module")
def boston() -> MatchData:
    raw = gpd.read_file(shared_path("boston", "boston_schools_all.geojson")).to_crs(26986)
    district = raw[(raw["sector"] == "district") & raw["grades_or_type"].isin(list(ROOMS))].reset_index(
        drop=True
    )
    campus = district.groupby("school_id").cumcount()  # three schools list two campuses under one id
    district["school_id"] = district["school_id"] + np.where(campus > 0, "-" + (campus + 1).astype(str), "")
    k = np.arange(len(district))
    rooms = np.array([ROOMS[t] for t in district["grades_or_type"]])
    fill = np.array([0.55, 0.7, 0.85, 1.0])[k % 4]  # share of the rooms each school fills (assumed)
    size = np.where(district["grades_or_type"] == "HS", 30, 24)
    schools = gpd.GeoDataFrame(
        {
            "id": district["school_id"],
            "name": district["name"],
            "sector": "district",
            "grades": district["grades_or_type"].map(GRADES),
            "enrollment": (rooms[:, 0] * size * fill).astype(int),
            "building": district["building"],
        },
        geometry=district.geometry.values,
        crs=district.crs,
    )
    per_building = pd.DataFrame(
        {"building": district["building"], "classroom": rooms[:, 0], "science": rooms[:, 1]}
    )
    totals = per_building.groupby("building", sort=True).sum()
    where = schools.drop_duplicates("building").set_index("building").geometry.reindex(totals.index)
    n = len(totals)
    buildings = gpd.GeoDataFrame(
        {
            "id": totals.index,
            "name": totals.index,
            "status": "under-used",
            "gym": np.arange(n) % 5 != 0,
            "cafeteria": True,
            "accessible": np.arange(n) % 3 != 0,
            "annual_cost": 12_000.0 * totals["classroom"].to_numpy(),
            "rooms_classroom": totals["classroom"].to_numpy(),
            "rooms_science": totals["science"].to_numpy(),
            "rooms_office": 2,
        },
        geometry=where.values,
        crs=district.crs,
    )
    charters = raw[(raw["sector"] == "charter") & raw["grades_or_type"].str.strip().ne("")].reset_index(
        drop=True
    )
    grades = [parse_grades(g) for g in charters["grades_or_type"]]
    c = np.arange(len(charters))
    needs = pd.DataFrame(
        {
            "id": "need_" + charters["school_id"],
            "school": charters["school_id"],
            "name": charters["name"],
            "grades": grades,
            "seats": [25 * len(g) for g in grades],
            "seats_per_grade": 25,
            "years": 3,
            "gym": [max(g) >= 6 for g in grades],
            "cafeteria": True,
            "accessible": c % 4 == 0,
            "budget": np.where(c % 2 == 0, 150_000.0, np.nan),
        }
    )
    charter_schools = gpd.GeoDataFrame(
        {"id": charters["school_id"], "name": charters["name"], "sector": "charter", "grades": grades},
        geometry=charters.geometry.values,
        crs=charters.crs,
    )
    all_schools = pd.concat([schools, charter_schools], ignore_index=True)
    return MatchData.from_frames(needs, buildings, all_schools, crs="EPSG:26986")


def test_boston_co_locations_keep_every_hard_rule(boston: MatchData) -> None:
    assert len(boston.needs) == 25 and len(boston.buildings) == 114
    assert (boston.buildings["mode"] == "co_location").all()
    result = solve(boston, time_limit=20, seed=0)
    assert result.status in ("optimal", "feasible")
    check_all(result)
    assert (result.assignments["mode"] == "co_location").all()


def test_dc_whole_buildings_keep_every_hard_rule(dc_match: tuple) -> None:  # noqa: F811
    _, result, _ = dc_match
    check_all(result)
