"""Common enrollment on a city: one application and one lottery across district, charter and Catholic schools.

Wires :mod:`facilities.lottery` to a :class:`facilities.City`: the applicants (the city's students;
else children simulated from population by age; else from an enrollment estimate), their ranked
lists (given, or simulated by :func:`facilities.lottery.simulate_choices` and said to be so), seats
by grade from the schools (:func:`facilities.zones.seats_by_grade`), the zone priority and the
shared-zone guarantee.

>>> from facilities.enrollment import run_lottery
>>> from facilities.zones import shared_zone
>>> zone = shared_zone(city, units=["Mill Hill", "Bayview"], id="east")  # doctest: +SKIP
>>> out = run_lottery(city, zones=zone, seed=7)  # doctest: +SKIP
>>> out.aggregates(by=["sector"])  # matched, first choice, top three, unassigned  # doctest: +SKIP

Simulated applicants: in each unit (population units, or for an enrollment estimate the zones of
the level serving the grade) and grade, ``round(residents * participation)`` children (residents
from :func:`facilities.zones.residents`) at points drawn uniformly in the unit's polygon, from the
seed. Seats come from each school's capacity, else its enrollment (an estimate, and said so); a
sector whose schools report neither has no seats, and the outputs warn about it by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from facilities.lottery import LotteryData, LotteryResult, simulate_choices, solve
from facilities.zones import (
    Basis,
    Source,
    residents,
    residents_by_grade,
    seats_by_grade,
)
from facilities.zones.measure import fail, seat_notes, seat_sources
from facilities.zones.residents import area_units, enrollment_residents

if TYPE_CHECKING:
    from facilities.city import City

__all__ = ["ENTRY_GRADES", "Enrollment", "applicants", "lottery_data", "run_lottery"]

#: Grades families apply to when applicants are simulated: K, 6 and 9.
ENTRY_GRADES: tuple[int, ...] = (0, 6, 9)


def _points_in(poly: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points drawn uniformly in a polygon (rejection sampling in its bounds)."""
    if n <= 0:
        return np.zeros((0, 2))
    minx, miny, maxx, maxy = poly.bounds
    shapely.prepare(poly)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(max(2 * (n - have), 16), 2))
        inside = shapely.contains_xy(poly, xy[:, 0], xy[:, 1])
        out.append(xy[inside])
        have += int(inside.sum())
    return np.concatenate(out)[:n]


def applicants(
    city: City,
    *,
    grades: Sequence[int] | None = None,
    source: Source = "auto",
    participation: float = 1.0,
    seed: int = 0,
) -> tuple[gpd.GeoDataFrame, bool]:
    """The lottery's applicants: the city's students, or children simulated from residents.

    Parameters
    ----------
    city
        A :class:`facilities.City`.
    grades
        Grades applying (default: every student's grade, or :data:`ENTRY_GRADES` when simulated).
    source
        Where residents come from (see :func:`facilities.zones.residents`): ``"students"``,
        ``"population"`` (by age), ``"enrollment"`` (an estimate) or ``"auto"`` (the first of
        them the city has).
    participation
        Share of children who apply (simulated applicants only).
    seed
        Seeds the simulated homes.

    Returns
    -------
    (GeoDataFrame, bool)
        Applicants with ``id``, ``grade``, ``neighborhood``, ``current_school`` and points, and
        whether they were simulated; ``attrs["residents_note"]`` says where they came from.

    Raises
    ------
    ValidationError
        Naming the layer missing for the residents' source, or when no one applies.
    """
    people = residents(city, source=source, participation=participation)
    if people.source == "students":
        st = city.students
        grade = pd.to_numeric(st["grade"], errors="coerce")
        keep = grade.isin(list(grades)) if grades is not None else grade.between(-1, 12)
        out = st.loc[keep, ["id", "grade", "neighborhood", "school", "geometry"]].rename(
            columns={"school": "current_school"}
        )
        out = out.reset_index(drop=True)
        out.attrs["residents_note"] = people.note
        _check_some(city, out, people.note, grades)
        return out, False
    rng = np.random.default_rng(seed)
    grades = tuple(ENTRY_GRADES if grades is None else grades)
    parts = []
    crs = city.zones.crs
    for g in grades:
        if people.source == "population":
            units = people.units
            assert units is not None  # population residents carry their units
            res = residents_by_grade(units, participation=participation)[:, g + 1]
        else:
            units = area_units(city, grades=[g])
            res = enrollment_residents(units, city.schools)[:, g + 1] * participation
        labels = units["name"].where(units["name"].notna(), units["id"]).astype(str)
        for label, poly, n in zip(labels, units.geometry.values, res, strict=True):
            xy = _points_in(poly, int(round(n)), rng)
            parts.append(pd.DataFrame({"grade": g, "neighborhood": label, "x": xy[:, 0], "y": xy[:, 1]}))
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["grade", "neighborhood", "x", "y"])
    )
    frame.insert(0, "id", [f"A{i + 1:06d}" for i in range(len(frame))])
    frame["current_school"] = ""
    out = gpd.GeoDataFrame(
        frame.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(frame["x"], frame["y"]), crs=crs
    )
    out.attrs["residents_note"] = people.note
    _check_some(city, out, people.note, grades)
    return out, True


def _check_some(city: City, people: pd.DataFrame, note: str, grades: Sequence[int] | None) -> None:
    """A lottery with no applicant is a problem, named, not an empty table."""
    if len(people):
        return
    asked = f" in grades {', '.join(map(str, grades))}" if grades is not None else ""
    fail(
        "applicants",
        None,
        None,
        f"no applicants{asked} ({note})",
        "choose grades the residents are in (--grades), or check the residents' source",
        city=city.name,
    )


def _zone_of_schools(
    schools: pd.DataFrame, zones: gpd.GeoDataFrame | None
) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Each school's shared zone ("" when none) and the zone -> school ids mapping."""
    zone = np.full(len(schools), "", dtype=object)
    members: dict[str, list[str]] = {}
    if zones is None or not len(zones):
        return zone, members
    index = {str(s): i for i, s in enumerate(schools["id"])}
    for zid, ids, geom in zip(
        zones["id"].astype(str), zones.get("schools", [None] * len(zones)), zones.geometry.values, strict=True
    ):
        if ids is None:
            ids = tuple(schools["id"][schools.geometry.within(geom).to_numpy()].astype(str))
        unknown = [s for s in ids if str(s) not in index]
        if unknown:
            fail(
                "zones",
                None,
                "schools",
                f"zone {zid!r} lists unknown schools {unknown[:10]}",
                "use ids of the schools layer",
                city="the zones",
            )
        members[zid] = [str(s) for s in ids]
        zone[[index[str(s)] for s in ids]] = zid
    return zone, members


def lottery_data(
    city: City,
    *,
    zones: gpd.GeoDataFrame | None = None,
    choices: pd.DataFrame | None = None,
    grades: Sequence[int] | None = None,
    source: Source = "auto",
    priorities: Sequence[str] | None = None,
    basis: Basis = "capacity",
    participation: float = 1.0,
    n_choices: int = 8,
    sector_terms: Mapping[str, float] | None = None,
    seed: int = 0,
) -> tuple[LotteryData, bool]:
    """Build the unified lottery of a city.

    Parameters
    ----------
    city
        A :class:`facilities.City`.
    zones
        Shared zones (polygons with an optional ``schools`` column of ids): residents get the
        ``zone`` priority at their zone's schools.
    choices
        Real ranked lists (``student``, ``school``, ``rank``); default: simulated (see
        :func:`facilities.lottery.simulate_choices`; the results say so).
    grades, source, participation
        See :func:`applicants`.
    priorities
        Priority rules best first; default ``continuing`` (when students have schools) then
        ``zone`` (when zones are given).
    basis
        Seats from capacity or enrollment (:func:`facilities.zones.seats_by_grade`).
    n_choices, sector_terms
        The simulated lists' length and sector preferences.
    seed
        Seeds simulated applicants and lists.

    Returns
    -------
    (LotteryData, bool)
        The instance and whether the applicants were simulated.
    """
    people, simulated_people = applicants(
        city, grades=grades, source=source, participation=participation, seed=seed
    )
    schools = city.schools
    seats = seats_by_grade(schools, basis=basis)
    wanted = people["grade"].to_numpy(int) + 1
    if not seats[:, np.unique(wanted)].sum():
        fail(
            "schools",
            None,
            "grades",
            f"no school has seats in the applicants' grades ({seat_notes(schools, basis=basis)[0]})",
            "map the schools' grades and capacity (or enrollment) in [layers.schools.columns]",
            city=city.name,
        )
    school_zone, _ = _zone_of_schools(schools, zones)
    home_zone = np.full(len(people), "", dtype=object)
    if zones is not None and len(zones):
        pts, zs = zones.sindex.query(people.geometry.values, predicate="within")
        home_zone[pts[::-1]] = zones["id"].astype(str).to_numpy()[zs[::-1]]
    sxy = np.column_stack([people.geometry.x, people.geometry.y])
    kxy = np.column_stack([schools.geometry.x, schools.geometry.y])
    offered = [tuple(int(g) for g in np.flatnonzero(row > 0) - 1) for row in seats]
    students = pd.DataFrame(
        {
            "id": people["id"].astype(str).to_numpy(),
            "grade": people["grade"].to_numpy(int),
            "neighborhood": people["neighborhood"].fillna("").astype(str).to_numpy(),
            "current_school": people["current_school"].fillna("").astype(str).to_numpy(),
            "zone": home_zone,
            "x": sxy[:, 0],
            "y": sxy[:, 1],
        }
    )
    table = pd.DataFrame(
        {
            "id": schools["id"].astype(str),
            "sector": schools["sector"].astype(str),
            "zone": school_zone,
            "x": kxy[:, 0],
            "y": kxy[:, 1],
        }
    )
    if choices is None:
        attrs = pd.DataFrame({"id": table["id"], "sector": table["sector"], "grades": offered})
        choices = simulate_choices(
            sxy,
            kxy,
            attrs,
            seed=seed,
            n_choices=n_choices,
            student_grades=students["grade"].to_numpy(),
            student_ids=students["id"].to_numpy(),
            sector_terms=sector_terms,
        )
    if priorities is None:
        priorities = [
            r for r, ok in (("continuing", not simulated_people), ("zone", zones is not None)) if ok
        ]
    seat_rows = pd.DataFrame(
        [
            (sid, g, int(n))
            for sid, row in zip(table["id"], seats, strict=True)
            for g, n in zip(range(-1, 13), row, strict=True)
            if n > 0
        ],
        columns=["school", "grade", "seats"],
    )
    data = LotteryData.from_frames(students, choices, table, priorities=list(priorities), seats=seat_rows)
    return data, simulated_people


@dataclass(frozen=True, eq=False)
class Enrollment:
    """A unified lottery run on a city.

    Attributes
    ----------
    result
        The lottery's result (student-level: private).
    simulated_applicants
        Whether the applicants were simulated (from population or an enrollment estimate).
    simulated_choices
        Whether their ranked lists were simulated.
    guarantee
        The shared zones guaranteed (zone id -> school ids).
    residents_note
        Where the applicants came from, in words ("residents estimated from enrollment ...").
    seats_note
        Where the seats came from, in words.
    seat_source
        Each school's seats' source (``"capacity"``, ``"enrollment"``, ``"none"``, ...), in the
        order of ``result.data.school_ids``.
    warnings
        Degenerate results by name: sectors with schools but no seats, applicants left without
        a seat and why (every school they listed full; sectors short of seats when there are any).
    """

    result: LotteryResult
    simulated_applicants: bool
    simulated_choices: bool
    guarantee: dict[str, list[str]]
    residents_note: str = ""
    seats_note: str = ""
    seat_source: np.ndarray | None = None
    warnings: tuple[str, ...] = ()

    def by_sector(self, *, min_count: int = 10) -> pd.DataFrame:
        """One row per sector that has schools: ``schools``, ``seats_offered`` (seats in the
        grades the lottery places, not the schools' seats in every grade), ``seats_estimated`` (of
        those, from enrollment or at the typical school's seats a grade), ``schools_without_seats``
        (no seats in any grade), ``first_choice`` (applicants ranking one of its schools first),
        ``placed`` (applicants assigned to its schools), ``seats_left`` (``seats_offered -
        placed``) and ``matched``/``unassigned`` of the applicants whose first choice it is.

        Counts of fewer than ``min_count`` applicants are blanked (NA)."""
        return _sector_table(self.result, self.seat_source, min_count=min_count)

    def aggregates(self, by: Sequence[str] = (), *, min_count: int = 10) -> pd.DataFrame:
        """Outcome counts overall or by ``sector``, ``neighborhood``, ``grade``
        (see ``LotteryResult.aggregates``)."""
        return self.result.aggregates(by, min_count=min_count)

    def by_zone(self, *, min_count: int = 10) -> pd.DataFrame:
        """Outcomes of each shared zone's residents: students, matched, in the zone, guaranteed,
        unassigned."""
        d, r = self.result.data, self.result
        zone_of = {s: z for z, ids in self.guarantee.items() for s in ids}
        placed = np.where(r.assignment >= 0, d.school_ids[np.clip(r.assignment, 0, None)], "")
        frame = pd.DataFrame(
            {
                "zone": d.zones,
                "students": 1,
                "matched": r.assignment >= 0,
                "in_zone": [zone_of.get(s, None) == z for s, z in zip(placed, d.zones, strict=True)],
                "guarantee": r.guaranteed,
                "unassigned": r.assignment < 0,
            }
        )
        out = frame[frame["zone"] != ""].groupby("zone", sort=True).sum().reset_index()
        counts = [c for c in out.columns if c != "zone"]
        out = out.astype({c: "Int64" for c in counts})
        out.loc[out["students"] < min_count, counts] = pd.NA
        return out

    def summary(self) -> dict[str, object]:
        """Overall counts and shares, the grades placed with their seats offered and left, and what
        was simulated."""
        row = self.aggregates().iloc[0].to_dict()
        row = {
            k: (None if pd.isna(v) else (int(v) if isinstance(v, (int, np.integer)) else float(v)))
            for k, v in row.items()
        }
        d, r = self.result.data, self.result
        offered = int(d.seats_offered.sum())
        row.update(
            grades=sorted(int(g) for g in np.unique(d.grades)),
            seats_offered=offered,
            seats_left=offered - int((r.assignment >= 0).sum()),
            simulated_applicants=self.simulated_applicants,
            simulated_choices=self.simulated_choices,
            priorities=list(self.result.data.priorities),
            seed=self.result.seed,
            zones=sorted(self.guarantee),
            residents_note=self.residents_note,
            seats_note=self.seats_note,
            warnings=list(self.warnings),
        )
        return row


def _sector_table(result: LotteryResult, source: np.ndarray | None, *, min_count: int) -> pd.DataFrame:
    """See :meth:`Enrollment.by_sector`."""
    d, r = result.data, result
    source = source if source is not None else np.full(len(d.school_ids), "capacity")
    offered = d.seats_offered
    placed = np.bincount(r.assignment[r.assignment >= 0], minlength=len(d.school_ids))
    schools = pd.DataFrame(
        {
            "sector": d.sectors,
            "schools": 1,
            "seats_offered": offered,
            "seats_estimated": np.where(np.isin(source, ["enrollment", "typical"]), offered, 0),
            "schools_without_seats": d.seats.sum(axis=1) == 0,
            "placed": placed,
        }
    )
    out = schools.groupby("sector", sort=True).sum().reset_index()
    out["seats_left"] = out["seats_offered"] - out["placed"]
    first = r.aggregates(by=["sector"], min_count=0)[["sector", "students", "matched", "unassigned"]]
    first = first.rename(columns={"students": "first_choice"})
    out = out.merge(first, on="sector", how="left")
    counts = ["first_choice", "placed", "matched", "unassigned"]
    out[counts] = out[counts].fillna(0)
    seats = ["schools", "seats_offered", "seats_estimated", "schools_without_seats", "seats_left"]
    out = out.astype({c: "Int64" for c in [*counts, *seats]})
    for c in counts:
        out.loc[(out[c] > 0) & (out[c] < min_count), c] = pd.NA
    return out


def _unassigned_warning(result: LotteryResult, sectors: pd.DataFrame) -> str:
    """Why applicants have no seat, by count: their lists are empty or every school listed is full in
    their grade; sectors short of seats (fewer seats offered than applicants ranking them first) are
    named only when there are any. ``""`` when everyone has a seat."""
    d, r = result.data, result
    lost = r.assignment < 0
    if not lost.any():
        return ""
    listed = d.choices >= 0
    room = np.zeros(d.choices.shape, dtype=bool)
    room[listed] = r.seats_left.ravel()[d.programs[listed]] > 0
    no_list = lost & ~listed.any(axis=1)
    full = lost & listed.any(axis=1) & ~room.any(axis=1)
    n = int(lost.sum())
    causes = [
        f"{int(full.sum()):,} listed only schools full in their grade" if full.any() else "",
        f"{int(no_list.sum()):,} listed no school" if no_list.any() else "",
    ]
    short = sectors[sectors["first_choice"] > sectors["seats_offered"]]
    where = (
        "sectors short of seats (fewer seats offered than applicants ranking them first): "
        + ", ".join(
            f"{s} ({int(k):,} seats for {int(f):,})"
            for s, k, f in zip(short["sector"], short["seats_offered"], short["first_choice"], strict=True)
        )
        if len(short)
        else "no sector is short of seats (each offers as many seats as applicants rank it first): "
        "longer lists, or more seats at the schools that filled, would place them"
    )
    return (
        f"{n:,} of {d.n_students:,} applicants ({n / d.n_students:.1%}) have no seat: "
        f"{'; '.join(c for c in causes if c)}; {where}"
    )


def run_lottery(
    city: City,
    *,
    zones: gpd.GeoDataFrame | None = None,
    choices: pd.DataFrame | None = None,
    guarantee: bool = True,
    seed: int = 0,
    lottery: Literal["single", "per_school"] = "single",
    **options: Any,
) -> Enrollment:
    """Run one lottery across every sector's schools, with each shared zone's guarantee.

    Parameters
    ----------
    city
        A :class:`facilities.City`.
    zones
        Shared zones (see :func:`lottery_data`); their residents left unmatched are placed in
        the zone's schools with room when ``guarantee`` is true.
    choices
        Real ranked lists; default simulated.
    guarantee
        Apply the shared zones' guarantee after the lottery.
    seed
        Seeds applicants, lists and lottery numbers: the same seed gives the same result.
    lottery
        ``"single"`` or ``"per_school"`` lottery numbers.
    **options
        Passed to :func:`lottery_data` (``grades``, ``priorities``, ``basis``, ...).
    """
    data, simulated_people = lottery_data(city, zones=zones, choices=choices, seed=seed, **options)
    schools = city.schools
    _, members = _zone_of_schools(schools, zones)
    result = solve(data, seed=seed, lottery=lottery, guarantee=members if guarantee and members else None)
    basis = cast(Basis, str(options.get("basis", "capacity")))
    people = residents(
        city, source=options.get("source", "auto"), participation=float(options.get("participation", 1.0))
    )
    seats_note, warnings = seat_notes(schools, basis=basis)
    order = pd.Index(schools["id"].astype(str)).get_indexer(data.school_ids)
    source = seat_sources(schools, basis=basis)[order]
    unassigned = _unassigned_warning(result, _sector_table(result, source, min_count=0))
    if unassigned:
        warnings.append(unassigned)
    if people.estimated:
        warnings.insert(0, f"applicants simulated from an estimate: {people.note}")
    return Enrollment(
        result,
        simulated_people,
        data.simulated,
        members if guarantee else {},
        people.note,
        seats_note,
        source,
        tuple(warnings),
    )
