"""The HTML reports of ``compact zones``: a map of the zones (inline SVG, drawn offline) and
formatted tables — aggregated only, never a student's row.

Tables show names (not id lists), units in the headers, rounded numbers and travel in minutes;
every report says where residents and seats came from and lists its warnings first.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facilities.io import atomic_write

__all__ = [
    "Html",
    "write_report",
    "zones_map",
    "coverage_sections",
    "design_sections",
    "lottery_sections",
    "format_table",
]

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:76rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.text,th.text{text-align:left;max-width:28rem;min-width:10rem}
.note{color:#555;font-size:.9rem;margin:.2rem 0}
.warn{background:#fff4e5;border-left:4px solid #e67e22;padding:.5rem 1rem}
.maps{display:flex;flex-wrap:wrap;gap:1rem}.maps figure{margin:0}figcaption{font-size:.85rem;color:#555}
svg{border:1px solid #ddd;background:#fbfbf8}.legend{font-size:.8rem;color:#444}.scroll{overflow-x:auto}"""
_SECTOR_COLORS = {"district": "#1f77b4", "charter": "#ff7f0e", "catholic": "#2ca02c", "private": "#9467bd"}
_PALETTE = (
    "#8dd3c7",
    "#ffffb3",
    "#bebada",
    "#fb8072",
    "#80b1d3",
    "#fdb462",
    "#b3de69",
    "#fccde5",
    "#d9d9d9",
    "#bc80bd",
    "#ccebc5",
    "#ffed6f",
)
#: At most this many names in a cell; the rest are counted ("and 12 more").
MAX_NAMES = 6


class Html(str):
    """Markup to insert as is (a map, a list), as opposed to text to escape."""


def _ramp(value: float) -> str:
    """Red (0) through yellow to green (1) for a share; grey when unknown."""
    if not np.isfinite(value):
        return "#dddddd"
    v = float(np.clip(value, 0, 1))
    stops = [(0.0, (215, 48, 39)), (0.5, (254, 224, 139)), (1.0, (26, 152, 80))]
    for (a, ca), (b, cb) in zip(stops[:-1], stops[1:], strict=True):
        if v <= b:
            t = (v - a) / (b - a)
            return "#" + "".join(f"{int(round(x + (y - x) * t)):02x}" for x, y in zip(ca, cb, strict=True))
    return "#1a9850"


def zones_map(
    zones: gpd.GeoDataFrame,
    *,
    schools: gpd.GeoDataFrame | None = None,
    share: str | None = None,
    context: gpd.GeoDataFrame | None = None,
    caption: str = "",
    width: int = 720,
) -> Html:
    """The zones as an inline SVG (no tiles, no external host): each zone filled by ``share``
    (red 0 % to green 100 % guaranteed) or, without it, by a categorical colour; schools as dots
    coloured by sector; ``context`` (e.g. the city's neighborhoods) drawn as grey outlines beneath,
    the map spanning it. Hover shows each zone's name (and share) and each school's name."""
    if not len(zones):
        return Html("")
    frame = zones[zones.geometry.notna()]
    if context is not None and len(context):
        context = context[context.geometry.notna()].to_crs(frame.crs)
        x0, y0, x1, y1 = np.r_[
            np.minimum(frame.total_bounds[:2], context.total_bounds[:2]),
            np.maximum(frame.total_bounds[2:], context.total_bounds[2:]),
        ]
    else:
        x0, y0, x1, y1 = frame.total_bounds
    margin = 8
    scale = (width - 2 * margin) / max(x1 - x0, 1.0)
    height = int(min(max((y1 - y0) * scale + 2 * margin, 120), 900))
    scale = min(scale, (height - 2 * margin) / max(y1 - y0, 1.0))
    tolerance = 0.5 / scale  # half a pixel: the map stays small on detailed boundaries

    def path(geom: shapely.Geometry) -> str:
        out = []
        for poly in getattr(geom, "geoms", [geom]):
            for ring in [poly.exterior, *poly.interiors]:
                pts = np.asarray(ring.coords)
                px = np.column_stack(
                    [margin + (pts[:, 0] - x0) * scale, height - margin - (pts[:, 1] - y0) * scale]
                )
                out.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in px) + "Z")
        return "".join(out)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
        f"aria-label='{html.escape(caption or 'map of the zones')}'>"
    ]
    if context is not None and len(context):
        for geom in context.geometry.simplify(tolerance).values:
            if geom.geom_type in ("Polygon", "MultiPolygon"):
                parts.append(f"<path d='{path(geom)}' fill='none' stroke='#bbb' stroke-width='0.6'/>")
    names = frame["name"] if "name" in frame else frame["id"]
    for k, (name, geom) in enumerate(
        zip(names.astype(str), frame.geometry.simplify(tolerance).values, strict=True)
    ):
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        tip = name
        if share is not None:
            value = float(frame[share].iloc[k]) if pd.notna(frame[share].iloc[k]) else float("nan")
            fill = _ramp(value)
            tip += f": {value:.0%} guaranteed" if np.isfinite(value) else ": no residents"
        else:
            fill = _PALETTE[k % len(_PALETTE)]
        parts.append(
            f"<path d='{path(geom)}' fill='{fill}' fill-opacity='0.75' stroke='#555' stroke-width='0.6' "
            f"fill-rule='evenodd'><title>{html.escape(tip)}</title></path>"
        )
    if schools is not None and len(schools):
        inside = schools[
            (schools.geometry.x >= x0)
            & (schools.geometry.x <= x1)
            & (schools.geometry.y >= y0)
            & (schools.geometry.y <= y1)
        ]
        for name, sector, pt in zip(
            inside["name"].astype(str), inside["sector"].astype(str), inside.geometry, strict=True
        ):
            x, y = margin + (pt.x - x0) * scale, height - margin - (pt.y - y0) * scale
            parts.append(
                f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2.6' fill='{_SECTOR_COLORS.get(sector, '#333')}' "
                f"stroke='#fff' stroke-width='0.6'><title>{html.escape(f'{name} ({sector})')}</title>"
                "</circle>"
            )
    parts.append("</svg>")
    legend = []
    if share is not None:
        legend.append(
            "Zones: share of residents guaranteed a seat, "
            + " ".join(f"<span style='color:{_ramp(v)}'>&#9632;</span> {v:.0%}" for v in (0, 0.5, 1))
            + " <span style='color:#ddd'>&#9632;</span> no residents"
        )
    if schools is not None and len(schools):
        present = sorted(set(schools["sector"].astype(str)))
        legend.append(
            "Schools: "
            + " ".join(
                f"<span style='color:{_SECTOR_COLORS.get(s, '#333')}'>&#9679;</span> {html.escape(s)}"
                for s in present
            )
        )
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return Html(f"<figure>{''.join(parts)}{cap}<p class='legend'>{'<br>'.join(legend)}</p></figure>")


def _names(ids: object, lookup: Mapping[str, str]) -> str:
    """Names of the ids in a cell (tuple or ';'-joined text), at most :data:`MAX_NAMES`, the rest counted."""
    if isinstance(ids, str):
        ids = [i for i in ids.split(";") if i]
    items = [lookup.get(str(i), str(i)) for i in (ids if isinstance(ids, (tuple, list, np.ndarray)) else [])]
    shown = ", ".join(items[:MAX_NAMES])
    return shown + (f" and {len(items) - MAX_NAMES} more" if len(items) > MAX_NAMES else "")


def _cell(value: object, kind: str, private: bool) -> str:
    if value is None or (not isinstance(value, (str, tuple, list)) and pd.isna(value)):
        return ""
    if kind == "int":
        v = int(round(float(value)))  # type: ignore[arg-type]
        return f"<{10}" if private and 0 < v < 10 else f"{v:,}"
    if kind == "pct":
        return f"{float(value):.0%}"  # type: ignore[arg-type]
    if kind == "min":
        return f"{float(value) / 60:.1f}" if np.isfinite(float(value)) else ""  # type: ignore[arg-type]
    if kind == "km":
        return f"{float(value) / 1000:.1f}"  # type: ignore[arg-type]
    if kind.startswith("f"):
        return f"{float(value):.{int(kind[1:])}f}"  # type: ignore[arg-type]
    if kind == "bool":
        return "yes" if bool(value) else "no"
    return str(value)


def format_table(
    frame: pd.DataFrame,
    columns: Sequence[tuple[str, str, str]],
    *,
    private: Sequence[str] = (),
) -> Html:
    """An HTML table of chosen columns, each ``(column, header, kind)``.

    Kinds: ``int`` (thousands separated), ``pct`` (0.87 -> 87%), ``min`` (seconds shown as
    minutes, one decimal), ``km`` (metres as km), ``f2`` (two decimals), ``bool`` (yes/no),
    ``text`` (left-aligned). Counts in ``private`` columns below 10 show as "<10".
    """
    present = [(c, h, k) for c, h, k in columns if c in frame.columns and _shown(frame[c])]
    head = "".join(
        f"<th class='{'text' if k == 'text' else ''}'>{html.escape(h)}</th>" for _, h, k in present
    )
    rows = []
    for rec in frame[[c for c, _, _ in present]].itertuples(index=False):
        cells = [
            f"<td class='{'text' if k == 'text' else ''}'>{html.escape(_cell(v, k, c in private))}</td>"
            for v, (c, _, k) in zip(rec, present, strict=True)
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        return Html("<p class='note'>None.</p>")
    return Html(
        f"<div class='scroll'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _shown(values: pd.Series) -> bool:
    """Whether a column holds anything to show (an all-empty column, e.g. an unknown share, is left out)."""
    return bool(
        values.map(
            lambda v: (
                isinstance(v, (str, tuple, list))
                and len(v) > 0
                or (not isinstance(v, (str, tuple, list)) and pd.notna(v))
            )
        ).any()
    )


def _lookup(frame: pd.DataFrame) -> dict[str, str]:
    if not len(frame):
        return {}
    names = frame["name"] if "name" in frame else frame["id"]
    return dict(
        zip(frame["id"].astype(str), names.where(names.notna(), frame["id"]).astype(str), strict=True)
    )


_ZONE_COLUMNS = [
    ("name", "zone", "text"),
    ("kind", "kind", "text"),
    ("grades", "grades", "text"),
    ("school_names", "schools", "text"),
    ("sectors", "sectors", "text"),
    ("residents", "residents", "int"),
    ("seats", "seats", "int"),
    ("guaranteed", "guaranteed a seat", "int"),
    ("share", "share guaranteed", "pct"),
    ("shortfall", "shortfall", "int"),
    ("utilization", "residents / seats", "pct"),
    ("travel_median_s", "median trip to nearest zone school (min)", "min"),
    ("travel_p90_s", "90th-percentile trip (min)", "min"),
    ("low_income_share", "low-income share", "pct"),
    ("area_km2", "area (km²)", "f1"),
    ("polsby_popper", "compactness (Polsby–Popper, 0–1)", "f2"),
]


def coverage_sections(
    coverage: object,
    gaps: pd.DataFrame,
    schools: gpd.GeoDataFrame,
    *,
    private: bool,
    context: gpd.GeoDataFrame | None = None,
) -> list[tuple[str, Html | pd.DataFrame | str]]:
    """The coverage report's sections: map (over ``context``, e.g. the city's zones), zones, the
    guarantee by grade, what would close the gaps."""
    zones = coverage.zones.copy()  # type: ignore[attr-defined]
    names = _lookup(schools)
    zones["school_names"] = [_names(ids, names) for ids in zones["schools"]]
    counts = ["residents", "guaranteed", "shortfall"] if private else []
    zone_name = dict(zip(zones["id"].astype(str), zones["name"].astype(str), strict=True))
    by_grade = coverage.grades  # type: ignore[attr-defined]
    grades = by_grade.assign(zone_name=by_grade["zone"].astype(str).map(zone_name))
    gaps = gaps.assign(zone_name=gaps["zone"].astype(str).map(zone_name)) if len(gaps) else gaps
    in_zone = {str(s) for ids in zones["schools"] for s in ids}
    shown = schools[schools["id"].astype(str).isin(in_zone)] if len(schools) else schools
    return [
        (
            "Map",
            zones_map(
                zones,
                schools=shown,
                share="share",
                context=context,
                caption="Zones coloured by the share of residents guaranteed a seat; the zones' schools.",
            ),
        ),
        ("Zones", format_table(zones, _ZONE_COLUMNS, private=counts)),
        (
            "Guarantee by zone and grade",
            format_table(
                grades,
                [
                    ("zone_name", "zone", "text"),
                    ("grade_name", "grade", "text"),
                    ("residents", "residents", "int"),
                    ("seats", "seats", "int"),
                    ("guaranteed", "guaranteed", "int"),
                    ("share", "share", "pct"),
                    ("shortfall", "shortfall", "int"),
                ],
                private=counts,
            ),
        ),
        (
            "What would close the gaps",
            format_table(
                gaps,
                [
                    ("zone_name", "zone", "text"),
                    ("grade", "grade", "int"),
                    ("shortfall", "shortfall", "int"),
                    ("kind", "what", "text"),
                    ("name", "name", "text"),
                    ("sector_or_owner", "sector or owner", "text"),
                    ("distance_m", "distance from the zone (km)", "km"),
                    ("seats", "spare seats", "int"),
                    ("cumulative", "running total", "int"),
                    ("closes_gap", "closes the gap", "bool"),
                ],
                private=counts,
            ),
        ),
    ]


_OUTCOMES = [
    ("students", "applicants", "int"),
    ("matched", "matched", "int"),
    ("matched_share", "matched (share)", "pct"),
    ("first_choice", "first choice", "int"),
    ("first_choice_share", "first choice (share)", "pct"),
    ("top_three", "top three", "int"),
    ("top_three_share", "top three (share)", "pct"),
    ("guarantee", "placed by the guarantee", "int"),
    ("unassigned", "unassigned", "int"),
]


def lottery_sections(
    overall: pd.DataFrame, tables: Mapping[str, pd.DataFrame], by_zone: pd.DataFrame
) -> list[tuple[str, Html | pd.DataFrame | str]]:
    """The lottery report's sections: overall outcomes, seats and outcomes by sector, by
    neighborhood and grade, and the shared zones' residents (groups under 10 already blanked)."""
    sector = format_table(
        tables["sector"],
        [
            ("sector", "sector", "text"),
            ("schools", "schools", "int"),
            ("seats_offered", "seats offered (lottery's grades)", "int"),
            ("seats_estimated", "of which estimated", "int"),
            ("schools_without_seats", "schools without seats", "int"),
            ("first_choice", "applicants ranking it first", "int"),
            ("placed", "students placed", "int"),
            ("seats_left", "seats left (lottery's grades)", "int"),
            ("matched", "first-choosers matched", "int"),
            ("unassigned", "first-choosers unassigned", "int"),
        ],
    )
    out: list[tuple[str, Html | pd.DataFrame | str]] = [
        ("Overall", format_table(overall, _OUTCOMES)),
        ("By sector: seats and outcomes", sector),
    ]
    for key in ("neighborhood", "grade"):
        if key in tables:
            out.append((f"By {key}", format_table(tables[key], [(key, key, "text"), *_OUTCOMES])))
    zone_cols = [
        ("zone", "zone", "text"),
        ("students", "residents applying", "int"),
        ("matched", "matched", "int"),
        ("in_zone", "placed in the zone", "int"),
        ("guarantee", "placed by the guarantee", "int"),
        ("unassigned", "unassigned", "int"),
    ]
    out.append(("Shared zones' residents", format_table(by_zone, zone_cols)))
    return out


#: Measures of :meth:`facilities.zones.ZonePlan.metrics`: label with units, and kind.
MEASURES: dict[str, tuple[str, str]] = {
    "zones": ("zones", "int"),
    "travel_median": ("median expected trip to the zone's schools (min)", "min"),
    "travel_p90": ("90th-percentile expected trip (min)", "min"),
    "travel_nearest_median": ("median trip to the nearest zone school (min)", "min"),
    "travel_nearest_p90": ("90th-percentile trip to the nearest zone school (min)", "min"),
    "coverage": ("residents guaranteed a seat", "pct"),
    "shortfall": ("residents short of a seat", "int"),
    "utilization_in_band": ("zones with residents / seats in the target band", "pct"),
    "utilization_min": ("lowest residents / seats", "pct"),
    "utilization_max": ("highest residents / seats", "pct"),
    "dissimilarity": ("low-income dissimilarity (0 even – 1 segregated)", "f2"),
    "low_income_gap": ("largest gap from the city's low-income share", "pct"),
    "polsby_popper_median": ("median compactness (Polsby–Popper)", "f2"),
    "polsby_popper_min": ("least compact zone (Polsby–Popper)", "f2"),
    "switchers": ("residents whose current school is outside their zone", "int"),
    "bus_riders": ("residents beyond walking distance (bus riders)", "int"),
    "unzoned": ("residents in no zone", "int"),
}


def comparison_text(table: pd.DataFrame) -> str:
    """Plans side by side as plain text (for the terminal): labelled measures with units, rounded."""
    plans = [c for c in table.columns if c != "measure"]
    rows = [["measure", *plans]]
    for _, row in table.iterrows():
        label, kind = MEASURES.get(str(row["measure"]), (str(row["measure"]), "f2"))
        rows.append([label, *(_cell(row[p], kind, False) or "unknown" for p in plans)])
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    return "\n".join(
        "  ".join([r[0].ljust(widths[0]), *(v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True))])
        for r in rows
    )


def _comparison(table: pd.DataFrame) -> Html:
    """Plans side by side: one row per measure (labelled, with units), one column per plan."""
    plans = [c for c in table.columns if c != "measure"]
    head = "<th class='text'>measure</th>" + "".join(f"<th>{html.escape(str(p))}</th>" for p in plans)
    rows, unknown = [], []
    for _, row in table.iterrows():
        label, kind = MEASURES.get(str(row["measure"]), (str(row["measure"]), "f2"))
        if pd.to_numeric(row[plans], errors="coerce").isna().all():
            unknown.append(label)
            continue
        cells = "".join(f"<td>{html.escape(_cell(row[p], kind, False))}</td>" for p in plans)
        rows.append(f"<tr><td class='text'>{html.escape(label)}</td>{cells}</tr>")
    missing = f"<p class='note'>Unknown (no data): {html.escape('; '.join(unknown))}.</p>" if unknown else ""
    return Html(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{missing}")


def design_sections(
    table: pd.DataFrame,
    plans: Mapping[str, object],
    schools: gpd.GeoDataFrame,
    units: Mapping[str, str],
    *,
    private: bool = False,
) -> list[tuple[str, Html | pd.DataFrame | str]]:
    """The design report's sections: the comparison, a map of each plan, each plan's zones and issues.

    With ``private`` (residents counted from students) a zone's residents below 10 show as "<10"."""
    names = _lookup(schools)
    maps = []
    sections: list[tuple[str, Html | pd.DataFrame | str]] = [("Plans side by side", _comparison(table))]
    details: list[tuple[str, Html | pd.DataFrame | str]] = []
    for name, plan in plans.items():
        frame = plan.to_geodataframe()  # type: ignore[attr-defined]
        frame["unit_names"] = [_names(ids, units) for ids in frame["units"]]
        frame["school_names"] = [_names(ids, names) for ids in frame["schools"]]
        chosen = {str(s) for ids in frame["schools"] for s in ids}
        shown = schools[schools["id"].astype(str).isin(chosen)] if len(schools) else schools
        maps.append(zones_map(frame, schools=shown, caption=f"{name}: {len(frame)} zones", width=360))
        details.append(
            (
                f"{name}: zones",
                format_table(
                    frame,
                    [
                        ("name", "zone", "text"),
                        ("unit_names", "units", "text"),
                        ("school_names", "schools", "text"),
                        ("sectors", "sectors", "text"),
                        ("n_schools", "schools (count)", "int"),
                        ("residents", "residents", "int"),
                        ("seats", "seats", "int"),
                        ("polsby_popper", "compactness (Polsby–Popper)", "f2"),
                    ],
                    private=["residents"] if private else [],
                ),
            )
        )
        issues = list(plan.issues)  # type: ignore[attr-defined]
        if issues:
            items = "".join(f"<li>{html.escape(i)}</li>" for i in issues)
            details.append((f"{name}: what could not be met", Html(f"<ul>{items}</ul>")))
    sections.append(("Maps", Html(f"<div class='maps'>{''.join(maps)}</div>")))
    return sections + details


def write_report(
    path: str | Path,
    *,
    title: str,
    sections: Sequence[tuple[str, pd.DataFrame | str]],
    notes: Mapping[str, str] | None = None,
    warnings: Sequence[str] = (),
) -> Path:
    """Write a self-contained HTML page of headed sections, atomically.

    Parameters
    ----------
    path
        The ``.html`` file.
    title
        The page title.
    sections
        ``(heading, content)`` pairs: a DataFrame (already aggregated), :class:`Html` markup
        (a map, a formatted table) or a text paragraph.
    notes
        Lines shown under the title (how the numbers were made: residents' and seats' sources,
        simulated lists, travel model).
    warnings
        Degenerate results, by name, shown first.
    """
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for key, text in (notes or {}).items():
        parts.append(f"<p class='note'><b>{html.escape(key)}</b>: {html.escape(text)}</p>")
    if warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
        parts.append(f"<div class='warn'><b>Warnings</b><ul>{items}</ul></div>")
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, Html):
            parts.append(str(content))
        elif isinstance(content, pd.DataFrame):
            parts.append(content.to_html(index=False, na_rep="", border=0))
        else:
            parts.append(f"<p>{html.escape(content)}</p>")
    with atomic_write(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return Path(path)
