"""The Bell times page's runs table and downloads (not a page: the page imports it).

The map's run lines skip door-to-door and wheelchair stops (:func:`app.maps.public_run_lines`). The
downloads are what ``compact bells compare`` writes, through its one writer
(:func:`app.outputs_bells.write_bells`), zipped: :func:`public_zip` its ``--out`` folder (no file
locates a student), :func:`private_zip` its ``--private-out`` folder (every stop, exact, and the exact
route sheets), for a download asked for on purpose. Both are built only when their button is pressed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pydeck as pdk
import streamlit as st

from app import maps, state
from facilities.schema import format_time
from routing.scenarios import Comparison

__all__ = ["private_zip", "public_zip", "riders_layer", "run_frame"]


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


@st.cache_resource(show_spinner=False, max_entries=4)
def _riders_layer(_comparison: Comparison, comparison_id: int, _students: gpd.GeoDataFrame) -> pdk.Layer:
    riders = _students[_students["id"].astype(str).isin(_comparison.prepared.riders["id"])]
    return maps.hexbin_layer(maps.hexbin(riders, size=400), label="riders")


def riders_layer(comparison: Comparison, students: gpd.GeoDataFrame) -> pdk.Layer:
    """Riders' homes in hexagons of 400 m holding ten or more (:func:`app.maps.hexbin`), built once per
    comparison: the map's filters redraw it without counting again."""
    return _riders_layer(comparison, id(comparison), students)


def public_zip(comparison: Comparison, *, yards: gpd.GeoDataFrame | None = None) -> bytes:
    """What ``compact bells compare --out`` writes (but its manifest), zipped.

    Runs, public stops, schedules, bell changes, what was left out, summary, report, route sheets,
    runs on the streets, buses' days and ride times (:func:`app.outputs_bells.write_bells`). No file
    in it locates fewer than ten students.

    Parameters
    ----------
    comparison
        The page's comparison.
    yards
        The city's yards (their points), where each bus's day starts and ends: the CLI's are
        ``city.yards``.
    """
    return _written_zip(comparison, yards=yards, private=False)


def private_zip(comparison: Comparison, *, yards: gpd.GeoDataFrame | None = None) -> bytes:
    """What ``compact bells compare --private-out`` writes (but its manifest), zipped: every stop,
    exact, runs through them, and the exact route sheets and lines. PRIVATE: they locate students'
    homes. ``yards`` as for :func:`public_zip`."""
    return _written_zip(comparison, yards=yards, private=True)


def _written_zip(comparison: Comparison, *, yards: gpd.GeoDataFrame | None, private: bool) -> bytes:
    from app import outputs_bells

    with tempfile.TemporaryDirectory(prefix="compact-bells-") as folder:
        public_out, private_out = Path(folder) / "public", Path(folder) / "private"
        outputs_bells.write_bells(
            comparison, public_out, private_out=private_out if private else None, yards=yards
        )
        return state.zip_folder(private_out if private else public_out)
