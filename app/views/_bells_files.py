"""The Bell times page's runs table and downloads (not a page: the page imports it).

Public files never locate a student: run lines skip door-to-door and wheelchair stops
(:func:`app.maps.public_run_lines`) and only corner stops are written. :func:`private_zip` holds
everything ``compact bells compare`` writes, every stop included, for a download asked for on purpose.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import streamlit as st

from app import maps, state
from facilities.schema import format_time
from routing.scenarios import Comparison

__all__ = ["private_zip", "public_zip", "run_frame"]


@st.cache_resource(show_spinner="Drawing the runs…", max_entries=16)
def _run_frame(_comparison: Comparison, comparison_id: int, scenario: str, session: str) -> gpd.GeoDataFrame:
    result = next(r for r in _comparison.results if r.scenario.name == scenario)
    plan = result.plans[session]
    lines = maps.public_run_lines(_comparison.prepared, plan, network=_comparison.prepared.network)
    bus_of = {k: b + 1 for b, bus in enumerate(plan.buses) for k in bus.runs}
    times = result.bells.starts if session == "am" else result.bells.ends
    rows = []
    for k, run in enumerate(plan.runs):
        school = plan.data.schools[run.schools[0]].id
        rows.append(
            {
                "run": k + 1,
                "bus": bus_of.get(k),
                "school": school,
                "riders": run.students,
                "start": run.start,
                "end": run.end,
                "tier": format_time(times.get(school)),
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry=lines, crs=_comparison.prepared.crs)
    drawn = frame.geometry.notna()
    frame["path"] = None
    frame.loc[drawn, "path"] = pd.Series(
        [list(g.coords) for g in frame[drawn].to_crs(4326).geometry], index=frame.index[drawn], dtype=object
    )
    return frame


def run_frame(comparison: Comparison, scenario: str, session: str) -> gpd.GeoDataFrame:
    """One row per run of a scenario's session.

    Columns ``run``, ``bus``, ``school``, ``riders``, ``start``, ``end``, ``tier``, its public line
    (``geometry``, ``None`` for runs serving only home stops) and that line in lon/lat (``path``).
    """
    return _run_frame(comparison, id(comparison), scenario, session)


def public_zip(comparison: Comparison) -> bytes:
    """Runs (lines skipping home stops), corner stops, schedules, bell changes, summary and report, zipped."""
    from app.report_bells import write_report
    from facilities.io import write_geo

    stops = comparison.stops_frame()
    with tempfile.TemporaryDirectory(prefix="compact-bells-") as folder:
        root = Path(folder)
        frames = [
            run_frame(comparison, r.scenario.name, s)
            .drop(columns="path")
            .assign(scenario=r.scenario.name, session=s)
            for r in comparison.results
            for s in r.plans
        ]
        runs = gpd.GeoDataFrame(
            pd.concat(frames, ignore_index=True), geometry="geometry", crs=comparison.prepared.crs
        )
        write_geo(runs[runs.geometry.notna()], root / "runs.gpkg", layer="runs")
        write_geo(
            stops[~stops["service"].isin(maps.PRIVATE_SERVICES)], root / "stops.gpkg", layer="corner_stops"
        )
        pd.concat([r.schedules() for r in comparison.results]).to_csv(root / "schedules.csv", index=False)
        comparison.changes().to_csv(root / "bell_changes.csv", index=False)
        (root / "summary.json").write_text(
            json.dumps(comparison.to_json(), indent=2, default=str), encoding="utf-8"
        )
        write_report(comparison, root / "report.html")
        return state.zip_folder(folder)


def private_zip(comparison: Comparison) -> bytes:
    """Everything ``compact bells compare --private-out private`` writes: the public files and, in
    ``private/``, every stop, exact (it locates students' homes)."""
    from app.outputs_bells import write_comparison

    with tempfile.TemporaryDirectory(prefix="compact-bells-private-") as folder:
        write_comparison(comparison, folder, private_out=Path(folder) / "private")
        return state.zip_folder(folder)
