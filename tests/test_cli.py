"""The ``compact`` command line end to end on the demo city: what ``make demo`` runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from tests.conftest import DEMO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--time-limit", "8", "--seed", "1"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_demo_writes_every_capability(demo_out: tuple[Path, str]) -> None:
    out, printed = demo_out
    for report in ("facilities/report.html", "bells/report.html", "zones/report.html", "lottery/report.html"):
        assert (out / report).stat().st_size > 1000
    sheets = pd.read_csv(out / "bells" / "route_sheets.csv")  # what a transportation office runs
    assert {"leave yard", "pickup", "dropoff", "return to yard"} <= set(sheets["kind"])
    summary = json.loads((out / "summary.json").read_text())
    assert 0 < summary["facilities"]["housed"] <= summary["facilities"]["needs"]
    buses = {row["scenario"]: row["buses"] for row in summary["bells"]}
    assert buses["optimized"] <= buses["status quo"]
    assert (
        0 <= summary["zones"]["share"] <= 1
        and summary["zones"]["guaranteed"] <= summary["zones"]["residents"]
    )
    assert 0 < summary["lottery"]["matched_share"] <= 1
    lottery = summary["lottery"]
    assert not lottery["simulated_choices"] and lottery["priorities"] == ["zone"]
    assert lottery["first_choice_share"] < lottery["top_three_share"], "some placed below their first choice"
    placed = lottery["students"] - lottery["unassigned"]
    assert lottery["seats_left"] == lottery["seats_offered"] - placed >= 0  # seats of the K, 6, 9 lottery
    by_sector = pd.read_csv(out / "lottery" / "lottery_by_sector.csv")
    assert by_sector["seats_offered"].sum() == lottery["seats_offered"]
    assert "seats offered in the lottery's grades (K,6,9)" in printed
    assert "ranked lists from choices.csv" in printed
    assert "what the compact can do" in printed and "charter needs housed" in printed
    assert (
        "guarantee" in (out / "zones" / "report.html").read_text()
        and "lottery" in (out / "lottery" / "report.html").read_text()
    )


def test_demo_match_never_overfills_a_building(demo_out: tuple[Path, str]) -> None:
    out, _ = demo_out
    matches = pd.read_csv(out / "facilities" / "matches.csv")
    whole = matches[matches["mode"] == "whole"]
    assert whole["building"].is_unique, "a whole building houses one need"
    assert not set(whole["building"]) & set(matches.loc[matches["mode"] == "co_location", "building"])


def test_demo_reports_hold_no_student_level_rows(demo_out: tuple[Path, str]) -> None:
    out, _ = demo_out
    students = pd.read_csv(DEMO / "students.csv", usecols=["id", "lon", "lat"])
    homes = {f"{x:.5f}" for x in students["lon"].head(500)}
    for path in list(out.rglob("*.html")) + list(out.rglob("*.csv")) + list(out.rglob("*.json")):
        text = path.read_text(errors="ignore")
        assert not any(sid in text for sid in students["id"].head(200)), f"{path} names a student"
        assert not any(h in text for h in list(homes)[:200]), f"{path} holds a home coordinate"


def test_no_demo_output_locates_fewer_than_ten_students(demo_out: tuple[Path, str]) -> None:
    import geopandas as gpd

    from tests.test_privacy import points_locating_students

    out, _ = demo_out
    students = pd.read_csv(DEMO / "students.csv", usecols=["lon", "lat"])
    homes = gpd.GeoSeries(gpd.points_from_xy(students["lon"], students["lat"]), crs=4326)
    assert (out / "bells" / "stops.parquet").exists() and (out / "bells" / "bells.gpkg").exists()
    assert points_locating_students(out, homes) == []


def test_demo_folder_says_which_run_made_it(demo_out: tuple[Path, str]) -> None:
    from app.outputs import MANIFEST

    out, _ = demo_out
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["command"] == "demo" and manifest["seed"] == 1
    assert {"city.toml", "students.csv", "streets.graphml"} <= {Path(p).name for p in manifest["inputs"]}
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != MANIFEST}
    assert written == set(manifest["files"]) and "bells/stops.parquet" in written


def test_validate_the_demo_city_and_its_streets() -> None:
    result = CliRunner().invoke(cli, ["validate", str(DEMO)])
    assert result.exit_code == 0 and "Riverton" in result.output and "valid city" in result.output
    assert re.search(r"every one of the [\d,]+ students is within 250 m of a street", result.output)


def test_validate_refuses_streets_covering_a_corner_of_the_city(tmp_path: Path) -> None:
    from tests.conftest import CITIES, shared_path

    osm = shared_path("boston", "boston_backbay_drive.osm")
    # Boston's city folder accepts its corner on purpose (min_covered); without that line it is refused
    toml = (CITIES / "boston" / "city.toml").read_text().replace("min_covered = 0.05\n", "")
    (tmp_path / "city.toml").write_text(toml.replace("../../../../shared/data", str(osm.parents[1])))
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    # the Back Bay network covers a corner of Boston: every travel time elsewhere would be wrong
    assert result.exit_code == 1, result.output
    assert "boston_backbay_drive.osm: covers only" in result.output and "of the schools" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("capacitated", [False, True])
def test_sites_choose_available_buildings_within_their_seats(tmp_path: Path, capacitated: bool) -> None:
    from facilities import read_city

    args = [
        "facilities",
        "sites",
        str(DEMO),
        "--p",
        "3",
        "--grades",
        "9-12",
        "--straight-line",
        "--out",
        str(tmp_path),
    ]
    result = CliRunner().invoke(cli, args + (["--capacitated"] if capacitated else []))
    assert result.exit_code == 0, result.output
    chosen = pd.read_csv(tmp_path / "sites.csv")
    city = read_city(DEMO)
    riders = int(city.students["grade"].between(9, 12).sum())
    assert len(chosen) == 3 and chosen["id"].is_unique
    assert set(chosen["status"]) <= {"vacant", "under-used"}
    assert chosen["students_served"].sum() == riders
    if capacitated:
        assert (chosen["students_served"] <= chosen["spare_seats"]).all()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["optimal"] and summary["students"] == riders


def test_sites_say_why_when_seats_fall_short(tmp_path: Path) -> None:
    args = [
        "facilities",
        "sites",
        str(DEMO),
        "--p",
        "1",
        "--capacitated",
        "--straight-line",
        "--out",
        str(tmp_path),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "raise p or capacities" in result.output


def test_demo_applications_leave_out_the_students_not_placed(tmp_path: Path) -> None:
    """On a copy of the demo whose students carry only addresses, those matched to nothing are left
    out of the lottery's lists too (the lottery names any list of an unknown student as an error)."""
    import shutil

    from app.cli import _applications
    from facilities import read_city

    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    folder = tmp_path / "city"
    shutil.copytree(DEMO, folder)
    students = pd.read_csv(folder / "students.csv", dtype=str, keep_default_na=False)
    students[["lon", "lat"]] = ""
    students.to_csv(folder / "students.csv", index=False)
    city = read_city(folder)
    assert city.geocoding is not None and city.geocoding.not_placed > 0
    ranked = _applications(city, folder)["choices"]
    listed = set(pd.read_csv(folder / "choices.csv", dtype=str)["student"])
    assert set(ranked["student"]) == listed & set(city.students["id"].astype(str))
    assert len(set(ranked["student"])) < len(listed)
