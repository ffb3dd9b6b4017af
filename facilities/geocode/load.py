"""Addresses to points when a city is read: the students layer as a district exports it.

``city.toml`` maps the students' address, as one column or as its parts::

    [layers.students.address]
    address = "Home Address"     # number, street and unit in one column ...
    # number = "House No"        # ... or the parts in columns of their own
    # street = "Street"
    unit = "Apt"
    city = "City"
    zip = "Zip"

Rows that come with coordinates keep them. The others are placed from the ``address_points``
layer (offline) and then, if ``[geocode]`` allows the network, by an online geocoder
(:mod:`facilities.geocode.online`). Rows that match nothing are left out of the city (and so of
routing), and counted in its :class:`~facilities.geocode.report.MatchReport` (``City.geocoding``),
which every result that depends on students reports: never dropped silently.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facilities import _validate as v
from facilities.geocode.local import AddressPoints
from facilities.geocode.match import Geocoder, Match, unmatched
from facilities.geocode.normalize import Address, parse
from facilities.geocode.online import Cache, CensusBatch, Nominatim
from facilities.geocode.report import MatchReport
from facilities.schema import ADDRESS_PARTS
from facilities.settings import Settings, parse_settings

__all__ = ["address_columns", "check_addresses", "geocode_all", "geocoders_for", "place_students"]

_ONLINE = ("census", "nominatim")


def address_columns(
    frame: pd.DataFrame, cfg: dict, *, layer: str = "students", source: str, problems: v.Problems
) -> pd.DataFrame:
    """The address columns a layer's ``[layers.X.address]`` maps, named ``address_<part>`` (for the loader).

    Parameters
    ----------
    frame
        The layer's file as read.
    cfg
        The layer's ``city.toml`` table.
    layer, source
        For messages.
    problems
        Where a mapping to a missing column or an unknown part is reported.
    """
    _check_mapping(cfg, list(frame.columns), layer=layer, source=source, problems=problems)
    mapping = cfg.get("address", {}) if isinstance(cfg.get("address", {}), dict) else {}
    return pd.DataFrame(
        {f"address_{part}": frame[column] for part, column in mapping.items() if column in frame.columns},
        index=frame.index,
    )


def geocoders_for(
    settings: Settings | Mapping[str, Any],
    *,
    address_points: gpd.GeoDataFrame | None,
    root: Path | None,
    problems: v.Problems | None = None,
) -> list[Geocoder]:
    """The geocoders a city's settings ask for: its address points, then the online one it allows.

    Parameters
    ----------
    settings
        The city's typed settings (or its ``city.toml`` tables, read here); ``[geocode]`` is used (see
        :mod:`facilities.geocode.online`).
    address_points
        The ``address_points`` layer, or ``None``.
    root
        The city folder (for the online cache), or ``None`` (no cache).
    problems
        Where a bad ``[geocode]`` table is reported; ``None`` raises it.
    """
    found = v.Problems()
    out: list[Geocoder] = []
    if address_points is not None and len(address_points):
        out.append(AddressPoints(address_points))
    cfg = (settings if isinstance(settings, Settings) else parse_settings(settings)).geocode
    online = cfg.online
    if online is not None and online not in _ONLINE:
        found.add(
            "city.toml",
            None,
            "geocode.online",
            f"unknown online geocoder {online!r}",
            f"use one of {', '.join(_ONLINE)}, or remove it",
        )
    elif online is not None and not cfg.allow_network:
        found.add(
            "city.toml",
            None,
            "geocode.allow_network",
            f"online = {online!r} needs the network, which is not allowed",
            "add allow_network = true to [geocode] (addresses are then sent to the service), "
            "or remove online",
        )
    elif online is not None:
        cache = Cache(root / "cache" / "geocode.sqlite") if root is not None else None
        city, state = cfg.city, cfg.state
        if online == "census":
            out.append(CensusBatch(cache=cache, city=city, state=state))
        else:
            out.append(Nominatim(cache=cache, user_agent=cfg.user_agent, city=city, state=state))
    if problems is None:
        found.raise_if_any(city="city.toml")
    else:
        problems.extend(found)
    return out


def geocode_all(addresses: Sequence[Address], geocoders: Sequence[Geocoder]) -> list[Match]:
    """Each address placed by the first geocoder that matches it (an unmatched one keeps every reason)."""
    results: list[Match | None] = [None] * len(addresses)
    reasons: list[list[str]] = [[] for _ in addresses]
    todo = list(range(len(addresses)))
    for geocoder in geocoders:
        if not todo:
            break
        found = geocoder.geocode([addresses[i] for i in todo])
        rest = []
        for i, match in zip(todo, found, strict=True):
            if match.placed:
                results[i] = match
            else:
                reasons[i].append(match.reason if len(geocoders) == 1 else f"{geocoder.name}: {match.reason}")
                rest.append(i)
        todo = rest
    if not geocoders:
        return [
            unmatched("no geocoder: add an address_points layer (or allow an online geocoder in [geocode])")
            for _ in addresses
        ]
    return [r if r is not None else unmatched("; ".join(reasons[i])) for i, r in enumerate(results)]


def _parse_rows(frame: pd.DataFrame) -> tuple[list[Address], list[str], np.ndarray]:
    """Addresses of a frame with ``address_<part>`` columns, each as written, and whether one is given."""

    def col(part: str) -> list[object]:
        return frame[f"address_{part}"].tolist() if f"address_{part}" in frame else [None] * len(frame)

    def text(x: object) -> str:
        return "" if v.is_missing(x) else v.parse_str(x)

    written, addresses, given = [], [], []
    for line, number, street, unit, city, zip_code in zip(*(col(p) for p in ADDRESS_PARTS), strict=True):
        house = re.sub(r"^(\d+)\.0+$", r"\1", text(number))  # a spreadsheet's 14.0 is number 14
        head = text(line) or " ".join(p for p in (house, text(street)) if p)
        written.append(", ".join(p for p in (head, text(unit), text(city), text(zip_code)) if p))
        given.append(bool(head))
        addresses.append(
            parse(head, unit=text(unit) or None, city=text(city) or None, zip=text(zip_code) or None)
        )
    return addresses, written, np.array(given, dtype=bool)


def _check_mapping(
    cfg: dict, columns: Sequence[str], *, layer: str, source: str, problems: v.Problems
) -> None:
    if not isinstance(cfg.get("address", {}), dict):
        problems.add(
            "city.toml",
            None,
            f"layers.{layer}.address",
            "must be a table",
            f'write [layers.{layer}.address] then address = "your column"',
        )
        return
    mapping = dict(cfg.get("address", {}))
    ok = True
    for part, column in mapping.items():
        if part not in ADDRESS_PARTS:
            problems.add(
                "city.toml",
                None,
                f"layers.{layer}.address.{part}",
                f"{part!r} is not an address part",
                f"map {', '.join(ADDRESS_PARTS)}",
            )
            ok = False
        elif column not in columns:
            problems.add(
                source,
                None,
                column,
                f"column {column!r} (the address {part}) is not in the file",
                f"fix [layers.{layer}.address]",
            )
            ok = False
    if ok and "address" not in mapping and "street" not in mapping:
        problems.add(
            "city.toml",
            None,
            f"layers.{layer}.address",
            "the address names neither a whole address nor a street column",
            'map address = "your column" (number, street, unit in one), or number and street',
        )


def place_students(
    frame: gpd.GeoDataFrame,
    rows: list[int | None],
    *,
    cfg: dict,
    settings: Settings | Mapping[str, Any],
    address_points: gpd.GeoDataFrame | None,
    root: Path | None,
    source: str,
    problems: v.Problems,
) -> tuple[gpd.GeoDataFrame, list[int | None], MatchReport | None]:
    """Place the rows of a layer that have an address but no coordinates; leave out those that match nothing.

    Parameters
    ----------
    frame, rows
        The layer as the loader read it: canonical columns, ``address_<part>`` columns, points
        (NaN where the file gives no coordinates), and each row's number in the file.
    cfg
        The layer's ``city.toml`` table (its ``address`` table maps the columns).
    settings, address_points, root
        For :func:`geocoders_for`.
    source
        The file, for messages.
    problems
        Where configuration problems are reported.

    Returns
    -------
    frame, rows, report
        The placed rows (the address columns dropped) and the match report (``None`` when every
        row came with coordinates).
    """
    located = np.isfinite(frame.geometry.x.to_numpy()) & np.isfinite(frame.geometry.y.to_numpy())
    address_cols = [c for c in frame.columns if c.startswith("address_")]
    todo = np.flatnonzero(~located)
    if not len(todo):
        return frame.drop(columns=address_cols), rows, None
    addresses, written, given = _parse_rows(frame.iloc[todo])
    geocoders = geocoders_for(settings, address_points=address_points, root=root, problems=problems)
    if not geocoders:
        problems.add(
            source,
            None,
            None,
            f"{len(todo):,} rows have no coordinates and there is no address_points layer to place them",
            "add [layers.address_points] (the city's address-point file), or give every row coordinates",
        )
        return frame.drop(columns=address_cols), rows, None
    matches = _within(geocode_all(addresses, geocoders), address_points)
    matches = [
        m if g else unmatched("neither coordinates nor an address")
        for m, g in zip(matches, given, strict=True)
    ]
    placed = np.array([m.placed for m in matches], dtype=bool)
    points = gpd.GeoSeries(
        gpd.points_from_xy([m.lon for m in matches], [m.lat for m in matches]), crs=4326
    ).to_crs(frame.crs or 4326)
    geometry = frame.geometry.copy()
    geometry.iloc[todo[placed]] = points.to_numpy()[placed]
    keep = np.ones(len(frame), dtype=bool)
    keep[todo[~placed]] = False
    report = MatchReport(
        source=source,
        geocoders=tuple(g.name for g in geocoders),
        rows=_report_rows(frame.iloc[todo], [rows[i] for i in todo], written, matches),
        kept_coordinates=int(located.sum()),
    )
    out = gpd.GeoDataFrame(frame.drop(columns=address_cols), geometry=geometry.to_numpy(), crs=frame.crs)
    return out[keep].reset_index(drop=True), [r for r, k in zip(rows, keep, strict=True) if k], report


def _within(
    matches: list[Match], address_points: gpd.GeoDataFrame | None, margin: float = 2_000.0
) -> list[Match]:
    """Online matches over ``margin`` metres outside the address points become unmatched (another town)."""
    if address_points is None or not len(address_points):
        return matches
    online = [i for i, m in enumerate(matches) if m.placed and m.source != AddressPoints.name]
    if not online:
        return matches
    crs = address_points.estimate_utm_crs()
    area = shapely.convex_hull(shapely.union_all(address_points.to_crs(crs).geometry.values)).buffer(margin)
    points = gpd.GeoSeries(
        gpd.points_from_xy([matches[i].lon for i in online], [matches[i].lat for i in online]), crs=4326
    )
    inside = points.to_crs(crs).within(area).to_numpy()
    out = list(matches)
    for i, ok in zip(online, inside, strict=True):
        if not ok:
            far = f"over {margin / 1000:g} km outside the address points' area"
            out[i] = unmatched(f"{matches[i].source} placed it {far}", source=matches[i].source)
    return out


def _report_rows(
    frame: pd.DataFrame,
    rows: Sequence[int | None],
    written: list[str],
    matches: list[Match],
    distance: np.ndarray | None = None,
    has_xy: np.ndarray | None = None,
) -> pd.DataFrame:
    def column(name: str) -> list[object]:
        if name not in frame:
            return [None] * len(frame)
        return [None if v.is_missing(x) else v.parse_str(x) for x in frame[name].tolist()]

    table = pd.DataFrame(
        {
            "row": rows,
            "id": column("id"),
            "school": column("school"),
            "neighborhood": column("neighborhood"),
            "address": written,
            "kind": [m.kind for m in matches],
            "score": [m.score for m in matches],
            "matched": [m.matched for m in matches],
            "reason": [m.reason for m in matches],
            "geocoder": [m.source for m in matches],
            "lon": [m.lon for m in matches],
            "lat": [m.lat for m in matches],
        }
    )
    if table["id"].isna().all():
        table["id"] = [f"student-{r}" for r in rows]
    table["has_coordinates"] = False if has_xy is None else has_xy
    if distance is not None:
        table["distance"] = distance
    return table


def check_addresses(
    root: str | Path, *, address_points: gpd.GeoDataFrame | None, settings: Settings | Mapping[str, Any]
) -> MatchReport:
    """Geocode every student row with an address, also those with coordinates, and measure against them.

    What ``compact geocode`` prints: a district sees how its addresses match before it drops its
    coordinates, and how far each placed point is from the coordinates its file gives.

    Parameters
    ----------
    root
        The city folder.
    address_points, settings
        The city's address points and settings (see :func:`geocoders_for`).

    Raises
    ------
    ValidationError
        If the students layer maps no address.
    """
    from facilities.io import read_layer_file

    root = Path(root)
    config = tomllib.loads((root / "city.toml").read_text(encoding="utf-8"))
    cfg = config.get("layers", {}).get("students", {})
    problems = v.Problems()
    if "address" not in cfg:
        problems.add(
            "city.toml",
            None,
            "layers.students.address",
            "the students layer maps no address",
            'add [layers.students.address] with address = "your column" (see README: addresses)',
        )
        problems.raise_if_any(city=str(root))
    source = str(cfg.get("file"))
    header_row = int(cfg.get("header_row", 1))
    raw = read_layer_file(root / source, sheet=cfg.get("sheet"), header_row=header_row)
    raw.columns = [str(c).strip() for c in raw.columns]
    parts = address_columns(raw, cfg, source=source, problems=problems)
    problems.raise_if_any(city=str(root))
    rename = {c: f for f, c in dict(cfg.get("columns", {})).items() if c in raw.columns}
    frame = pd.concat([raw.rename(columns=rename), parts], axis=1)
    rows = list(range(header_row + 1, header_row + 1 + len(raw)))
    addresses, written, given = _parse_rows(frame)
    geocoders = geocoders_for(settings, address_points=address_points, root=root)
    matches = geocode_all(addresses, geocoders)
    matches = [m if g else unmatched("the address is empty") for m, g in zip(matches, given, strict=True)]
    distance, has_xy = _distance_to_file(raw, cfg, matches)
    return MatchReport(
        source=source,
        geocoders=tuple(g.name for g in geocoders),
        check=True,
        kept_coordinates=int(has_xy.sum()),
        rows=_report_rows(frame, rows, written, matches, distance, has_xy),
    )


def _distance_to_file(raw: pd.DataFrame, cfg: dict, matches: list[Match]) -> tuple[np.ndarray, np.ndarray]:
    """Metres from each placed point to the file's coordinates (NaN if either is missing); rows with them."""
    xcol, ycol = cfg.get("x"), cfg.get("y")
    if xcol not in raw.columns or ycol not in raw.columns:
        return np.full(len(matches), np.nan), np.zeros(len(matches), dtype=bool)
    x = pd.to_numeric(raw[xcol], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(raw[ycol], errors="coerce").to_numpy(dtype=float)
    given = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=cfg.get("crs", "EPSG:4326")).to_crs(4326)
    lon, lat = given.x.to_numpy(), given.y.to_numpy()
    mlon = np.array([m.lon for m in matches], dtype=float)
    mlat = np.array([m.lat for m in matches], dtype=float)
    cos = math.cos(math.radians(float(np.nanmean(lat)))) if np.isfinite(lat).any() else 1.0
    return np.hypot((mlon - lon) * 111_320.0 * cos, (mlat - lat) * 110_574.0), np.isfinite(lon) & np.isfinite(
        lat
    )
