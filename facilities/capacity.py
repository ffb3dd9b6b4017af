"""Building capacity from rooms, and the utilization of schools and buildings.

The capacity model follows New York City's *Blue Book* (the Enrollment – Capacity – Utilization
report): a building's capacity is its full-size classrooms times a target class size for the
grades it serves, plus its specialty rooms counted at a program-efficiency factor and its special
education rooms at their own class size; small rooms, offices and libraries add no seats.

>>> from facilities import read_city
>>> from facilities.capacity import utilization
>>> result = utilization(read_city("data/demo"))  # doctest: +SKIP
>>> result.buildings[["building", "capacity", "enrollment", "utilization", "flag"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from facilities._validate import Problems, ValidationError, parse_grades
from facilities.schema import ROOM_TYPES, format_grades

if TYPE_CHECKING:
    from facilities.city import City

__all__ = ["CapacityRules", "Utilization", "building_capacity", "host_use", "utilization"]

#: Flags given to a school or building by its utilization.
FLAGS = ("over capacity", "under-used", "in band", "vacant", "unknown")


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
    """

    class_size: tuple[tuple[int, int, int], ...] = ((-1, 3, 20), (4, 8, 28), (9, 12, 30))
    specialty_rooms: tuple[str, ...] = ("science", "art", "music", "computer")
    efficiency: float = 0.85
    special_education_size: int = 12
    band: tuple[float, float] = (0.85, 1.0)
    gym_slots: int = 8
    lunch_periods: int = 4
    vacant_grades: tuple[int, ...] = tuple(range(0, 13))

    def __post_init__(self) -> None:
        covered = [g for lo, hi, _ in self.class_size for g in range(lo, hi + 1)]
        problems = []
        if sorted(covered) != list(range(-1, 13)):
            problems.append("class_size bands must cover PK-12 once each (e.g. PK-3, 4-8, 9-12)")
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
        """Build the rules from a ``city.toml [capacity]`` table (unknown keys are an error).

        ``class_size`` is a table of grade bands to seats, e.g. ``{"PK-3" = 20, "4-8" = 28}``;
        ``band`` (or ``target``) a two-number list; the other keys are the attributes' names.
        """
        settings = dict(settings or {})
        if "target" in settings:  # the demo's and users' word for the band
            settings["band"] = settings.pop("target")
        known = {f.name for f in fields(cls)}
        if unknown := sorted(set(settings) - known):
            raise ValidationError([_problem("city.toml [capacity]", None, ", ".join(unknown), "unknown setting", f"use {', '.join(sorted(known))}")])
        values: dict[str, Any] = {}
        for key, value in settings.items():
            if key == "class_size":
                bands = []
                for band, seats in dict(value).items():
                    grades = parse_grades(band)
                    bands.append((grades[0], grades[-1], int(seats)))
                values[key] = tuple(sorted(bands))
            elif key in ("band", "specialty_rooms", "vacant_grades"):
                values[key] = tuple(parse_grades(value) if key == "vacant_grades" else value)
            else:
                values[key] = value
        try:
            return replace(cls(), **values)
        except (TypeError, ValueError) as err:
            raise ValidationError([_problem("city.toml [capacity]", None, None, str(err), "fix the [capacity] table")]) from None

    def class_size_for(self, grades: Iterable[int] | None) -> float:
        """Mean target class size over ``grades`` (each grade weighs the same); vacant grades when empty."""
        grades = list(grades or ()) or list(self.vacant_grades)
        sizes = [size for g in grades for lo, hi, size in self.class_size if lo <= g <= hi]
        return float(np.mean(sizes))


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
    """Raise naming every building that has no rooms at all."""
    rooms = buildings[[f"rooms_{t}" for t in ROOM_TYPES]].to_numpy()
    problems = Problems()
    for i in np.flatnonzero(rooms.sum(axis=1) == 0):
        problems.add("buildings", i + 1, "rooms_*", f"building {buildings['id'].iat[i]!r} has no rooms", "give its rooms by type (map them in city.toml [layers.buildings.rooms]) or drop the building")
    for i, t in zip(*np.nonzero(rooms < 0), strict=True):
        problems.add("buildings", i + 1, f"rooms_{ROOM_TYPES[t]}", f"building {buildings['id'].iat[i]!r} has a negative room count", "give a count of 0 or more")
    problems.raise_if_any(city="the buildings")


def _school_classes(schools: pd.DataFrame, rules: CapacityRules) -> pd.DataFrame:
    """Each school's target class size and the classrooms its enrollment fills."""
    out = pd.DataFrame({"school": schools["id"].to_numpy(), "building": schools["building"].to_numpy()})
    out["grades"] = [_grades(g) for g in schools["grades"]]
    out["class_size"] = [rules.class_size_for(g) for g in out["grades"]]
    out["enrollment"] = pd.to_numeric(schools["enrollment"], errors="coerce").to_numpy(dtype=float)
    out["rooms_needed"] = np.ceil(out["enrollment"] / out["class_size"])
    return out


def building_capacity(buildings: pd.DataFrame, *, schools: pd.DataFrame | None = None, rules: CapacityRules | None = None) -> pd.DataFrame:
    """Capacity of each building from its rooms.

    Parameters
    ----------
    buildings
        Canonical buildings (``id`` and ``rooms_<type>`` columns).
    schools
        Canonical schools; their grades set each building's class size (weighted by the classrooms
        each school fills). A building no school occupies uses :attr:`CapacityRules.vacant_grades`.
    rules
        Counting rules (default :class:`CapacityRules`).

    Returns
    -------
    DataFrame
        ``building, grades, class_size, classrooms, capacity_classrooms, capacity_specialty,
        capacity_special_education, capacity``; seats are whole numbers (rounded down).

    Raises
    ------
    ValidationError
        When a building has no rooms or a negative room count (naming the row).
    """
    rules = rules or CapacityRules()
    _check_rooms(buildings)
    ids = buildings["id"].to_numpy()
    size = np.array([rules.class_size_for(None)] * len(ids))
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
    rooms = {t: buildings[f"rooms_{t}"].to_numpy(dtype=float) for t in ROOM_TYPES}
    specialty = sum((rooms[t] for t in rules.specialty_rooms), np.zeros(len(ids)))
    out = pd.DataFrame({"building": ids, "grades": [format_grades(g) for g in grades], "class_size": size.round(2), "classrooms": rooms["classroom"].astype(int)})
    out["capacity_classrooms"] = np.floor(rooms["classroom"] * size).astype(int)
    out["capacity_specialty"] = np.floor(specialty * size * rules.efficiency).astype(int)
    out["capacity_special_education"] = (rooms["special_education"] * rules.special_education_size).astype(int)
    out["capacity"] = out["capacity_classrooms"] + out["capacity_specialty"] + out["capacity_special_education"]
    return out


def _flag(util: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    return np.select([~np.isfinite(util), util > band[1], util < band[0]], ["unknown", "over capacity", "under-used"], "in band")


def host_use(buildings: pd.DataFrame, capacity: pd.DataFrame, classes: pd.DataFrame, rules: CapacityRules) -> pd.DataFrame:
    """Rooms by type, gym and lunch periods the schools in each building use, and what is left.

    Classrooms used are the classrooms the schools' enrollment fills (``ceil(enrollment / class
    size)`` each); every other room type, the gym periods and the lunch periods are used in
    proportion to the building's utilization (rounded up, at most all of them). A building no
    school occupies leaves everything free.

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
    for t in ROOM_TYPES:
        total = buildings[f"rooms_{t}"].to_numpy(dtype=int)
        used = np.minimum(total, needed) if t == "classroom" else np.ceil(total * share)
        out[f"used_{t}"] = used.astype(int)
        out[f"spare_{t}"] = (total - used).astype(int)
    for name, has, slots in (("gym", "gym", rules.gym_slots), ("lunch", "cafeteria", rules.lunch_periods)):
        present = buildings[has].fillna(False).to_numpy(dtype=bool)
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
        Counting rules; default ``CapacityRules.from_settings(city.settings["capacity"])``.
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
        rules = replace(rules, band=tuple(band))
    buildings = buildings if buildings is not None else (city.buildings if city is not None else None)
    schools = schools if schools is not None else (city.schools if city is not None else None)
    if schools is None:
        raise TypeError("utilization() needs a city, or schools= (and buildings=) frames")
    if buildings is None:
        buildings = pd.DataFrame({"id": pd.Series(dtype=str), **{f"rooms_{t}": pd.Series(dtype=int) for t in ROOM_TYPES}, "gym": pd.Series(dtype=bool), "cafeteria": pd.Series(dtype=bool)})
    cap = building_capacity(buildings, schools=schools, rules=rules)
    classes = _school_classes(schools, rules)
    use = host_use(buildings, cap, classes, rules)

    b = cap.copy()
    b.insert(1, "name", buildings["name"].to_numpy() if "name" in buildings else None)
    b.insert(2, "status", buildings["status"].to_numpy() if "status" in buildings else None)
    grouped = classes.groupby("building")
    b["schools"] = grouped["school"].agg(lambda s: ";".join(map(str, s))).reindex(b["building"]).fillna("").to_numpy()
    b["enrollment"] = grouped["enrollment"].sum(min_count=1).reindex(b["building"]).to_numpy()
    b.loc[b["schools"] == "", "enrollment"] = 0.0
    reported = pd.to_numeric(schools["capacity"], errors="coerce") if "capacity" in schools else pd.Series(np.nan, index=schools.index)
    b["reported_capacity"] = reported.groupby(schools["building"].to_numpy()).sum(min_count=1).reindex(b["building"]).to_numpy()
    b["utilization"] = (b["enrollment"] / b["capacity"].where(b["capacity"] > 0)).round(4)
    b["spare_seats"] = b["capacity"] - b["enrollment"]
    b["rooms_needed"] = grouped["rooms_needed"].sum(min_count=1).reindex(b["building"]).fillna(0).astype(int).to_numpy()
    b["spare_rooms"] = b["classrooms"] - b["rooms_needed"]
    b["flag"] = np.where(b["schools"] == "", "vacant", _flag(b["utilization"].to_numpy(dtype=float), rules.band))
    b = pd.concat([b, use.drop(columns="building")], axis=1)

    s = classes.copy()
    s.insert(1, "name", schools["name"].to_numpy())
    s.insert(2, "sector", schools["sector"].to_numpy())
    s["grades"] = [format_grades(g) for g in s["grades"]]
    here = b.set_index("building")
    in_building = s["building"].isin(here.index).to_numpy()
    total_needed = s["building"].map(here["rooms_needed"]).to_numpy(dtype=float)
    fraction = np.divide(s["rooms_needed"].fillna(0).to_numpy(), total_needed, out=np.zeros(len(s)), where=total_needed > 0)
    alone = in_building & (total_needed == 0)
    counts = s["building"].map(s["building"].value_counts()).to_numpy(dtype=float)
    fraction[alone] = 1 / counts[alone]
    fraction[~in_building] = np.nan
    s["rooms_share"] = (s["building"].map(here["classrooms"]).to_numpy(dtype=float) * fraction).round(1)
    s["capacity"] = np.floor(s["building"].map(here["capacity"]).to_numpy(dtype=float) * fraction)
    s["utilization"] = (s["enrollment"] / s["capacity"].where(s["capacity"] > 0)).round(4)
    s["spare_seats"] = s["capacity"] - s["enrollment"]
    s["flag"] = _flag(s["utilization"].to_numpy(dtype=float), rules.band)
    s["reported_capacity"] = reported.to_numpy()
    s["reported_utilization"] = (s["enrollment"] / s["reported_capacity"].where(s["reported_capacity"] > 0)).round(4)
    s["reported_flag"] = _flag(s["reported_utilization"].to_numpy(dtype=float), rules.band)
    return Utilization(buildings=b, schools=s, rules=rules)
