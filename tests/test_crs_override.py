"""A layer file's CRS: ``crs_override`` replaces a wrong declaration; impossible coordinates are reported.

Real case: Boston's precinct files claim longitude/latitude while their coordinates are
Massachusetts state plane feet (EPSG:2249). ``tests/cities/boston`` reads them with
``crs_override`` as census units, and its wards receive the precincts' residents by area.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from facilities import ValidationError, read_city
from facilities.population import SOURCE_APPORTIONED
from tests.conftest import CITIES, shared_path

BOSTON = CITIES / "boston"


def _problems(folder: Path) -> str:
    with pytest.raises(ValidationError) as err:
        read_city(folder)
    return "\n".join(str(p) for p in err.value.problems)


def _boston_copy(tmp_path: Path, edit) -> Path:
    data = shared_path("boston", "boston_precincts_children.geojson").parent
    toml = (BOSTON / "city.toml").read_text().replace("../../../../shared/data/boston/", f"{data}/")
    (tmp_path / "city.toml").write_text(edit(toml))
    return tmp_path


@pytest.fixture(scope="module")
def boston():
    shared_path("boston", "boston_precincts_children.geojson")
    return read_city(BOSTON)


def test_boston_precincts_without_the_override_are_reported_with_the_fix(tmp_path: Path) -> None:
    folder = _boston_copy(tmp_path, lambda t: t.replace('crs_override = "EPSG:2249"', ""))
    text = _problems(folder)
    assert "boston_precincts_children.geojson" in text
    assert "declares WGS 84 (EPSG:4326), but its coordinates (x 739,594 to 803,688" in text
    assert "are not longitudes/latitudes" in text
    assert 'write crs_override = "EPSG:2249" (NAD83 / Massachusetts Mainland (ftUS)' in text
    assert "in [layers.zones]" in text
    assert text.count("boston_precincts_children") == 1  # one problem for the file, not one a row


def test_a_crs_that_contradicts_the_file_names_the_override(tmp_path: Path) -> None:
    folder = _boston_copy(tmp_path, lambda t: t.replace('crs_override = "EPSG:2249"', 'crs = "EPSG:2249"'))
    text = _problems(folder)
    assert "the file declares WGS 84 (EPSG:4326) but city.toml says crs = 'EPSG:2249'" in text
    assert 'write crs_override = "EPSG:2249"' in text


def test_boston_precincts_lie_in_boston_and_their_residents_reach_the_wards(boston) -> None:
    zones = boston.zones
    hoods = zones[zones["kind"] == "neighborhood"]
    precincts = zones[zones["kind"] == "census"]
    wards = zones[zones["kind"] == "ward"]
    assert len(hoods) == 24 and len(precincts) == 255 and len(wards) == 22
    # the overridden CRS puts every precinct inside the city's neighborhoods (a few metres of slack)
    city = shapely.union_all(hoods.geometry.values).buffer(100)
    assert precincts.representative_point().within(city).all()
    # the precincts cover the wards (published in longitude/latitude): feet read as metres would be 10.8x
    assert precincts.geometry.area.sum() == pytest.approx(wards.geometry.area.sum(), rel=0.03)
    # wards have no population of their own: each receives its precincts' residents by area
    assert (wards["residents_source"] == SOURCE_APPORTIONED).all()
    ward_of = precincts["id"].str.removeprefix("precinct-").str[:2].astype(int)
    own = precincts.groupby(ward_of.to_numpy())[["population_0_17", "population_total"]].sum()
    got = wards.assign(n=wards["id"].str.removeprefix("ward-").astype(int)).set_index("n")
    for column in ("population_0_17", "population_total"):
        ratio = got[column] / own.loc[got.index, column]
        assert ratio.between(0.99, 1.01).all(), ratio.describe()
    # residents are not created: the wards hold at most the precincts' children
    assert wards["population_0_17"].sum() <= precincts["population_0_17"].sum() + 1


def _tiny_city(tmp_path: Path, *, students: gpd.GeoDataFrame, students_toml: str) -> Path:
    hood = gpd.GeoDataFrame({"id": ["H"]}, geometry=[box(325_000, 4_685_000, 335_000, 4_695_000)], crs=26919)
    hood.to_crs(4326).to_file(tmp_path / "hoods.geojson")
    pts = gpd.GeoSeries(
        gpd.points_from_xy([328_000, 331_000, 333_000], [4_688_000, 4_690_000, 4_693_000]), crs=26919
    )
    ll = pts.to_crs(4326)
    schools = pd.DataFrame(
        {"id": ["A", "B", "C"], "name": ["A", "B", "C"], "sector": "district", "grades": "K-5"}
    )
    schools.assign(lon=ll.x, lat=ll.y).to_csv(tmp_path / "schools.csv", index=False)
    students.to_csv(tmp_path / "students.csv", index=False)
    toml = f"""\
        [city]
        name = "Tiny"
        [layers.schools]
        file = "schools.csv"
        [layers.zones]
        file = "hoods.geojson"
        [layers.students]
        file = "students.csv"
        {students_toml}
        """
    (tmp_path / "city.toml").write_text(textwrap.dedent(toml))
    return tmp_path


def test_projected_columns_read_as_longitude_latitude_get_the_crs_that_fits(tmp_path: Path) -> None:
    students = pd.DataFrame(
        {
            "grade": ["K", "3"],
            "school": ["A", "B"],
            "x": [329_000.0, 332_000.0],
            "y": [4_689_000.0, 4_692_000.0],
        }
    )
    folder = _tiny_city(tmp_path, students=students, students_toml="")
    text = _problems(folder)
    assert "students.csv, column 'geometry': read in WGS 84 (EPSG:4326)" in text
    assert (
        'write crs = "EPSG:26919" (NAD83 / UTM zone 19N' in text
    )  # crs, not crs_override: a CSV declares none
    # and with the fix, the students sit where they were made
    (folder / "city.toml").write_text((folder / "city.toml").read_text() + 'crs = "EPSG:26919"\n')
    city = read_city(folder)
    back = city.students.to_crs(26919)
    assert back.geometry.x.round().tolist() == [329_000.0, 332_000.0]


def test_a_projected_declaration_on_longitudes_latitudes_is_reported(tmp_path: Path) -> None:
    students = gpd.GeoDataFrame(
        {"grade": ["K"], "school": ["A"]}, geometry=gpd.points_from_xy([-71.05], [42.36]), crs=26919
    )
    students.to_file(tmp_path / "students.gpkg")
    folder = _tiny_city(tmp_path, students=pd.DataFrame({"grade": [], "school": []}), students_toml="")
    (folder / "city.toml").write_text(
        (folder / "city.toml").read_text().replace("students.csv", "students.gpkg")
    )
    text = _problems(folder)
    assert "students.gpkg, column 'geometry': the file declares NAD83 / UTM zone 19N (EPSG:26919)" in text
    assert "look like longitudes/latitudes" in text and 'write crs_override = "EPSG:4326"' in text
    (folder / "city.toml").write_text((folder / "city.toml").read_text() + 'crs_override = "EPSG:4326"\n')
    assert read_city(folder).students.to_crs(4326).geometry.x.round(2).tolist() == [-71.05]
