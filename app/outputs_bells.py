"""Every file of a bell-time comparison, written in one place for the CLI and the app.

Runs and stops (GeoParquet and GeoPackage), the schedules and the bell changes (CSV), what was
left out (CSV), the students who ride because of a hazard (CSV), the summary (JSON) and the HTML
report (:func:`write_comparison`); :func:`write_bells` adds the route sheets, the runs on the
streets and the ride times (:mod:`app.outputs_sheets`) and their section of the report: everything
``compact bells compare`` writes, for the CLI and the app's downloads alike. The files are
byte-identical for the same city, settings and seed: they hold no timings, and the GeoPackage's own
timestamp is fixed. Public stops serve 10 students or more; smaller ones (door-to-door, wheelchair,
small corners) are pooled into cells or withheld (:func:`facilities.privacy.public_points`), and
merged away in the public route sheets; every stop, exact, goes only to ``private_out``.

>>> from app.outputs_bells import write_bells
>>> write_bells(comparison, "out/bells", private_out="private/bells", yards=city.yards)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd

from app.outputs_sheets import sheets_html, street_lines, write_sheets
from facilities.io import atomic_write, write_geo
from facilities.privacy import check_public, public_points
from routing.scenarios import Comparison

__all__ = ["write_bells", "write_comparison"]


def write_comparison(
    comparison: Comparison,
    out: str | os.PathLike[str],
    *,
    report: bool = True,
    private_out: str | os.PathLike[str] | None = None,
    sections: str = "",
) -> dict[str, Path]:
    """Write a comparison's files into ``out`` (created if needed), each atomically.

    Parameters
    ----------
    comparison
        From :func:`routing.scenarios.compare` (or built from :func:`routing.scenarios.run_scenario` results).
    out
        The folder.
    report
        Also write ``report.html``.
    private_out
        A folder for every stop, exact (``stops.parquet``, ``stops.gpkg``): they locate students.
    sections
        More HTML for the end of the report (the route sheets' section).

    Returns
    -------
    dict
        File name -> path (the files of ``private_out`` prefixed ``private/``).
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    runs, stops = comparison.runs_frame(homes=False), comparison.stops_frame()
    private: dict[str, Path] = {}
    if private_out is not None:
        folder = Path(private_out)
        folder.mkdir(parents=True, exist_ok=True)
        private["private/stops.parquet"] = write_geo(stops, folder / "stops.parquet")
        private["private/stops.gpkg"] = write_geo(stops, folder / "stops.gpkg", layer="stops")
        private["private/runs.parquet"] = write_geo(comparison.runs_frame(), folder / "runs.parquet")
    stops = public_points(stops, count="students")
    check_public(stops, name="stops", count="students")
    paths = {
        "runs.parquet": write_geo(runs, root / "runs.parquet"),
        "stops.parquet": write_geo(stops, root / "stops.parquet"),
    }
    paths["bells.gpkg"] = write_geo(runs, root / "bells.gpkg", layer="runs")
    write_geo(stops, root / "bells.gpkg", layer="stops")
    tables = {
        "schedules.csv": pd.concat([r.schedules() for r in comparison.results], ignore_index=True),
        "bell_changes.csv": comparison.changes(),
        "infeasible.csv": comparison.prepared.infeasible,
        "hazard_riders.csv": comparison.prepared.hazard_riders,
    }
    for name, frame in tables.items():
        with atomic_write(root / name) as tmp:
            frame.to_csv(tmp, index=False)
        paths[name] = root / name
    with atomic_write(root / "summary.json") as tmp:
        tmp.write_text(json.dumps(comparison.to_json(), indent=2, default=str))
    paths["summary.json"] = root / "summary.json"
    if report:
        from app.report_bells import write_report

        paths["report.html"] = write_report(comparison, root / "report.html", sections=sections)
    return paths | private


def write_bells(
    comparison: Comparison,
    out: str | os.PathLike[str],
    *,
    private_out: str | os.PathLike[str] | None = None,
    yards: gpd.GeoDataFrame | None = None,
) -> dict[str, Path]:
    """Write everything ``compact bells compare`` writes: the comparison's files (:func:`write_comparison`)
    with the route sheets' section in its report, and the route sheets, runs on the streets, buses'
    days and ride times (:func:`app.outputs_sheets.write_sheets`).

    Parameters
    ----------
    comparison, out, yards
        As for :func:`app.outputs_sheets.write_sheets`: ``out`` gets the public files (none locates
        fewer than ten students), ``yards`` place where each bus's day starts and ends.
    private_out
        The folder of the files that locate students (every stop, exact, and the exact route sheets
        and lines), or ``None``.

    Returns
    -------
    dict
        File name -> path (the files of ``private_out`` prefixed ``private/``).
    """
    lines = street_lines(comparison, yards=yards)  # drawn once for the files and the report
    paths = write_comparison(
        comparison, out, private_out=private_out, sections=sheets_html(comparison, lines=lines)
    )
    return paths | write_sheets(comparison, out, private_out=private_out, lines=lines)
