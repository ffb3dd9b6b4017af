"""The HTML report of ``compact facilities match``: a map (inline SVG, no tiles) and the tables.

The map draws neighborhood outlines, every candidate building (a filled square where a need was
housed: blue for a whole building, orange for a co-location; grey otherwise), and a line from each
housed need's school to its building. No student home is drawn.
"""

from __future__ import annotations

import html
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facilities.io import atomic_write
from facilities.matching import MatchResult

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}
td,th{border:1px solid #ccc;padding:.2rem .45rem}
th{background:#f3f3f3}.note{color:#555;font-size:.9rem}svg{border:1px solid #ddd;background:#fbfbf8}"""
_MODE_COLORS = {"whole": "#1f77b4", "co_location": "#ff7f0e"}


class _Canvas:
    """Projects WGS84 points to SVG pixels (equirectangular at the map's mid-latitude)."""

    def __init__(self, bounds: tuple[float, float, float, float], width: int = 900, margin: int = 20) -> None:
        west, south, east, north = bounds
        self.k = np.cos(np.radians((south + north) / 2))
        span_x, span_y = max((east - west) * self.k, 1e-6), max(north - south, 1e-6)
        self.scale = (width - 2 * margin) / span_x
        self.width, self.height = width, int(span_y * self.scale + 2 * margin)
        self.west, self.north, self.margin = west, north, margin

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            self.margin + (lon - self.west) * self.k * self.scale,
            self.margin + (self.north - lat) * self.scale,
        )

    def path(self, geom: shapely.Geometry) -> str:
        parts = []
        for poly in getattr(geom, "geoms", [geom]):
            ring = poly.exterior.coords if hasattr(poly, "exterior") else poly.coords
            pts = [self.xy(x, y) for x, y in ring]
            parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
        return "".join(parts)


def svg_map(result: MatchResult, zones: gpd.GeoDataFrame | None = None, *, width: int = 900) -> str:
    """The match as an inline SVG: neighborhoods, buildings by mode, lines from needs to buildings."""
    buildings = result.building_layer().to_crs(4326)
    lines = result.lines().to_crs(4326)
    frames = [buildings] + ([zones.to_crs(4326)] if zones is not None and len(zones) else [])
    boxes = np.array([f.total_bounds for f in frames])
    canvas = _Canvas(
        (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()), width=width
    )
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{canvas.width}' height='{canvas.height}' "
        "role='img' aria-label='map of the match'>"
    ]
    if zones is not None and len(zones):
        for name, geom in zip(zones.get("name", zones["id"]), zones.to_crs(4326).geometry, strict=True):
            if geom is not None and geom.geom_type in ("Polygon", "MultiPolygon"):
                out.append(
                    f"<path d='{canvas.path(geom)}' fill='none' "
                    f"stroke='#bbb'><title>{html.escape(str(name))}</title></path>"
                )
    for row, geom in zip(lines.itertuples(), lines.geometry, strict=True):
        (x0, y0), (x1, y1) = (canvas.xy(*c) for c in (geom.coords[0], geom.coords[-1]))
        color = _MODE_COLORS.get(row.mode, "#444")
        out.append(
            f"<line x1='{x0:.1f}' y1='{y0:.1f}' x2='{x1:.1f}' y2='{y1:.1f}' stroke='{color}' "
            f"stroke-width='2'><title>{html.escape(f'{row.need} → {row.building}')}</title></line>"
        )
        out.append(f"<circle cx='{x0:.1f}' cy='{y0:.1f}' r='3' fill='{color}'/>")
    for row, geom in zip(buildings.itertuples(), buildings.geometry, strict=True):
        x, y = canvas.xy(geom.x, geom.y)
        housed = bool(row.needs)
        fill = _MODE_COLORS.get(row.mode, "#999") if housed else "#fff"
        stroke = _MODE_COLORS.get(row.mode, "#999")
        tip = f"{row.id} {row.name or ''} ({row.mode})" + (f": {row.needs}" if housed else "")
        size = 8 if housed else 5
        out.append(
            f"<rect x='{x - size / 2:.1f}' y='{y - size / 2:.1f}' width='{size}' height='{size}' "
            f"fill='{fill}' stroke='{stroke}'><title>{html.escape(tip)}</title></rect>"
        )
    out.append("</svg>")
    return "".join(out)


def write_match_report(
    path: str | Path,
    result: MatchResult,
    *,
    title: str,
    zones: gpd.GeoDataFrame | None = None,
    notes: dict[str, str] | None = None,
) -> Path:
    """Write the match report (map, housed needs, unmatched needs with reasons, buildings), atomically."""
    s = result.summary()
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style><h1>{html.escape(title)}</h1>"
    ]
    gap = "proven optimal" if s["status"] == "optimal" else f"{s['status']}, gap {100 * s['gap']:.2f}%"
    parts.append(
        f"<p>{s['housed']} of {s['needs']} needs housed ({s['housed_whole_plan']} for their whole plan): "
        f"{s['whole_buildings']} whole buildings, {s['co_locations']} co-locations; {gap}, "
        f"{s['seconds']:.1f} s.</p>"
    )
    for key, text in (notes or {}).items():
        parts.append(f"<p class='note'><b>{html.escape(key)}</b>: {html.escape(text)}</p>")
    legend = " ".join(
        f"<span style='color:{c}'>■ {m.replace('_', '-')}</span>" for m, c in _MODE_COLORS.items()
    )
    parts.append(
        f"<h2>Map</h2><p class='note'>{legend}; hollow squares: candidate buildings left; lines: from each "
        "need's school to its building.</p>"
    )
    parts.append(svg_map(result, zones))
    table = result.assignments.drop(
        columns=[c for c in result.assignments if c.startswith("rooms_") and c != "rooms_classroom"]
    )
    if s.get("housed_if_confirmed"):
        parts.append(
            f"<p class='note'><b>Fits if confirmed</b>: {s['housed_if_confirmed']} of the housed needs fit "
            "only if the facts "
            "listed under <i>conditions</i> are confirmed (the data leaves them unknown); they rank after "
            "certain fits.</p>"
        )
    parts.append("<h2>Housed needs</h2>" + table.to_html(index=False, na_rep="", border=0))
    parts.append(
        "<h2>Needs not housed for their whole plan</h2>"
        + result.unmatched.to_html(index=False, na_rep="", border=0)
    )
    used = result.building_layer()
    used = pd.DataFrame(used[used["needs"] != ""].drop(columns="geometry"))
    estimated = used[used["capacity_source"] != "counted rooms"]
    if len(estimated):
        parts.append(
            f"<p class='note'>Capacity of {len(estimated)} of the buildings used is not from counted "
            "rooms: see "
            "<i>capacity_source</i> (reported capacity, or estimated from floor area).</p>"
        )
    parts.append("<h2>Buildings used</h2>" + used.to_html(index=False, na_rep="unknown", border=0))
    with atomic_write(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return Path(path)
