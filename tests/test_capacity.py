"""Capacity from rooms (Blue Book rules) and utilization of schools and buildings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facilities import ValidationError
from facilities.capacity import CapacityRules, building_capacity, estimated_counts, utilization
from facilities.schema import ROOM_TYPES


def buildings_frame(rows: list[dict]) -> pd.DataFrame:
    out = []
    for i, r in enumerate(rows):
        base = {
            "id": f"B{i}",
            "name": f"Building {i}",
            "status": "under-used",
            "gym": True,
            "cafeteria": True,
        }
        base.update({f"rooms_{t}": 0 for t in ROOM_TYPES})
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


def schools_frame(rows: list[dict]) -> pd.DataFrame:
    out = []
    for i, r in enumerate(rows):
        base = {"id": f"S{i}", "name": f"School {i}", "sector": "district", "capacity": np.nan}
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


K5 = tuple(range(0, 6))
K3 = tuple(range(0, 4))
HS = tuple(range(9, 13))


def test_classrooms_times_class_size_of_the_grades_served():
    b = buildings_frame([{"rooms_classroom": 10}, {"rooms_classroom": 10}])
    s = schools_frame(
        [
            {"grades": K3, "enrollment": 150, "building": "B0"},
            {"grades": HS, "enrollment": 150, "building": "B1"},
        ]
    )
    cap = building_capacity(b, schools=s)
    assert cap["capacity"].tolist() == [10 * 20, 10 * 30]


def test_specialty_rooms_count_at_efficiency_and_small_rooms_not_at_all():
    s = schools_frame([{"grades": HS, "enrollment": 100, "building": "B0"}])
    plain = building_capacity(buildings_frame([{"rooms_classroom": 10}]), schools=s)["capacity"].iat[0]
    extra = building_capacity(
        buildings_frame(
            [
                {
                    "rooms_classroom": 10,
                    "rooms_science": 2,
                    "rooms_small": 5,
                    "rooms_office": 3,
                    "rooms_library": 1,
                }
            ]
        ),
        schools=s,
    )
    assert extra["capacity"].iat[0] == plain + int(2 * 30 * 0.85)
    rules = CapacityRules(efficiency=0.5)
    half = building_capacity(
        buildings_frame([{"rooms_classroom": 10, "rooms_science": 2}]), schools=s, rules=rules
    )
    assert half["capacity"].iat[0] == plain + 30


def test_class_sizes_come_from_settings():
    rules = CapacityRules.from_settings(
        {"class_size": {"PK-3": 18, "4-8": 25, "9-12": 33}, "band": [0.8, 1.05]}
    )
    assert rules.class_size_for(K3) == 18 and rules.class_size_for(HS) == 33 and rules.band == (0.8, 1.05)
    s = schools_frame([{"grades": HS, "enrollment": 100, "building": "B0"}])
    assert (
        building_capacity(buildings_frame([{"rooms_classroom": 10}]), schools=s, rules=rules)["capacity"].iat[
            0
        ]
        == 330
    )


def test_bad_settings_are_named():
    with pytest.raises(ValidationError, match="class_sise"):
        CapacityRules.from_settings({"class_sise": {"K-3": 20}})
    with pytest.raises(ValidationError, match="cover PK-12"):
        CapacityRules.from_settings({"class_size": {"K-3": 20}})


def test_capacity_comes_from_rooms_else_reported_else_floor_area_else_unknown_and_says_which():
    b = buildings_frame(
        [
            {"rooms_classroom": 10, "capacity": 999, "gross_area": 9999.0},  # rooms win
            {"capacity": 420, "gross_area": 9999.0},  # reported, no rooms
            {"gross_area": 4170.0},  # 4,170 m² / 13.9 m² a K-5 seat = 300
            {"capacity": 0, "gross_area": 0.0},  # zeros are not given: unknown
        ]
    )
    s = schools_frame([{"grades": K5, "enrollment": 100, "building": f"B{i}"} for i in range(4)])
    cap = building_capacity(b, schools=s).set_index("building")
    assert cap["capacity_source"].tolist()[:4] == [
        "counted rooms",
        "reported capacity",
        "estimated from floor area",
        "unknown",
    ]
    assert (
        cap.at["B0", "capacity"] < 999 and cap.at["B1", "capacity"] == 420 and cap.at["B2", "capacity"] == 300
    )
    assert np.isnan(cap.at["B3", "capacity"]) and np.isnan(cap.at["B3", "classrooms"])  # unknown, never 0
    # classrooms of a building without counted rooms are estimated from its capacity, and say so
    assert (
        cap.at["B1", "classrooms"] == 420 // cap.at["B1", "class_size"]
        and cap.at["B1", "classrooms_source"] == "estimated from reported capacity"
    )
    u = utilization(buildings=b, schools=s).buildings.set_index("building")
    assert u.at["B2", "utilization"] == pytest.approx(100 / 300, abs=1e-4) and u.at["B3", "flag"] == "unknown"
    assert estimated_counts(u) == {"reported capacity": 1, "estimated from floor area": 1, "unknown": 1}


def test_a_negative_room_count_is_an_error_naming_the_row():
    b = buildings_frame([{"rooms_classroom": 10}, {"rooms_classroom": -1}])
    with pytest.raises(ValidationError) as err:
        building_capacity(b)
    assert "row 2" in str(err.value) and "'B1' has a negative room count" in str(err.value)


def test_a_building_whose_classrooms_are_full_is_not_under_used_and_spare_rooms_are_never_negative():
    # 10 classrooms and 4 science rooms: seats from the specialty rooms make enrollment/capacity low,
    # but every classroom is in use
    b = buildings_frame(
        [{"rooms_classroom": 10, "rooms_science": 4}, {"rooms_classroom": 20, "rooms_science": 4}]
    )
    s = schools_frame(
        [
            {"grades": K3, "enrollment": 210, "building": "B0"},
            {"grades": K3, "enrollment": 210, "building": "B1"},
        ]
    )
    u = utilization(buildings=b, schools=s).buildings
    assert u["utilization"].iat[0] < 0.85 and u["flag"].iat[0] == "in band"
    assert u["spare_rooms"].iat[0] == 0 and u["rooms_short"].iat[0] == 1  # 11 classes for 10 rooms
    assert u["flag"].iat[1] == "under-used" and u["spare_rooms"].iat[1] == 9


def test_utilization_flags_and_spare_seats():
    b = buildings_frame(
        [
            {"rooms_classroom": 10},
            {"rooms_classroom": 10},
            {"rooms_classroom": 10},
            {"rooms_classroom": 5, "status": "vacant"},
        ]
    )
    s = schools_frame(
        [
            {"grades": K3, "enrollment": 250, "building": "B0"},  # 125 %
            {"grades": K3, "enrollment": 100, "building": "B1"},  # 50 %
            {"grades": K3, "enrollment": 190, "building": "B2"},  # 95 %
        ]
    )
    u = utilization(buildings=b, schools=s)
    assert u.buildings["flag"].tolist() == ["over capacity", "under-used", "in band", "vacant"]
    assert np.allclose(u.buildings["utilization"].iloc[:3], [1.25, 0.5, 0.95])
    assert (u.buildings["spare_seats"] == u.buildings["capacity"] - u.buildings["enrollment"]).all()
    wide = utilization(buildings=b, schools=s, band=(0.4, 1.3))
    assert wide.buildings["flag"].iloc[:3].tolist() == ["in band"] * 3


def test_a_shared_building_divides_its_rooms_among_its_schools():
    b = buildings_frame([{"rooms_classroom": 30, "rooms_science": 2}])
    s = schools_frame(
        [
            {"grades": K5, "enrollment": 200, "building": "B0"},
            {"grades": HS, "enrollment": 300, "building": "B0", "sector": "charter"},
        ]
    )
    u = utilization(buildings=b, schools=s)
    assert u.schools["rooms_share"].sum() == pytest.approx(30, abs=0.11)
    assert u.schools["capacity"].sum() <= u.buildings["capacity"].iat[0]
    assert (u.schools["rooms_share"] > 0).all()
    # the school with more classes to fill gets more rooms
    assert u.schools["rooms_share"].iat[1] > u.schools["rooms_share"].iat[0]


def test_reported_capacity_gives_its_own_utilization():
    s = schools_frame([{"grades": K5, "enrollment": 300, "capacity": 400, "building": None}])
    u = utilization(schools=s)
    assert (
        u.schools["reported_utilization"].iat[0] == 0.75 and u.schools["reported_flag"].iat[0] == "under-used"
    )
    # a school in no building of the city takes its reported capacity, and says so
    assert u.schools["capacity"].iat[0] == 400 and u.schools["capacity_source"].iat[0] == "reported capacity"
    assert u.schools["flag"].iat[0] == "under-used"
    none = utilization(schools=schools_frame([{"grades": K5, "enrollment": 300, "building": None}])).schools
    assert none["flag"].iat[0] == "unknown" and none["capacity_source"].iat[0] == "unknown"


@settings(max_examples=20, deadline=None)
@given(
    rooms=st.lists(
        st.tuples(st.integers(1, 40), st.integers(0, 4), st.integers(0, 3), st.booleans(), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    enrollments=st.lists(st.integers(0, 1500), min_size=1, max_size=6),
)
def test_spare_rooms_and_periods_are_never_negative_nor_more_than_there_are(rooms, enrollments):
    b = buildings_frame(
        [
            {"rooms_classroom": c, "rooms_science": sci, "rooms_office": off, "gym": g, "cafeteria": caf}
            for c, sci, off, g, caf in rooms
        ]
    )
    s = schools_frame(
        [{"grades": K5, "enrollment": e, "building": f"B{i % len(rooms)}"} for i, e in enumerate(enrollments)]
    )
    u = utilization(buildings=b, schools=s).buildings
    for t in ROOM_TYPES:
        assert (u[f"spare_{t}"] >= 0).all() and (u[f"spare_{t}"] <= b[f"rooms_{t}"]).all()
    assert (u["gym_free"] >= 0).all() and (u.loc[~b["gym"], "gym_free"] == 0).all()
    assert (u["lunch_free"] >= 0).all() and (u.loc[~b["cafeteria"], "lunch_free"] == 0).all()
    assert (u["capacity"] > 0).all()
