"""The city folder format: several files a layer, row filters, several zone layers, census apportioning."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from facilities import ValidationError, read_city
from facilities.population import SOURCE_APPORTIONED, SOURCE_OWN
from facilities.schema import grade_programs, parse_grades

DISTRICT = """\
code,title,grades,status,lon,lat
D1,Adams Elementary,K-5,Active,-71.060,42.350
D2,Baker Middle,6-8,Not Open,-71.055,42.352
D3,Carver High,9-12,Active,-71.050,42.355
"""
CHARTER = """\
GIS_ID,NAME,GRADES,lon,lat
C1,Brook Charter,PK-3-8,-71.058,42.351
C2,Adult Learning,Adult/Voc Ed,-71.052,42.353
C3,AppleTree,"PK-3, PK-4",-71.057,42.349
C4,Evening School,PK-3 Adult/Voc Ed,-71.051,42.354
"""
SCHOOLS_TOML = """\
[city]
name = "Twofile"

[layers.schools]
x = "lon"
y = "lat"

[[layers.schools.files]]
file = "district.csv"
drop = {status = ["Not Open"]}
columns = {id = "code", name = "title"}
defaults = {sector = "district"}

[[layers.schools.files]]
file = "charter.csv"
columns = {id = "GIS_ID", name = "NAME", grades = "GRADES"}
defaults = {sector = "charter"}
"""


def _schools(tmp_path: Path, toml: str = SCHOOLS_TOML, charter: str = CHARTER) -> Path:
    (tmp_path / "city.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "district.csv").write_text(DISTRICT, encoding="utf-8")
    (tmp_path / "charter.csv").write_text(charter, encoding="utf-8")
    return tmp_path


def test_a_layer_reads_several_files_each_with_its_own_columns_and_defaults(tmp_path):
    city = read_city(_schools(tmp_path))
    s = city.schools.set_index("id")
    assert set(s.index) == {"D1", "D3", "C1", "C2", "C3", "C4"}
    assert (s.loc[["D1", "D3"], "sector"] == "district").all() and (
        s.loc[["C1", "C2", "C3", "C4"], "sector"] == "charter"
    ).all()
    assert s.at["D1", "name"] == "Adams Elementary" and s.at["C1", "name"] == "Brook Charter"
    # the filter's dropped row is counted, by file and rule, and said in the summary
    assert city.filtered == {"schools": {"district.csv: drop status": 1}}
    assert "drop status 1" in city.summary()


def test_grades_read_dc_forms_and_keep_adult_programs_out_of_grades(tmp_path):
    s = read_city(_schools(tmp_path)).schools.set_index("id")
    assert s.at["C1", "grades"] == tuple(range(-1, 9))  # PK3 to 8
    assert s.at["C3", "grades"] == (-1,)  # the two preschool years, not PK through 4
    assert s.at["C2", "grades"] == () and s.at["C2", "programs"] == ("adult",)
    assert "adult" in s.at["C4", "programs"] and -1 in s.at["C4", "grades"]
    assert re.search(
        r"\b1\s+of them adult only: kept, left out of grade-based analyses", read_city(tmp_path).summary()
    )


@pytest.mark.parametrize(
    ("text", "grades", "programs"),
    [
        ("PK3", (-1,), ()),
        ("PK4", (-1,), ()),
        ("PK-3, PK-4", (-1,), ()),
        ("PK3-8", tuple(range(-1, 9)), ()),
        ("PK-3-8", tuple(range(-1, 9)), ()),
        ("PK-4-8", tuple(range(-1, 9)), ()),
        ("PK-3-", (-1,), ()),
        ("PK-3", (-1, 0, 1, 2, 3), ()),  # PK through 3, as most cities mean it
        ("K-5", tuple(range(6)), ()),
        ("GED, Adult/Voc Ed", (), ("adult",)),
        ("K-8, Ungraded", tuple(range(9)), ("ungraded",)),
    ],
)
def test_grade_forms(text, grades, programs):
    assert parse_grades(text) == grades
    assert grade_programs(text) == programs


def test_a_bad_cell_names_the_file_it_is_in(tmp_path):
    charter = CHARTER.replace("PK-3-8", "PK-99")
    with pytest.raises(ValidationError, match=r"row 2 of charter\.csv, column 'GRADES'"):
        read_city(_schools(tmp_path, charter=charter))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('file = "charter.csv"', 'fiel = "charter.csv"'), r"unknown key 'fiel'.*did you mean 'file'\?"),
        (
            ("[layers.schools]", "[layers.schools]\nquerry = 'x'"),
            r"unknown key 'querry'.*did you mean 'query'\?",
        ),
        (
            ("[layers.schools]\n", "[layers.school]\nfile = 'a.csv'\n[layers.schools]\n"),
            r"unknown layer \[layers.school\].*did you mean 'schools'\?",
        ),
        (("drop = {status", "drop = {STATUS"), r"drop names column 'STATUS'.*did you mean 'status'\?"),
        (
            ('defaults = {sector = "district"}', 'defaults = {sectr = "district"}'),
            r"'sectr' is not a field of schools.*did you mean 'sector'\?",
        ),
    ],
)
def test_unknown_keys_suggest_the_nearest_known_one(tmp_path, change, message):
    with pytest.raises(ValidationError, match=message):
        read_city(_schools(tmp_path, toml=SCHOOLS_TOML.replace(*change)))


def test_keep_and_query_filters(tmp_path):
    toml = SCHOOLS_TOML.replace(
        'drop = {status = ["Not Open"]}', 'keep = {status = ["Active"]}\nquery = "grades != \'9-12\'"'
    )
    city = read_city(_schools(tmp_path, toml=toml))
    assert set(city.schools["id"]) == {"D1", "C1", "C2", "C3", "C4"}
    assert city.filtered["schools"] == {
        "district.csv: keep status": 1,
        "district.csv: query grades != '9-12'": 1,
    }
    with pytest.raises(ValidationError, match=r"query .* fails on district.csv"):
        read_city(
            _schools(
                tmp_path, toml=SCHOOLS_TOML.replace("drop = {status", 'query = "no_such > 1"\ndrop = {status')
            )
        )


def _zones_city(tmp_path: Path, *, census_kind: str = "census") -> Path:
    # two neighborhoods without population, tiling four census units that carry it
    hoods = gpd.GeoDataFrame(
        {"hood": ["West", "East"]}, geometry=[box(0, 0, 1000, 2000), box(1000, 0, 2000, 2000)], crs=26919
    )
    units = gpd.GeoDataFrame(
        {"tract": ["T1", "T2", "T3", "T4"], "kids": [400, 800, 100, 0], "everyone": [1000, 2000, 500, 100]},
        geometry=[
            box(0, 0, 500, 2000),
            box(500, 0, 1500, 2000),
            box(1500, 0, 2000, 1000),
            box(1500, 1000, 2000, 2000),
        ],
        crs=26919,
    )
    hoods.to_crs(4326).to_file(tmp_path / "hoods.geojson")
    units.to_crs(4326).to_file(tmp_path / "tracts.geojson")
    school = gpd.GeoSeries(gpd.points_from_xy([1000], [1000]), crs=26919).to_crs(4326).iloc[0]
    (tmp_path / "schools.csv").write_text(
        f"id,name,sector,lon,lat\nS1,One,district,{school.x},{school.y}\n", encoding="utf-8"
    )
    (tmp_path / "city.toml").write_text(
        textwrap.dedent(f"""\
        [city]
        name = "Zoned"
        crs = "EPSG:26919"
        [layers.schools]
        file = "schools.csv"
        [[layers.zones.files]]
        file = "hoods.geojson"
        columns = {{id = "hood"}}
        defaults = {{kind = "neighborhood"}}
        [[layers.zones.files]]
        file = "tracts.geojson"
        columns = {{id = "tract"}}
        defaults = {{kind = "{census_kind}"}}
        population = {{"0_17" = "kids", total = "everyone"}}
        """),
        encoding="utf-8",
    )
    return tmp_path


def test_several_zone_layers_and_population_apportioned_by_area(tmp_path):
    city = read_city(_zones_city(tmp_path))
    z = city.zones.set_index("id")
    assert set(z["kind"]) == {"neighborhood", "census"}
    west, east = z.loc["West"], z.loc["East"]
    # West holds T1 and half of T2; East the other half of T2, T3 and T4 (areal weighting)
    assert west["population_0_17"] == pytest.approx(400 + 400, rel=1e-6)
    assert east["population_0_17"] == pytest.approx(400 + 100 + 0, rel=1e-6)
    assert west["population_total"] + east["population_total"] == pytest.approx(3600, rel=1e-6)
    assert (z.loc[["West", "East"], "residents_source"] == SOURCE_APPORTIONED).all()
    assert (z.loc[["T1", "T2", "T3", "T4"], "residents_source"] == SOURCE_OWN).all()
    assert "1 neighborhood" not in city.summary() and "2 neighborhood" in city.summary()


def test_without_census_units_population_stays_unknown(tmp_path):
    city = read_city(_zones_city(tmp_path, census_kind="ward"))
    z = city.zones.set_index("id")
    assert np.isnan(z.loc["West", "population_0_17"])  # unknown, not zero
    assert pd.isna(z.loc["West", "residents_source"])


def test_an_unknown_zone_kind_is_named(tmp_path):
    with pytest.raises(ValidationError, match=r"'tract' is not a known kind"):
        read_city(_zones_city(tmp_path, census_kind="tract"))
