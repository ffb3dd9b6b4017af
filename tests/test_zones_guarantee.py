"""A shared zone's seat guarantee on the demo city, recounted from the input layers.

Residents are the students whose homes lie in the zone's polygon, by grade; seats are the
capacity (enrollment where capacity is unknown) of the zone's schools, spread evenly over the
grades each serves with the remainder going to the lowest grades (the module's documented model);
``min(residents, seats)`` residents are guaranteed a seat in each grade, the rest is the shortfall.
Then the unified lottery with the guarantee (applicants simulated from the neighborhoods'
population, one choice each, so that many are left to the guarantee) must leave no resident of
the zone unassigned while one of its schools has a seat in that resident's grade, and never more
students in a school and grade than its seats.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import shapely

from facilities import City
from facilities.enrollment import run_lottery
from facilities.zones import configured_zones, coverage, shared_zone


def _seats(school: pd.Series) -> dict[int, int]:
    """A school's seats by grade: capacity (else enrollment) spread evenly, remainder to the lowest grades."""
    amount = school["capacity"] if pd.notna(school["capacity"]) else school["enrollment"]
    grades = sorted(school["grades"])
    if pd.isna(amount) or not grades:
        return {}
    base, extra = divmod(round(float(amount)), len(grades))
    return {g: base + (k < extra) for k, g in enumerate(grades)}


def _zones(city: City) -> pd.DataFrame:
    """The demo's configured shared middle-school zone (schools listed) and one whose schools are
    those inside it."""
    listed = configured_zones(city)
    inside = shared_zone(city, units=["Lower Falls", "Old Harbor"], id="south")
    return pd.concat([listed, inside], ignore_index=True)


def _zone_schools(city: City, zone: pd.Series) -> list[str]:
    listed = zone.get("schools")
    if isinstance(listed, (tuple, list)):
        return [str(s) for s in listed]
    return [
        str(s)
        for s, p in zip(city.schools["id"], city.schools.geometry, strict=True)
        if p.within(zone.geometry)
    ]


def test_coverage_counts_residents_and_seats_by_grade_as_the_inputs_say(demo_city: City) -> None:
    city = demo_city
    zones = _zones(city)
    schools = city.schools.set_index("id")
    got = coverage(city, zones, source="students").grades.set_index(["zone", "grade"])
    expected = {}
    for _, zone in zones.iterrows():
        poly = zone.geometry
        shapely.prepare(poly)
        homes = city.students[shapely.within(city.students.geometry.values, poly)]
        residents = homes["grade"].value_counts().to_dict()
        seats: dict[int, int] = {}
        for sid in _zone_schools(city, zone):
            for g, n in _seats(schools.loc[sid]).items():
                seats[g] = seats.get(g, 0) + n
        for g in sorted(set(residents) | {g for g, n in seats.items() if n > 0}):
            r, s = int(residents.get(g, 0)), seats.get(g, 0)
            expected[zone["id"], g] = (r, s, min(r, s), max(r - s, 0))
    assert (
        len(expected) > 10
        and any(v[3] > 0 for v in expected.values())
        and any(v[2] > 0 for v in expected.values())
    )
    table = {
        k: tuple(int(x) for x in row)
        for k, row in got[["residents", "seats", "guaranteed", "shortfall"]].iterrows()
    }
    assert table == expected
    middle = coverage(city, zones, source="students", grades=range(6, 9)).grades
    assert set(middle["grade"]) <= {6, 7, 8}
    for row in middle.itertuples():
        assert (row.residents, row.seats, row.guaranteed, row.shortfall) == expected[row.zone, row.grade]


def test_the_lottery_guarantee_leaves_no_resident_out_while_a_zone_school_has_room(demo_city: City) -> None:
    # the zone's schools at 80 % of their capacity, so that the guarantee runs out of seats
    schools = demo_city.schools.assign(capacity=(demo_city.schools["capacity"] * 0.8).round())
    city = dataclasses.replace(demo_city, schools=schools)
    zones = configured_zones(city)
    outcome = run_lottery(
        city, zones=zones, guarantee=True, seed=5, grades=[6, 7, 8], source="population", n_choices=1
    )
    result = outcome.result
    d = result.data
    schools = city.schools.set_index("id")
    members = {str(z): [str(s) for s in ids] for z, ids in zip(zones["id"], zones["schools"], strict=True)}
    # seats by grade from the schools table, and what the lottery and the guarantee used of them
    used: dict[tuple[str, int], int] = {}
    for i in np.flatnonzero(result.assignment >= 0):
        key = (str(d.school_ids[result.assignment[i]]), int(d.grades[i]))
        used[key] = used.get(key, 0) + 1
    for (sid, g), n in used.items():
        assert n <= _seats(schools.loc[sid]).get(g, 0), (sid, g)
    left = np.flatnonzero((result.assignment < 0) & np.isin(d.zones, list(members)))
    placed = np.flatnonzero(result.guaranteed)
    assert len(placed) > 50 and len(left) > 0  # the guarantee had work to do, and seats ran out
    for i in placed:
        assert str(d.school_ids[result.assignment[i]]) in members[str(d.zones[i])]
    for i in left:
        g = int(d.grades[i])
        for sid in members[str(d.zones[i])]:
            assert used.get((sid, g), 0) >= _seats(schools.loc[sid]).get(g, 0), (d.student_ids[i], sid, g)
