"""The canonical schema of a city: its layers, their fields, and the vocabularies they use.

A city folder's ``city.toml`` maps each user's file and columns onto these names; everything
downstream (capacity, matching, routing, zones) reads only the canonical names defined here.

Conventions
-----------
- Grades are integers: ``PK = -1``, ``K = 0``, ``1`` ... ``12``. A school's or need's grades are a
  sorted ``tuple[int, ...]``. ``PK`` is preschool as a whole: both preschool years (``PK3`` and
  ``PK4``, DC's ``PK-3, PK-4``) read as ``PK``. Adult and ungraded programs are not grades: a school
  offering only them has no grades (``()``), is kept, is counted, and is left out of every
  grade-based analysis (see :func:`grade_programs`).
- Bell times are seconds after midnight (``int``); files give them as ``"HH:MM"`` or ``"HH:MM:SS"``.
- Distances are metres, times are seconds, money is dollars a year, areas are square metres.
- Geometries are held in the city's metric CRS (``City.crs``) and written out in WGS84.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "GRADE_NAMES",
    "SECTORS",
    "OWNERS",
    "STATUSES",
    "SERVICES",
    "ZONE_KINDS",
    "ROOM_TYPES",
    "ADDRESS_PARTS",
    "Field",
    "Layer",
    "LAYERS",
    "PROGRAMS",
    "format_grades",
    "format_time",
    "grade_programs",
    "is_missing",
    "parse_grade",
    "parse_grades",
    "parse_program",
    "parse_time",
]

#: Grade codes in order; the index minus one is the grade integer (``PK`` is -1, ``K`` is 0).
GRADE_NAMES: tuple[str, ...] = ("PK", "K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")
SECTORS: tuple[str, ...] = ("district", "charter", "catholic", "private")
OWNERS: tuple[str, ...] = ("district", "archdiocese", "city", "private")
STATUSES: tuple[str, ...] = ("occupied", "under-used", "vacant")
SERVICES: tuple[str, ...] = ("corner", "door-to-door", "wheelchair")
#: Kinds of zone a city may hold at once (one file each, or several files of one kind).
ZONE_KINDS: tuple[str, ...] = ("neighborhood", "ward", "attendance", "census", "shared")
#: Room types counted by the capacity model; a city may map any subset of them.
ROOM_TYPES: tuple[str, ...] = (
    "classroom",
    "small",
    "science",
    "special_education",
    "art",
    "music",
    "library",
    "computer",
    "office",
)

#: The parts of an address a layer may map in ``[layers.<layer>.address]`` (one ``address`` column, or parts).
ADDRESS_PARTS: tuple[str, ...] = ("address", "number", "street", "unit", "city", "zip")

Kind = Literal["str", "int", "float", "bool", "grades", "grade", "time", "date", "list"]


@dataclass(frozen=True)
class Field:
    """One canonical column of a layer.

    Parameters
    ----------
    name
        Canonical column name.
    kind
        How the raw value is parsed: ``str``, ``int``, ``float``, ``bool``, ``grades`` (a set of
        grades such as ``"K-5"`` or ``"PK,K,1"``), ``grade`` (one grade), ``time`` (``"HH:MM"``),
        ``date`` (ISO date), ``list`` (values separated by ``;`` or ``,``).
    required
        Whether the city must map this field.
    choices
        Allowed values after the layer's value map is applied.
    minimum
        Smallest allowed number for ``int`` and ``float`` fields.
    default
        Value used when the field is not mapped.
    ref
        ``"layer.field"`` that every value must exist in (e.g. a student's school).
    help
        What the field means, in the users' words.
    """

    name: str
    kind: Kind = "str"
    required: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    default: object = None
    ref: str | None = None
    help: str = ""


@dataclass(frozen=True)
class Layer:
    """A layer of the city: its fields and its geometry type."""

    name: str
    geometry: Literal["point", "polygon", None]
    fields: tuple[Field, ...]
    required: bool = False
    #: A group of numeric columns named ``<prefix>_<type>``, e.g. ``rooms_classroom``.
    groups: tuple[str, ...] = field(default_factory=tuple)
    help: str = ""

    def field(self, name: str) -> Field:
        """Return the field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"layer {self.name!r} has no field {name!r}")


_ID = Field("id", "str", required=True, help="unique identifier")
_NAME = Field("name", "str", help="name shown to people")

SCHOOLS = Layer(
    "schools",
    "point",
    (
        _ID,
        Field("name", "str", required=True, help="school name"),
        Field("sector", "str", required=True, choices=SECTORS, help="district, charter, catholic or private"),
        Field("grades", "grades", help="grades served, e.g. 'K-5', 'PK,K,1,2' or '6-8'"),
        Field("enrollment", "int", minimum=0, help="students enrolled"),
        Field(
            "capacity",
            "int",
            minimum=0,
            help="reported seats (the capacity model computes its own from rooms)",
        ),
        Field("building", "str", ref="buildings.id", help="id of the building the school occupies"),
        Field("bell_start", "time", help="morning bell, 'HH:MM'"),
        Field("bell_end", "time", help="dismissal bell, 'HH:MM'"),
        Field("neighborhood", "str", help="neighborhood name (derived from zones when absent)"),
        Field(
            "programs", "list", help="non-grade programs (adult, ungraded); read from grades when not given"
        ),
    ),
    required=True,
    help="every school of every sector",
)

BUILDINGS = Layer(
    "buildings",
    "point",
    (
        _ID,
        _NAME,
        Field(
            "owner", "str", choices=OWNERS, default="district", help="district, archdiocese, city or private"
        ),
        Field("status", "str", choices=STATUSES, default="occupied", help="occupied, under-used or vacant"),
        Field("gross_area", "float", minimum=0, help="gross floor area, square metres"),
        Field("capacity", "int", minimum=0, help="reported seats (used when the rooms are not counted)"),
        Field("gym", "bool", help="has a gymnasium (empty: unknown)"),
        Field("cafeteria", "bool", help="has a cafeteria (empty: unknown)"),
        Field("accessible", "bool", help="fully accessible, ADA (empty: unknown)"),
        Field("condition", "float", minimum=0, help="facility condition score, 0 (poor) to 100 (new)"),
        Field("annual_cost", "float", minimum=0, help="rent or operating cost, dollars a year"),
        Field("available", "date", help="date the building becomes available"),
        Field("neighborhood", "str", help="neighborhood name (derived from zones when absent)"),
    ),
    groups=("rooms",),
    help="school buildings and candidate spaces; rooms_<type> columns count rooms by type",
)

STUDENTS = Layer(
    "students",
    "point",
    (
        Field("id", "str", help="student id (row number when absent)"),
        Field("grade", "grade", required=True, help="grade, PK, K or 1-12"),
        Field("school", "str", required=True, ref="schools.id", help="id of the school attended"),
        Field(
            "service", "str", choices=SERVICES, default="corner", help="corner, door-to-door or wheelchair"
        ),
        Field("max_walk", "float", minimum=0, help="longest walk to a stop, metres"),
        Field("neighborhood", "str", help="neighborhood name (derived from zones when absent)"),
    ),
    help="students' homes (private: only ever shown aggregated)",
)

ADDRESS_POINTS = Layer(
    "address_points",
    "point",
    (
        Field("id", "str", help="address id (optional)"),
        Field("number", "str", required=True, help="house number, e.g. '12' or '12A'"),
        Field(
            "street",
            "str",
            required=True,
            help="street name with its suffix, e.g. 'Adams Avenue' or 'ADAMS AVE'",
        ),
        Field("unit", "str", help="unit, e.g. '2' (one row per unit where the file has them)"),
        Field("city", "str", help="city or neighborhood name"),
        Field("zip", "str", help="ZIP code"),
    ),
    help="the city's address points (Boston's SAM, DC's MAR): places students from their addresses "
    "(facilities.geocode)",
)

ZONES = Layer(
    "zones",
    "polygon",
    (
        _ID,
        _NAME,
        Field(
            "kind",
            "str",
            default="neighborhood",
            choices=ZONE_KINDS,
            help="neighborhood, ward, attendance, census or shared",
        ),
        Field("level", "str", help="an attendance zone's level, e.g. elementary, middle, high"),
        Field("school", "str", help="id of the school an attendance zone feeds"),
        Field(
            "low_income_share",
            "float",
            minimum=0,
            help="share of residents with low income (0-1), for equity breakdowns",
        ),
    ),
    groups=("population",),
    help=(
        "neighborhoods, wards, attendance zones (by level, with the school each feeds) and census units; "
        "population_<band> columns count residents by age band (apportioned by area from census units "
        "onto zones that have none)"
    ),
)

YARDS = Layer(
    "yards",
    "point",
    (
        _ID,
        _NAME,
        Field("buses", "int", minimum=0, default=0, help="buses parked here"),
    ),
    help="bus yards",
)

BUS_TYPES = Layer(
    "bus_types",
    None,
    (
        _ID,
        Field("seats", "int", required=True, minimum=1, help="seats for students"),
        Field("wheelchair", "bool", default=False, help="has a wheelchair lift"),
        Field("count", "int", minimum=0, help="buses of this type available"),
        Field("cost_per_year", "float", minimum=0, help="dollars per bus-year"),
    ),
    help="the fleet's bus types",
)

NEEDS = Layer(
    "needs",
    None,
    (
        _ID,
        Field("school", "str", ref="schools.id", help="the charter school with the need"),
        _NAME,
        Field("grades", "grades", required=True, help="grades served in the first year"),
        Field("add_grade_per_year", "bool", default=True, help="adds the next grade each year"),
        Field("years", "int", minimum=1, default=1, help="years of the growth plan"),
        Field("seats", "int", required=True, minimum=0, help="seats needed in the first year"),
        Field("seats_per_grade", "int", minimum=0, help="seats added with each new grade"),
        Field("gym", "bool", default=False, help="needs a gymnasium"),
        Field("cafeteria", "bool", default=False, help="needs a cafeteria"),
        Field("lunch_periods", "int", minimum=0, default=1, help="cafeteria periods needed"),
        Field("accessible", "bool", default=False, help="needs a fully accessible building"),
        Field("budget", "float", minimum=0, help="most it can pay, dollars a year"),
        Field("neighborhoods", "list", help="preferred neighborhoods"),
        Field("priority", "float", help="priority score where the city has one (higher first)"),
        Field("co_location", "bool", default=True, help="willing to share a building"),
    ),
    groups=("rooms",),
    help="charter schools' space needs; rooms_<type> columns count rooms needed by type",
)

#: Every layer, in load order (a layer's refs point only to earlier layers or to ``schools``).
LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (BUILDINGS, SCHOOLS, ZONES, ADDRESS_POINTS, STUDENTS, YARDS, BUS_TYPES, NEEDS)
}


def format_grades(grades: tuple[int, ...] | list[int] | None) -> str:
    """Format grades as people write them: ``(-1, 0, 1, 2)`` gives ``'PK-2'``, ``(6, 8)`` gives ``'6,8'``."""
    if grades is None or len(grades) == 0:
        return ""
    g = sorted(set(int(x) for x in grades))
    if g == list(range(g[0], g[-1] + 1)) and len(g) > 1:
        return f"{GRADE_NAMES[g[0] + 1]}-{GRADE_NAMES[g[-1] + 1]}"
    return ",".join(GRADE_NAMES[x + 1] for x in g)


def format_time(seconds: float | int | None) -> str:
    """Format seconds after midnight as ``'HH:MM'``; ``None`` or NaN gives ``''``."""
    if seconds is None or seconds != seconds:
        return ""
    s = int(round(float(seconds)))
    return f"{s // 3600:02d}:{(s % 3600) // 60:02d}"


# --------------------------------------------------------------------------------------------
# Parsers of the values every layer uses (grades and clock times), beside their formatters.

_MISSING_STRINGS = {"", "na", "n/a", "nan", "none", "null", "-"}
_GRADE_ALIASES = {
    "PK": -1,
    "PK3": -1,
    "PK4": -1,
    "PRE-K": -1,
    "PREK": -1,
    "PRE-K3": -1,
    "PRE-K4": -1,
    "PS": -1,
    "K0": -1,
    "K1": -1,
    "K": 0,
    "KG": 0,
    "K2": 0,
    "KINDERGARTEN": 0,
}
#: Programs that are not grades: read from a grades value, kept out of the grade set.
PROGRAMS: dict[str, str] = {
    "ADULT": "adult",
    "ADULT/VOC ED": "adult",
    "ADULT ED": "adult",
    "VOC ED": "adult",
    "GED": "adult",
    "ADULT EDUCATION": "adult",
    "AD": "adult",
    "AE": "adult",
    "UNGRADED": "ungraded",
    "UG": "ungraded",
}
_PROGRAM_RE = re.compile(  # whole words only: 'AD' names adult education, never the AD of 'GRADE'
    r"\b(?:" + "|".join(sorted((re.escape(k) for k in PROGRAMS), key=len, reverse=True)) + r")\b"
)


def is_missing(value: object) -> bool:
    """Whether a cell is empty (None, NaN, NaT or a blank/NA string)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _MISSING_STRINGS


def parse_grade(value: object) -> int:
    """Parse one grade: ``'PK'``, ``'PK3'``, ``'K'``, ``'K2'``, ``'3'``, ``'03'``, ``'Grade 3'`` or ``3``."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{value!r} is not a grade")
    if isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    ):
        g = int(value)
    else:
        text = re.sub(r"^(GRADE|GR)\s*", "", str(value).strip().upper()).strip()
        if text in _GRADE_ALIASES:
            return _GRADE_ALIASES[text]
        if text in PROGRAMS:
            raise ValueError(f"{value!r} is an {PROGRAMS[text]} program, not a grade")
        if not re.fullmatch(r"\d{1,2}", text):
            raise ValueError(f"{value!r} is not a grade")
        g = int(text)
    if not -1 <= g <= 12:  # -1 is PK
        raise ValueError(f"grade {g} is outside PK, K, 1-12")
    return g


def parse_program(value: object) -> str | None:
    """The program one student's grade value names, or ``None`` for a grade (or anything else).

    ``'Ungraded'`` and ``'UG'`` give ``'ungraded'``; ``'Adult'``, ``'AD'``, ``'AE'`` (the federal
    EDFacts code), ``'GED'`` and ``'Adult/Voc Ed'`` give ``'adult'``; ``'3'`` gives ``None``. Map other
    codes with a value map (``[layers.students.values.grade] SP = "Ungraded"``).
    """
    if is_missing(value) or not isinstance(value, str):
        return None
    text = re.sub(r"^(GRADE|GR)\s*", "", value.strip().upper()).strip()
    return PROGRAMS.get(text)


def _split_programs(value: object) -> tuple[str, tuple[str, ...]]:
    """The grades text of ``value`` without its programs, and the programs it names."""
    text = str(value).strip().upper().replace("–", "-").replace(" TO ", "-")
    programs = tuple(sorted({PROGRAMS[m.group(0)] for m in _PROGRAM_RE.finditer(text)}))
    return _PROGRAM_RE.sub(" ", text), programs


def grade_programs(value: object) -> tuple[str, ...]:
    """The non-grade programs a grades value names: ``'PK-3 Adult/Voc Ed'`` gives ``('adult',)``."""
    if isinstance(value, (tuple, list, np.ndarray)) or is_missing(value):
        return ()
    return _split_programs(value)[1]


def parse_grades(value: object) -> tuple[int, ...]:
    """Parse grades served: ``'K-5'``, ``'PK-8'``, ``'PK,K,1,2'``, ``'6 to 8'``, ``'PK3-8'``.

    Preschool forms: ``PK3`` and ``PK4`` are preschool (``PK``); DC's ``'PK-3-8'`` (PK3 to grade 8)
    is ``PK-8``, ``'PK-4-8'`` likewise, and ``'PK-3, PK-4'`` (both preschool years) is ``PK``. A plain
    ``'PK-3'`` stays PK through grade 3, as most cities mean it; map DC's lone ``'PK-3'`` with a value
    map (``[layers.schools.values.grades] "PK-3" = "PK3"``). Adult and ungraded programs (``'Adult/Voc
    Ed'``, ``'GED'``, ``'Ungraded'``) are not grades: they are dropped from the result (see
    :func:`grade_programs`), and a value naming only them gives ``()``.

    A sequence of grades (already canonical, e.g. ``(0, 1, 2)``) is accepted as well.
    """
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) == 0:
            raise ValueError("no grade given")
        return tuple(sorted({parse_grade(g) for g in value}))
    text, programs = _split_programs(value)
    text = re.sub(r"\b(?:GRADES?|GR)\b\.?", " ", text)  # 'Grades 3-5'
    text = re.sub(r"\bPK-?[34]-(?=\w)", "PK-", text)  # DC writes PK3-8 as 'PK-3-8' (and PK4-8 as 'PK-4-8')
    text = re.sub(r"\bPK-?[34]-?(?=[\s,;/]|$)", "PK", text) if re.search(r"PK-?3\b.*PK-?4\b", text) else text
    text = re.sub(r"\bPK([34])\b", "PK", text)
    text = re.sub(r"\bPK-?[34]?-(?=[\s,;/]|$)", "PK", text)  # DC's 'PK-3-' (cut short): preschool only
    out: set[int] = set()
    for part in re.split(r"[,;/ ]+", text):
        if not part:
            continue
        bounds = [b for b in part.split("-") if b]
        if len(bounds) == 1:
            out.add(parse_grade(bounds[0]))
        elif len(bounds) == 2:
            lo, hi = parse_grade(bounds[0]), parse_grade(bounds[1])
            if hi < lo:
                raise ValueError(f"grade range {part!r} runs backwards")
            out.update(range(lo, hi + 1))
        else:
            raise ValueError(f"{part!r} is not a grade range")
    if not out and not programs:
        raise ValueError(f"{value!r} names no grade")
    return tuple(sorted(out))


def parse_time(value: object) -> float:
    """Parse a clock time into seconds after midnight: ``'07:30'``, ``'7:30 AM'``, ``'07:30:00'``, ``730``.

    Whole numbers below 2400 read as ``HHMM``; larger numbers are already seconds after midnight.
    """
    if isinstance(value, dt.datetime):
        value = value.time()
    if isinstance(value, dt.time):
        return float(value.hour * 3600 + value.minute * 60 + value.second)
    if isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    ):
        hhmm = int(value)
        if 2400 <= hhmm < 86400:
            return float(hhmm)
        h, m = divmod(hhmm, 100)
        if 0 <= h < 24 and 0 <= m < 60:
            return float(h * 3600 + m * 60)
        raise ValueError(f"{value!r} is not a time (write HH:MM)")
    text = str(value).strip().upper()
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(AM|PM)?", text)
    if not match or (match.group(2) is None and match.group(4) is None):
        raise ValueError(f"{value!r} is not a time (write HH:MM)")
    h, m, s = int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0)
    if match.group(4) == "PM" and h < 12:
        h += 12
    if match.group(4) == "AM" and h == 12:
        h = 0
    if h > 23 or m > 59 or s > 59:
        raise ValueError(f"{value!r} is not a time of day")
    return float(h * 3600 + m * 60 + s)
