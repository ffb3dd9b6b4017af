"""Capacity from rooms with exact expected seats, worked out by hand from the Blue Book rule.

The rule (``facilities.capacity``; NYC's Enrollment - Capacity - Utilization report): a school's
target class size is the mean over the GRADES it serves of each grade's band size (PK-3 20, 4-8
28, 9-12 30), each grade weighing the same; a building shared by several schools takes the mean of
their class sizes weighted by the classrooms each fills (``ceil(enrollment / class size)``); a
building no school occupies takes grades K-12. Seats are ``floor(classrooms x size)`` plus
``floor(specialty rooms x size x 0.85)`` plus 12 per special education room; small rooms, offices
and libraries add none. Every expected number below is that arithmetic done with fractions, so a
rule averaged over grade bands instead of grades, special education rooms counted as classrooms,
or a vacant building sized like an elementary school gives a different number.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from facilities.capacity import CapacityRules, building_capacity, utilization
from tests.test_capacity import buildings_frame, schools_frame

K8 = tuple(range(9))
K5 = tuple(range(6))
MS = (6, 7, 8)
PK2 = (-1, 0, 1, 2)
HS = tuple(range(9, 13))


def seats(classrooms: int, specialty: int, special_education: int, size: Fraction) -> int:
    """The Blue Book's seats of a building of class size ``size`` (whole seats, rounded down)."""
    return (
        math.floor(classrooms * size)
        + math.floor(specialty * size * Fraction(85, 100))
        + 12 * special_education
    )


def test_a_k8_school_averages_its_nine_grades_not_its_two_bands() -> None:
    # K-3: four grades of 20; 4-8: five grades of 28 -> 220 / 9 = 24.44 (the bands' mean would be 24)
    size = Fraction(4 * 20 + 5 * 28, 9)
    b = buildings_frame(
        [
            {
                "rooms_classroom": 18,
                "rooms_science": 2,
                "rooms_art": 1,
                "rooms_special_education": 3,
                "rooms_small": 2,
                "rooms_office": 1,
                "rooms_library": 1,
            }
        ]
    )
    s = schools_frame([{"grades": K8, "enrollment": 500, "building": "B0"}])
    cap = building_capacity(b, schools=s).iloc[0]
    assert cap["class_size"] == pytest.approx(24.44, abs=0.005)
    assert cap["capacity_classrooms"] == math.floor(18 * size) == 440
    assert cap["capacity_specialty"] == math.floor(3 * size * Fraction(85, 100)) == 62
    assert cap["capacity_special_education"] == 3 * 12
    assert cap["capacity"] == seats(18, 3, 3, size) == 538


def test_pk_counts_in_the_first_band_and_a_k5_school_weighs_grades_4_and_5_at_28() -> None:
    b = buildings_frame([{"rooms_classroom": 12}, {"rooms_classroom": 12}])
    s = schools_frame(
        [
            {"grades": PK2, "enrollment": 200, "building": "B0"},
            {"grades": K5, "enrollment": 200, "building": "B1"},
        ]
    )
    cap = building_capacity(b, schools=s)
    assert cap["capacity"].tolist() == [12 * 20, math.floor(12 * Fraction(4 * 20 + 2 * 28, 6))]  # 240, 272


def test_a_shared_building_weighs_each_school_by_the_classrooms_it_fills() -> None:
    k5 = Fraction(4 * 20 + 2 * 28, 6)  # 22.67
    rooms_k5 = math.ceil(170 / k5)  # 170 students -> 7.5 -> 8 classrooms
    rooms_ms = math.ceil(Fraction(300, 28))  # 300 students -> 10.7 -> 11 classrooms
    size = (rooms_k5 * k5 + rooms_ms * 28) / (rooms_k5 + rooms_ms)  # 25.75 (the schools' plain mean: 25.33)
    b = buildings_frame([{"rooms_classroom": 20, "rooms_music": 1, "rooms_special_education": 2}])
    s = schools_frame(
        [
            {"grades": K5, "enrollment": 170, "building": "B0"},
            {"grades": MS, "enrollment": 300, "building": "B0", "sector": "charter"},
        ]
    )
    u = utilization(buildings=b, schools=s)
    total = seats(20, 1, 2, size)
    assert (rooms_k5, rooms_ms, total) == (8, 11, 515 + 21 + 24)
    row = u.buildings.iloc[0]
    assert row["capacity"] == total and row["enrollment"] == 470 and row["rooms_needed"] == 19
    assert row["spare_classroom"] == 20 - 19 and row["utilization"] == round(470 / total, 4)
    # each school's share: the classrooms it fills over the building's (8 and 11 of 19)
    assert u.schools["rooms_share"].tolist() == [round(20 * 8 / 19, 1), round(20 * 11 / 19, 1)]
    assert u.schools["capacity"].tolist() == [
        math.floor(total * Fraction(8, 19)),
        math.floor(total * Fraction(11, 19)),
    ]


def test_a_vacant_building_is_sized_for_k12() -> None:
    size = Fraction(4 * 20 + 5 * 28 + 4 * 30, 13)  # K-3, 4-8, 9-12: 340 / 13 = 26.15
    b = buildings_frame(
        [
            {"rooms_classroom": 10, "rooms_science": 1, "rooms_special_education": 1},
            {"rooms_classroom": 10, "status": "vacant"},
        ]
    )
    s = schools_frame([{"grades": K5, "enrollment": 150, "building": "B1"}])
    s = s.assign(building=["B9"])  # no school in either building
    u = utilization(buildings=b, schools=s)
    assert u.buildings["capacity"].tolist() == [seats(10, 1, 1, size), math.floor(10 * size)] == [295, 261]
    assert u.buildings["flag"].tolist() == ["vacant", "vacant"] and u.buildings["enrollment"].tolist() == [
        0,
        0,
    ]
    # the city may size vacant buildings for other grades
    rules = CapacityRules.from_settings({"vacant_grades": "6-8"})
    assert building_capacity(b, rules=rules)["capacity"].tolist() == [seats(10, 1, 1, Fraction(28)), 280]


def test_special_education_rooms_seat_their_own_class_size_whatever_the_grades() -> None:
    b = buildings_frame([{"rooms_classroom": 4, "rooms_special_education": 5}] * 2)
    s = schools_frame(
        [
            {"grades": HS, "enrollment": 100, "building": "B0"},
            {"grades": PK2, "enrollment": 60, "building": "B1"},
        ]
    )
    cap = building_capacity(b, schools=s)
    assert cap["capacity_special_education"].tolist() == [60, 60]
    assert cap["capacity"].tolist() == [4 * 30 + 60, 4 * 20 + 60]
    twelve_to_one = CapacityRules.from_settings({"special_education_size": 8})
    assert building_capacity(b, schools=s, rules=twelve_to_one)["capacity"].tolist() == [
        4 * 30 + 40,
        4 * 20 + 40,
    ]


def test_class_sizes_from_settings_apply_per_grade() -> None:
    rules = CapacityRules.from_settings({"class_size": {"PK-2": 18, "3-5": 24, "6-12": 30}})
    b = buildings_frame([{"rooms_classroom": 15, "rooms_computer": 2}])
    s = schools_frame([{"grades": K8, "enrollment": 300, "building": "B0"}])
    size = Fraction(3 * 18 + 3 * 24 + 3 * 30, 9)  # K-2, 3-5, 6-8: 24 exactly
    assert (
        building_capacity(b, schools=s, rules=rules)["capacity"].iat[0] == seats(15, 2, 0, size) == 360 + 40
    )
