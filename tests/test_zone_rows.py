"""Messages about a zone name the user's file and the zone's row in it, not its place in the zones of
all the files together (issue 11: a city with one zones layer read from several files)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from facilities import ValidationError, read_city
from facilities._validate import Problems
from facilities.io import write_geo
from facilities.readiness import readiness
from facilities.zones.define import _check_polygons, zone_school_sets


def _city(tmp_path: Path) -> Path:
    """Two elementary zones in one file, three high-school zones in another; the third of these
    feeds a school that is not in the schools layer."""
    cells = [box(x, 0, x + 1000, 1000) for x in range(0, 5000, 1000)]
    files = {
        "elementary.geojson": (["E-a", "E-b"], ["E1", "E2"], cells[:2]),
        "high.geojson": (["H-a", "H-b", "H-c"], ["H1", "H1", "H9"], cells[2:]),
    }
    for name, (ids, feeds, shapes) in files.items():
        gpd.GeoDataFrame({"zid": ids, "feeds": feeds}, geometry=shapes, crs=26919).to_crs(4326).to_file(
            tmp_path / name
        )
    points = gpd.GeoSeries(gpd.points_from_xy([500, 1500, 2500], [500, 500, 500]), crs=26919).to_crs(4326)
    (tmp_path / "schools.csv").write_text(
        "id,name,sector,grades,lon,lat\n"
        + "".join(
            f"{sid},{sid} School,district,{grades},{p.x},{p.y}\n"
            for sid, grades, p in zip(["E1", "E2", "H1"], ["K-5", "K-5", "9-12"], points, strict=True)
        ),
        encoding="utf-8",
    )
    (tmp_path / "city.toml").write_text(
        textwrap.dedent("""\
        [city]
        name = "Twozones"
        crs = "EPSG:26919"
        [layers.schools]
        file = "schools.csv"
        [layers.zones]
        columns = {id = "zid", school = "feeds"}
        [[layers.zones.files]]
        file = "elementary.geojson"
        defaults = {kind = "attendance", level = "elementary"}
        [[layers.zones.files]]
        file = "high.geojson"
        defaults = {kind = "attendance", level = "high"}
        """),
        encoding="utf-8",
    )
    return tmp_path


def _only_problem(err: pytest.ExceptionInfo[ValidationError]) -> tuple[str, int | None]:
    (problem,) = err.value.problems
    return problem.file, problem.row


def test_a_zone_is_named_by_its_file_and_row(tmp_path: Path) -> None:
    city = read_city(_city(tmp_path))
    assert len(city.zones) == 5  # the fault is the fifth zone of the city, the third of high.geojson
    with pytest.raises(ValidationError, match="lists unknown school 'H9'") as err:
        zone_school_sets(city.zones, city.schools)
    assert _only_problem(err) == ("high.geojson", 3)
    high = city.zones[city.zones["level"] == "high"].reset_index(drop=True)  # a selection keeps its rows
    with pytest.raises(ValidationError) as err:
        zone_school_sets(high, city.schools)
    assert _only_problem(err) == ("high.geojson", 3)
    again = city.replace(zones=city.zones.copy())  # a city changed in code keeps its files' rows
    with pytest.raises(ValidationError) as err:
        zone_school_sets(again.zones, again.schools)
    assert _only_problem(err) == ("high.geojson", 3)
    reversed_ = city.zones.iloc[::-1].reset_index(drop=True)
    broken = reversed_.assign(geometry=[None, *reversed_.geometry.iloc[1:]])  # H-c, now first
    problems = Problems()
    _check_polygons(broken, source="zones", problems=problems)
    assert [(p.file, p.row) for p in problems] == [("high.geojson", 3)]


def test_validate_and_the_commands_name_the_file_and_row(tmp_path: Path) -> None:
    from app.cli import app

    folder = _city(tmp_path)
    city = read_city(folder)
    (coverage,) = readiness(city, ["coverage"])
    assert coverage.state == "blocked" and "high.geojson, row 3" in coverage.line()
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["zones", "coverage", str(folder), "--out", str(out)])
    assert result.exit_code == 1 and "high.geojson, row 3" in result.output, result.output
    assert "row 5" not in result.output and not out.exists()


def test_row_provenance_is_never_written_to_a_file(tmp_path: Path) -> None:
    city = read_city(_city(tmp_path))
    assert "rows" in city.zones.attrs
    write_geo(city.zones, tmp_path / "zones.parquet")
    assert gpd.read_parquet(tmp_path / "zones.parquet").attrs == {}
