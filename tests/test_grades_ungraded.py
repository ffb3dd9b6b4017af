"""Adult and ungraded students: kept and counted, left out of grade-based analyses, still bused.

The demo city's students with a few grades rewritten as the codes student systems use for
ungraded and adult students (``UG``, ``Ungraded``, ``Adult``, ``AD``, ``AE``).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from facilities import ValidationError
from facilities.enrollment import applicants
from facilities.schema import grade_programs, parse_grade, parse_grades, parse_program
from facilities.zones import coverage
from tests.conftest import DEMO

CODES = {
    "UG": "ungraded",
    "Ungraded": "ungraded",
    "Adult": "adult",
    "AD": "adult",
    "AE": "adult",
    "Grade UG": "ungraded",
}


@pytest.fixture(scope="module")
def marked(demo_city):
    """The demo with 60 students (10 of each code) recoded; their ids, and the program each names."""
    students = demo_city.to_wgs84(demo_city.students).copy()
    students["grade"] = students["grade"].astype(object)
    rng = np.random.default_rng(5)
    rows = rng.choice(len(students), size=10 * len(CODES), replace=False)
    codes = np.repeat(list(CODES), 10)
    students.loc[rows, "grade"] = codes
    expected = dict(zip(students.loc[rows, "id"], (CODES[c] for c in codes), strict=True))
    return demo_city.replace(students=students), expected


def test_program_codes_are_not_grades() -> None:
    for code, program in CODES.items():
        assert parse_program(code) == program
        with pytest.raises(ValueError, match="program, not a grade"):
            parse_grade(code)
    for grade in ("K", "3", "Grade 3", "PK4", "12"):
        assert parse_program(grade) is None
    # the short codes are whole words only: they never eat a grade name
    assert parse_grade("Grade 3") == 3 and parse_grades("GRADE 3-5") == (3, 4, 5)
    assert grade_programs("PK-3, PK-4") == () and grade_programs("PK-3 Adult/Voc Ed") == ("adult",)
    assert parse_grades("Ungraded") == () and parse_grades("K-5, AE") == tuple(range(6))


def test_ungraded_students_are_kept_marked_and_counted(demo_city, marked) -> None:
    city, expected = marked
    kept = city.ungraded_students
    assert dict(zip(kept["id"], kept["program"], strict=True)) == expected
    assert kept["grade"].isna().all() and kept["school"].isin(city.schools["id"]).all()
    assert kept.crs == city.crs and kept.geometry.notna().all()
    # every grade-based analysis reads city.students: only PK-12, and nobody lost
    assert city.students["grade"].map(lambda g: -1 <= g <= 12).all()
    assert len(city.students) + len(kept) == len(demo_city.students)
    assert not set(city.students["id"]) & set(expected)
    line = next(ln for ln in city.summary().splitlines() if "ungraded or adult" in ln)
    n_adult = sum(p == "adult" for p in expected.values())
    assert re.search(
        rf"\b{len(expected)}  students ungraded or adult "
        rf"\({n_adult} adult, {len(expected) - n_adult} ungraded\)",
        line,
    )
    assert "left out of grade-based analyses" in line
    # a what-if (replace) keeps them
    again = city.replace(schools=city.to_wgs84(city.schools))
    assert sorted(again.ungraded_students["id"]) == sorted(kept["id"])


def test_grade_based_analyses_leave_them_out(marked) -> None:
    city, expected = marked
    without = city.replace(students=city.to_wgs84(city.students))
    assert not len(without.ungraded_students)
    cov, ref = coverage(city, source="students"), coverage(without, source="students")
    pd.testing.assert_frame_equal(cov.grades, ref.grades)
    assert cov.grades["residents"].sum() == len(city.students[city.students.within(cov.zones.union_all())])
    people, simulated = applicants(city, source="students")
    assert not simulated and len(people) == len(city.students) and not set(people["id"]) & set(expected)


def test_ungraded_riders_are_decided_by_the_strictest_walk_rule(marked) -> None:
    from routing.stops import eligibility_rules, eligible_riders

    city, expected = marked
    rules = eligibility_rules(city.settings["transport"])
    walk_beyond = {g: r.walk_beyond for r in rules if not r.transit_pass for g in r.grades}
    riders = city.transport_students(walk_beyond=walk_beyond)
    assert len(riders) == len(city.students) + len(expected)
    marked_rows = riders[riders["program"].notna()]
    assert set(marked_rows["id"]) == set(expected)
    schools = city.schools.set_index("id")["grades"]
    for grade, school in zip(marked_rows["grade"], marked_rows["school"], strict=True):
        served = [g for g in schools[school] if g in walk_beyond]
        # the school's strictest rule: no grade it serves has a shorter walking distance
        assert grade in walk_beyond and walk_beyond[grade] == min(walk_beyond[g] for g in served)
    out = eligible_riders(riders, city.schools, rules=rules)
    ung = out[out["program"].notna()]
    special = ung["service"].isin(["door-to-door", "wheelchair"])
    assert ung.loc[special, "eligible"].all()
    corner = ung[~special]
    assert (
        len(corner)
        and (corner["eligible"] == (corner["walk_to_school"] > corner["grade"].map(walk_beyond))).all()
    )
    # without rules: the school's youngest grade (PK where it serves none)
    plain = city.transport_students()
    youngest = plain[plain["program"].notna()]
    assert all(
        g == (min(schools[s]) if schools[s] else -1)
        for g, s in zip(youngest["grade"], youngest["school"], strict=True)
    )


def test_a_wrong_grade_is_still_an_error(demo_city) -> None:
    students = demo_city.to_wgs84(demo_city.students).copy()
    students["grade"] = students["grade"].astype(object)
    students.loc[[3, 8], "grade"] = ["15", "Special"]
    with pytest.raises(ValidationError) as err:
        demo_city.replace(students=students)
    text = str(err.value)
    assert "row 4, column 'grade': grade 15 is outside PK, K, 1-12" in text
    assert "row 9, column 'grade': 'Special' is not a grade" in text


def test_validate_counts_them(tmp_path: Path) -> None:
    from app.cli import app as cli

    students = pd.read_csv(DEMO / "students.csv", dtype=str)
    students.loc[[0, 1, 2, 3], "grade"] = ["UG", "AD", "Ungraded", "SP"]  # SP: mapped below
    students.to_csv(tmp_path / "students.csv", index=False)
    toml = (DEMO / "city.toml").read_text()
    for name in (
        "schools.csv",
        "buildings.csv",
        "yards.csv",
        "zones.geojson",
        "bus_types.csv",
        "needs.csv",
        "streets.graphml",
        "river.geojson",
        "address_points.csv",
    ):
        toml = toml.replace(f'"{name}"', f'"{DEMO / name}"')
    toml += '\n[layers.students.values.grade]\nSP = "Ungraded"\n'
    (tmp_path / "city.toml").write_text(textwrap.dedent(toml))
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (
        "4  students ungraded or adult (1 adult, 3 ungraded): kept, left out of grade-based analyses"
        in result.output
    )
