"""Route sheets, runs on the streets, buses' days and ride times of a bell-time comparison: files and HTML.

For every scenario and session of a :class:`~routing.scenarios.Comparison`:

- ``route_sheets.csv``: each bus's day in order (:func:`routing.sheets.route_sheets`), with the
  visits that locate a student (stops of fewer than ten) merged away (:func:`routing.sheets.public_sheets`);
- ``routes.gpkg`` (layers ``runs`` and ``bus_days``) and ``runs_streets.parquet`` /
  ``bus_days.parquet`` (GeoParquet): the runs and each bus's whole day drawn on the streets,
  through the stops that locate nobody;
- ``ride_times.csv``: the ride distribution per scenario, session, sector and school, and the
  students above the limit (:mod:`routing.rides`).

With ``private_out`` the exact sheets and lines (every door-to-door stop where it is) are written
there too, and only there.

>>> from app.outputs_sheets import sheets_html, street_lines, write_sheets
>>> lines = street_lines(comparison, yards=city.yards)  # doctest: +SKIP
>>> write_sheets(comparison, "out/bells", private_out="private/bells", lines=lines)  # doctest: +SKIP
>>> html = sheets_html(comparison, lines=lines)  # the report's route-sheet section  # doctest: +SKIP
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from facilities.io import atomic_write, write_geo
from routing.rides import ride_distribution, stop_rides
from routing.scenarios import Comparison, Prepared
from routing.sheets import (
    SHEET_COLUMNS,
    StreetLines,
    bus_days,
    private_stops,
    public_sheets,
    route_sheets,
    run_lines,
)

__all__ = [
    "comparison_rides",
    "comparison_sheets",
    "location_points",
    "sheets_html",
    "street_lines",
    "write_sheets",
]


def location_points(prepared: Prepared, *, yards: gpd.GeoDataFrame | None = None) -> np.ndarray:
    """x/y (the city's CRS) of each location of the travel matrices: its stop, school or yard.

    Parameters
    ----------
    prepared
        The comparison's preparation.
    yards
        The city's yards (``id`` and points); without them (or for a yard they lack) a yard sits
        at the centre of the schools, where :func:`routing.scenarios.prepare` puts it.
    """
    data = prepared.data
    xy = np.full((data.durations.shape[0], 2), np.nan)
    schools = prepared.schools
    centre = np.unique(schools[["x", "y"]].to_numpy(float), axis=0).mean(axis=0)
    given = (
        {}
        if yards is None or not len(yards)
        else dict(
            zip(
                yards["id"].astype(str),
                zip(yards.to_crs(prepared.crs).geometry.x, yards.to_crs(prepared.crs).geometry.y),
            )
        )
    )
    for y in data.yards:
        xy[y.location] = given.get(y.id, centre)
    school_xy = dict(zip(schools["id"], zip(schools["x"], schools["y"])))
    for s in data.schools:
        xy[s.location] = school_xy[s.id]
    stops = prepared.stops.stops
    stop_xy = dict(zip(stops["id"], zip(stops.geometry.x, stops.geometry.y)))
    for st in data.stops:
        xy[st.location] = stop_xy[st.id]
    return xy


def street_lines(comparison: Comparison, *, yards: gpd.GeoDataFrame | None = None) -> StreetLines:
    """The drawer of a comparison's runs on its streets (one per comparison: it caches the legs)."""
    prepared = comparison.prepared
    return StreetLines(location_points(prepared, yards=yards), prepared.network, prepared.data.durations)


def comparison_sheets(comparison: Comparison, *, points: np.ndarray | None = None) -> pd.DataFrame:
    """The exact route sheets of every scenario and session, stacked (private: locates students)."""
    frames = [
        route_sheets(plan, points=points).assign(scenario=r.scenario.name)
        for r in comparison.results
        for plan in r.plans.values()
    ]
    if not frames:
        return pd.DataFrame(columns=["scenario", *SHEET_COLUMNS])
    out = pd.concat(frames, ignore_index=True)
    return out[["scenario"] + [c for c in out.columns if c != "scenario"]]


def _private_ids(comparison: Comparison) -> set[str]:
    ids: set[str] = set()
    for r in comparison.results:
        for plan in r.plans.values():
            ids |= {st.id for st, hide in zip(plan.data.stops, private_stops(plan)) if hide}
    return ids


def comparison_rides(comparison: Comparison) -> pd.DataFrame:
    """Ride distribution per scenario, session, sector and school (and all schools of a sector)."""
    sectors = dict(zip(comparison.prepared.schools["id"], comparison.prepared.schools["sector"]))
    frames = []
    for r in comparison.results:
        rides = stop_rides(r.plans, sectors=sectors)
        if not len(rides):
            continue
        for by in (["session", "sector"], ["session", "sector", "school"]):
            frames.append(ride_distribution(rides, by=by).assign(scenario=r.scenario.name))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out["school"] = out["school"].fillna("(all)")
    return out[
        ["scenario", "session", "sector", "school"]
        + [c for c in out.columns if c not in ("scenario", "session", "sector", "school")]
    ]


def _geometry(
    comparison: Comparison, lines: StreetLines, *, public: bool
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    crs = comparison.prepared.crs
    runs, days = [], []
    for r in comparison.results:
        for plan in r.plans.values():
            runs.append(run_lines(plan, lines=lines, public=public, crs=crs).assign(scenario=r.scenario.name))
            days.append(bus_days(plan, lines=lines, public=public, crs=crs).assign(scenario=r.scenario.name))
    return tuple(
        gpd.GeoDataFrame(pd.concat(f, ignore_index=True), geometry="geometry", crs=crs) for f in (runs, days)
    )  # type: ignore[return-value]


def _write_all(
    root: Path, sheets: pd.DataFrame, runs: gpd.GeoDataFrame, days: gpd.GeoDataFrame
) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    with atomic_write(root / "route_sheets.csv") as tmp:
        sheets.to_csv(tmp, index=False)
    paths = {"route_sheets.csv": root / "route_sheets.csv"}
    paths["routes.gpkg"] = write_geo(runs, root / "routes.gpkg", layer="runs")
    write_geo(days, root / "routes.gpkg", layer="bus_days")
    paths["runs_streets.parquet"] = write_geo(runs, root / "runs_streets.parquet")
    paths["bus_days.parquet"] = write_geo(days, root / "bus_days.parquet")
    return paths


def write_sheets(
    comparison: Comparison,
    out: str | os.PathLike[str],
    *,
    private_out: str | os.PathLike[str] | None = None,
    yards: gpd.GeoDataFrame | None = None,
    lines: StreetLines | None = None,
) -> dict[str, Path]:
    """Write route sheets, runs and buses' days on the streets, and ride times, for every scenario.

    Parameters
    ----------
    comparison
        From :func:`routing.scenarios.compare`.
    out
        Folder for the public files: no row, point or line vertex locates fewer than ten students.
    private_out
        Folder for the exact sheets and lines (``route_sheets.csv``, ``routes.gpkg``...), or ``None``.
    yards
        The city's yards (their points), for where each day starts and ends.
    lines
        A :func:`street_lines` drawer to share with :func:`sheets_html` (default: a new one).

    Returns
    -------
    dict
        Output name -> path (private ones prefixed ``private/``).
    """
    lines = lines or street_lines(comparison, yards=yards)
    points = lines.points
    exact = comparison_sheets(comparison, points=points)
    root = Path(out)
    paths = _write_all(
        root,
        public_sheets(exact, private=_private_ids(comparison)),
        *_geometry(comparison, lines, public=True),
    )
    with atomic_write(root / "ride_times.csv") as tmp:
        comparison_rides(comparison).to_csv(tmp, index=False)
    paths["ride_times.csv"] = root / "ride_times.csv"
    if private_out is not None:
        private = _write_all(Path(private_out), exact, *_geometry(comparison, lines, public=False))
        paths |= {f"private/{k}": v for k, v in private.items()}
    return paths


def _readable(sheet: pd.DataFrame) -> pd.DataFrame:
    """A sheet for people: one time column (a leg leaves -> arrives; a visit arrives - leaves)."""
    leg = sheet["kind"].isin(["leave yard", "deadhead", "return to yard"])
    time = np.where(
        leg,
        sheet["depart_time"] + " → " + sheet["arrive_time"],
        sheet["arrive_time"] + " – " + sheet["depart_time"],
    )
    out = sheet.assign(time=time, run=sheet["run"].astype(object).where(sheet["run"].notna(), ""))
    return out[
        ["step", "kind", "run", "from", "location", "school", "students", "time", "wait_min", "miles", "note"]
    ]


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:,.1f}", border=0)


def _day_svg(day: gpd.GeoDataFrame, schools: pd.DataFrame, *, width: int = 640, height: int = 420) -> str:
    """One bus's whole day (public line) over the schools, as SVG."""
    geom = day.geometry.iloc[0]
    if geom is None:
        return ""
    coords = np.asarray(geom.coords)
    x0, y0 = coords.min(axis=0)
    x1, y1 = coords.max(axis=0)
    scale = min((width - 20) / max(x1 - x0, 1), (height - 20) / max(y1 - y0, 1))

    def px(x: float, y: float) -> str:
        return f"{10 + (x - x0) * scale:.1f},{height - 10 - (y - y0) * scale:.1f}"

    inside = schools[(schools["x"].between(x0, x1)) & (schools["y"].between(y0, y1))]
    dots = "".join(
        f'<circle cx="{px(x, y).split(",")[0]}" cy="{px(x, y).split(",")[1]}" r="4" fill="#d9822b">'
        f"<title>{html.escape(str(n))}</title></circle>"
        for x, y, n in zip(inside["x"], inside["y"], inside["name"])
    )
    path = " ".join(px(x, y) for x, y in coords)
    line = f'<polyline points="{path}" fill="none" stroke="#3b6ea8" stroke-width="2"/>'
    return f'<svg width="{width}" height="{height}" role="img">{line}{dots}</svg>'


def sheets_html(
    comparison: Comparison,
    *,
    example_buses: int = 3,
    yards: gpd.GeoDataFrame | None = None,
    lines: StreetLines | None = None,
) -> str:
    """The report's section on route sheets and ride times (public: nothing locates a student).

    Per scenario: ride times by sector (percentiles, students above the limit) and every bus's day
    in one line (runs, students, leaving and returning to the yard, miles); for the first scenario,
    the full sheets of its ``example_buses`` busiest buses and a map of the busiest one's day.
    ``yards`` and ``lines`` as for :func:`write_sheets`.
    """
    lines = lines or street_lines(comparison, yards=yards)
    points = lines.points
    private = _private_ids(comparison)
    rides = comparison_rides(comparison)
    parts = [
        "<h2>Route sheets and ride times</h2>",
        (
            '<p class="note">Every bus\'s sheet is in route_sheets.csv; stops of fewer than ten students '
            "(door-to-door, wheelchair and small corners) are merged and not located (exact sheets only in "
            "--private-out).</p>"
        ),
    ]
    if len(rides):
        limit = comparison.prepared.data.max_ride / 60
        above = int(rides.loc[rides["school"] == "(all)", "above_limit"].sum())
        parts.append(
            f"<p>Students riding longer than the {limit:.0f}-minute limit, all scenarios: <b>{above}</b>.</p>"
        )
    for k, r in enumerate(comparison.results):
        parts.append(f"<h3>{html.escape(r.scenario.name)}</h3>")
        if len(rides):
            by_sector = rides[(rides["scenario"] == r.scenario.name) & (rides["school"] == "(all)")].drop(
                columns=["scenario", "school"]
            )
            parts.append(_html_table(by_sector))
        for session, plan in r.plans.items():
            days = bus_days(plan, lines=lines, public=True, crs=comparison.prepared.crs)
            table = days.drop(columns="geometry")
            parts.append(
                f"<details><summary>{session.upper()}: {len(days)} buses, one line each</summary>"
                f"{_html_table(table)}</details>"
            )
            if k == 0 and len(days):
                busiest = days.sort_values(["runs", "students"], ascending=False).head(example_buses)
                sheet = public_sheets(route_sheets(plan, points=points), private=private)
                for bus, kind in zip(busiest["bus"], busiest["bus_type"]):
                    parts.append(
                        f"<details><summary>{session.upper()} bus {bus} ({html.escape(str(kind))}): its "
                        "sheet</summary>"
                        f"{_html_table(_readable(sheet[sheet['bus'] == bus]))}</details>"
                    )
                top = days[days["bus"] == busiest["bus"].iloc[0]]
                parts.append(
                    f"<p>{session.upper()} bus {int(top['bus'].iloc[0])}'s whole day "
                    "(through stops that locate nobody):</p>"
                )
                parts.append(_day_svg(top, comparison.prepared.schools))
    return "".join(parts)
