"""Students as a district exports them, read into a city: placed from addresses, the rest counted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from app.cli import app
from facilities import ValidationError, read_city
from facilities.geocode.report import MIN_CELL, WRONG_METRES
from tests.conftest import DEMO

runner = CliRunner()


def _copy(tmp_path: Path, *, blank: float = 1.0) -> Path:
    """The demo city with the coordinates of a share of the students blanked (every ``1/blank``-th row)."""
    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    folder = tmp_path / "city"
    shutil.copytree(DEMO, folder)
    students = pd.read_csv(folder / "students.csv", dtype=str, keep_default_na=False)
    rows = np.arange(len(students)) % round(1 / blank) == 0
    students.loc[rows, ["lon", "lat"]] = ""
    students.to_csv(folder / "students.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's students with no coordinates at all: only their addresses."""
    return _copy(tmp_path_factory.mktemp("export"))


def test_students_without_coordinates_are_placed_from_their_addresses(export: Path) -> None:
    city = read_city(export)
    truth = pd.read_csv(DEMO / "students.csv", dtype=str, keep_default_na=False).set_index("id")
    report = city.geocoding
    placed = report.rows[report.rows["kind"] != "unmatched"]
    assert len(city.students) == len(placed) and set(city.students["id"]) == set(placed["id"])
    homes = city.to_wgs84(city.students).set_index("id")
    dx = (homes.geometry.x - truth.loc[homes.index, "lon"].astype(float)) * 82_000
    dy = (homes.geometry.y - truth.loc[homes.index, "lat"].astype(float)) * 110_574
    assert np.hypot(dx, dy).max() <= WRONG_METRES  # no student at a wrong address
    assert report.not_placed == report.unmatched > 0
    assert report.not_placed + len(city.students) == len(truth)
    assert f"{report.not_placed:,} students not placed (addresses unmatched)" in city.summary()
    left = report.left_out()
    assert len(left) == report.not_placed and not set(left["id"]) & set(city.students["id"])
    assert city.students["neighborhood"].notna().all()


def test_rows_with_coordinates_keep_them(tmp_path: Path) -> None:
    city = read_city(_copy(tmp_path, blank=0.5))
    truth = pd.read_csv(DEMO / "students.csv", dtype=str, keep_default_na=False).set_index("id")
    report = city.geocoding
    assert report.kept_coordinates == len(truth) - len(report.rows)
    kept = city.to_wgs84(city.students).set_index("id").drop(index=report.rows["id"], errors="ignore")
    assert len(kept) == report.kept_coordinates
    assert np.allclose(kept.geometry.x, truth.loc[kept.index, "lon"].astype(float), atol=1e-6)


def test_the_committed_demo_keeps_every_student(demo_city) -> None:
    """Every demo row comes with coordinates, so the other capabilities keep their numbers."""
    assert demo_city.geocoding is None
    assert len(demo_city.students) == len(pd.read_csv(DEMO / "students.csv"))
    assert len(demo_city.address_points) == len(pd.read_csv(DEMO / "address_points.csv"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ('address = "address"', "column 'Home Address' (the address address) is not in the file"),
        ('zip = "zip"\nfloor = "zip"', "'floor' is not an address part"),
        ("[layers.address_points]", "no address_points layer to place them"),
        ("[geocode]", "needs the network, which is not allowed"),
    ],
)
def test_address_settings_errors_name_the_fix(export: Path, tmp_path: Path, edit: str, message: str) -> None:
    folder = tmp_path / "city"
    shutil.copytree(export, folder)
    toml = (folder / "city.toml").read_text()
    if edit.startswith("address ="):
        toml = toml.replace(edit, 'address = "Home Address"')
    elif edit.startswith("zip"):
        toml = toml.replace('zip = "zip"\n', edit + "\n", 1)
    elif edit == "[layers.address_points]":
        start = toml.index(edit)
        toml = toml[:start] + toml[toml.index("\n\n", start) + 2 :]  # the address_points table removed
    else:
        toml += '\n[geocode]\nonline = "census"\n'
    (folder / "city.toml").write_text(toml)
    with pytest.raises(ValidationError) as err:
        read_city(folder)
    assert message in str(err.value)


def test_compact_geocode_prints_the_report_and_keeps_addresses_private(export: Path, tmp_path: Path) -> None:
    out, private = tmp_path / "out", tmp_path / "private"
    result = runner.invoke(
        app, ["geocode", str(export), "--out", str(out), "--private-out", str(private), "--rows", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "students not placed (addresses unmatched)" in result.output
    assert "rows to fix" in result.output and "row " in result.output
    addresses = pd.read_csv(export / "students.csv", dtype=str, keep_default_na=False)["address"]
    public = (out / "report.html").read_text()
    written = [a for a in addresses if len(a) > 8]
    assert not any(a in public for a in written)  # no address, so no home, under --out
    assert "private report" in public
    summary = json.loads((out / "summary.json").read_text())
    assert summary["not_placed"] > 0 and set(summary["counts"]) == {
        "exact",
        "nearest number",
        "fuzzy",
        "unmatched",
    }
    fix = pd.read_csv(private / "rows_to_fix.csv", dtype={"address": str}, keep_default_na=False)
    as_written = addresses.to_numpy()[fix["row"].to_numpy() - 2]  # row 2 is the first under the header
    assert all(shown.startswith(line) for shown, line in zip(fix["address"], as_written, strict=True))
    assert any(a in (private / "report.html").read_text() for a in fix["address"])


def test_tables_by_school_and_neighborhood_withhold_small_cells(export: Path) -> None:
    city = read_city(export)
    for by in ("school", "neighborhood"):
        table = city.geocoding.table(by, neighborhoods=city.students.set_index("id")["neighborhood"])
        cells = table[["exact", "nearest number", "fuzzy", "unmatched", "students"]].to_numpy().ravel()
        shown = [int(c.replace(",", "")) for c in cells if c != f"<{MIN_CELL}"]
        assert all(v == 0 or v >= MIN_CELL for v in shown)
        assert (table[by] == "unknown").sum() <= 1


def test_validate_and_demo_say_how_many_students_were_not_placed(export: Path) -> None:
    result = runner.invoke(app, ["validate", str(export), "--no-streets"])
    assert result.exit_code == 0, result.output
    assert "students not placed (addresses unmatched)" in result.output


def test_an_export_with_no_coordinate_columns_at_all(export: Path, tmp_path: Path) -> None:
    folder = tmp_path / "city"
    shutil.copytree(export, folder)
    students = pd.read_csv(folder / "students.csv", dtype=str, keep_default_na=False)
    students.drop(columns=["lon", "lat"]).to_csv(folder / "students.csv", index=False)
    toml = (folder / "city.toml").read_text()
    head, _, tail = toml.partition("[layers.students]")
    block, _, rest = tail.partition("[layers.students.address]")
    block = block.replace('x = "lon"\n', "").replace('y = "lat"\n', "")
    (folder / "city.toml").write_text(head + "[layers.students]" + block + "[layers.students.address]" + rest)
    city = read_city(folder)
    assert city.geocoding.kept_coordinates == 0
    assert len(city.students) + city.geocoding.not_placed == len(students)


@pytest.mark.slow
def test_bells_list_the_students_not_placed(tmp_path: Path) -> None:
    """The bell-time results list the students whose address matched nothing (infeasible.csv)."""
    from facilities import demo
    from routing.scenarios import prepare

    folder = demo.generate(size="test", seed=5, out=tmp_path / "riverton")
    students = pd.read_csv(folder / "students.csv", dtype=str, keep_default_na=False)
    students[["lon", "lat"]] = ""
    students.to_csv(folder / "students.csv", index=False)
    city = read_city(folder)
    assert city.geocoding.not_placed > 0
    prepared = prepare(city, network=None, sessions=("am",), time_limit=5, seed=1)
    left = prepared.infeasible[prepared.infeasible["reason"] == "not placed (address unmatched)"]
    assert set(left["id"]) == set(city.geocoding.left_out()["id"])
    assert not set(left["id"]) & set(prepared.riders["id"])


def test_compact_geocode_on_a_city_without_addresses_says_what_to_add(tmp_path: Path) -> None:
    folder = tmp_path / "city"
    shutil.copytree(DEMO, folder)
    toml = (folder / "city.toml").read_text()
    start = toml.index("[layers.students.address]")
    toml = toml[:start] + toml[toml.index("[layers.yards]") :]  # the address table removed
    (folder / "city.toml").write_text(toml)
    result = runner.invoke(app, ["geocode", str(folder)])
    assert result.exit_code == 1
    assert (
        "the students layer maps no address" in result.output and "[layers.students.address]" in result.output
    )


def test_address_parts_in_columns_of_their_own(tmp_path: Path) -> None:
    """A file with the house number, street, apartment and ZIP in separate columns, as many SIS exports."""
    folder = tmp_path / "city"
    folder.mkdir()
    (folder / "schools.csv").write_text(
        "id,name,sector,grades,lon,lat\nS1,Hale School,district,K-5,-71.08,42.33\n"
    )
    (folder / "address_points.csv").write_text(
        "No,Street Name,Unit,ZIP,X,Y\n12,Adams Avenue,1,02190,-71.0800,42.3300\n"
        "12,Adams Avenue,2,02190,-71.0800,42.3300\n14,Adams Avenue,,02190,-71.0801,42.3302\n"
    )
    (folder / "students.csv").write_text(
        "Student,Grade,School,House,Street,Apt,Zip\n"
        "A1,K,S1,12,ADAMS AV,2,2190\nA2,1,S1,14.0,adams avenue,,02190\nA3,2,S1,99,Nonesuch Lane,,02190\n"
    )
    (folder / "city.toml").write_text(
        '[layers.schools]\nfile = "schools.csv"\n\n'
        '[layers.students]\nfile = "students.csv"\n'
        '[layers.students.columns]\nid = "Student"\ngrade = "Grade"\nschool = "School"\n'
        '[layers.students.address]\nnumber = "House"\nstreet = "Street"\nunit = "Apt"\nzip = "Zip"\n\n'
        '[layers.address_points]\nfile = "address_points.csv"\nx = "X"\ny = "Y"\n'
        "[layers.address_points.columns]\n"
        'number = "No"\nstreet = "Street Name"\nunit = "Unit"\nzip = "ZIP"\n'
    )
    city = read_city(folder)
    rows = city.geocoding.rows.set_index("id")
    assert list(rows["kind"]) == ["exact", "exact", "unmatched"]
    assert rows.loc["A1", "address"] == "12 ADAMS AV, 2, 2190"  # as written, parts joined
    assert list(city.students["id"]) == ["A1", "A2"] and city.geocoding.not_placed == 1
    assert rows.loc["A3", "row"] == 4  # the spreadsheet's row, under the header


def test_zone_coverage_counts_the_students_not_placed(tmp_path: Path) -> None:
    """A result that counts students says how many were left out because their address matched nothing."""
    from facilities import demo

    folder = demo.generate(size="test", seed=5, out=tmp_path / "riverton")
    students = pd.read_csv(folder / "students.csv", dtype=str, keep_default_na=False)
    students[["lon", "lat"]] = ""
    students.to_csv(folder / "students.csv", index=False)
    n = read_city(folder).geocoding.not_placed
    assert n > 0
    out = tmp_path / "coverage"
    result = runner.invoke(app, ["zones", "coverage", str(folder), "--out", str(out), "--source", "students"])
    assert result.exit_code == 0, result.output
    said = f"{n:,} students not placed (addresses unmatched)"
    assert said in result.output
    assert any(said in w for w in json.loads((out / "summary.json").read_text())["warnings"])
    assert said in (out / "report.html").read_text()
