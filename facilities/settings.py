"""Typed ``city.toml`` settings, checked once when the city is read.

Every section other than ``[layers.*]`` (``[city]``, ``[network]``, ``[transport]``, ``[capacity]``,
``[enrollment]``, ``[map]``) is read here into frozen dataclasses, and every key is checked against
the schema below: its type, its unit, its allowed values; an unknown key is reported with the
nearest known one (``snapmax: unknown key in [network] — did you mean snap_max?``). Quantities take
an explicit unit where a number alone would be ambiguous: ``snap_max = 250`` is metres, and
``"250 m"``, ``"0.2 km"``, ``"800 ft"`` or ``"0.15 mi"`` are accepted; ``max_ride = 3600`` is
seconds, and ``"60 min"`` or ``"1 h"`` are accepted.

A small schema of our own is used rather than pydantic: its messages ("Input should be a valid
number, unable to parse string as a number") would each have to be rewritten into ours (the key,
the value, the fix), which is all this module does.

>>> from facilities.settings import parse_settings
>>> settings = parse_settings({"transport": {"max_ride": "50 min"}})
>>> settings.transport.max_ride
3000.0
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from facilities._validate import Problems, parse_grades, parse_time

__all__ = [
    "Settings", "CitySettings", "NetworkSettings", "TransportSettings", "EligibilityBand", "BellsSettings",
    "BellRuleSettings", "CapacitySettings", "SharedZoneSettings", "EnrollmentSettings", "MapSettings",
    "parse_settings", "SECTIONS",
]  # fmt: skip

_FILE = "city.toml"
_METRES = {"m": 1.0, "metre": 1.0, "metres": 1.0, "meter": 1.0, "meters": 1.0, "km": 1000.0,
           "ft": 0.3048, "feet": 0.3048, "mi": 1609.344, "mile": 1609.344, "miles": 1609.344}  # fmt: skip
_SECONDS = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "min": 60.0, "minute": 60.0,
            "minutes": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0}  # fmt: skip
_QUANTITY = re.compile(r"\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*([a-zA-Z]*)\s*")


class _Bad(ValueError):
    """A bad value: its message and the fix."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


# --- value readers: each returns the typed value or raises _Bad ---------------------------------


def _number(value: object, key: str, *, minimum: float | None = None, maximum: float | None = None, integer: bool = False,
            example: str = "100") -> float:  # fmt: skip
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"{value!r} is not a number", f"write {key} = {example} (a number, without quotes)")
    number = float(value)
    if not math.isfinite(number) or (integer and not number.is_integer()):
        raise _Bad(f"{value!r} is not a {'whole ' if integer else ''}number", f"write {key} = {example}")
    if minimum is not None and number < minimum:
        raise _Bad(f"{value!r} is below {minimum:g}", f"write a value of at least {minimum:g}")
    if maximum is not None and number > maximum:
        raise _Bad(f"{value!r} is above {maximum:g}", f"write a value of at most {maximum:g}")
    return int(number) if integer else number


def _quantity(value: object, key: str, units: Mapping[str, float], *, base: str, example: str) -> float:
    """A number in ``base`` units, or a string with an explicit unit (``"250 m"``, ``"60 min"``)."""
    if isinstance(value, str):
        match = _QUANTITY.fullmatch(value)
        unit = match.group(2).lower() if match else ""
        if not match or unit not in units:
            raise _Bad(f"{value!r} is not a {'distance' if base == 'm' else 'duration'}",
                       f"write {key} = {example} ({base}), or a number with its unit, e.g. \"{example} {base}\"; "
                       f"units: {', '.join(sorted({u for u in units if len(u) <= 3}))}")  # fmt: skip
        value = float(match.group(1)) * units[unit]
    number = _number(value, key, minimum=0.0, example=example)
    if number <= 0:
        raise _Bad(f"{key} must be more than 0", f"write {key} = {example}")
    return number


def _metres(example: str) -> Callable[[object, str], float]:
    return lambda value, key: _quantity(value, key, _METRES, base="m", example=example)


def _seconds(example: str) -> Callable[[object, str], float]:
    return lambda value, key: _quantity(value, key, _SECONDS, base="s", example=example)


def _money(example: str) -> Callable[[object, str], float]:
    def read(value: object, key: str) -> float:
        if isinstance(value, str):
            text = value.replace("$", "").replace(",", "").strip()
            try:
                value = float(text)
            except ValueError:
                raise _Bad(f"{value!r} is not an amount of dollars", f"write {key} = {example}") from None
        return _number(value, key, minimum=0.0, example=example)

    return read


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{value!r} is not text", f"write {key} = \"...\" (in double quotes)")
    return value


def _flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"{value!r} is not true or false", f"write {key} = true (or false), without quotes")
    return value


def _clock(value: object, key: str) -> float:
    try:
        return parse_time(value)
    except (ValueError, TypeError):
        raise _Bad(f"{value!r} is not a time of day", f"write {key} = \"08:30\" (24-hour HH:MM, in quotes)") from None


def _clocks(value: object, key: str) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise _Bad(f"{value!r} is not a list of times", f"write {key} = [\"07:30\", \"08:30\"]")
    bad = [t for t in value if not _is_clock(t)]
    if bad:
        raise _Bad(f"{bad[0]!r} is not a time of day", f"write {key} = [\"07:30\", \"08:30\"] (24-hour HH:MM, in quotes)")
    return tuple(parse_time(t) for t in value)


def _is_clock(value: object) -> bool:
    try:
        parse_time(value)
    except (ValueError, TypeError):
        return False
    return True


def _grades(value: object, key: str) -> tuple[int, ...]:
    try:
        return parse_grades(value)
    except (ValueError, TypeError) as err:
        raise _Bad(str(err), f"write {key} = \"K-5\" (or \"6-8\", \"PK,K,1\")") from None


def _numbers(example: str) -> Callable[[object, str], tuple[float, ...]]:
    def read(value: object, key: str) -> tuple[float, ...]:
        if not isinstance(value, list) or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in value):
            raise _Bad(f"{value!r} is not a list of numbers", f"write {key} = {example}")
        return tuple(float(x) for x in value)

    return read


def _names(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(x, (str, int)) for x in value):
        raise _Bad(f"{value!r} is not a list of names", f"write {key} = [\"A\", \"B\"]")
    return tuple(str(x) for x in value)


def _band(value: object, key: str) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in value)):  # fmt: skip
        raise _Bad(f"{value!r} is not two numbers", f"write {key} = [0.85, 1.0] (low and high utilization)")
    low, high = float(value[0]), float(value[1])
    if not 0 < low <= high:
        raise _Bad(f"{value!r} must be low then high, both above 0", f"write {key} = [0.85, 1.0]")
    return low, high


def _bbox(value: object, key: str) -> tuple[float, float, float, float]:
    numbers = _numbers("[-71.19, 42.23, -70.99, 42.40]")(value, key)
    if len(numbers) != 4:
        raise _Bad(f"{value!r} is not four numbers", f"write {key} = [west, south, east, north] in degrees")
    west, south, east, north = numbers
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise _Bad(f"{value!r} is not west, south, east, north in degrees", f"write {key} = [-71.19, 42.23, -70.99, 42.40]")
    return west, south, east, north


def _choice(*allowed: str) -> Callable[[object, str], str]:
    def read(value: object, key: str) -> str:
        if value not in allowed:
            raise _Bad(f"{value!r} is not one of {', '.join(allowed)}", f"write {key} = \"{allowed[0]}\"")
        return str(value)

    return read


def _any(value: object, key: str) -> object:
    return value


# --- the schema --------------------------------------------------------------------------------

Reader = Callable[[object, str], Any]

#: Per section, each key's reader. Tables nested inside a section are read by their own functions.
SECTIONS: dict[str, dict[str, Reader]] = {
    "city": {"name": _text, "crs": _text},
    "network": {
        "file": _text, "place": _text, "bbox": _bbox, "network_type": _choice("drive", "walk", "all"),
        "snap_max": _metres("250"), "cache_dir": _text,
    },
    "transport": {
        "max_ride": _seconds("3600"), "cost_per_bus_year": _money("100000"), "cost_per_bus_year_source": _text,
        "cost_per_mile": _money("1.5"), "cost_per_driver_hour": _money("0"),
        "school_days": lambda v, k: _number(v, k, minimum=1, maximum=366, integer=True, example="180"),
        "school_dwell": _seconds("300"), "stop_time_fixed": _seconds("19"), "stop_time_per_student": _seconds("2.6"),
        "bell_tiers": _clocks, "eligibility": _any, "bells": _any,
    },
    "bells": {
        "earliest": _clock, "latest": _clock, "step_minutes": lambda v, k: _number(v, k, minimum=1, example="15"),
        "shifts_minutes": _numbers("[-10, -5, 5, 10]"), "max_change_minutes": lambda v, k: _number(v, k, minimum=0, example="60"),
        "max_day_change_minutes": lambda v, k: _number(v, k, minimum=0, example="30"), "rules": _any,
    },
    "rule": {
        "label": _text, "sector": _names, "sectors": _names, "grades": _grades, "schools": _names,
        "earliest": _clock, "latest": _clock, "end_before": _clock, "end_after": _clock,
        "max_change_minutes": lambda v, k: _number(v, k, minimum=0, example="60"),
        "max_day_change_minutes": lambda v, k: _number(v, k, minimum=0, example="30"),
        "times": _clocks, "fixed": _flag,
    },
    "eligibility": {
        "grades": _grades, "walk_beyond_m": _metres("1609"), "walk_beyond_mi": lambda v, k: _number(v, k, minimum=0, example="1.0"),
        "transit_pass": _flag,
    },
    "capacity": {
        "target": _band, "band": _band, "class_size": _any, "specialty_rooms": _names,
        "efficiency": lambda v, k: _number(v, k, minimum=0.01, maximum=1.0, example="0.85"),
        "special_education_size": lambda v, k: _number(v, k, minimum=1, integer=True, example="12"),
        "gym_slots": lambda v, k: _number(v, k, minimum=1, integer=True, example="8"),
        "lunch_periods": lambda v, k: _number(v, k, minimum=1, integer=True, example="4"),
        "vacant_grades": _grades,
    },
    "enrollment": {"shared_zones": _any},
    "shared_zone": {"id": _text, "name": _text, "units": _names, "schools": _names, "grades": _grades},
    "map": {"water": _text},
}  # fmt: skip
#: The top-level tables of ``city.toml``.
TOP_LEVEL = ("city", "network", "layers", "transport", "capacity", "enrollment", "map")


# --- the typed settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class CitySettings:
    """``[city]``: the city's name and the CRS to compute in (``"auto"``: the UTM zone of the data)."""

    name: str | None = None
    crs: str = "auto"


@dataclass(frozen=True)
class NetworkSettings:
    """``[network]``: where the streets come from (one of ``file``, ``place``, ``bbox``), and how far
    (metres) a point may lie from a street before it is reported (``snap_max``)."""

    file: str | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    network_type: str = "drive"
    snap_max: float = 250.0
    cache_dir: str = "cache"


@dataclass(frozen=True)
class EligibilityBand:
    """One band of ``[transport.eligibility]``: students of ``grades`` living farther than
    ``walk_beyond`` metres ride (or take transit with a pass)."""

    grades: tuple[int, ...]
    walk_beyond: float = 0.0
    transit_pass: bool = False


@dataclass(frozen=True)
class BellRuleSettings:
    """One ``[[transport.bells.rules]]`` table; times are seconds after midnight, changes seconds."""

    label: str
    sectors: tuple[str, ...] = ()
    grades: tuple[int, ...] = ()
    schools: tuple[str, ...] = ()
    earliest: float | None = None
    latest: float | None = None
    end_before: float | None = None
    end_after: float | None = None
    max_change: float | None = None
    max_day_change: float | None = None
    times: tuple[float, ...] = ()
    fixed: bool = False


@dataclass(frozen=True)
class BellsSettings:
    """``[transport.bells]``: what the bell-time optimizer may change (``None``: the policy's default)."""

    earliest: float | None = None
    latest: float | None = None
    step: float | None = None
    shifts: tuple[float, ...] = ()
    max_change: float | None = None
    max_day_change: float | None = None
    rules: tuple[BellRuleSettings, ...] = ()


@dataclass(frozen=True)
class TransportSettings:
    """``[transport]``: ride limit (seconds), costs (dollars), stop times (seconds), bell tiers
    (seconds after midnight), eligibility and the bell-time policy."""

    max_ride: float = 3600.0
    cost_per_bus_year: float = 100_000.0
    cost_per_bus_year_source: str | None = None
    cost_per_mile: float = 1.50
    cost_per_driver_hour: float = 0.0
    school_days: int = 180
    school_dwell: float = 300.0
    stop_time_fixed: float = 19.0
    stop_time_per_student: float = 2.6
    bell_tiers: tuple[float, ...] = ()
    eligibility: tuple[EligibilityBand, ...] = ()
    bells: BellsSettings = field(default_factory=BellsSettings)


@dataclass(frozen=True)
class CapacitySettings:
    """``[capacity]``: the rules of :class:`facilities.capacity.CapacityRules` the city sets
    (``given``, by attribute name; the others keep their defaults)."""

    given: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class SharedZoneSettings:
    """One ``[[enrollment.shared_zones]]`` table."""

    id: str
    units: tuple[str, ...]
    name: str | None = None
    schools: tuple[str, ...] | None = None
    grades: tuple[int, ...] | None = None


@dataclass(frozen=True)
class EnrollmentSettings:
    """``[enrollment]``: the shared zones the city lists."""

    shared_zones: tuple[SharedZoneSettings, ...] = ()


@dataclass(frozen=True)
class MapSettings:
    """``[map]``: ``water``, a polygon file drawn under the other layers."""

    water: str | None = None


@dataclass(frozen=True)
class Settings(Mapping[str, Any]):
    """Every ``city.toml`` section but ``[layers.*]``, typed and checked.

    It is also a read-only mapping of the sections' tables as written (``settings["transport"]``,
    ``{**settings, "transport": {...}}``), for code that reads them raw.
    """

    city: CitySettings = field(default_factory=CitySettings)
    network: NetworkSettings | None = None
    transport: TransportSettings = field(default_factory=TransportSettings)
    capacity: CapacitySettings = field(default_factory=CapacitySettings)
    enrollment: EnrollmentSettings = field(default_factory=EnrollmentSettings)
    map: MapSettings = field(default_factory=MapSettings)
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __getitem__(self, section: str) -> Any:
        return self.raw[section]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


# --- reading -----------------------------------------------------------------------------------


class _Reader:
    """Reads tables against :data:`SECTIONS`, adding a problem for every bad or unknown key."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems

    def bad(self, where: str, key: str | None, message: str, fix: str, row: int | None = None) -> None:
        self.problems.add(_FILE, row, f"{where}.{key}" if key else where, message, fix)

    def table(self, value: object, where: str, schema: str, row: int | None = None) -> dict[str, Any]:
        """The keys of one table read by their readers; bad ones reported and left out."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.bad(where, None, f"{value!r} is not a table", f"write [{where}] on its own line, then one key = value per line", row)
            return {}
        known = SECTIONS[schema]
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key not in known:
                near = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
                hint = f"did you mean {near[0]}?" if near else f"known keys: {', '.join(known)}"
                self.problems.add(_FILE, row, None, f"{key}: unknown key in [{where}]", hint)
                continue
            try:
                out[key] = known[key](item, key)
            except _Bad as err:
                self.bad(where, key, str(err), err.fix, row)
        return out

    def array(self, value: object, where: str, example: str) -> list[tuple[int, Mapping[str, Any]]]:
        """The tables of an array of tables, numbered from 1."""
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
            self.bad(where, None, f"{value!r} is not a list of tables", f"write each as [[{where}]] followed by its keys, e.g. {example}")
            return []
        return list(enumerate(value, start=1))


def parse_settings(config: Mapping[str, Any], *, problems: Problems | None = None) -> Settings:
    """Read and check the settings of a ``city.toml`` (already parsed by :mod:`tomllib`).

    Parameters
    ----------
    config
        The whole ``city.toml`` (``[layers.*]`` are left to :mod:`facilities.io`) or only its
        settings tables (as :meth:`facilities.City.from_frames` takes them).
    problems
        Where problems are added; without it, they are raised.

    Returns
    -------
    Settings
        Bad keys are reported and take their defaults.

    Raises
    ------
    ValidationError
        When ``problems`` is not given and a key is bad or unknown.
    """
    own = problems if problems is not None else Problems()
    read = _Reader(own)
    for section in config:
        if section not in TOP_LEVEL:
            near = difflib.get_close_matches(section, TOP_LEVEL, n=1, cutoff=0.6)
            own.add(_FILE, None, None, f"[{section}]: unknown table", f"did you mean [{near[0]}]?" if near else f"known tables: {', '.join(TOP_LEVEL)}")
    city = read.table(config.get("city"), "city", "city")
    network = read.table(config.get("network"), "network", "network") if "network" in config else None
    settings = Settings(
        city=CitySettings(**city),
        network=NetworkSettings(**network) if network is not None else None,
        transport=_transport(read, config.get("transport")),
        capacity=_capacity(read, config.get("capacity")),
        enrollment=_enrollment(read, config.get("enrollment")),
        map=MapSettings(**read.table(config.get("map"), "map", "map")),
        raw=MappingProxyType({k: v for k, v in config.items() if k not in ("city", "layers", "network")}),
    )
    if problems is None:
        own.raise_if_any(city=_FILE)
    return settings


def _transport(read: _Reader, value: object) -> TransportSettings:
    given = read.table(value, "transport", "transport")
    eligibility = given.pop("eligibility", None)
    bells = given.pop("bells", None)
    return TransportSettings(**given, eligibility=_eligibility(read, eligibility), bells=_bells(read, bells))


def _eligibility(read: _Reader, value: object) -> tuple[EligibilityBand, ...]:
    where = "transport.eligibility"
    if isinstance(value, Mapping):  # the short form: "K-5" = 1609 (metres)
        value = [{"grades": grades, "walk_beyond_m": metres} for grades, metres in value.items()]
    bands: list[EligibilityBand] = []
    owner: dict[int, int] = {}
    for row, table in read.array(value, where, 'grades = "K-5", walk_beyond_m = 1609'):
        got = read.table(table, where, "eligibility", row)
        if "grades" not in got:
            if "grades" not in table:
                read.bad(where, "grades", "a band without grades", 'write grades = "K-5"', row)
            continue
        beyond = got.get("walk_beyond_m", got.get("walk_beyond_mi", 0.0) * 1609.344)
        for g in got["grades"]:
            if g in owner:
                read.bad(where, "grades", f"grade {g} is also in band {owner[g]}", "give each grade one band", row)
            owner[g] = row
        bands.append(EligibilityBand(got["grades"], float(beyond), bool(got.get("transit_pass", False))))
    return tuple(bands)


def _bells(read: _Reader, value: object) -> BellsSettings:
    given = read.table(value, "transport.bells", "bells")
    rules = []
    for row, table in read.array(given.pop("rules", None), "transport.bells.rules", 'label = "...", grades = "9-12"'):
        got = read.table(table, "transport.bells.rules", "rule", row)
        sectors = got.pop("sectors", ()) or got.pop("sector", ())
        got.pop("sector", None)
        rules.append(BellRuleSettings(
            label=got.pop("label", f"rule {row}"), sectors=sectors,
            max_change=_minutes(got.pop("max_change_minutes", None)), max_day_change=_minutes(got.pop("max_day_change_minutes", None)),
            **got,
        ))  # fmt: skip
    if "earliest" in given and "latest" in given and given["earliest"] > given["latest"]:
        read.bad("transport.bells", "latest", "the latest start is before the earliest", "write latest later than earliest")
    return BellsSettings(
        earliest=given.get("earliest"), latest=given.get("latest"), step=_minutes(given.get("step_minutes")),
        shifts=tuple(m * 60.0 for m in given.get("shifts_minutes", ())),
        max_change=_minutes(given.get("max_change_minutes")), max_day_change=_minutes(given.get("max_day_change_minutes")),
        rules=tuple(rules),
    )  # fmt: skip


def _minutes(value: float | None) -> float | None:
    return None if value is None else float(value) * 60.0


def _capacity(read: _Reader, value: object) -> CapacitySettings:
    given = read.table(value, "capacity", "capacity")
    if "target" in given:  # the users' word for the band
        given["band"] = given.pop("target")
    if "class_size" in given:
        bands = []
        sizes = given.pop("class_size")
        if not isinstance(sizes, Mapping):
            read.bad("capacity", "class_size", f"{sizes!r} is not a table", '[capacity.class_size] then "K-5" = 20 on the next lines')
        for grades, seats in (sizes.items() if isinstance(sizes, Mapping) else ()):
            try:
                span = _grades(grades, "class_size")
                bands.append((span[0], span[-1], _number(seats, f'"{grades}"', minimum=1, integer=True, example="20")))
            except _Bad as err:
                read.bad("capacity.class_size", grades, str(err), err.fix)
        given["class_size"] = tuple(sorted(bands))
    if given:
        from dataclasses import replace

        from facilities.capacity import CapacityRules  # the rules check themselves (bands cover PK-12, ...)

        try:
            replace(CapacityRules(), **given)
        except (TypeError, ValueError) as err:
            read.bad("capacity", None, str(err), "fix the [capacity] table (see README: capacity)")
    return CapacitySettings(given=MappingProxyType(given))


def _enrollment(read: _Reader, value: object) -> EnrollmentSettings:
    given = read.table(value, "enrollment", "enrollment")
    zones = []
    where = "enrollment.shared_zones"
    for row, table in read.array(given.get("shared_zones"), where, 'id = "shared-middle", units = ["Bayview"]'):
        got = read.table(table, where, "shared_zone", row)
        if "units" not in got:
            if "units" not in table:
                read.bad(where, "units", "a shared zone without units", 'write units = ["Bayview", "Westgate"] (zone ids or names)', row)
            continue
        zones.append(SharedZoneSettings(id=got.pop("id", f"shared{row}"), **got))
    return EnrollmentSettings(shared_zones=tuple(zones))
