"""Every file of a bell-time comparison, written in one place for the CLI and the app.

Runs and stops (GeoParquet and GeoPackage), the schedules and the bell changes (CSV), what was
left out (CSV), the summary (JSON) and the HTML report. The files are byte-identical for the
same city, settings and seed: they hold no timings, and the GeoPackage's own timestamp is fixed.

>>> from app.outputs_bells import write_comparison
>>> write_comparison(comparison, "out/bells")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyogrio

from facilities.io import atomic_write, write_geo
from routing.scenarios import Comparison

__all__ = ["write_comparison"]

#: The GeoPackage records when it was written; a fixed date keeps the file the same from run to run.
_GPKG_DATE = "2000-01-01T00:00:00Z"


def write_comparison(comparison: Comparison, out: str | os.PathLike[str], *, report: bool = True) -> dict[str, Path]:
    """Write a comparison's files into ``out`` (created if needed), each atomically.

    Parameters
    ----------
    comparison
        From :func:`routing.scenarios.compare` (or built from :func:`routing.scenarios.run_scenario` results).
    out
        The folder.
    report
        Also write ``report.html``.

    Returns
    -------
    dict
        File name -> path.
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    runs, stops = comparison.runs_frame(), comparison.stops_frame()
    paths = {"runs.parquet": write_geo(runs, root / "runs.parquet"), "stops.parquet": write_geo(stops, root / "stops.parquet")}
    before = {"OGR_CURRENT_DATE": pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")}
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _GPKG_DATE})
    try:
        paths["bells.gpkg"] = write_geo(runs, root / "bells.gpkg", layer="runs")
        write_geo(stops, root / "bells.gpkg", layer="stops")
    finally:
        pyogrio.set_gdal_config_options(before)
    tables = {
        "schedules.csv": pd.concat([r.schedules() for r in comparison.results], ignore_index=True),
        "bell_changes.csv": comparison.changes(),
        "infeasible.csv": comparison.prepared.infeasible,
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

        paths["report.html"] = write_report(comparison, root / "report.html")
    return paths
