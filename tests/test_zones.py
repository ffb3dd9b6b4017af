"""Shared zones, the guarantee, zone design and the common-enrollment lottery on synthetic cities."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from bench.bench_zones import straight_travel, synthetic
from facilities import City, ValidationError
from facilities.enrollment import lottery_data, run_lottery
from facilities.zones import (
    ZoneData,
    ZonePlan,
    compare_plans,
    coverage,
    design,
    design_cpsat,
    gap_closers,
    greedy_zones,
    polsby_popper,
    read_zones,
    residents_by_grade,
    seats_by_grade,
    shared_zone,
)

K5 = tuple(range(0, 6))


@pytest.fixture(scope="module")
def small() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    return synthetic(60, seed=3)


@pytest.fixture(scope="module")
def city(small) -> City:
    units, schools = small
    return City.from_frames(name="synthetic", crs="EPSG:32619", schools=schools, zones=units)


def _connected(members: np.ndarray, neighbors) -> bool:
    members = set(members.tolist())
    start = next(iter(members))
    seen, stack = {start}, [start]
    while stack:
        for k in neighbors[stack.pop()]:
            if int(k) in members and int(k) not in seen:
                seen.add(int(k))
                stack.append(int(k))
    return seen == members


def test_polsby_popper_of_known_shapes():
    disc, square = shapely.Point(0, 0).buffer(100, quad_segs=256), shapely.box(0, 0, 10, 10)
    pp = polsby_popper([disc, square, shapely.box(0, 0, 100, 1)])
    assert pp[0] == pytest.approx(1.0, abs=1e-3)
    assert pp[1] == pytest.approx(np.pi / 4)
    assert pp[2] < 0.05


def test_residents_spread_bands_over_school_ages():
    frame = pd.DataFrame(
        {"population_0_4": [50], "population_5_9": [100], "population_10_14": [60], "population_15_17": [30]}
    )
    res = residents_by_grade(frame)
    assert res[0, 0] == pytest.approx(10)  # PK = age 4: a fifth of 0-4
    assert res[0, 1:6].sum() == pytest.approx(100)  # K-4 = ages 5-9
    assert res[0, 11:].sum() == pytest.approx(30)  # grades 10-12 = ages 15-17
    assert residents_by_grade(frame, participation=0.5).sum() == pytest.approx(res.sum() / 2)
    with pytest.raises(ValueError, match="population"):
        residents_by_grade(pd.DataFrame({"population_total": [5]}))


def test_seats_follow_capacity_and_grades(small):
    _, schools = small
    seats = seats_by_grade(schools)
    assert (seats.sum(axis=1) == schools["capacity"].to_numpy()).all()
    for row, grades in zip(seats, schools["grades"], strict=True):
        assert set(np.flatnonzero(row) - 1) <= set(grades)
    assert (seats_by_grade(schools, basis="enrollment").sum(axis=1) == schools["enrollment"]).all()


def test_shared_zone_coverage_and_guarantee(city):
    zone = shared_zone(city, units=["u000", "Unit 1", "u002"], id="east")
    assert zone["units"].iloc[0] == ("u000", "u001", "u002")
    cov = coverage(city, zone, travel=straight_travel)
    g = cov.grades
    assert (g["guaranteed"] <= g["residents"]).all() and (g["guaranteed"] <= g["seats"]).all()
    assert (g["shortfall"] == (g["residents"] - g["seats"]).clip(lower=0)).all()
    row = cov.zones.iloc[0]
    assert row["residents"] == g["residents"].sum() and 0 < row["polsby_popper"] <= 1
    # population is conserved: the whole city as one zone holds all its school-age residents
    whole = gpd.GeoDataFrame(
        {"id": ["all"], "name": ["all"], "kind": ["shared"]},
        geometry=[shapely.union_all(city.zones.geometry.values)],
        crs=city.crs,
    )
    total = coverage(city, whole).zones["residents"].iloc[0]
    assert total == pytest.approx(residents_by_grade(city.zones).sum(), rel=1e-3, abs=14)


def test_gap_closers_offer_outside_seats(city):
    zone = shared_zone(city, units=["u000"], schools=[city.schools["id"].iloc[0]], id="tiny")
    cov = coverage(city, zone)
    gaps = gap_closers(city, cov, max_distance=50_000)
    short = cov.grades[cov.grades["shortfall"] > 0]
    assert len(short)
    assert set(gaps["zone"]) <= {"tiny"} and not gaps["id"].isin(zone["schools"].iloc[0]).any()
    assert (gaps.groupby(["zone", "grade"])["distance_m"].apply(lambda d: d.is_monotonic_increasing)).all()


def test_bad_zones_name_the_row(city, tmp_path):
    with pytest.raises(ValidationError, match="unknown unit 'Atlantis'"):
        shared_zone(city, units=["u000", "Atlantis"])
    with pytest.raises(ValidationError, match="unknown school 'nope'"):
        shared_zone(city, units=["u000"], schools=["nope"])
    frame = gpd.GeoDataFrame(
        {"zid": ["a", "b"]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.LineString([(0, 0), (1, 1)])],
        crs=4326,
    )
    path = tmp_path / "zones.geojson"
    frame.to_file(path)
    with pytest.raises(ValidationError, match=r"row 2.*LineString"):
        read_zones(path, crs=city.crs, id="zid")


def test_design_is_contiguous_covers_and_is_reproducible(small):
    units, schools = small
    data = ZoneData.from_geodataframe(units, schools, travel=straight_travel)
    greedy = greedy_zones(data, grades=K5)
    plan = design(data, grades=K5, seed=4, time_limit=10)
    again = design(data, grades=K5, seed=4, time_limit=10)
    assert (plan.labels == again.labels).all()
    assert (plan.labels >= 0).all()
    for z in range(plan.n_zones):
        assert _connected(np.flatnonzero(plan.labels == z), data.neighbors)
    m, mg = plan.metrics(), greedy.metrics()
    assert m["shortfall"] <= mg["shortfall"]
    assert 0 <= m["coverage"] <= 1 and 0 <= m["dissimilarity"] <= 1
    # seats suffice city-wide with 10% spare: the plan guarantees nearly everyone
    assert m["coverage"] >= 0.95
    table = compare_plans(
        {"greedy": greedy, "design": plan, "units": ZonePlan.from_labels(data, data.unit_ids, grades=K5)}
    )
    assert list(table.columns) == ["greedy", "design", "units"] and table.loc["zones", "units"] == len(units)


def test_cpsat_design_is_contiguous_and_deterministic():
    units, schools = synthetic(40, seed=5)
    data = ZoneData.from_geodataframe(units, schools, travel=straight_travel)
    a = design_cpsat(data, grades=K5, time_limit=5, seed=1)
    b = design_cpsat(data, grades=K5, time_limit=5, seed=1)
    assert a.status in ("OPTIMAL", "FEASIBLE") or a.method == "greedy"
    assert (a.labels == b.labels).all()
    for z in range(a.n_zones):
        assert _connected(np.flatnonzero(a.labels == z), data.neighbors)


def test_lottery_meets_the_guarantee_when_seats_suffice(city):
    k_schools = [s for s, g in zip(city.schools["id"], city.schools["grades"], strict=True) if 0 in g]
    zone = shared_zone(city, units=["u000", "u001", "u002", "u003"], schools=k_schools, id="east")
    cov = coverage(city, zone)
    assert cov.grades.query("grade == 0")["shortfall"].iloc[0] == 0
    run = run_lottery(city, zones=zone, grades=[0], seed=2)
    assert run.simulated_applicants and run.simulated_choices
    d, r = run.result.data, run.result
    residents = d.zones == "east"
    assert residents.any() and (r.assignment[residents] >= 0).all()
    again = run_lottery(city, zones=zone, grades=[0], seed=2)
    assert (again.result.assignment == r.assignment).all()
    by = run.aggregates(by=["sector"])
    assert by["simulated"].all() and by["students"].sum() == d.n_students


def test_lottery_rejects_unknown_school_in_rankings(city):
    choices = pd.DataFrame(
        {"student": ["A000001", "A000001"], "school": [city.schools["id"].iloc[0], "ghost"], "rank": [1, 2]}
    )
    with pytest.raises(ValidationError, match="ghost"):
        lottery_data(city, choices=choices, grades=[0])


def _write_city(folder, units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame) -> None:
    folder.mkdir()
    units.to_crs(4326).to_file(folder / "zones.geojson")
    s = schools.to_crs(4326)
    pd.DataFrame(
        {
            "id": s["id"],
            "name": s["name"],
            "sector": s["sector"],
            "grades": [f"{min(g)}-{max(g)}".replace("0-", "K-") for g in s["grades"]],
            "capacity": s["capacity"],
            "enrollment": s["enrollment"],
            "lon": s.geometry.x,
            "lat": s.geometry.y,
        }
    ).to_csv(folder / "schools.csv", index=False)
    (folder / "city.toml").write_text(
        '[city]\nname = "Tiny"\ncrs = "EPSG:32619"\n[layers.schools]\nfile = "schools.csv"\nx = "lon"\ny '
        '= "lat"\n'
        '[layers.zones]\nfile = "zones.geojson"\n[[enrollment.shared_zones]]\nid = "east"\nunits = ["u000", '
        '"u001"]\n'
    )


def test_cli_writes_aggregates_and_private_file_only_on_request(small, tmp_path):
    from app.cli import app

    _write_city(tmp_path / "city", *synthetic(30, seed=8))
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(app, ["zones", "coverage", str(tmp_path / "city"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["zones"] == 1 and "straight-line" in summary["travel"]
    private = tmp_path / "private"
    res = runner.invoke(
        app,
        [
            "zones",
            "lottery",
            str(tmp_path / "city"),
            "--out",
            str(out),
            "--seed",
            "1",
            "--private-out",
            str(private),
        ],
    )
    assert res.exit_code == 0, res.output
    ids = set(pd.read_csv(private / "assignments.csv")["student"])
    assert len(ids) > 10
    waitlists = pd.read_csv(private / "waitlists.csv")
    assert set(waitlists["student"]) <= ids
    for f in out.iterdir():
        text = f.read_text(errors="ignore") if f.suffix in (".csv", ".json", ".html") else ""
        assert not any(i in text for i in list(ids)[:50]), f"{f.name} holds student ids"
    res = runner.invoke(
        app, ["zones", "design", str(tmp_path / "city"), "--out", str(out), "--time-limit", "5"]
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "comparison.csv")
    assert {"each neighborhood", "greedy", "designed"} <= set(table.columns)
