"""Building capacity from rooms, and the utilization of schools and buildings.

The capacity model follows New York City's *Blue Book* (the Enrollment – Capacity – Utilization
report): a building's capacity is its full-size classrooms times a target class size for the
grades it serves, plus its specialty rooms counted at a program-efficiency factor and its special
education rooms at their own class size; small rooms, offices and libraries add no seats.

Every capacity carries its source (``capacity_source``), best first: ``counted rooms``; else the
layer's ``reported capacity`` (the building's, or its schools' summed, e.g. DC's ``CAPACITY``);
else ``estimated from floor area`` (gross area / square metres a seat for the grades, see
:data:`AREA_PER_SEAT_SOURCE`); else ``unknown`` (NaN, never zero). Where rooms are not counted,
the classrooms are estimated from that capacity and the class size (``classrooms_source``).

>>> from facilities import read_city
>>> from facilities.capacity import utilization
>>> result = utilization(read_city("data/demo"))  # doctest: +SKIP
>>> result.buildings[["building", "capacity", "enrollment", "utilization", "flag"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from facilities._validate import Problems
from facilities.schema import ROOM_TYPES, format_grades

if TYPE_CHECKING:
    from facilities.city import City

__all__ = ["CapacityRules", "Utilization", "building_capacity", "host_use", "utilization"]

#: Flags given to a school or building by its utilization.
FLAGS = ("over capacity", "under-used", "in band", "vacant", "unknown")
#: Where a capacity comes from, best first.
SOURCES = ("counted rooms", "reported capacity", "estimated from floor area", "unknown")
#: The published source of :attr:`CapacityRules.area_per_seat`'s defaults.
AREA_PER_SEAT_SOURCE = (
    "School Planning & Management, Annual School Construction Report: national medians of gross square "
    "feet per student in new schools, 2013-2015 (elementary about 150, middle 175, high 180 ft²), as "
    "tabulated in Washington State OSPI's K-12 Capital Facilities Cost Study (2017)"
)


@dataclass(frozen=True)
class CapacityRules:
    """How seats are counted from rooms; every default can be overridden in ``city.toml [capacity]``.

    Parameters
    ----------
    class_size
        Target class size by grade band, as ``((first grade, last grade, seats), ...)``. Defaults are
        the Blue Book's: PK–3 20, 4–8 28, 9–12 30. In ``city.toml``:
        ``class_size = {"PK-3" = 20, "4-8" = 28, "9-12" = 30}``.
    specialty_rooms
        Room types counted as teaching space at :attr:`efficiency` (science, art, music, computer).
    efficiency
        Program-efficiency factor of a specialty room: the share of the day it holds a full class
        (default 0.85).
    special_education_size
        Seats of a special education room (default 12, a 12:1:1 class).
    band
        Target utilization band ``(low, high)``: below ``low`` is under-used, above ``high`` over
        capacity (default 85–100 %).
    gym_slots
        Gym periods a day a building's gymnasium offers (default 8).
    lunch_periods
        Lunch periods a day a building's cafeteria offers (default 4).
    vacant_grades
        Grades assumed for the class size of a building no school occupies (default K–12).
    area_per_seat
        Gross square metres a seat takes, by grade band, to estimate the capacity of a building whose
        rooms are not counted and whose capacity is not reported, as ``((first, last, m²), ...)``.
        Defaults (PK–5 13.9, 6–8 16.3, 9–12 16.7 m², that is 150, 175 and 180 ft²): see
        :data:`AREA_PER_SEAT_SOURCE`. In ``city.toml``: ``area_per_seat = {"PK-5" = 13.9, ...}``.
    """

    class_size: tuple[tuple[int, int, int], ...] = ((-1, 3, 20), (4, 8, 28), (9, 12, 30))
    specialty_rooms: tuple[str, ...] = ("science", "art", "music", "computer")
    efficiency: float = 0.85
    special_education_size: int = 12
    band: tuple[float, float] = (0.85, 1.0)
    gym_slots: int = 8
    lunch_periods: int = 4
    vacant_grades: tuple[int, ...] = tuple(range(0, 13))
    area_per_seat: tuple[tuple[int, int, float], ...] = ((-1, 5, 13.9), (6, 8, 16.3), (9, 12, 16.7))

    def __post_init__(self) -> None:
        covered = [g for lo, hi, _ in self.class_size for g in range(lo, hi + 1)]
        problems = []
        if sorted(covered) != list(range(-1, 13)):
            problems.append("class_size bands must cover PK-12 once each (e.g. PK-3, 4-8, 9-12)")
        if sorted(g for lo, hi, _ in self.area_per_seat for g in range(lo, hi + 1)) != list(range(-1, 13)):
            problems.append("area_per_seat bands must cover PK-12 once each (e.g. PK-5, 6-8, 9-12)")
        if any(area <= 0 for *_, area in self.area_per_seat):
            problems.append("area_per_seat must be positive")
        if any(size <= 0 for *_, size in self.class_size):
            problems.append("class sizes must be positive")
        if unknown := sorted(set(self.specialty_rooms) - set(ROOM_TYPES)):
            problems.append(f"unknown specialty room types {unknown}; use {', '.join(ROOM_TYPES)}")
        if not 0 < self.efficiency <= 1:
            problems.append(f"efficiency {self.efficiency} must be in (0, 1]")
        if not 0 < self.band[0] <= self.band[1]:
            problems.append(f"band {self.band} must be (low, high) with 0 < low <= high")
        if self.gym_slots < 1 or self.lunch_periods < 1 or self.special_education_size < 1:
            problems.append("gym_slots, lunch_periods and special_education_size must be at least 1")
        if problems:
            raise ValueError("invalid capacity rules: " + "; ".join(problems))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> CapacityRules:
        """Build the rules from a ``city.toml [capacity]`` table, read and checked by
        :func:`facilities.settings.parse_capacity` (unknown keys are an error).

        ``class_size`` is a table of grade bands to seats, e.g. ``{"PK-3" = 20, "4-8" = 28}``;
        ``band`` (or ``target``) a two-number list; the other keys are the attributes' names.
        A city's rules are ``replace(CapacityRules(), **city.settings.capacity.given)``.
        """
        from facilities.settings import parse_capacity

        return replace(cls(), **parse_capacity(settings).given)

    def class_size_for(self, grades: Iterable[int] | None) -> float:
        """Mean target class size over ``grades`` (each grade weighs the same); vacant grades when empty."""
        grades = list(grades or ()) or list(self.vacant_grades)
        sizes = [size for g in grades for lo, hi, size in self.class_size if lo <= g <= hi]
        return float(np.mean(sizes))

    def area_per_seat_for(self, grades: Iterable[int] | None) -> float:
        """Mean gross square metres a seat over ``grades``; vacant grades when empty."""
        grades = list(grades or ()) or list(self.vacant_grades)
        return float(np.mean([area for g in grades for lo, hi, area in self.area_per_seat if lo <= g <= hi]))


@dataclass(frozen=True)
class Utilization:
    """Utilization of a city's buildings and schools (see :func:`utilization`).

    Attributes
    ----------
    buildings
        One row per building: capacity, enrollment, utilization, spare seats and rooms, flag, and
        the rooms, gym and lunch periods left after its schools (``spare_<type>``, ``gym_free``,
        ``lunch_free``).
    schools
        One row per school: its share of its building's rooms, capacity, utilization and flag, next
        to the reported capacity and the utilization it implies.
    rules
        The rules used.
    """

    buildings: pd.DataFrame
    schools: pd.DataFrame
    rules: CapacityRules


def _problem(file: str, row: int | None, column: str | None, message: str, fix: str = "") -> Any:
    problems = Problems()
    problems.add(file, row, column, message, fix)
    return problems[0]


def _rules(rules: CapacityRules | None, city: City | None) -> CapacityRules:
    if rules is not None:
        return rules
    return replace(CapacityRules(), **city.settings.capacity.given) if city is not None else CapacityRules()


def _grades(value: object) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(int(g) for g in value)
    return ()


def _check_rooms(buildings: pd.DataFrame) -> None:
    """Raise naming every building with a negative room count (a building without counted rooms is fine)."""
    rooms = buildings[[f"rooms_{t}" for t in ROOM_TYPES]].to_numpy()
    problems = Problems()
    for i, t in zip(*np.nonzero(rooms < 0), strict=True):
        problems.add(
            "buildings",
            i + 1,
            f"rooms_{ROOM_TYPES[t]}",
            f"building {buildings['id'].iat[i]!r} has a negative room count",
            "give a count of 0 or more",
        )
    problems.raise_if_any(city="the buildings")


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as floats, NaN where absent, empty or not positive (zero reads as not given)."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    return np.where(values > 0, values, np.nan)


def _school_classes(schools: pd.DataFrame, rules: CapacityRules) -> pd.DataFrame:
    """Each school's target class size and the classrooms its enrollment fills."""
    out = pd.DataFrame({"school": schools["id"].to_numpy(), "building": schools["building"].to_numpy()})
    out["grades"] = [_grades(g) for g in schools["grades"]]
    out["class_size"] = [rules.class_size_for(g) for g in out["grades"]]
    out["enrollment"] = pd.to_numeric(schools["enrollment"], errors="coerce").to_numpy(dtype=float)
    out["rooms_needed"] = np.ceil(out["enrollment"] / out["class_size"])
    return out


def building_capacity(
    buildings: pd.DataFrame,
    *,
    schools: pd.DataFrame | None = None,
    rules: CapacityRules | None = None,
    reported: pd.Series | None = None,
) -> pd.DataFrame:
    """Capacity of each building: from its rooms, else reported, else from its floor area, else unknown.

    Parameters
    ----------
    buildings
        Canonical buildings (``id`` and ``rooms_<type>`` columns; ``capacity`` and ``gross_area``
        when known).
    schools
        Canonical schools; their grades set each building's class size (weighted by the classrooms
        each school fills). A building no school occupies uses :attr:`CapacityRules.vacant_grades`.
    rules
        Counting rules (default :class:`CapacityRules`).
    reported
        Reported seats by building id (e.g. its schools' reported capacity), used when the building
        gives none of its own.

    Returns
    -------
    DataFrame
        ``building, grades, class_size, classrooms, classrooms_source, capacity_classrooms,
        capacity_specialty, capacity_special_education, capacity, capacity_source``; seats are whole
        numbers (rounded down), NaN where unknown.

    Raises
    ------
    ValidationError
        When a building has a negative room count (naming the row).
    """
    rules = rules or CapacityRules()
    _check_rooms(buildings)
    ids = buildings["id"].to_numpy()
    size = np.array([rules.class_size_for(None)] * len(ids))
    area = np.array([rules.area_per_seat_for(None)] * len(ids))
    grades: list[tuple[int, ...]] = [()] * len(ids)
    if schools is not None and len(schools):
        classes = _school_classes(schools, rules)
        classes = classes[classes["building"].isin(ids)]
        position = {b: i for i, b in enumerate(ids)}
        for b, group in classes.groupby("building", sort=False):
            weights = group["rooms_needed"].fillna(0).to_numpy()
            weights = weights if weights.sum() > 0 else np.ones(len(group))
            size[position[b]] = float(np.average(group["class_size"], weights=weights))
            grades[position[b]] = tuple(sorted({g for gs in group["grades"] for g in gs}))
            area[position[b]] = rules.area_per_seat_for(grades[position[b]])
    rooms = {t: buildings[f"rooms_{t}"].to_numpy(dtype=float) for t in ROOM_TYPES}
    counted = sum(rooms.values(), np.zeros(len(ids))) > 0
    specialty = sum((rooms[t] for t in rules.specialty_rooms), np.zeros(len(ids)))
    out = pd.DataFrame(
        {"building": ids, "grades": [format_grades(g) for g in grades], "class_size": size.round(2)}
    )
    out["capacity_classrooms"] = _whole_seats(rooms["classroom"] * size)
    out["capacity_specialty"] = _whole_seats(specialty * size * rules.efficiency)
    out["capacity_special_education"] = rooms["special_education"] * rules.special_education_size
    from_rooms = (
        out["capacity_classrooms"] + out["capacity_specialty"] + out["capacity_special_education"]
    ).to_numpy()
    own = _numbers(buildings, "capacity")
    if reported is not None:
        own = np.where(
            np.isnan(own), pd.Series(reported, dtype=float).reindex(ids).to_numpy(dtype=float), own
        )
    from_area = _whole_seats(_numbers(buildings, "gross_area") / area)
    capacity = np.select(
        [counted, np.isfinite(own), np.isfinite(from_area)], [from_rooms, own, from_area], np.nan
    )
    out["capacity"] = capacity
    out["capacity_source"] = np.select(
        [counted, np.isfinite(own), np.isfinite(from_area)], list(SOURCES[:3]), SOURCES[3]
    )
    estimated = _whole_seats(capacity / size)
    out.insert(3, "classrooms", np.where(counted, rooms["classroom"], estimated))
    out.insert(
        4,
        "classrooms_source",
        np.where(
            counted,
            "counted",
            np.where(
                np.isfinite(estimated),
                "estimated from " + out["capacity_source"].str.replace("estimated from ", ""),
                "unknown",
            ),
        ),
    )
    out.loc[~counted, ["capacity_classrooms", "capacity_specialty", "capacity_special_education"]] = np.nan
    for column in (
        "classrooms",
        "capacity_classrooms",
        "capacity_specialty",
        "capacity_special_education",
        "capacity",
    ):
        out[column] = _whole(out[column])
    return out


def _whole_seats(seats: np.ndarray) -> np.ndarray:
    """Seats rounded down to whole seats (NaN stays unknown), after rounding away float error
    (18 x 220/9 is 440 seats, not the 439.99999... floating point gives)."""
    return np.floor(np.round(np.asarray(seats, dtype=float), 6))


def _whole(values: pd.Series) -> pd.Series:
    """Whole numbers as ``int`` when all are known, else floats with NaN for the unknown ones."""
    return values.astype(int) if values.notna().all() else values.astype(float)


def describe_estimates(frame: pd.DataFrame, what: str = "buildings") -> list[str]:
    """``["capacity of 5 buildings estimated from floor area", ...]``: what was not counted from rooms."""
    words = {SOURCES[1]: "from their reported capacity", SOURCES[2]: SOURCES[2], SOURCES[3]: "unknown"}
    return [f"capacity of {n:,} {what} {words.get(s, s)}" for s, n in estimated_counts(frame).items()]


def estimated_counts(frame: pd.DataFrame, column: str = "capacity_source") -> dict[str, int]:
    """How many rows take each capacity source other than counted rooms.

    For example ``{"estimated from floor area": 12}``.
    """
    if column not in frame or not len(frame):
        return {}
    counts = frame[column].value_counts()
    return {str(k): int(n) for k, n in counts.items() if k != SOURCES[0]}


def known_no(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Where a yes/no/unknown column is a known *no* (unknown and absent columns are not)."""
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].map(lambda x: x is False or x is np.False_).to_numpy(dtype=bool)


def known_yes(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Where a yes/no/unknown column is a known *yes*."""
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].map(lambda x: x is True or x is np.True_).to_numpy(dtype=bool)


def _flag(util: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    return np.select(
        [~np.isfinite(util), util > band[1], util < band[0]],
        ["unknown", "over capacity", "under-used"],
        "in band",
    )


def host_use(
    buildings: pd.DataFrame, capacity: pd.DataFrame, classes: pd.DataFrame, rules: CapacityRules
) -> pd.DataFrame:
    """Rooms by type, gym and lunch periods the schools in each building use, and what is left.

    Classrooms used are the classrooms the schools' enrollment fills (``ceil(enrollment / class
    size)`` each); every other room type, the gym periods and the lunch periods are used in
    proportion to the building's utilization (rounded up, at most all of them). A building no
    school occupies leaves everything free. Where the rooms are not counted, the classrooms are the
    estimated ones (``classrooms`` of ``capacity``) and the other types none; a gym or cafeteria
    whose presence is unknown is counted as if present (the match offers such a building only on
    the condition that it is confirmed).

    Returns
    -------
    DataFrame
        ``building, used_<type>, spare_<type>`` for every room type, ``gym_used, gym_free,
        lunch_used, lunch_free`` (zero free when the building has no gym or cafeteria).
    """
    ids = buildings["id"].to_numpy()
    needed = classes.groupby("building")["rooms_needed"].sum(min_count=1).reindex(ids).fillna(0).to_numpy()
    enrolled = classes.groupby("building")["enrollment"].sum(min_count=1).reindex(ids).fillna(0).to_numpy()
    cap = capacity["capacity"].to_numpy(dtype=float)
    share = np.clip(np.divide(enrolled, cap, out=np.zeros(len(ids)), where=cap > 0), 0, 1)
    out = pd.DataFrame({"building": ids})
    classrooms = capacity["classrooms"].fillna(0).to_numpy(dtype=int)
    for t in ROOM_TYPES:
        total = classrooms if t == "classroom" else buildings[f"rooms_{t}"].to_numpy(dtype=int)
        used = np.minimum(total, needed) if t == "classroom" else np.ceil(total * share)
        out[f"used_{t}"] = used.astype(int)
        out[f"spare_{t}"] = (total - used).astype(int)
    for name, has, slots in (("gym", "gym", rules.gym_slots), ("lunch", "cafeteria", rules.lunch_periods)):
        present = ~known_no(buildings, has)
        used = np.where(present, np.ceil(slots * share), 0).astype(int)
        out[f"{name}_used"] = used
        out[f"{name}_free"] = np.where(present, slots - used, 0).astype(int)
    return out


def utilization(
    city: City | None = None,
    *,
    buildings: pd.DataFrame | None = None,
    schools: pd.DataFrame | None = None,
    rules: CapacityRules | None = None,
    band: tuple[float, float] | None = None,
) -> Utilization:
    """Utilization = enrollment / capacity of each building and each school in it.

    Parameters
    ----------
    city
        A city; or give ``buildings`` and ``schools`` (canonical frames) instead.
    buildings, schools
        Canonical frames, overriding the city's.
    rules
        Counting rules; default the city's (``city.settings.capacity``).
    band
        Target band ``(low, high)``, overriding ``rules.band``.

    Returns
    -------
    Utilization
        Per building and per school. A shared building's classrooms are divided among its schools
        in proportion to the classrooms their enrollments fill (``rooms_share``); specialty and
        special education seats likewise. Flags: ``over capacity`` above ``high``, ``under-used``
        below ``low``, ``in band``, ``vacant`` (a building no school occupies) or ``unknown`` (no
        enrollment or no capacity).
    """
    rules = _rules(rules, city)
    if band is not None:
        rules = replace(rules, band=cast("tuple[float, float]", tuple(band)))
    buildings = buildings if buildings is not None else (city.buildings if city is not None else None)
    schools = schools if schools is not None else (city.schools if city is not None else None)
    if schools is None:
        raise TypeError("utilization() needs a city, or schools= (and buildings=) frames")
    if buildings is None:
        buildings = pd.DataFrame(
            {
                "id": pd.Series(dtype=str),
                **{f"rooms_{t}": pd.Series(dtype=int) for t in ROOM_TYPES},
                "gym": pd.Series(dtype=bool),
                "cafeteria": pd.Series(dtype=bool),
            }
        )
    reported = _numbers(schools, "capacity")
    by_building = pd.Series(reported).groupby(schools["building"].to_numpy()).sum(min_count=1)
    cap = building_capacity(buildings, schools=schools, rules=rules, reported=by_building)
    classes = _school_classes(schools, rules)
    use = host_use(buildings, cap, classes, rules)

    b = cap.copy()
    b.insert(1, "name", buildings["name"].to_numpy() if "name" in buildings else None)
    b.insert(2, "status", buildings["status"].to_numpy() if "status" in buildings else None)
    grouped = classes.groupby("building")
    b["schools"] = (
        grouped["school"].agg(lambda s: ";".join(map(str, s))).reindex(b["building"]).fillna("").to_numpy()
    )
    b["enrollment"] = grouped["enrollment"].sum(min_count=1).reindex(b["building"]).to_numpy()
    b.loc[b["schools"] == "", "enrollment"] = 0.0
    own = _numbers(buildings, "capacity")
    b["reported_capacity"] = np.where(
        np.isnan(own), by_building.reindex(b["building"]).to_numpy(dtype=float), own
    )
    b["utilization"] = (b["enrollment"] / b["capacity"].where(b["capacity"] > 0)).round(4)
    b["spare_seats"] = b["capacity"] - b["enrollment"]
    b["rooms_needed"] = (
        grouped["rooms_needed"].sum(min_count=1).reindex(b["building"]).fillna(0).astype(int).to_numpy()
    )
    # never negative: classrooms short of what the enrollment fills are counted apart
    b["spare_rooms"] = (b["classrooms"] - b["rooms_needed"]).clip(lower=0)
    b["rooms_short"] = (b["rooms_needed"] - b["classrooms"]).clip(lower=0)
    flag = _flag(b["utilization"].to_numpy(dtype=float), rules.band)
    # a building whose classrooms are in use is not under-used, whatever its specialty rooms add in seats
    room_use = np.divide(
        b["rooms_needed"].to_numpy(float),
        b["classrooms"].to_numpy(float),
        out=np.full(len(b), np.nan),
        where=b["classrooms"].to_numpy(float) > 0,
    )
    flag = np.where((flag == "under-used") & (room_use >= rules.band[0]), "in band", flag)
    b["flag"] = np.where(b["schools"] == "", "vacant", flag)
    b = pd.concat([b, use.drop(columns="building")], axis=1)

    s = classes.copy()
    s.insert(1, "name", schools["name"].to_numpy())
    s.insert(2, "sector", schools["sector"].to_numpy())
    s["grades"] = [format_grades(g) for g in s["grades"]]
    here = b.set_index("building")
    in_building = s["building"].isin(here.index).to_numpy()
    total_needed = s["building"].map(here["rooms_needed"]).to_numpy(dtype=float)
    fraction = np.divide(
        s["rooms_needed"].fillna(0).to_numpy(), total_needed, out=np.zeros(len(s)), where=total_needed > 0
    )
    alone = in_building & (total_needed == 0)
    counts = s["building"].map(s["building"].value_counts()).to_numpy(dtype=float)
    fraction[alone] = 1 / counts[alone]
    fraction[~in_building] = np.nan
    s["rooms_share"] = (s["building"].map(here["classrooms"]).to_numpy(dtype=float) * fraction).round(1)
    s["capacity"] = _whole_seats(s["building"].map(here["capacity"]).to_numpy(dtype=float) * fraction)
    s["capacity_source"] = s["building"].map(here["capacity_source"]).to_numpy(dtype=object)
    # a school outside every building of the city: its reported capacity, said so
    alone_reported = ~in_building & np.isfinite(reported)
    s.loc[alone_reported, "capacity"] = reported[alone_reported]
    s["capacity_source"] = np.where(
        alone_reported, SOURCES[1], np.where(in_building, s["capacity_source"], SOURCES[3])
    )
    s["utilization"] = (s["enrollment"] / s["capacity"].where(s["capacity"] > 0)).round(4)
    s["spare_seats"] = s["capacity"] - s["enrollment"]
    s["flag"] = _flag(s["utilization"].to_numpy(dtype=float), rules.band)
    s["reported_capacity"] = reported
    s["reported_utilization"] = (
        s["enrollment"] / s["reported_capacity"].where(s["reported_capacity"] > 0)
    ).round(4)
    s["reported_flag"] = _flag(s["reported_utilization"].to_numpy(dtype=float), rules.band)
    return Utilization(buildings=b, schools=s, rules=rules)
