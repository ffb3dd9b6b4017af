"""A zone-design instance (units, their residents, the schools and travel) and a plan of zones over it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facilities._validate import Problems
from facilities.schema import is_missing
from facilities.travel import Travel, describe, travel_seconds
from facilities.zones.define import _check_polygons
from facilities.zones.measure import (
    _NG,
    WALK_LIMIT_M,
    Basis,
    _guarantee_rows,
    _weighted_quantiles,
    _xy,
    fail,
    polsby_popper,
    seat_notes,
    seats_by_grade,
)
from facilities.zones.residents import (
    Source,
    _bands,
    _low_income,
    area_units,
    residents,
    residents_by_grade,
)

__all__ = ["ZoneData", "ZonePlan"]


def _adjacency(geoms: gpd.GeoSeries, tolerance: float) -> tuple[np.ndarray, ...]:
    """Each unit's neighbours: units whose boundaries come within ``tolerance`` metres."""
    a, b = geoms.sindex.query(geoms.buffer(tolerance).values, predicate="intersects")
    keep = a != b
    a, b = a[keep], b[keep]
    return tuple(np.sort(b[a == i]) for i in range(len(geoms)))


@dataclass(frozen=True, eq=False)
class ZoneData:
    """An immutable zone-design instance: units (the building blocks of zones) and schools.

    Build it with :meth:`from_city` or :meth:`from_geodataframe`.

    Attributes
    ----------
    unit_ids
        ``(n,)`` unit ids.
    geometry
        The units' polygons (metric CRS).
    residents
        ``(n, 14)`` residents of each unit by grade (column ``grade + 1``).
    low_income
        ``(n,)`` low-income residents of each unit (NaN when unknown).
    neighbors
        Each unit's adjacent units (positions).
    school_ids, sectors
        ``(m,)`` school ids and sectors.
    school_unit
        ``(m,)`` position of the unit holding each school (-1 when in none).
    seats
        ``(m, 14)`` seats of each school by grade.
    travel
        ``(n, m)`` travel seconds from each unit's representative point to each school.
    distance
        ``(n, m)`` straight-line metres (for bus riders).
    current
        Residents attending each school today, one row per unit, school and grade (positions:
        ``unit``, ``school``, ``grade``, ``residents``): from students, or, for population, each
        grade's residents at the nearest school serving the grade.
    residents_source, residents_note
        Where residents came from (``"students"``, ``"population"``, ``"enrollment"``) and in words.
    travel_note, seats_note
        How travel was priced and where seats came from, in words.
    warnings
        Degenerate inputs by name (no residents, sectors without seats).
    """

    unit_ids: np.ndarray
    geometry: gpd.GeoSeries
    residents: np.ndarray
    low_income: np.ndarray
    neighbors: tuple[np.ndarray, ...]
    school_ids: np.ndarray
    sectors: np.ndarray
    school_unit: np.ndarray
    seats: np.ndarray
    travel: np.ndarray
    distance: np.ndarray
    current: pd.DataFrame
    residents_source: str = ""
    residents_note: str = ""
    travel_note: str = ""
    seats_note: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.unit_ids)

    @classmethod
    def from_geodataframe(
        cls,
        units: gpd.GeoDataFrame,
        schools: gpd.GeoDataFrame,
        *,
        travel: Travel | np.ndarray | None = None,
        residents: np.ndarray | None = None,
        current: pd.DataFrame | None = None,
        basis: Basis = "capacity",
        participation: float = 1.0,
        tolerance: float = 1.0,
    ) -> ZoneData:
        """Build from unit polygons (with ``id`` and population bands) and schools (canonical columns).

        Parameters
        ----------
        units
            Polygons with ``id`` and ``population_<lo>_<hi>`` columns (unless ``residents`` is
            given); ``population_low_income_0_17`` when known.
        schools
            Points with ``id``, ``sector``, ``grades``, ``capacity``/``enrollment``.
        travel
            A travel model, ``travel(origins_xy, destinations_xy) -> seconds`` or an ``(n, m)``
            matrix of seconds; ``None`` uses the straight-line model
            (:class:`facilities.travel.StraightLineModel`).
        residents
            ``(n, 14)`` residents by grade, instead of population bands.
        current
            Residents attending each school today: ``unit``, ``school``, ``grade``,
            ``residents`` (positions and grade ints; default: nearest school serving each grade).
        basis, participation
            See :func:`seats_by_grade` and :func:`residents_by_grade`.
        tolerance
            Units whose boundaries come within this many metres are adjacent.
        """
        units = units.reset_index(drop=True)
        schools = schools.reset_index(drop=True)
        problems = Problems()
        _check_polygons(units, source="units", problems=problems)
        ids = units["id"].astype(str)
        for row in np.flatnonzero(ids.duplicated().to_numpy()):
            problems.add(
                "units",
                int(row) + 1,
                "id",
                f"unit id {ids.iloc[row]!r} repeats",
                "give every unit its own id",
            )
        problems.raise_if_any(city="the units")
        res = (
            residents_by_grade(units, participation=participation)
            if residents is None
            else np.asarray(residents, float)
        )
        if res.shape != (len(units), _NG):
            raise ValueError(f"residents has shape {res.shape}; give ({len(units)}, {_NG})")
        uxy, sxy = _xy(units.geometry), _xy(schools.geometry)
        dist = np.hypot(uxy[:, None, 0] - sxy[None, :, 0], uxy[:, None, 1] - sxy[None, :, 1])
        if isinstance(travel, np.ndarray):
            cost = np.asarray(travel, dtype=float)
            if cost.shape != dist.shape:
                raise ValueError(f"travel has shape {cost.shape}; give (units, schools) = {dist.shape}")
        else:
            cost = travel_seconds(travel, uxy, sxy)
        seats = seats_by_grade(schools, basis=basis)
        if current is None:
            parts = []
            for g in np.flatnonzero(seats.sum(axis=0) > 0):
                serving = np.flatnonzero(seats[:, g] > 0)
                nearest = serving[
                    np.argmin(np.where(np.isfinite(cost[:, serving]), cost[:, serving], np.inf), axis=1)
                ]
                parts.append(
                    pd.DataFrame(
                        {
                            "unit": np.arange(len(units)),
                            "school": nearest,
                            "grade": g - 1,
                            "residents": res[:, g],
                        }
                    )
                )
            current = (
                pd.concat(parts, ignore_index=True)
                if parts
                else pd.DataFrame(columns=["unit", "school", "grade", "residents"])
            )
        pts, zs = units.sindex.query(schools.geometry.values, predicate="intersects")
        school_unit = np.full(len(schools), -1, dtype=np.int64)
        school_unit[pts[::-1]] = zs[::-1]  # a school on a shared boundary goes to the first unit
        return cls(
            unit_ids=ids.to_numpy(dtype=object),
            geometry=units.geometry,
            residents=res,
            low_income=_low_income(units, res),
            neighbors=_adjacency(units.geometry, tolerance),
            school_ids=schools["id"].astype(str).to_numpy(dtype=object),
            sectors=schools["sector"].astype(str).to_numpy(dtype=object)
            if "sector" in schools
            else np.full(len(schools), "", object),
            school_unit=school_unit,
            seats=seats,
            travel=cost,
            distance=dist,
            current=current,
            travel_note="a travel matrix given by the caller"
            if isinstance(travel, np.ndarray)
            else describe(travel),
            seats_note=seat_notes(schools, basis=basis)[0],
            warnings=tuple(seat_notes(schools, basis=basis)[1]),
        )

    @classmethod
    def from_city(
        cls,
        city: Any,
        *,
        units: gpd.GeoDataFrame | None = None,
        travel: Travel | np.ndarray = None,
        source: Source = "auto",
        basis: Basis = "capacity",
        participation: float = 1.0,
        grades: Sequence[int] | None = None,
    ) -> ZoneData:
        """Build from a city: its units (``units``, else its neighborhoods, census units, wards or
        attendance zones of the level serving ``grades``; see
        :func:`facilities.zones.residents.area_units`) and all its schools.

        Residents come from :func:`facilities.zones.residents.residents` (students, else
        population by age, else an enrollment estimate; :attr:`residents_note` says which). With
        students, :attr:`current` is where they attend.

        Raises
        ------
        ValidationError
            Naming what is missing: units, schools, residents.
        """
        people = residents(city, source=source, participation=participation)
        units = (area_units(city, grades=grades) if units is None else units).reset_index(drop=True)
        if not len(city.schools):
            fail(
                "schools",
                None,
                None,
                f"{city.name} has no schools to build zones around",
                "add [layers.schools] to city.toml",
                city=city.name,
            )
        schools = city.schools
        cur = None
        if people.source == "students":
            st = city.students[
                pd.to_numeric(city.students["grade"], errors="coerce").between(-1, 12).to_numpy()
            ]
            pts, us = units.sindex.query(st.geometry.values, predicate="within")
            pts, first = np.unique(pts, return_index=True)
            us = us[first]
            res = np.zeros((len(units), _NG))
            np.add.at(res, (us, st["grade"].to_numpy(int)[pts] + 1), 1.0)
            sidx = pd.Index(schools["id"].astype(str)).get_indexer(st["school"].astype(str).to_numpy()[pts])
            cur = pd.DataFrame(
                {"unit": us, "school": sidx, "grade": st["grade"].to_numpy(int)[pts], "residents": 1.0}
            )
            cur = (
                cur[cur["school"] >= 0]
                .groupby(["unit", "school", "grade"], as_index=False)["residents"]
                .sum()
            )
        elif people.source == "population" and _bands(list(units.columns)) and units.equals(people.units):
            res = residents_by_grade(units, participation=participation)
        else:
            res = people.by_zone(units)
        data = cls.from_geodataframe(units, schools, travel=travel, residents=res, current=cur, basis=basis)
        warnings = list(data.warnings)
        if res.sum() < 0.5:
            warnings.insert(0, f"no residents in the units ({people.note}): every plan measures nothing")
        return cls(
            **{
                **data.__dict__,
                "residents_source": people.source,
                "residents_note": people.note,
                "warnings": tuple(warnings),
            }
        )


@dataclass(frozen=True, eq=False)
class ZonePlan:
    """A plan of zones over units.

    Attributes
    ----------
    data
        The instance.
    labels
        ``(n,)`` zone of each unit (0..zones-1), -1 when the unit is in no zone.
    method
        How it was made (``"cp-sat"``, ``"greedy"``, ``"given"``).
    status
        Solver status (``"OPTIMAL"``, ``"FEASIBLE"``, ``"HEURISTIC"``, ...).
    issues
        Why some units or grades could not be served, by name.
    grades
        The grades the plan was designed for.
    seconds
        Time spent making it.
    """

    data: ZoneData
    labels: np.ndarray
    method: str
    status: str
    issues: tuple[str, ...] = ()
    grades: tuple[int, ...] = ()
    seconds: float = 0.0

    @property
    def n_zones(self) -> int:
        """Number of zones."""
        return int(self.labels.max()) + 1 if (self.labels >= 0).any() else 0

    @classmethod
    def from_labels(
        cls, data: ZoneData, labels: Sequence[object], *, grades: Sequence[int] | None = None
    ) -> ZonePlan:
        """A given plan: ``labels`` names each unit's zone (any hashables; None/NaN for no zone)."""
        labels = list(labels)
        if len(labels) != data.n_units:
            raise ValueError(f"{len(labels)} labels for {data.n_units} units; give one per unit")
        keys = pd.Series([None if is_missing(x) else str(x) for x in labels], dtype=object)
        codes, _ = pd.factorize(keys, sort=True)
        return cls(
            data, codes.astype(np.int64), "given", "GIVEN", grades=tuple(grades or _default_grades(data))
        )

    def zone_schools(self) -> list[np.ndarray]:
        """School positions of each zone: schools lying in the zone's units that serve the plan's grades."""
        su = self.data.school_unit
        zone_of_school = np.where(
            (su >= 0) & _serving(self.data, self.grades), self.labels[np.clip(su, 0, None)], -1
        )
        return [np.flatnonzero(zone_of_school == z) for z in range(self.n_zones)]

    def _zone_residents(self) -> np.ndarray:
        out = np.zeros((self.n_zones, _NG))
        ok = self.labels >= 0
        np.add.at(out, self.labels[ok], self.data.residents[ok])
        return out

    def _zone_seats(self) -> np.ndarray:
        return (
            np.stack([self.data.seats[s].sum(axis=0) for s in self.zone_schools()])
            if self.n_zones
            else np.zeros((0, _NG))
        )

    def _mask(self) -> np.ndarray:
        mask = np.zeros(_NG, dtype=bool)
        mask[np.asarray(self.grades, dtype=np.int64) + 1] = True
        return mask

    def guarantee(self) -> pd.DataFrame:
        """Zone × grade rows of the plan's grades: residents, seats, guaranteed, share, shortfall."""
        mask = self._mask()
        ids = [f"Z{z + 1}" for z in range(self.n_zones)]
        return _guarantee_rows(ids, self._zone_residents() * mask, self._zone_seats() * mask)

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """One polygon per zone: ``id``, ``units``, ``schools``, ``sectors``, residents, seats,
        compactness."""
        d, sets = self.data, self.zone_schools()
        mask = self._mask()
        res, seats = self._zone_residents() * mask, self._zone_seats() * mask
        geoms = [shapely.union_all(d.geometry.values[self.labels == z]) for z in range(self.n_zones)]
        out = gpd.GeoDataFrame(
            {
                "id": [f"Z{z + 1}" for z in range(self.n_zones)],
                "name": [f"Zone {z + 1}" for z in range(self.n_zones)],
                "kind": "shared",
                "units": [tuple(d.unit_ids[self.labels == z]) for z in range(self.n_zones)],
                "schools": [tuple(d.school_ids[s]) for s in sets],
                "sectors": [", ".join(sorted(set(d.sectors[s]))) for s in sets],
                "n_schools": [len(s) for s in sets],
                "residents": np.round(res.sum(axis=1)).astype(int),
                "seats": seats.sum(axis=1).astype(int),
            },
            geometry=geoms,
            crs=d.geometry.crs,
        )
        out["polsby_popper"] = np.round(polsby_popper(out.geometry), 4)
        return out

    def unit_travel(self) -> np.ndarray:
        """Each unit's travel to the nearest school of its zone (NaN when none)."""
        return self._nearest(self.data.travel)

    def expected_travel(self) -> np.ndarray:
        """Each unit's trip to its zone's schools, weighted by their seats in the plan's grades."""
        out = np.full(self.data.n_units, np.nan)
        seats = self.data.seats[:, np.asarray(self.grades, dtype=np.int64) + 1].sum(axis=1).astype(float)
        for z, s in enumerate(self.zone_schools()):
            units = np.flatnonzero(self.labels == z)
            if len(s) and len(units) and seats[s].sum() > 0:
                out[units] = self.data.travel[np.ix_(units, s)] @ (seats[s] / seats[s].sum())
        return out

    def _nearest(self, matrix: np.ndarray) -> np.ndarray:
        out = np.full(self.data.n_units, np.nan)
        for z, s in enumerate(self.zone_schools()):
            units = np.flatnonzero(self.labels == z)
            if len(s) and len(units):
                out[units] = matrix[np.ix_(units, s)].min(axis=1)
        return out

    def metrics(
        self, *, band: tuple[float, float] = (0.85, 1.0), walk_m: float = WALK_LIMIT_M
    ) -> dict[str, float]:
        """The plan's measures, for side-by-side comparison.

        Returns
        -------
        dict
            ``zones``; ``travel_median``/``travel_p90`` (resident-weighted quantiles of each
            unit's expected trip when its guaranteed seat may be at any zone school in proportion
            to their seats; seconds, or metres when the data has no travel);
            ``travel_nearest_median``/``p90`` (to the nearest zone school); ``coverage`` (share of
            residents guaranteed a seat); ``utilization_in_band`` (share of zones whose
            residents / seats lies in ``band``), ``utilization_min``/``max``; ``dissimilarity``
            (low-income dissimilarity index across zones, 0 = even, 1 = segregated) and
            ``low_income_gap`` (largest gap between a zone's low-income share and the city's);
            ``polsby_popper_median``/``min``; ``switchers`` (residents whose current school is
            outside their zone); ``bus_riders`` (residents farther than ``walk_m`` straight-line
            metres from their zone's nearest school); ``unzoned`` residents.
        """
        d, mask = self.data, self._mask()
        weight = (d.residents * mask).sum(axis=1)
        t = self.unit_travel()
        med, p90 = _weighted_quantiles(t, weight, (0.5, 0.9))
        g = self.guarantee()
        res_z, seats_z = g.groupby("zone")["residents"].sum(), g.groupby("zone")["seats"].sum()
        util = (res_z / seats_z.where(seats_z > 0)).dropna()
        zoned = self.labels >= 0
        low, tot = np.zeros(self.n_zones), np.zeros(self.n_zones)
        li = np.nan_to_num(d.low_income)
        np.add.at(low, self.labels[zoned], li[zoned])
        np.add.at(tot, self.labels[zoned], d.residents[zoned].sum(axis=1))
        known = np.isfinite(d.low_income).any() and low.sum() > 0
        dissim = (
            0.5 * np.abs(low / low.sum() - (tot - low) / max((tot - low).sum(), 1e-9)).sum()
            if known
            else np.nan
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.nanmax(np.abs(low / tot - low.sum() / tot.sum())) if known else np.nan
        zone_of_school = np.full(len(d.school_ids), -1)
        for z, s in enumerate(self.zone_schools()):
            zone_of_school[s] = z
        cur = d.current[d.current["grade"].isin(self.grades)]
        units, schools = cur["unit"].to_numpy(int), cur["school"].to_numpy(int)
        moved = (zone_of_school[schools] != self.labels[units]) & (self.labels[units] >= 0)
        expected = self.expected_travel()
        emed, ep90 = _weighted_quantiles(expected, weight, (0.5, 0.9))
        pp = polsby_popper(self.to_geodataframe().geometry) if self.n_zones else np.array([np.nan])
        far = self._nearest(d.distance)
        total = int(g["residents"].sum())
        return {
            "zones": self.n_zones,
            "travel_median": round(emed, 1),
            "travel_p90": round(ep90, 1),
            "travel_nearest_median": round(med, 1),
            "travel_nearest_p90": round(p90, 1),
            "coverage": round(float(g["guaranteed"].sum()) / total, 4) if total else float("nan"),
            "shortfall": int(g["shortfall"].sum()),
            "utilization_in_band": round(float(((util >= band[0]) & (util <= band[1])).mean()), 4)
            if len(util)
            else float("nan"),
            "utilization_min": round(float(util.min()), 3) if len(util) else float("nan"),
            "utilization_max": round(float(util.max()), 3) if len(util) else float("nan"),
            "dissimilarity": round(float(dissim), 4),
            "low_income_gap": round(float(gap), 4),
            "polsby_popper_median": round(float(np.nanmedian(pp)), 4),
            "polsby_popper_min": round(float(np.nanmin(pp)), 4),
            "switchers": int(round(float(cur["residents"].to_numpy(float)[moved].sum()))),
            "bus_riders": int(round(float(weight[zoned & ~(far <= walk_m)].sum()))),
            "unzoned": int(round(float(weight[~zoned].sum()))),
        }


def _default_grades(data: ZoneData) -> tuple[int, ...]:
    have = (data.residents.sum(axis=0) >= 1) & (data.seats.sum(axis=0) > 0)
    return tuple(int(g) - 1 for g in np.flatnonzero(have))


def _serving(data: ZoneData, grades: Sequence[int]) -> np.ndarray:
    """Whether each school has seats in any of the grades."""
    return data.seats[:, np.asarray(grades, dtype=np.int64) + 1].sum(axis=1) > 0
