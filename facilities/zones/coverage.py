"""Coverage of given zones: residents and seats by grade, the guarantee, travel and compactness, and what
would close each zone's gap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from facilities._validate import Problems
from facilities.travel import Travel, describe, travel_seconds
from facilities.zones.define import _check_polygons, zone_grades, zone_school_sets
from facilities.zones.measure import (
    _NG,
    Basis,
    _guarantee_rows,
    _weighted_quantiles,
    _xy,
    fail,
    polsby_popper,
    seat_notes,
    seats_by_grade,
    spare_seats_by_grade,
)
from facilities.zones.residents import Residents, Source, residents

if TYPE_CHECKING:
    from facilities.city import City

__all__ = ["Coverage", "coverage", "gap_closers"]


def _nearest_time(xy: np.ndarray, school_xy: np.ndarray, travel: Travel) -> np.ndarray:
    if not len(xy) or not len(school_xy):
        return np.full(len(xy), np.nan)
    return travel_seconds(travel, xy, school_xy).min(axis=1)


@dataclass(frozen=True, eq=False)
class Coverage:
    """Zones measured: residents, seats and the guarantee, travel and compactness.

    Attributes
    ----------
    zones
        GeoDataFrame, one row per zone: ``id``, ``name``, ``kind``, ``grades`` (the grades it
        guarantees, e.g. ``"PK-5"``), ``schools`` (ids), ``school_names``, ``sectors``,
        ``n_schools``, ``residents``, ``seats``, ``guaranteed``, ``share`` (guaranteed /
        residents), ``shortfall``, ``utilization`` (residents / seats), ``low_income_share``,
        ``travel_median_s``, ``travel_p90_s``, ``area_km2``, ``polsby_popper``.
    grades
        One row per zone and grade: ``residents``, ``seats``, ``guaranteed``, ``share``,
        ``shortfall``.
    source
        How residents were counted: ``"students"``, ``"population"`` or ``"enrollment"``
        (an estimate).
    residents_note
        The residents' source in words (shown in every output).
    seats_note
        The seats' sources in words.
    travel
        How travel was priced, in words.
    warnings
        Degenerate results, by name (no residents, zones without schools or seats, sectors
        without seats): never to be read as a headline.
    """

    zones: gpd.GeoDataFrame
    grades: pd.DataFrame
    source: str
    residents_note: str = ""
    seats_note: str = ""
    travel: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def estimated(self) -> bool:
        """Whether residents were estimated (from enrollment) rather than counted."""
        return self.source == "enrollment"

    def summary(self) -> dict[str, object]:
        """City-wide totals (residents, seats, guaranteed, share, shortfall, median Polsby–Popper),
        the sources of residents and seats, the travel model and the warnings."""
        g = self.grades
        r = int(g["residents"].sum())
        pp = self.zones["polsby_popper"].to_numpy(float)
        return {
            "zones": len(self.zones),
            "residents": r,
            "seats": int(g["seats"].sum()),
            "guaranteed": int(g["guaranteed"].sum()),
            "share": round(float(g["guaranteed"].sum()) / r, 4) if r else float("nan"),
            "shortfall": int(g["shortfall"].sum()),
            "polsby_popper_median": round(float(np.nanmedian(pp)), 4)
            if np.isfinite(pp).any()
            else float("nan"),
            "polsby_popper_min": round(float(np.nanmin(pp)), 4) if np.isfinite(pp).any() else float("nan"),
            "residents_from": self.source,
            "residents_estimated": self.estimated,
            "residents_note": self.residents_note,
            "seats_note": self.seats_note,
            "travel": self.travel,
            "warnings": list(self.warnings),
        }


def _default_zones(city: City) -> gpd.GeoDataFrame:
    """The zones to measure: attendance or shared zones (any kind but neighborhood, census and ward),
    else the neighborhoods (or whatever zones the city has)."""
    zones = city.zones
    kinds = zones["kind"].astype(str) if "kind" in zones else pd.Series("zone", index=zones.index)
    picked = zones[~kinds.isin(["neighborhood", "census", "ward"]).to_numpy()]
    return picked if len(picked) else zones


def _names(schools: pd.DataFrame, members: np.ndarray) -> str:
    names = schools["name"] if "name" in schools else schools["id"]
    return ", ".join(names.iloc[members].astype(str))


def _format_grades(mask: np.ndarray) -> str:
    from facilities.schema import GRADE_NAMES

    grades = np.flatnonzero(mask)
    if not len(grades):
        return ""
    if len(grades) == grades[-1] - grades[0] + 1:
        return (
            GRADE_NAMES[grades[0]]
            if len(grades) == 1
            else f"{GRADE_NAMES[grades[0]]}-{GRADE_NAMES[grades[-1]]}"
        )
    return ", ".join(GRADE_NAMES[g] for g in grades)


def coverage(
    city: City,
    zones: gpd.GeoDataFrame | None = None,
    *,
    travel: Travel = None,
    source: Source = "auto",
    basis: Basis = "capacity",
    participation: float = 1.0,
    grades: Sequence[int] | None = None,
) -> Coverage:
    """Measure zones: residents and seats by grade, the guarantee, travel time and compactness.

    Parameters
    ----------
    city
        A :class:`facilities.City`.
    zones
        Zone polygons in ``city.crs`` (e.g. from :func:`shared_zone` or :func:`read_zones`), with
        an optional ``schools`` column (or ``school``, the school an attendance zone feeds) and
        ``level``; default the city's attendance and shared zones, else its neighborhoods.
    travel
        A travel model or ``travel(origins, destinations) -> seconds``
        (:data:`facilities.travel.Travel`); ``None`` uses the straight-line model.
    source
        Residents from ``"students"``' homes, ``"population"`` by age, an ``"enrollment"``
        estimate, or ``"auto"``: the first the city has (see :func:`residents`).
    basis
        Seats from ``"capacity"`` or ``"enrollment"`` (see :func:`seats_by_grade`).
    participation
        Share of children counted as residents (population source only).
    grades
        The grades the zones guarantee (e.g. ``range(6, 9)``); default each zone's own (its
        ``level``, or the grades of the school it feeds), else all.

    Returns
    -------
    Coverage

    Raises
    ------
    ValidationError
        Naming the layer missing (no zones, no residents of the source asked) and the fix.
    """
    if zones is None:
        zones = _default_zones(city)
        if not len(zones):
            fail(
                "zones",
                None,
                None,
                f"{city.name} has no zones to measure",
                "add a zones layer ([layers.zones]), or give --units, --zones FILE or "
                "[[enrollment.shared_zones]] in city.toml",
                city=city.name,
            )
    zones = zones.reset_index(drop=True)
    problems = Problems()
    _check_polygons(zones, source="zones", problems=problems)
    problems.raise_if_any(city="the zones")
    people: Residents = residents(city, source=source, participation=participation)
    schools = city.schools
    pieces = people.pieces(zones)
    sets = zone_school_sets(zones, schools)
    seats = seats_by_grade(schools, basis=basis)
    school_xy = _xy(schools.geometry) if len(schools) else np.zeros((0, 2))
    nz = len(zones)
    counted = people.by_zone(zones) if people.estimated else pieces.by_zone(nz)
    zone_seats = np.stack([seats[s].sum(axis=0) if len(s) else np.zeros(_NG, np.int64) for s in sets])
    serves = zone_grades(zones, schools)
    if grades is not None:
        serves &= np.isin(np.arange(_NG) - 1, list(grades))[None, :]
    counted = counted * serves
    zone_seats = zone_seats * serves
    rows = _guarantee_rows(zones["id"].astype(str).tolist(), counted, zone_seats)
    totals = rows.groupby("zone", sort=False)[["residents", "seats", "guaranteed", "shortfall"]].sum()
    totals = totals.reindex(zones["id"].astype(str)).fillna(0).astype(int)
    med, p90 = np.full(nz, np.nan), np.full(nz, np.nan)
    low = np.full(nz, np.nan)
    weight = (pieces.residents * serves[pieces.zone]).sum(axis=1) if len(pieces.zone) else np.zeros(0)
    for z in range(nz):
        mine = pieces.zone == z
        t = _nearest_time(pieces.xy[mine], school_xy[sets[z]], travel)
        med[z], p90[z] = _weighted_quantiles(t, weight[mine], (0.5, 0.9))
        if np.isfinite(pieces.low_income[mine]).any() and weight[mine].sum() > 0:
            low[z] = np.nansum(pieces.low_income[mine]) / weight[mine].sum()
    out = gpd.GeoDataFrame(
        {
            "id": zones["id"].astype(str),
            "name": zones["name"] if "name" in zones else zones["id"],
            "kind": zones["kind"] if "kind" in zones else "zone",
            "grades": [_format_grades(m) for m in serves],
            "schools": [tuple(schools["id"].iloc[s].astype(str)) for s in sets],
            "school_names": [_names(schools, s) for s in sets],
            "sectors": [", ".join(sorted(set(schools["sector"].iloc[s].astype(str)))) for s in sets],
            "n_schools": [len(s) for s in sets],
            "residents": totals["residents"].to_numpy(),
            "seats": totals["seats"].to_numpy(),
            "guaranteed": totals["guaranteed"].to_numpy(),
            "shortfall": totals["shortfall"].to_numpy(),
        },
        geometry=zones.geometry.values,
        crs=zones.crs,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = np.round(
            np.where(out["residents"] > 0, out["guaranteed"] / out["residents"], np.nan), 4
        )
        out["utilization"] = np.round(np.where(out["seats"] > 0, out["residents"] / out["seats"], np.nan), 3)
    out["low_income_share"] = np.round(low, 4)
    out["travel_median_s"] = np.round(med, 1)
    out["travel_p90_s"] = np.round(p90, 1)
    out["area_km2"] = np.round(out.area.to_numpy() / 1e6, 3)
    out["polsby_popper"] = np.round(polsby_popper(out.geometry), 4)
    seats_note, warnings = seat_notes(schools, basis=basis)
    warnings = [*_warnings(out, people), *warnings]
    return Coverage(out, rows, people.source, people.note, seats_note, describe(travel), tuple(warnings))


def _listing(names: pd.Series, limit: int = 8) -> str:
    shown = ", ".join(names.astype(str).head(limit))
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _warnings(zones: pd.DataFrame, people: Residents) -> list[str]:
    """Named warnings for degenerate zones: no residents anywhere, zones without schools or seats."""
    out = []
    if int(zones["residents"].sum()) == 0:
        out.append(
            f"no residents in any zone ({people.note}): the guarantee measures nothing; check that the "
            "zones overlap the residents and serve their grades"
        )
    no_school = zones[zones["n_schools"] == 0]
    if len(no_school):
        out.append(f"{len(no_school)} zone(s) have no school: {_listing(no_school['name'])}")
    no_seats = zones[(zones["n_schools"] > 0) & (zones["seats"] == 0)]
    if len(no_seats):
        out.append(
            f"{len(no_seats)} zone(s) have schools but no seats counted in their grades: "
            f"{_listing(no_seats['name'])}"
        )
    return out


def gap_closers(
    city: City,
    cov: Coverage,
    *,
    max_distance: float = 3000.0,
    class_size: int = 22,
    limit: int = 5,
) -> pd.DataFrame:
    """What would close each zone's gap: nearby schools with spare seats, and vacant or under-used buildings.

    For every zone and grade with a shortfall, lists up to ``limit`` schools outside the zone
    that serve the grade and have spare seats in it (capacity minus enrollment), and buildings
    of status ``vacant`` or ``under-used`` with classrooms (``class_size`` seats each, all grades),
    within ``max_distance`` metres of the zone, closest first, with the running total of seats.

    Returns
    -------
    DataFrame
        ``zone``, ``grade``, ``shortfall``, ``kind`` ("school"/"building"), ``id``, ``name``,
        ``sector_or_owner``, ``distance_m``, ``seats``, ``cumulative``, ``closes_gap``.
    """
    schools, buildings = city.schools, city.buildings
    spare = spare_seats_by_grade(schools)
    candidates = (
        buildings[buildings["status"].isin(["vacant", "under-used"])] if len(buildings) else buildings
    )
    rows = []
    geoms = dict(zip(cov.zones["id"], cov.zones.geometry.values, strict=True))
    members = dict(zip(cov.zones["id"], cov.zones["schools"], strict=True))
    for rec in cov.grades[cov.grades["shortfall"] > 0].itertuples(index=False):
        zone_geom = geoms[rec.zone]
        offers = []
        d_school = schools.geometry.distance(zone_geom).to_numpy()
        outside = ~schools["id"].astype(str).isin(members[rec.zone]).to_numpy()
        ok = outside & (spare[:, rec.grade + 1] > 0) & (d_school <= max_distance)
        for i in np.flatnonzero(ok):
            offers.append(
                (
                    "school",
                    schools["id"].iloc[i],
                    schools["name"].iloc[i],
                    schools["sector"].iloc[i],
                    d_school[i],
                    int(spare[i, rec.grade + 1]),
                )
            )
        if len(candidates):
            d_b = candidates.geometry.distance(zone_geom).to_numpy()
            room = candidates["rooms_classroom"].to_numpy(int) * class_size
            for i in np.flatnonzero((d_b <= max_distance) & (room > 0)):
                offers.append(
                    (
                        "building",
                        candidates["id"].iloc[i],
                        candidates["name"].iloc[i],
                        candidates["owner"].iloc[i],
                        d_b[i],
                        int(room[i]),
                    )
                )
        offers.sort(key=lambda o: (o[4], o[0], str(o[1])))
        total = 0
        for kind, oid, name, who, dist, seats in offers[:limit]:
            total += seats
            rows.append(
                {
                    "zone": rec.zone,
                    "grade": rec.grade,
                    "shortfall": rec.shortfall,
                    "kind": kind,
                    "id": str(oid),
                    "name": name,
                    "sector_or_owner": who,
                    "distance_m": round(float(dist)),
                    "seats": seats,
                    "cumulative": total,
                    "closes_gap": total >= rec.shortfall,
                }
            )
    columns = [
        "zone",
        "grade",
        "shortfall",
        "kind",
        "id",
        "name",
        "sector_or_owner",
        "distance_m",
        "seats",
        "cumulative",
        "closes_gap",
    ]
    return pd.DataFrame(rows, columns=columns)
