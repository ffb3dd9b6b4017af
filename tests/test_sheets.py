"""Route sheets, runs on the streets and buses' days: every stop once, times from the matrix, privacy."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from shapely import Point

from app.outputs_sheets import comparison_sheets, location_points, sheets_html, write_sheets
from routing.scenarios import DEFAULT_SCENARIOS, compare, prepare
from routing.sheets import (
    MIN_STUDENTS,
    StreetLines,
    bus_days,
    private_stops,
    public_sheets,
    route_sheets,
    run_lines,
)
from tests.test_scenarios import _city, city_folder


@pytest.fixture(scope="module")
def testville():  # type: ignore[no-untyped-def]
    city = _city()
    return city, compare(prepare(city, network=None, time_limit=10, seed=1), time_limit=5, seed=1)


@pytest.fixture(scope="module")
def riverton(demo_city):  # type: ignore[no-untyped-def]
    """Three demo schools of the three sectors and their riders, on the demo's streets."""
    keep = demo_city.schools["id"].isin(["DIS001", "CHA001", "CAT001"])
    schools = demo_city.schools[keep].reset_index(drop=True)
    students = demo_city.students[demo_city.students["school"].isin(schools["id"])].reset_index(drop=True)
    city = dataclasses.replace(demo_city, schools=schools, students=students)
    return city, compare(city, scenarios=DEFAULT_SCENARIOS[:2], time_limit=6, seed=1, sessions=("am",))


def _plans(comparison):  # type: ignore[no-untyped-def]
    return [(r.scenario.name, plan) for r in comparison.results for plan in r.plans.values()]


def test_every_stop_of_the_plan_on_exactly_one_sheet(testville) -> None:  # type: ignore[no-untyped-def]
    _, comparison = testville
    for _, plan in _plans(comparison):
        sheets = route_sheets(plan)
        stop_ids = {st.id for st in plan.data.stops}
        visits = sheets[sheets["kind"].isin(["pickup", "dropoff"]) & sheets["location"].isin(stop_ids)]
        assert (visits["kind"] == ("pickup" if plan.session == "am" else "dropoff")).all()
        served = {plan.data.stops[s].id for run in plan.runs for s in run.stops}
        assert len(served) == len(plan.data.stops) - len(plan.infeasible)
        counts = visits.groupby("location")["bus"].agg(["size", "nunique"])
        assert set(counts.index) == served
        assert (counts["size"] == 1).all()  # one visit, so on exactly one bus's sheet
        assert visits["students"].sum() == sum(st.students for st in plan.data.stops if st.id in served)


def test_times_follow_the_travel_matrix(testville) -> None:  # type: ignore[no-untyped-def]
    _, comparison = testville
    for _, plan in _plans(comparison):
        data = plan.data
        loc = (
            {s.id: s.location for s in data.stops}
            | {s.id: s.location for s in data.schools}
            | {y.id: y.location for y in data.yards}
        )
        dwell = {s.id: s.dwell for s in data.schools}
        T = data.durations
        for _, day in route_sheets(plan).groupby("bus"):
            day = day.reset_index(drop=True)
            assert day["kind"].iloc[0] == "leave yard" and day["kind"].iloc[-1] == "return to yard"
            assert day["from"].iloc[0] in {y.id for y in data.yards} and day["location"].iloc[-1] in {
                y.id for y in data.yards
            }
            for k in range(len(day)):
                row = day.iloc[k]
                if row["kind"] in ("leave yard", "deadhead", "return to yard"):
                    # a leg takes exactly the matrix time, and leaves after the bus is free
                    assert row["arrive"] - row["depart"] == pytest.approx(
                        T[loc[row["from"]], loc[row["location"]]]
                    )
                    assert row["wait_min"] >= -1e-9
                    if k:
                        assert row["depart"] >= day["depart"].iloc[k - 1] - 1e-6
                    continue
                prev = day.iloc[k - 1]
                if prev["kind"] in ("pickup", "dropoff") and prev["run"] == row["run"]:
                    assert row["arrive"] == pytest.approx(
                        prev["depart"] + T[loc[prev["location"]], loc[row["location"]]]
                    )
                else:  # the first visit of a run: the leg before it arrives then
                    assert row["arrive"] == pytest.approx(prev["arrive"])
                assert row["service_start"] >= row["arrive"] - 1e-6
                service = (
                    dwell[row["location"]]
                    if row["location"] in dwell
                    else data.stop_time(int(row["students"]))
                )
                assert row["depart"] - row["service_start"] == pytest.approx(service)


def test_sheet_miles_add_up_to_the_plan(testville) -> None:  # type: ignore[no-untyped-def]
    _, comparison = testville
    for _, plan in _plans(comparison):
        totals = plan.totals()
        sheets = route_sheets(plan)
        assert sheets["miles"].sum() == pytest.approx(totals["deadhead_miles"] + totals["loaded_miles"])
        legs = sheets["kind"].isin(["leave yard", "deadhead", "return to yard"])
        assert sheets.loc[legs, "miles"].sum() == pytest.approx(totals["deadhead_miles"])
        days = bus_days(plan, lines=StreetLines(np.zeros((plan.data.durations.shape[0], 2))))
        assert days["miles"].sum() == pytest.approx(sheets["miles"].sum())
        assert len(days) == plan.n_buses


def test_public_sheet_locates_nobody(testville) -> None:  # type: ignore[no-untyped-def]
    _, comparison = testville
    points = location_points(comparison.prepared)
    exact = comparison_sheets(comparison, points=points)
    hidden_ids: set[str] = set()
    for _, plan in _plans(comparison):
        hidden_ids |= {st.id for st, h in zip(plan.data.stops, private_stops(plan)) if h}
    assert hidden_ids  # the test city has door-to-door and wheelchair riders
    public = public_sheets(exact, private=hidden_ids)
    assert not (public["location"].isin(hidden_ids) | public["from"].isin(hidden_ids)).any()
    stops = comparison.prepared.stops.stops
    private_xy = {(p.x, p.y) for p, sid in zip(stops.geometry, stops["id"]) if sid in hidden_ids}
    shown = {(x, y) for x, y in zip(public["x"], public["y"]) if np.isfinite(x)}
    public_xy = {(p.x, p.y) for p, sid in zip(stops.geometry, stops["id"]) if sid not in hidden_ids}
    assert not (shown & private_xy) - public_xy  # a shown point is a corner stop, a school or a yard
    # nothing is lost: the students, the miles and each bus's day are all still there
    for col in ("students", "miles"):
        assert public[col].sum() == pytest.approx(exact[col].sum())
    merged = public["note"] != ""
    notes = public.loc[merged, "note"]
    assert merged.any() and notes.str.match(r"\d+ (door-to-door|wheelchair|corner) (pickup|dropoff)").all()
    key = ["scenario", "session", "bus"]
    assert (public.groupby(key)["depart"].max() == exact.groupby(key)["depart"].max()).all()


def test_files_keep_the_exact_sheets_private(testville, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import geopandas as gpd

    city, comparison = testville
    paths = write_sheets(comparison, tmp_path / "out", private_out=tmp_path / "private", yards=city.yards)
    public = pd.read_csv(paths["route_sheets.csv"])
    exact = pd.read_csv(paths["private/route_sheets.csv"])
    door = exact["service"].isin(["door-to-door", "wheelchair"]) & (exact["students"] < MIN_STUDENTS)
    assert door.any() and not public["location"].isin(exact.loc[door, "location"]).any()
    assert set(public["scenario"]) == {r.scenario.name for r in comparison.results}
    runs = gpd.read_file(paths["routes.gpkg"], layer="runs")
    days = gpd.read_parquet(paths["bus_days.parquet"])
    assert len(days) == sum(plan.n_buses for _, plan in _plans(comparison))
    # public lines pass through no stop of fewer than ten students, door-to-door or corner (network-free:
    # they join the shown points only)
    hidden_ids = {
        st.id for _, plan in _plans(comparison) for st, h in zip(plan.data.stops, private_stops(plan)) if h
    }
    stops = comparison.prepared.stops.stops.to_crs(4326)
    hidden = stops["id"].astype(str).isin(hidden_ids)
    assert (stops.loc[hidden, "service"] == "corner").any()  # small corner stops are hidden too
    vertices = {tuple(np.round(c, 6)) for g in runs.geometry if g is not None for c in g.coords}
    leaked = {tuple(np.round((p.x, p.y), 6)) for p in stops.geometry[hidden]} & vertices
    assert not leaked - {tuple(np.round((p.x, p.y), 6)) for p in stops.geometry[~hidden]}
    assert (gpd.read_file(paths["private/routes.gpkg"], layer="runs")["hidden_stops"] == 0).all()
    assert runs["hidden_stops"].sum() > 0
    ride = pd.read_csv(paths["ride_times.csv"])
    assert (ride["above_limit"] == 0).all()


def test_runs_follow_the_streets(riverton) -> None:  # type: ignore[no-untyped-def]
    city, comparison = riverton
    net = comparison.prepared.network
    assert net is not None
    points = location_points(comparison.prepared, yards=city.yards)
    lines = StreetLines(points, net)
    plan = comparison.results[0].plans["am"]
    runs = run_lines(plan, lines=lines)
    node_xy = {tuple(xy) for xy in np.round(net.xy, 3)}
    for run, geom in zip(plan.runs, runs.geometry):
        coords = np.round(np.asarray(geom.coords), 3)
        # vertices are street nodes or bends, and the line is no shorter than the stops' straight path
        assert sum(tuple(c) in node_xy for c in coords) >= len({v.location for v in run.visits})
        straight = sum(
            np.hypot(*(points[b.location] - points[a.location]))
            for a, b in zip(run.visits[:-1], run.visits[1:])
        )
        assert geom.length >= straight * 0.99 - 50 * len(
            run.visits
        )  # stops and schools snap to nodes within a few metres
    days = bus_days(plan, lines=lines, public=True, crs=comparison.prepared.crs)
    assert len(days) == plan.n_buses and days.geometry.notna().all()
    yard = city.yards.geometry.iloc[0]
    assert all(Point(g.coords[0]).distance(yard) < 300 for g in days.geometry)  # the day starts at the yard
    section = sheets_html(comparison, yards=city.yards)
    assert "<svg" in section and "Route sheets" in section


def test_command_line_writes_public_and_private_sheets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from app.cli import app

    folder = city_folder(tmp_path / "testville")
    out, private = tmp_path / "out", tmp_path / "private"
    result = CliRunner().invoke(
        app,
        [
            "bells",
            "compare",
            str(folder),
            "--out",
            str(out),
            "--private-out",
            str(private),
            "--time-limit",
            "10",
            "--am-only",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"exact stops, route sheets and runs to {private}" in result.output
    report = (out / "report.html").read_text()
    assert "Route sheets and ride times" in report  # the sheets' section is in the report
    public, exact = pd.read_csv(out / "route_sheets.csv"), pd.read_csv(private / "route_sheets.csv")
    door = exact["service"].isin(["door-to-door", "wheelchair"]) & (exact["students"] < MIN_STUDENTS)
    assert door.any() and not public["location"].isin(exact.loc[door, "location"]).any()
    assert (
        not (out / "private").exists()
        and (private / "routes.gpkg").exists()
        and (out / "ride_times.csv").exists()
    )
    manifest = json.loads((private / "manifest.json").read_text())  # written whole, as --out is
    assert manifest["command"] == "bells compare (private)"
    assert (
        set(manifest["files"])
        == {
            str(p.relative_to(private))
            for p in private.rglob("*")
            if p.is_file() and p.name != "manifest.json"
        }
        >= {"stops.parquet", "runs.parquet", "route_sheets.csv", "routes.gpkg"}
    )
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "no lock or temporary folder"


def test_command_line_refuses_a_comparison_without_riders(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from app.cli import app

    folder = city_folder(tmp_path / "testville", bells=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["bells", "compare", str(folder), "--out", str(out), "--time-limit", "4", "--am-only", "--quiet"]
    )
    assert result.exit_code == 1
    assert "bells is blocked: no bell times" in result.output  # as compact validate says, before routing
    assert not out.exists()  # nothing written: 0 buses and $0 saved is not a result
