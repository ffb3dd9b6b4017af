"""The HTML report of a bell-time comparison: one self-contained, offline file (inline SVG).

It shows only aggregates of students: riders per hexagon (cells of fewer than ten are left out),
per sector and per neighborhood; schools are drawn by their bell change. Runs and stops, which
trace students' streets, are in the GeoPackage for transportation staff, not in this report.

>>> from app.report_bells import write_report
>>> write_report(comparison, "out/bells/report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from app.maps import hexbin
from facilities.io import atomic_write
from routing.scenarios import MIN_CELL, Comparison

__all__ = ["write_report", "render_report"]

_W, _H = 640, 480
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.big{font-size:1.4em}
svg{border:1px solid #ddd;background:#fafafa}.note{color:#666;font-size:0.9em}
"""


def _table(frame: pd.DataFrame, *, digits: int = 1) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:,.{digits}f}"
        if isinstance(v, (int, np.integer)):
            return f"{int(v):,}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _bars(labels: list[str], values: list[float], *, title: str, fmt: str = "{:,.0f}") -> str:
    """A horizontal bar chart as SVG."""
    h = 30 * len(labels) + 40
    top = max(max(values, default=0.0), 1e-9)
    parts = [
        f'<svg width="{_W}" height="{h}" role="img"><text x="10" y="20" '
        f'font-weight="bold">{html.escape(title)}</text>'
    ]
    for k, (label, v) in enumerate(zip(labels, values)):
        y = 35 + 30 * k
        w = 380 * max(v, 0) / top
        parts.append(
            f'<text x="10" y="{y + 15}">{html.escape(label)}</text><rect x="200" y="{y}" width="{w:.1f}" '
            'height="20" fill="#3b6ea8"/>'
        )
        parts.append(f'<text x="{205 + w:.1f}" y="{y + 15}">{fmt.format(v)}</text>')
    return "".join(parts) + "</svg>"


def _start_histogram(comparison: Comparison) -> str:
    """Schools by start time, one row of dots per scenario."""
    times = sorted({t for r in comparison.results for t in r.bells.starts.values() if np.isfinite(t)})
    if not times:
        return ""
    lo, hi = min(times), max(times)
    span = max(hi - lo, 1800.0)
    h = 60 * len(comparison.results) + 50
    parts = [
        f'<svg width="{_W}" height="{h}" role="img"><text x="10" y="20" font-weight="bold">Schools by start '
        "time</text>"
    ]
    for k, r in enumerate(comparison.results):
        y = 50 + 60 * k
        parts.append(f'<text x="10" y="{y}">{html.escape(r.scenario.name)}</text>')
        counts = pd.Series([t for t in r.bells.starts.values() if np.isfinite(t)]).value_counts()
        for t, n in counts.items():
            x = 200 + 400 * (t - lo) / span
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y - 5}" r="{3 + 2 * np.sqrt(n):.1f}" fill="#d9822b" '
                f'opacity="0.7"><title>{int(t // 3600):02d}:{int(t % 3600 // 60):02d}: {n} '
                "schools</title></circle>"
            )
    for t in np.arange(lo - lo % 1800, hi + 1, 1800):
        x = 200 + 400 * (t - lo) / span
        parts.append(
            f'<text x="{x:.1f}" y="{h - 5}" font-size="11" '
            f'text-anchor="middle">{int(t // 3600):02d}:{int(t % 3600 // 60):02d}</text>'
        )
    return "".join(parts) + "</svg>"


def _map(comparison: Comparison, scenario: int, riders: gpd.GeoDataFrame) -> str:
    """Riders per hexagon (at least ten a cell) and schools coloured by their change of start time."""
    p = comparison.prepared
    schools = p.schools
    r = comparison.results[scenario]
    change = schools["id"].map(r.bells.starts) - schools["bell_start"]
    cells = (
        hexbin(riders, size=400.0, min_count=MIN_CELL)
        if len(riders)
        else gpd.GeoDataFrame(geometry=[], crs=riders.crs)
    )
    xs = np.concatenate([schools["x"].to_numpy(), cells.total_bounds[[0, 2]] if len(cells) else []])
    ys = np.concatenate([schools["y"].to_numpy(), cells.total_bounds[[1, 3]] if len(cells) else []])
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    scale = min((_W - 20) / max(x1 - x0, 1), (_H - 20) / max(y1 - y0, 1))

    def px(x: float, y: float) -> str:
        return f"{10 + (x - x0) * scale:.1f},{_H - 10 - (y - y0) * scale:.1f}"

    parts = [f'<svg width="{_W}" height="{_H}" role="img">']
    top = float(cells["count"].max()) if len(cells) else 1.0
    for geom, n in zip(cells.geometry, cells["count"] if len(cells) else []):
        pts = " ".join(px(x, y) for x, y in np.asarray(geom.exterior.coords))
        parts.append(
            f'<polygon points="{pts}" fill="#3b6ea8" fill-opacity="{0.1 + 0.6 * n / top:.2f}"><title>{n} '
            "riders</title></polygon>"
        )
    for (_, s), d in zip(schools.iterrows(), change):
        color = "#888" if not np.isfinite(d) or d == 0 else ("#c0392b" if d < 0 else "#27ae60")
        x, y = px(s["x"], s["y"]).split(",")
        row = r.bells.changes.set_index("school").loc[s["id"]]
        label = f"{s['name']}: {row['old_start']}-{row['old_end']} → {row['new_start']}-{row['new_end']}"
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="5" fill="{color}" '
            f'stroke="#fff"><title>{html.escape(label)}</title></circle>'
        )
    parts.append("</svg>")
    legend = (
        '<p class="note">Blue: riders per hexagon (cells of fewer than ten not drawn). Schools: green '
        "later, red earlier, grey unchanged (hover for times).</p>"
    )
    return "".join(parts) + legend


def render_report(
    comparison: Comparison, *, riders: gpd.GeoDataFrame | None = None, sections: str = ""
) -> str:
    """The report as one HTML string.

    Parameters
    ----------
    comparison
        From :func:`routing.scenarios.compare`.
    riders
        Riders' points (metric CRS) for the hexagon map; by default the stops weighted by riders
        (stops stand in for homes: they are within each rider's walk).
    sections
        More HTML placed at the end (e.g. :func:`app.outputs_sheets.sheets_html`).
    """
    p = comparison.prepared
    summary = comparison.summary()
    if riders is None:
        stops = p.stops.stops
        riders = gpd.GeoDataFrame(
            geometry=stops.geometry.repeat(stops["students"].to_numpy()).reset_index(drop=True), crs=stops.crs
        )
    best = int(summary["buses"].idxmin())
    top = summary.iloc[best]
    cols = [
        "scenario",
        "buses",
        "buses_saved",
        "dollars_per_year",
        "dollars_saved_per_year",
        "miles_per_day",
        "deadhead_miles_per_day",
        "driver_hours_per_day",
        "mean_ride_min",
        "p95_ride_min",
        "early_arrivals",
        "before_8_elementary",
        "before_8_middle",
        "before_8_high",
        "schools_before_8",
        "policy_violations",
        "mixed_runs",
        *(f"buses_{b.id}" for b in p.data.bus_types),
    ]
    changes = comparison.results[best].bells.changes
    moved = changes[(changes["change_min"].fillna(0) != 0) | (changes["end_change_min"].fillna(0) != 0)]
    costs = p.costs
    body = [
        f"<h1>Bell-time scenarios — {html.escape(p.city_name)}</h1>",
        f'<p class="big">{html.escape(str(top["scenario"]))}: <b>{int(top["buses"])}</b> buses, '
        f"{int(top['buses_saved'])} fewer than {html.escape(str(summary['scenario'].iloc[0]))}, saving "
        f"<b>${top['dollars_saved_per_year'] / 1e6:,.2f}M a year</b>.</p>",
        f'<p class="note">{int(summary["riders"].iloc[0]):,} riders at {len(p.stops.stops):,} stops. Costs: '
        f"${costs.per_bus_year:,.0f} per bus-year "
        f"({html.escape(costs.source)}), ${costs.per_mile:.2f} a mile, {costs.school_days} school days; bus "
        "types at their own "
        "price where the fleet gives one. "
        + (
            "Each scenario's runs are chosen among several run sets per school jointly with the chaining "
            "onto buses, at its bells; "
            "each bus is the cheapest type its runs fit (lift buses only for wheelchair riders).</p>"
            if p.engine == "select"
            else "Runs are fixed per school (the reference engine); bell changes move them and re-chain "
            "them onto buses.</p>"
        ),
        *_clock_cap(comparison),
        "<h2>Scenarios</h2>",
        _table(summary[[c for c in cols if c in summary.columns]]),
        _bars(summary["scenario"].tolist(), summary["buses"].astype(float).tolist(), title="Buses"),
        _bars(
            summary["scenario"].tolist(),
            (summary["dollars_per_year"] / 1e6).tolist(),
            title="Dollars a year (millions)",
            fmt="${:,.2f}M",
        ),
        _start_histogram(comparison),
        f"<h2>Map: {html.escape(str(top['scenario']))}</h2>",
        _map(comparison, best, riders),
        f"<h2>What changes for schools ({html.escape(str(top['scenario']))}): {len(moved)} of "
        f"{len(changes)} move</h2>",
        _table(moved.drop(columns=["change_min", "end_change_min"]) if len(moved) else moved),
        "<h2>By sector</h2>",
        _table(comparison.by_sector()),
        "<h2>By neighborhood (riders' homes)</h2>",
        f'<p class="note">Neighborhoods with fewer than {MIN_CELL} riders are blank.</p>',
        _table(comparison.by_neighborhood()),
    ]
    if len(p.infeasible):
        counts = p.infeasible.groupby(["kind", "reason"]).size().rename("count").reset_index()
        body += ["<h2>Left out</h2>", '<p class="note">Listed by name in infeasible.csv.</p>', _table(counts)]
    violations = {r.scenario.name: r.policy_violations for r in comparison.results if r.policy_violations}
    if violations:
        body.append("<h2>Policy rules broken</h2>")
        body += [
            f"<p><b>{html.escape(k)}</b>: {html.escape('; '.join(v[:20]))}</p>" for k, v in violations.items()
        ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Bell times — "
        f"{html.escape(p.city_name)}</title><style>{_CSS}</style></head><body>{''.join(body)}{sections}"
        "</body></html>"
    )


def _clock_cap(comparison: Comparison) -> list[str]:
    """A warning when the clock's safety cap, not a budget, ended a search (the result may then differ)."""
    capped = comparison.clock_cap()
    if not capped:
        return []
    return [
        '<p class="big" style="color:#a00">Warning: the clock\'s safety cap stopped '
        f"{html.escape(', '.join(capped))}; "
        "this result may differ from the next run with the same seed (the machine was too slow or too "
        "busy).</p>"
    ]


def write_report(comparison: Comparison, path: str | os.PathLike[str], *, sections: str = "") -> Path:
    """Write :func:`render_report` (with more ``sections`` of HTML at the end) to ``path`` atomically."""
    target = Path(path)
    with atomic_write(target) as tmp:
        tmp.write_text(render_report(comparison, sections=sections), encoding="utf-8")
    return target
