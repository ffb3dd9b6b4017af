"""The city model: loading a city folder, canonical columns, and one validation error for every problem."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon
from typer.testing import CliRunner

from app.cli import app as cli
from facilities import City, ValidationError, read_city
from facilities.io import atomic_write
from facilities.schema import ROOM_TYPES, format_grades, format_time
from tests.conftest import CITIES, shared_path

LON, LAT = -71.06, 42.35

SCHOOLS = """\
school_id,name,type,grades,start,end,lon,lat,bldg
S1,Adams Elementary,BPS,K-5,07:30,14:00,-71.060,42.350,B1
S2,Brook Charter,CHA,6-8,8:10 AM,3:10 PM,-71.055,42.352,B2
S3,St. Mary,CATH,"PK,K,1,2",08:00,14:30,-71.065,42.348,
"""
BUILDINGS = """\
id,name,owner,status,classrooms,science_labs,gym,accessible,lon,lat
B1,Adams building,district,occupied,20,2,yes,no,-71.060,42.350
B2,Old parish school,archdiocese,under-used,12,0,no,yes,-71.055,42.352
"""
STUDENTS = """\
Grade,School,Pickup,MaxWalk,lon,lat
K,Adams Elementary,corner,0.25,-71.061,42.351
3,Adams Elementary,d2d,0.5,-71.059,42.349
7,Brook Charter,corner,0.5,-71.054,42.353
"""
TOML = """\
[city]
name = "Testville"

[layers.schools]
file = "schools.csv"
[layers.schools.columns]
id = "school_id"
sector = "type"
bell_start = "start"
bell_end = "end"
building = "bldg"
[layers.schools.values.sector]
BPS = "district"
CHA = "charter"
CATH = "catholic"

[layers.buildings]
file = "buildings.csv"
[layers.buildings.rooms]
classroom = "classrooms"
science = "science_labs"

[layers.students]
file = "students.csv"
[layers.students.columns]
grade = "Grade"
school = "School"
service = "Pickup"
max_walk = "MaxWalk"
[layers.students.values.service]
d2d = "door-to-door"
[layers.students.units]
max_walk = "mi"

[layers.zones]
file = "zones.geojson"

[transport]
max_ride = 3600
"""


def _zones() -> gpd.GeoDataFrame:
    west = Polygon([(-71.08, 42.33), (-71.058, 42.33), (-71.058, 42.37), (-71.08, 42.37)])
    east = Polygon([(-71.058, 42.33), (-71.04, 42.33), (-71.04, 42.37), (-71.058, 42.37)])
    return gpd.GeoDataFrame(
        {"id": ["W", "E"], "name": ["Westside", "Eastside"], "population_0_17": [900, 1200]},
        geometry=[west, east],
        crs=4326,
    )


def _students_keyed_by_name(text: str) -> str:
    """The students file names schools; map names to ids as a user's city.toml would not need to."""
    return text.replace("Adams Elementary", "S1").replace("Brook Charter", "S2")


@pytest.fixture
def city_dir(tmp_path: Path) -> Path:
    (tmp_path / "schools.csv").write_text(SCHOOLS)
    (tmp_path / "buildings.csv").write_text(BUILDINGS)
    (tmp_path / "students.csv").write_text(_students_keyed_by_name(STUDENTS))
    _zones().to_file(tmp_path / "zones.geojson", driver="GeoJSON")
    (tmp_path / "city.toml").write_text(TOML)
    return tmp_path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ValidationError) as info:
        read_city(path)
    return [str(p) for p in info.value.problems]


# ---------------------------------------------------------------------------------------------
# Loading


def test_city_folder_loads_into_canonical_columns(city_dir: Path) -> None:
    city = read_city(city_dir)
    assert city.crs.is_projected and "UTM zone 19N" in city.crs.name
    s = city.schools.set_index("id")
    assert list(s["sector"]) == ["district", "charter", "catholic"]
    assert s.loc["S1", "grades"] == (0, 1, 2, 3, 4, 5)
    assert s.loc["S3", "grades"] == (-1, 0, 1, 2)
    assert s.loc["S2", "bell_start"] == 8 * 3600 + 10 * 60
    assert s.loc["S2", "bell_end"] == 15 * 3600 + 10 * 60
    assert pd.isna(s.loc["S3", "building"])
    b = city.buildings.set_index("id")
    assert all(f"rooms_{t}" in b.columns for t in ROOM_TYPES)
    assert (
        b.loc["B1", "rooms_classroom"] == 20
        and b.loc["B1", "rooms_science"] == 2
        and b.loc["B1", "rooms_art"] == 0
    )
    assert bool(b.loc["B1", "gym"]) is True and bool(b.loc["B2", "accessible"]) is True
    st_ = city.students
    assert list(st_["grade"]) == [0, 3, 7]
    assert list(st_["service"]) == ["corner", "door-to-door", "corner"]
    np.testing.assert_allclose(st_["max_walk"], [0.25 * 1609.344, 0.5 * 1609.344, 0.5 * 1609.344])
    assert st_["id"].is_unique
    assert city.settings["transport"]["max_ride"] == 3600


def test_geometries_are_metric_and_returned_in_wgs84(city_dir: Path) -> None:
    city = read_city(city_dir)
    s1 = city.schools.geometry.iloc[0]
    assert abs(s1.x) > 1000  # metres, not degrees
    back = city.to_wgs84(city.schools).geometry.iloc[0]
    assert back.x == pytest.approx(-71.06, abs=1e-9) and back.y == pytest.approx(42.35, abs=1e-9)
    # two schools about 460 m apart in longitude at this latitude
    d = city.schools.geometry.iloc[0].distance(city.schools.geometry.iloc[1])
    assert 400 < d < 700


def test_neighborhoods_come_from_zones(city_dir: Path) -> None:
    city = read_city(city_dir)
    hoods = dict(zip(city.schools["id"], city.schools["neighborhood"], strict=True))
    assert hoods == {"S1": "Westside", "S2": "Eastside", "S3": "Westside"}
    assert set(city.students["neighborhood"]) <= {"Eastside", "Westside"}


def test_summary_names_every_layer(city_dir: Path) -> None:
    text = read_city(city_dir).summary()
    for word in (
        "Testville",
        "1 district",
        "1 charter",
        "1 catholic",
        "students",
        "buildings",
        "zones",
        "network-free",
    ):
        assert word in text


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".parquet", ".shp", ".xlsx"])
def test_every_file_format_loads_the_same_schools(city_dir: Path, suffix: str) -> None:
    raw = pd.read_csv(city_dir / "schools.csv", dtype=str)
    name = f"schools{suffix}"
    toml = (city_dir / "city.toml").read_text()
    if suffix == ".xlsx":
        raw.to_excel(city_dir / name, index=False)
    else:
        geo = gpd.GeoDataFrame(
            raw.drop(columns=["lon", "lat"]),
            geometry=gpd.points_from_xy(raw.lon.astype(float), raw.lat.astype(float)),
            crs=4326,
        )
        geo = geo.to_crs(26986)  # Massachusetts state plane: the loader must reproject
        geo.to_parquet(city_dir / name) if suffix == ".parquet" else geo.to_file(city_dir / name)
    (city_dir / "city.toml").write_text(toml.replace('file = "schools.csv"', f'file = "{name}"'))
    city = read_city(city_dir)
    reference = read_city_from_csv(city_dir, toml)
    assert list(city.schools["id"]) == list(reference.schools["id"])
    assert list(city.schools["grades"]) == list(reference.schools["grades"])
    np.testing.assert_allclose(city.schools.geometry.x, reference.schools.geometry.x, atol=0.01)


def read_city_from_csv(city_dir: Path, toml: str) -> City:
    (city_dir / "city.toml").write_text(toml)
    return read_city(city_dir)


def test_defaults_and_numbered_duplicate_ids(city_dir: Path) -> None:
    text = SCHOOLS.replace("S3,St. Mary", "S1,Adams Annex").replace("type,", "kind,")
    (city_dir / "schools.csv").write_text(text)
    toml = TOML.replace('sector = "type"\n', "").replace(
        "[layers.schools.columns]",
        'on_duplicate_id = "number"\n[layers.schools.defaults]\nsector = '
        '"district"\n[layers.schools.columns]',
    )
    (city_dir / "city.toml").write_text(toml)
    city = read_city(city_dir)
    assert list(city.schools["id"]) == ["S1", "S2", "S1-2"]
    assert set(city.schools["sector"]) == {"district"}


def test_from_frames_accepts_canonical_values_and_replace_revalidates(city_dir: Path) -> None:
    city = read_city(city_dir)
    again = City.from_frames(
        name="again", schools=city.to_wgs84(city.schools), zones=city.to_wgs84(city.zones)
    )
    assert list(again.schools["grades"]) == list(city.schools["grades"])
    assert list(again.schools["bell_start"]) == list(city.schools["bell_start"])
    moved = city.schools.copy()
    moved.loc[0, "bell_start"] = 3 * 3600  # 03:00 is no bell time
    with pytest.raises(ValidationError, match="morning bell at 03:00"):
        city.replace(schools=city.to_wgs84(moved))


# ---------------------------------------------------------------------------------------------
# One error for every problem, each naming file, row, column and a fix


def test_every_problem_is_reported_at_once_with_file_row_and_column(city_dir: Path) -> None:
    bad = SCHOOLS.replace("K-5", "K-15").replace("CHA", "MAGNET").replace("08:00,14:30", "08:00,07:30")
    bad += "S1,Duplicate,BPS,K-5,07:30,14:00,-71.06,42.35,B1\n"
    (city_dir / "schools.csv").write_text(bad)
    problems = _problems(city_dir)
    text = "\n".join(problems)
    assert "schools.csv, row 2, column 'grades'" in text and "outside PK, K, 1-12" in text
    assert "schools.csv, row 3, column 'type'" in text and "'MAGNET' is not a known sector" in text
    assert "schools.csv, row 4, column 'end'" in text and "dismissal is not after the morning bell" in text
    assert "schools.csv, row 5, column 'school_id'" in text and "repeats row 2" in text
    assert all(" — " in p for p in problems), "every problem says what to do"


def test_students_referencing_unknown_schools_and_bad_grades(city_dir: Path) -> None:
    (city_dir / "students.csv").write_text(_students_keyed_by_name(STUDENTS).replace("7,S2", "14,S9"))
    text = "\n".join(_problems(city_dir))
    assert "students.csv, row 4, column 'Grade'" in text
    assert "students.csv, row 4, column 'School'" in text and "'S9' is not in schools" in text


def test_missing_columns_files_and_mappings(city_dir: Path) -> None:
    (city_dir / "buildings.csv").unlink()
    (city_dir / "schools.csv").write_text(SCHOOLS.replace("name,", "title,"))
    toml = TOML.replace('grade = "Grade"', 'grade = "GradeLevel"')
    (city_dir / "city.toml").write_text(toml)
    text = "\n".join(_problems(city_dir))
    assert "buildings.csv: file not found" in text
    assert "required column for name" in text
    assert "column 'GradeLevel' (for grade) is not in the file" in text


def test_locations_empty_outside_or_not_lonlat(city_dir: Path) -> None:
    bad = SCHOOLS.replace("-71.055,42.352", ",").replace("-71.065,42.348", "-72.5,42.348")
    (city_dir / "schools.csv").write_text(bad)
    (city_dir / "buildings.csv").write_text(BUILDINGS.replace("-71.060,42.350", "42.350,-171.060"))
    text = "\n".join(_problems(city_dir))
    assert "schools.csv, row 3, column 'lon/lat'" in text and "not numbers" in text
    assert "schools.csv, row 4, column 'geometry'" in text and "outside the city" in text
    assert "buildings.csv, row 2, column 'geometry'" in text


def test_zone_that_is_not_a_polygon(city_dir: Path) -> None:
    zones = _zones()
    zones.loc[1, "geometry"] = Point(LON, LAT)
    zones.to_file(city_dir / "zones.geojson", driver="GeoJSON")
    text = "\n".join(_problems(city_dir))
    assert "zones.geojson, row 2, column 'geometry': a Point where a polygon is expected" in text


def test_broken_manifest(tmp_path: Path) -> None:
    assert "no city.toml here" in "\n".join(_problems(tmp_path))
    (tmp_path / "city.toml").write_text("[city\nname = 1")
    assert "not valid TOML" in "\n".join(_problems(tmp_path))
    (tmp_path / "city.toml").write_text('[layers.busses]\nfile = "x.csv"\n')
    text = "\n".join(_problems(tmp_path))
    assert "unknown layer [layers.busses]" in text and "no [layers.schools] table" in text


def test_unknown_crs_and_units(city_dir: Path) -> None:
    toml = TOML.replace('name = "Testville"', 'name = "Testville"\ncrs = "EPSG:4326"').replace(
        'max_walk = "mi"', 'max_walk = "furlong"'
    )
    (city_dir / "city.toml").write_text(toml)
    text = "\n".join(_problems(city_dir))
    assert "is not a metric (projected) CRS" in text and "unknown unit 'furlong'" in text


# ---------------------------------------------------------------------------------------------
# Malformed tables always give the validation error, never another exception

_cell = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        [
            "",
            "NA",
            "K-5",
            "PK-8",
            "13",
            "07:30",
            "25:99",
            "district",
            "charter",
            "yes",
            "-1",
            "1e400",
            "Grade 3",
        ]
    ),
)
_columns = ["school_id", "name", "type", "grades", "start", "end", "lon", "lat", "bldg"]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(st.fixed_dictionaries({c: _cell for c in _columns}), min_size=0, max_size=6),
    dropped=st.sets(st.sampled_from(_columns), max_size=3),
)
def test_malformed_schools_give_validation_error_only(
    tmp_path: Path, rows: list[dict], dropped: set[str]
) -> None:
    (tmp_path / "city.toml").write_text(TOML[: TOML.index("[layers.buildings]")])
    frame = pd.DataFrame(rows, columns=_columns).drop(columns=sorted(dropped))
    frame.to_csv(tmp_path / "schools.csv", index=False)
    try:
        city = read_city(tmp_path)
    except ValidationError as err:
        assert err.problems and all(p.file for p in err.problems)
        return
    # Whatever loads is valid: unique ids, known sectors, real grades.
    assert city.schools["id"].is_unique
    assert set(city.schools["sector"]) <= {"district", "charter", "catholic", "private"}


# ---------------------------------------------------------------------------------------------
# Writing and the command line


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
    with atomic_write(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_compact_validate_accepts_and_rejects(
    city_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", str(city_dir)])
    assert ok.exit_code == 0 and "valid city" in ok.output
    broken = tmp_path_factory.mktemp("broken")
    shutil.copytree(city_dir, broken, dirs_exist_ok=True)
    (broken / "schools.csv").write_text(SCHOOLS.replace("K-5", "K-25"))
    bad = runner.invoke(cli, ["validate", str(broken)])
    assert bad.exit_code == 1 and "schools.csv, row 2, column 'grades'" in bad.output


def test_formatters_round_trip() -> None:
    assert (
        format_grades((-1, 0, 1, 2)) == "PK-2" and format_grades((6, 8)) == "6,8" and format_grades(()) == ""
    )
    assert format_time(7.5 * 3600) == "07:30" and format_time(float("nan")) == ""


# ---------------------------------------------------------------------------------------------
# Real data: Boston, read in place from ../shared/data


def test_boston_layers_load() -> None:
    shared_path("boston", "boston_schools_all.geojson")
    city = read_city(CITIES / "boston")
    counts = city.schools["sector"].value_counts()
    assert counts["charter"] == 31 and counts["district"] >= 134
    hoods = city.zones[city.zones["kind"] == "neighborhood"]
    assert len(hoods) == 24 and hoods["population_0_17"].sum() > 90_000
    assert city.network is not None and city.network.file.name == "boston_backbay_drive.osm"
    assert city.schools["neighborhood"].notna().mean() > 0.95


def test_boston_2017_challenge_students_load() -> None:
    shared_path("boston", "bps_simulated_students.xlsx")
    city = read_city(CITIES / "bps2017")
    assert len(city.students) == 22_420 and len(city.schools) == 137
    assert city.students["service"].value_counts().to_dict() == {"corner": 18_468, "door-to-door": 3_952}
    assert set(city.students["grade"]) <= set(range(0, 7))
    assert city.students["max_walk"].dropna().between(0.2 * 1609.344, 0.5 * 1609.344).all()
    assert city.students["school"].isin(city.schools["id"]).all()


def test_broken_copy_of_boston_is_rejected(tmp_path: Path) -> None:
    src = shared_path("boston", "boston_schools_all.geojson")
    frame = gpd.read_file(src)
    frame.loc[5, "sector"] = "magnet"
    frame.to_file(tmp_path / "schools.geojson", driver="GeoJSON")
    toml = (
        (CITIES / "boston" / "city.toml")
        .read_text()
        .replace("../../../../shared/data/boston/boston_schools_all.geojson", "schools.geojson")
    )
    toml = toml.replace("../../../../shared/data/boston/", str(src.parent) + "/")
    (tmp_path / "city.toml").write_text(textwrap.dedent(toml))
    text = "\n".join(_problems(tmp_path))
    assert "schools.geojson, row 6, column 'sector': 'magnet' is not a known sector" in text
