"""Washington, DC (about 2015-16, ../shared/data/dc): utilization of the district schools that report
capacity, and the 69 closed or surplus district buildings matched to needs made from the 131
charter schools' grades.

Size assumptions (DC publishes no room counts):
- a building's classrooms = gross floor area × 55 % teaching space / 900 ft² a classroom; when the
  area is missing, its reported capacity / 25, else its last enrollment × 1.2 / 22, else 20;
  plus one science, art and music room, a library and 2 offices per 20 classrooms; a closed
  building is vacant, has a gym and a cafeteria when it has 15 classrooms or more;
- a charter's need: its grades (DC's "PK-3-8" is PK3 to 8) at 25 seats a grade, adding a grade a
  year for 3 years; classrooms derived from seats (CapacityRules class sizes); a gym from grade 6 up;
  a cafeteria; rows with no grades ("Adult/Voc Ed" only) or unreadable ones are left out.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from facilities.capacity import utilization
from facilities.matching import MatchData, solve
from facilities.schema import ROOM_TYPES, parse_grades
from tests.conftest import shared_path

LEVEL_GRADES = {
    "ES": "PK-5",
    "MS": "6-8",
    "HS": "9-12",
    "EC": "PK-8",
    "AC": "9-12",
    "STAY": "9-12",
    "YE": "9-12",
}


def _read(name: str) -> gpd.GeoDataFrame:
    return gpd.read_file(shared_path("dc", f"{name}.geojson"))


def _rooms(area_ft2: pd.Series, capacity: pd.Series, enrollment: pd.Series) -> pd.DataFrame:
    classrooms = np.where(
        area_ft2 > 0,
        area_ft2 * 0.55 / 900,
        np.where(capacity > 0, capacity / 25, np.where(enrollment > 0, enrollment * 1.2 / 22, 20)),
    )
    classrooms = np.maximum(np.round(classrooms), 4).astype(int)
    per20 = np.maximum(classrooms // 20, 1)
    rooms = {f"rooms_{t}": np.zeros(len(classrooms), dtype=int) for t in ROOM_TYPES}
    rooms["rooms_classroom"] = classrooms
    for t in ("science", "art", "music", "library"):
        rooms[f"rooms_{t}"] = per20
    rooms["rooms_office"] = 2 * per20
    return pd.DataFrame(rooms)


@pytest.fixture(scope="module")
def district() -> gpd.GeoDataFrame:
    p = _read("public-schools")
    return gpd.GeoDataFrame(
        {
            "id": p["GIS_ID"],
            "name": p["NAME"],
            "sector": "district",
            "grades": p["LEVEL_"].map(LEVEL_GRADES).fillna("K-12"),
            "enrollment": p["TOTAL_STUD"],
            "capacity": p["CAPACITY"],
            "building": "b_" + p["GIS_ID"],
        },
        geometry=p.geometry,
        crs=p.crs,
    )


def test_utilization_of_the_district_schools_that_report_capacity(district):
    p = _read("public-schools")
    buildings = pd.concat(
        [
            pd.DataFrame({"id": "b_" + p["GIS_ID"], "name": p["NAME"], "gym": True, "cafeteria": True}),
            _rooms(p["SQUARE_FOOTAGE"].fillna(0), p["CAPACITY"].fillna(0), p["TOTAL_STUD"].fillna(0)),
        ],
        axis=1,
    )
    schools = district.assign(grades=district["grades"].map(parse_grades))
    u = utilization(buildings=buildings, schools=schools).schools
    reported = u[u["reported_capacity"] > 0]
    assert len(reported) == 67
    assert set(reported["reported_flag"]) <= {"over capacity", "under-used", "in band", "unknown"}
    assert np.allclose(
        reported["reported_utilization"].dropna(),
        (reported["enrollment"] / reported["reported_capacity"]).dropna().round(4),
    )
    # the room-based capacity follows the reported one (both grow with the building)
    both = reported.dropna(subset=["capacity", "reported_capacity"])
    assert both["capacity"].corr(both["reported_capacity"], method="spearman") > 0.5


@pytest.fixture(scope="module")
def dc_match():
    closed = _read("closed-public-schools")
    rooms = _rooms(
        closed["SQUARE_FOOTAGE"].fillna(0), closed["CAPACITY"].fillna(0), closed["TOTAL_STUD"].fillna(0)
    )
    buildings = gpd.GeoDataFrame(
        pd.concat(
            [
                pd.DataFrame(
                    {
                        "id": [f"closed_{i}" for i in range(len(closed))],
                        "name": closed["NAME"],
                        "status": "vacant",
                        "gym": rooms["rooms_classroom"] >= 15,
                        "cafeteria": rooms["rooms_classroom"] >= 15,
                        "accessible": True,
                    }
                ),
                rooms,
            ],
            axis=1,
        ),
        geometry=closed.geometry.values,
        crs=closed.crs,
    )
    charters = _read("charter-schools")
    grades = []
    for text in charters["GRADES"]:
        try:
            grades.append(parse_grades(text) or None)  # adult education only: no grades
        except (ValueError, TypeError):
            grades.append(None)
    keep = np.array([g is not None for g in grades])
    charters = charters[keep].reset_index(drop=True)
    grades = [g for g in grades if g is not None]
    schools = gpd.GeoDataFrame(
        {
            "id": "charter_" + charters["OBJECTID"].astype(str),
            "name": charters["NAME"],
            "sector": "charter",
            "grades": grades,
        },
        geometry=charters.geometry,
        crs=charters.crs,
    )
    needs = pd.DataFrame(
        {
            "id": "need_" + charters["OBJECTID"].astype(str),
            "school": "charter_" + charters["OBJECTID"].astype(str),
            "name": charters["NAME"],
            "grades": grades,
            "seats": [25 * len(g) for g in grades],
            "seats_per_grade": 25,
            "years": 3,
            "gym": [max(g) >= 6 for g in grades],
            "cafeteria": True,
        }
    )
    data = MatchData.from_frames(needs, buildings, schools, crs="EPSG:26985")
    return data, solve(data, time_limit=30, seed=0), int((~keep).sum())


def test_closed_buildings_are_matched_to_charter_needs(dc_match):
    data, result, dropped = dc_match
    assert len(data.buildings) == 69 and len(data.needs) + dropped == 131
    a = result.assignments
    assert len(a) > 0 and result.status in ("optimal", "feasible")
    assert not a["building"].duplicated().any()  # a whole building holds one need
    assert len(a) <= 69
    unmatched = result.unmatched
    assert set(a["need"]).isdisjoint(
        unmatched.loc[
            unmatched["years_unmet"] == unmatched["need"].map(dict(zip(data.need_ids, data.plan_years))),
            "need",
        ]
    )
    assert unmatched["reasons"].str.len().gt(0).all()
    assert math.isfinite(result.gap)


def test_the_match_reads_on_a_map(dc_match, tmp_path):
    _, result, _ = dc_match
    paths = result.to_files(tmp_path)
    lines = gpd.read_file(paths["gpkg"], layer="matches")
    assert len(lines) == len(result.assignments)
    west, south, east, north = lines.total_bounds
    assert -77.2 < west < east < -76.8 and 38.7 < south < north < 39.1  # in Washington, DC
