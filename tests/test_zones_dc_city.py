"""Washington, DC as a city: attendance zones with no students and no population, charter and
independent schools without seats reported. Coverage per attendance zone states its residents'
source; the lottery has seats in every sector whose schools have grades, and says so by sector."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from facilities import City
from facilities.enrollment import run_lottery
from facilities.schema import parse_grades
from facilities.zones import coverage, read_zones, schools_in_units, shared_zone

DC = Path(__file__).resolve().parents[2] / "shared" / "data" / "dc"
pytestmark = pytest.mark.skipif(not DC.exists(), reason="../shared/data/dc is absent (real DC data)")
CRS = "EPSG:26985"  # Maryland State Plane, metres: DC's own
LEVELS = {"ES": "PK-5", "MS": "6-8", "HS": "9-12", "EC": "PK-8"}


def _grades(text: object) -> str | None:
    """DC's charter grades ('PK-3-8', 'PK-3, PK-4', 'Adult/Voc Ed') as our grades, None when none apply."""
    if not isinstance(text, str):
        return None
    text = re.sub(r"(GED|Adult/Voc Ed)", "", text).replace("PK-3", "PK").replace("PK-4", "PK").strip(" ,-")
    try:
        return ",".join(map(str, parse_grades(text))) if text else None
    except ValueError:
        return None


def _schools() -> gpd.GeoDataFrame:
    """District, charter and independent schools in one frame (the city format reads them as three files)."""
    district = gpd.read_file(DC / "public-schools.geojson")
    district = district[district["STATUS"] == "Active"]
    district = gpd.GeoDataFrame(
        {
            "id": district["GIS_ID"],
            "name": district["NAME"],
            "sector": "district",
            "grades": district["LEVEL_"].map(LEVELS),
            "enrollment": district["TOTAL_STUD"],
            "capacity": district["CAPACITY"],
        },
        geometry=district.geometry.values,
        crs=district.crs,
    )
    charter = gpd.read_file(DC / "charter-schools.geojson")
    charter = gpd.GeoDataFrame(
        {
            "id": charter["GIS_ID"],
            "name": charter["NAME"],
            "sector": "charter",
            "grades": charter["GRADES"].map(_grades),
        },
        geometry=charter.geometry.values,
        crs=charter.crs,
    )
    private = gpd.read_file(DC / "independent-schools.geojson")
    private = gpd.GeoDataFrame(
        {"id": private["GIS_ID"], "name": private["NAME"], "sector": "private"},
        geometry=private.geometry.values,
        crs=private.crs,
    )
    out = pd.concat([district, charter, private], ignore_index=True)
    return gpd.GeoDataFrame(out[out["id"].notna() & ~out["id"].duplicated()], crs=district.crs)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minimal DC city folder: the schools in one file, the elementary attendance zones repaired."""
    root = tmp_path_factory.mktemp("dc")
    _schools().to_file(root / "schools.geojson", driver="GeoJSON")
    zones = gpd.read_file(DC / "school-attendance-zones-elementary.geojson")
    zones["geometry"] = zones.geometry.make_valid()
    zones.to_file(root / "elementary.geojson", driver="GeoJSON")
    (root / "city.toml").write_text(f"""[city]
name = "Washington, DC"
crs = "{CRS}"
[layers.schools]
file = "schools.geojson"
[layers.zones]
file = "elementary.geojson"
[layers.zones.columns]
id = "GIS_ID"
name = "NAME"
[layers.zones.defaults]
kind = "attendance"
""")
    return root


@pytest.fixture(scope="module")
def city(folder: Path) -> City:
    from facilities import read_city

    return read_city(folder)


ZONE_FILES = {
    "elementary": ("elementary", "PK-5", 74, (-1, 5)),
    "middle-school": ("middle", "6-8", 21, (6, 8)),
    "senior-high": ("high", "9-12", 9, (9, 12)),
}


def _attendance(city: City, layer: str) -> gpd.GeoDataFrame:
    zones = read_zones(
        DC / f"school-attendance-zones-{layer}.geojson",
        crs=city.crs,
        id="GIS_ID",
        name="NAME",
        schools="GIS_ID",
        kind="attendance",
        repair=True,
    )
    zones["level"] = ZONE_FILES[layer][0]
    known = set(city.schools["id"])
    zones["schools"] = [tuple(s for s in ids if s in known) for ids in zones["schools"]]
    return zones


@pytest.mark.parametrize("layer", ZONE_FILES)
def test_coverage_per_attendance_zone_states_residents_estimated(city, layer):
    _, grades, count, (lo, hi) = ZONE_FILES[layer]
    cov = coverage(city, _attendance(city, layer))
    z = cov.zones
    assert len(z) == count and cov.source == "enrollment" and cov.estimated
    assert "estimated from enrollment" in cov.residents_note
    assert (z["grades"] == grades).all()  # a zone guarantees its level's grades only
    fed = z[z["n_schools"] > 0]
    assert len(fed) >= count // 2
    enrolled = city.schools.set_index("id")["enrollment"]
    reports = fed["schools"].map(lambda ids: bool(ids) and (enrolled.reindex(list(ids)).fillna(0) > 0).any())
    assert (fed.loc[reports.to_numpy(), "residents"] > 0).all()  # its school reports enrollment: residents
    assert (z["guaranteed"] <= z["residents"]).all() and (z["guaranteed"] <= z["seats"]).all()
    g = cov.grades
    assert (g["shortfall"] == (g["residents"] - g["seats"]).clip(lower=0)).all()
    assert g["grade"].between(lo, hi).all()
    assert np.isfinite(z.loc[z["residents"] > 0, "travel_median_s"]).all()
    assert cov.summary()["residents_note"] == cov.residents_note


def test_cli_coverage_report_has_map_names_and_source(folder, tmp_path):
    from app.cli import app

    out = tmp_path / "coverage"
    res = CliRunner().invoke(
        app,
        [
            "zones",
            "coverage",
            str(folder),
            "--out",
            str(out),
            "--zones",
            str(folder / "elementary.geojson"),
            "--zone-id",
            "GIS_ID",
            "--zone-schools",
            "GIS_ID",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "residents estimated from enrollment" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["residents_from"] == "enrollment" and summary["residents_estimated"]
    report = (out / "report.html").read_text()
    assert "<svg" in report and "estimated from enrollment" in report and "(min)" in report
    assert "Aiton Elementary School" in report and ";dcps_" not in report  # names, not id lists
    assert len(pd.read_csv(out / "zones.csv")) == 74
    assert not re.search(r"<td[^>]*>[^<]*\d\.\d{3,}", report)  # numbers rounded in the tables


def test_cli_design_compares_plans_with_maps(folder, tmp_path):
    from app.cli import app

    out = tmp_path / "design"
    res = CliRunner().invoke(app, ["zones", "design", str(folder), "--out", str(out), "--time-limit", "5"])
    assert res.exit_code == 0, res.output
    assert "residents estimated from enrollment" in res.output
    design = json.loads((out / "design.json").read_text())
    assert "estimated from enrollment" in design["residents_note"] and design["travel_unit"] == "seconds"
    report = (out / "report.html").read_text()
    assert report.count("<svg") == 3 and "median expected trip to the zone" in report and "(min)" in report
    assert not re.search(r"<td[^>]*>[^<]*\d\.\d{3,}", report)
    table = pd.read_csv(out / "comparison.csv").set_index("measure")
    assert (table.loc["coverage"] <= 1).all() and (table.loc["zones"] >= 1).all()


def test_lottery_has_seats_in_every_sector_with_graded_schools(city):
    run = run_lottery(city, seed=3, grades=[0, 6, 9])
    by = run.by_sector(min_count=0)
    schools = city.schools
    assert set(by["sector"]) == set(schools["sector"])  # a row for every sector that has schools
    graded = {
        s for s, g in zip(schools["sector"], schools["grades"], strict=True) if isinstance(g, tuple) and g
    }
    for rec in by.itertuples(index=False):
        if rec.sector in graded:
            assert rec.seats_offered > 0, f"{rec.sector} has graded schools but no seats offered"
    charter = by.set_index("sector").loc["charter"]
    assert charter["seats_estimated"] == charter["seats_offered"] > 0  # charters report none: typical size
    assert "typical school" in run.seats_note
    ungraded = set(schools["sector"]) - graded
    for sector in ungraded:
        assert any(f"no seats in sector {sector!r}" in w for w in run.warnings)
    r = run.result
    placed = np.bincount(r.assignment[r.assignment >= 0], minlength=len(r.data.school_ids))
    assert (placed <= r.data.seats.sum(axis=1)).all()  # seats never exceeded
    unassigned = int((r.assignment < 0).sum())
    assert unassigned / r.data.n_students < 0.2, run.warnings
    assert run.simulated_applicants and "estimated from enrollment" in run.residents_note


def test_shared_zone_holds_every_school_in_its_units(city):
    units = ["Garrison", "Seaton", "Thomson", "Ross", "Cleveland"]
    zone = shared_zone(city, units=units, id="mid-city")
    picked = city.zones[city.zones["name"].isin(units)]
    inside = city.schools[city.schools.geometry.apply(lambda p: picked.geometry.covers(p).any())]
    assert set(zone["schools"].iloc[0]) == set(inside["id"]) and len(inside) > len(units)
    assert schools_in_units(city, units) == zone["schools"].iloc[0]


def test_overlapping_attendance_layers_are_not_units(city):
    from facilities import ValidationError
    from facilities.zones import ZoneData

    layers = []
    for layer in ZONE_FILES:
        zones = gpd.read_file(DC / f"school-attendance-zones-{layer}.geojson")
        layers.append(
            gpd.GeoDataFrame(
                {"id": layer[:3] + zones["GIS_ID"], "name": zones["NAME"], "kind": "attendance"},
                geometry=zones.geometry.make_valid().values,
                crs=zones.crs,
            )
        )
    three = City.from_frames(name="DC", crs=CRS, schools=city.schools.to_crs(4326), zones=pd.concat(layers))
    with pytest.raises(ValidationError, match="overlap .* level"):
        ZoneData.from_city(three, grades=range(0, 6))
