"""Boston: neighborhoods with population aged 0-17 as units, a shared zone of district, charter and
Catholic schools, and the common lottery on simulated lists."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import pytest

from facilities import read_city
from facilities.enrollment import run_lottery
from facilities.schema import parse_grades
from facilities.zones import coverage, shared_zone

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data" / "boston"
pytestmark = pytest.mark.skipif(
    not DATA.exists(), reason="../shared/data/boston is absent (real Boston data)"
)
#: The layer gives district schools a type, not grades; these are BPS's usual spans.
TYPES = {
    "ES": "K-5",
    "K-8": "K-8",
    "MS": "6-8",
    "HS": "9-12",
    "ELC": "PK-1",
    "EEC": "PK-1",
    "6-12": "6-12",
    "7-12": "7-12",
}
#: : Illustrative seats per grade (the public layers give no capacity): the test checks properties, not
#: Boston's seats.
SEATS_PER_GRADE = 50


@pytest.fixture(scope="module")
def city():
    city = read_city(HERE / "cities" / "boston")
    raw = gpd.read_file(DATA / "boston_schools_all.geojson")
    spans = dict(zip(raw["school_id"], raw["grades_or_type"], strict=True))
    schools = city.schools.copy()
    grades = []
    for sid in schools["id"]:
        text = spans.get(sid.rsplit("-", 1)[0] if sid not in spans else sid, "")
        try:
            grades.append(parse_grades(TYPES.get(text, text)))
        except ValueError:
            grades.append(())
    schools["grades"] = grades
    schools["capacity"] = [SEATS_PER_GRADE * len(g) if g else None for g in grades]
    return dataclasses.replace(city, schools=schools)


def _mixed_unit(city) -> str:
    sectors = city.schools.groupby("neighborhood")["sector"].agg(set)
    mixed = [n for n, s in sectors.items() if {"district", "charter", "catholic"} <= s]
    assert mixed, "no Boston neighborhood holds district, charter and Catholic schools"
    return sorted(mixed, key=lambda n: -len(city.schools[city.schools["neighborhood"] == n]))[0]


def test_neighborhood_population_as_units(city):
    hoods = city.zones[city.zones["kind"] == "neighborhood"]
    assert len(hoods) == 24 and "population_0_17" in hoods
    cov = coverage(city, hoods)
    # every child of school age (4-17 of 0-17) of the census units (the precincts, the finest
    # population layer) is counted once across the 24 neighborhoods
    census = city.zones[city.zones["kind"] == "census"]
    assert len(census) == 255
    expected = census["population_0_17"].sum() * 14 / 18
    assert cov.zones["residents"].sum() == pytest.approx(expected, rel=0.01)


def test_shared_zone_of_three_sectors_and_its_guarantee(city):
    unit = _mixed_unit(city)
    zone = shared_zone(city, units=[unit], id="shared")
    cov = coverage(city, zone)
    row = cov.zones.iloc[0]
    assert {"district", "charter", "catholic"} <= set(row["sectors"].split(", "))
    g = cov.grades
    assert (g["guaranteed"] == g[["residents", "seats"]].min(axis=1)).all()
    assert 0 < row["share"] <= 1


def test_lottery_on_simulated_lists(city):
    unit = _mixed_unit(city)
    zone = shared_zone(city, units=[unit], id="shared")
    run = run_lottery(city, zones=zone, seed=11, participation=0.3)
    s = run.summary()
    assert s["simulated_choices"] and s["simulated_applicants"]
    by = run.aggregates(by=["sector"]).dropna(subset=["students"])
    assert {"district", "charter"} <= set(by["sector"])
    assert (by["matched"] + by["unassigned"] == by["students"]).all()
    # zone residents left unmatched only when the zone's seats in their grade ran out
    d, r = run.result.data, run.result
    seats = d.seats[[list(d.school_ids).index(x) for x in zone["schools"].iloc[0]]].sum(axis=0)
    for grade in set(d.grades[(d.zones == "shared") & (r.assignment < 0)]):
        zone_ids = set(zone["schools"].iloc[0])
        taken = sum(
            1
            for a, g in zip(r.assignment, d.grades, strict=True)
            if a >= 0 and g == grade and d.school_ids[a] in zone_ids
        )
        assert taken >= seats[grade + 1]
