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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from facilities import _setting_values as val
from facilities._validate import Problems

__all__ = [
    "SECTIONS",
    "BellRuleSettings",
    "BellsSettings",
    "CapacitySettings",
    "CitySettings",
    "EligibilityBand",
    "EnrollmentSettings",
    "GeocodeSettings",
    "HazardsSettings",
    "MapSettings",
    "NetworkSettings",
    "Settings",
    "SharedZoneSettings",
    "TransportSettings",
    "parse_capacity",
    "parse_flag",
    "parse_settings",
    "parse_transport",
]

_FILE = "city.toml"
_T = TypeVar("_T")
# --- the schema --------------------------------------------------------------------------------

Reader = Callable[[object, str], Any]

#: Per section, each key's reader. Tables nested inside a section are read by their own functions.
# fmt: off
SECTIONS: dict[str, dict[str, Reader]] = {
    "city": {"name": val.text, "crs": val.text},
    "network": {
        "file": val.text, "place": val.text, "bbox": val.bbox,
        "network_type": val.choice("drive", "walk", "all"),
        "snap_max": val.metres("250"), "cache_dir": val.text,
        "min_covered": lambda v, k: val.number(v, k, minimum=0.0, maximum=1.0, example="0.9"),
    },
    "transport": {
        "max_ride": val.seconds("3600"), "cost_per_bus_year": val.money("100000"),
        "cost_per_bus_year_source": val.text,
        "cost_per_mile": val.money("1.5"), "cost_per_driver_hour": val.money("0"),
        "school_days": lambda v, k: val.number(v, k, minimum=1, maximum=366, integer=True, example="180"),
        "school_dwell": val.seconds("300"), "stop_time_fixed": val.seconds("19"),
        "stop_time_per_student": val.seconds("2.6"), "bell_tiers": val.clocks, "eligibility": val.anything,
        "bells": val.anything, "hazards": val.anything,
    },
    "hazards": {"file": val.text, "files": val.names, "label": val.text, "crs": val.text},
    "bells": {
        "earliest": val.clock, "latest": val.clock,
        "step_minutes": lambda v, k: val.number(v, k, minimum=1, example="15"),
        "shifts_minutes": val.numbers("[-10, -5, 5, 10]"),
        "max_change_minutes": lambda v, k: val.number(v, k, minimum=0, example="60"),
        "max_day_change_minutes": lambda v, k: val.number(v, k, minimum=0, example="30"),
        "rules": val.anything,
    },
    "rule": {
        "label": val.text, "sector": val.names, "sectors": val.names, "grades": val.grades,
        "schools": val.names,
        "earliest": val.clock, "latest": val.clock, "end_before": val.clock, "end_after": val.clock,
        "max_change_minutes": lambda v, k: val.number(v, k, minimum=0, example="60"),
        "max_day_change_minutes": lambda v, k: val.number(v, k, minimum=0, example="30"),
        "times": val.clocks, "fixed": val.flag,
    },
    "eligibility": {
        "grades": val.grades, "walk_beyond_m": val.metres("1609"),
        "walk_beyond_mi": lambda v, k: val.number(v, k, minimum=0, example="1.0"), "transit_pass": val.flag,
    },
    "capacity": {
        "target": val.band, "band": val.band, "class_size": val.anything, "area_per_seat": val.anything,
        "specialty_rooms": val.names,
        "efficiency": lambda v, k: val.number(v, k, minimum=0.01, maximum=1.0, example="0.85"),
        "special_education_size": lambda v, k: val.number(v, k, minimum=1, integer=True, example="12"),
        "gym_slots": lambda v, k: val.number(v, k, minimum=1, integer=True, example="8"),
        "lunch_periods": lambda v, k: val.number(v, k, minimum=1, integer=True, example="4"),
        "vacant_grades": val.grades,
    },
    "enrollment": {"shared_zones": val.anything},
    "shared_zone": {
        "id": val.text, "name": val.text, "units": val.names, "schools": val.names, "grades": val.grades,
    },
    "map": {"water": val.text},
    "geocode": {
        "online": val.text, "allow_network": val.flag, "city": val.text, "state": val.text,
        "user_agent": val.text,
    },
}
# fmt: on
#: The top-level tables of ``city.toml``.
TOP_LEVEL = ("city", "network", "layers", "transport", "capacity", "enrollment", "map", "geocode")


# --- the typed settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class CitySettings:
    """``[city]``: the city's name and the CRS to compute in (``"auto"``: the UTM zone of the data)."""

    name: str | None = None
    crs: str = "auto"


@dataclass(frozen=True)
class NetworkSettings:
    """``[network]``: where the streets come from (one of ``file``, ``place``, ``bbox``), and how far
    (metres) a point may lie from a street before it is reported (``snap_max``), and the share of the
    schools and students that must lie within it (``min_covered``; a network covering part of a city on
    purpose says so with a lower share)."""

    file: str | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    network_type: str = "drive"
    snap_max: float = 250.0
    min_covered: float = 0.9
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
class HazardsSettings:
    """``[transport.hazards]``: the files of lines or polygons no student walks across, the column
    naming each hazard and the CRS of files that carry none."""

    files: tuple[str, ...]
    label: str = "name"
    crs: str = "EPSG:4326"


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
    hazards: HazardsSettings | None = None


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
class GeocodeSettings:
    """``[geocode]``: the online geocoder (``None``: address points only), whether it may use the
    network, and the city, state and user agent it is sent."""

    online: str | None = None
    allow_network: bool = False
    city: str = ""
    state: str = ""
    user_agent: str = "compact-planner"


@dataclass(frozen=True)
class Settings(Mapping[str, Any]):
    """Every ``city.toml`` section but ``[layers.*]``, typed and checked.

    It is also a read-only mapping of the sections' tables as written, so that a copy with one table
    changed can be read again (``parse_settings({**settings, "transport": {...}})``); every setting is
    read from the typed sections, never from these tables.
    """

    city: CitySettings = field(default_factory=CitySettings)
    network: NetworkSettings | None = None
    transport: TransportSettings = field(default_factory=TransportSettings)
    capacity: CapacitySettings = field(default_factory=CapacitySettings)
    enrollment: EnrollmentSettings = field(default_factory=EnrollmentSettings)
    map: MapSettings = field(default_factory=MapSettings)
    geocode: GeocodeSettings = field(default_factory=GeocodeSettings)
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
            self.bad(
                where,
                None,
                f"{value!r} is not a table",
                f"write [{where}] on its own line, then one key = value per line",
                row,
            )
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
            except val.Bad as err:
                self.bad(where, key, str(err), err.fix, row)
        return out

    def array(self, value: object, where: str, example: str) -> list[tuple[int, Mapping[str, Any]]]:
        """The tables of an array of tables, numbered from 1."""
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
            self.bad(
                where,
                None,
                f"{value!r} is not a list of tables",
                f"write each as [[{where}]] followed by its keys, e.g. {example}",
            )
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
            own.add(
                _FILE,
                None,
                None,
                f"[{section}]: unknown table",
                f"did you mean [{near[0]}]?" if near else f"known tables: {', '.join(TOP_LEVEL)}",
            )
    city = read.table(config.get("city"), "city", "city")
    network = read.table(config.get("network"), "network", "network") if "network" in config else None
    settings = Settings(
        city=CitySettings(**city),
        network=NetworkSettings(**network) if network is not None else None,
        transport=_transport(read, config.get("transport")),
        capacity=_capacity(read, config.get("capacity")),
        enrollment=_enrollment(read, config.get("enrollment")),
        map=MapSettings(**read.table(config.get("map"), "map", "map")),
        geocode=GeocodeSettings(**read.table(config.get("geocode"), "geocode", "geocode")),
        raw=MappingProxyType({k: v for k, v in config.items() if k not in ("city", "layers", "network")}),
    )
    if problems is None:
        own.raise_if_any(city=_FILE)
    return settings


def _on_its_own(section: Callable[[_Reader, object], _T], table: object) -> _T:
    """One section read by its reader, its problems raised together."""
    problems = Problems()
    out = section(_Reader(problems), table)
    problems.raise_if_any(city=_FILE)
    return out


def parse_flag(value: object, key: str) -> bool:
    """A yes/no value of a table or a file's cell, read strictly: ``true``/``false``, ``yes``/``no``,
    ``1``/``0`` (any case); the text ``"false"`` is false.

    Raises
    ------
    ValueError
        For anything else (``"maybe"``), with the fix in its ``fix`` attribute.
    """
    return val.boolean(value, key)


def parse_transport(table: Mapping[str, Any]) -> TransportSettings:
    """Read and check one ``[transport]`` table on its own (as a scenario file or a test gives it).

    Raises
    ------
    ValidationError
        Naming each bad or unknown key and what to write instead.
    """
    return _on_its_own(_transport, table)


def _transport(read: _Reader, value: object) -> TransportSettings:
    given = read.table(value, "transport", "transport")
    eligibility = given.pop("eligibility", None)
    bells = given.pop("bells", None)
    hazards = given.pop("hazards", None)
    return TransportSettings(
        **given,
        eligibility=_eligibility(read, eligibility),
        bells=_bells(read, bells),
        hazards=_hazards(read, hazards),
    )


def _hazards(read: _Reader, value: object) -> HazardsSettings | None:
    """``[transport.hazards]``: ``file = "river.geojson"`` or ``files = [...]``; empty or absent: none."""
    if not value:
        return None
    given = read.table(value, "transport.hazards", "hazards")
    files = given.pop("files", ()) or ((given["file"],) if given.get("file") else ())
    given.pop("file", None)
    if not files:
        if isinstance(value, Mapping) and not ({"file", "files"} & set(value)):
            read.bad("transport.hazards", "file", "names no file", 'write file = "river.geojson"')
        return None
    return HazardsSettings(files=tuple(files), **given)


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
                read.bad(
                    where, "grades", f"grade {g} is also in band {owner[g]}", "give each grade one band", row
                )
            owner[g] = row
        bands.append(EligibilityBand(got["grades"], float(beyond), bool(got.get("transit_pass", False))))
    return tuple(bands)


def _bells(read: _Reader, value: object) -> BellsSettings:
    given = read.table(value, "transport.bells", "bells")
    rules = []
    for row, table in read.array(
        given.pop("rules", None), "transport.bells.rules", 'label = "...", grades = "9-12"'
    ):
        got = read.table(table, "transport.bells.rules", "rule", row)
        sectors = got.pop("sectors", ()) or got.pop("sector", ())
        got.pop("sector", None)
        rules.append(
            BellRuleSettings(
                label=got.pop("label", f"rule {row}"),
                sectors=sectors,
                max_change=_minutes(got.pop("max_change_minutes", None)),
                max_day_change=_minutes(got.pop("max_day_change_minutes", None)),
                **got,
            )
        )
    if "earliest" in given and "latest" in given and given["earliest"] > given["latest"]:
        read.bad(
            "transport.bells",
            "latest",
            "the latest start is before the earliest",
            "write latest later than earliest",
        )
    return BellsSettings(
        earliest=given.get("earliest"),
        latest=given.get("latest"),
        step=_minutes(given.get("step_minutes")),
        shifts=tuple(m * 60.0 for m in given.get("shifts_minutes", ())),
        max_change=_minutes(given.get("max_change_minutes")),
        max_day_change=_minutes(given.get("max_day_change_minutes")),
        rules=tuple(rules),
    )


def _minutes(value: float | None) -> float | None:
    return None if value is None else float(value) * 60.0


def parse_capacity(table: Mapping[str, Any] | None) -> CapacitySettings:
    """Read and check one ``[capacity]`` table on its own (as a test or a what-if gives it).

    Raises
    ------
    ValidationError
        Naming each bad or unknown key and what to write instead.
    """
    return _on_its_own(_capacity, table)


#: ``[capacity]`` tables of grade bands: seats a class (whole numbers) and square metres a seat.
_BANDED = {"class_size": ("20", True), "area_per_seat": ("13.9", False)}


def _capacity(read: _Reader, value: object) -> CapacitySettings:
    given = read.table(value, "capacity", "capacity")
    if "target" in given:  # the users' word for the band
        given["band"] = given.pop("target")
    for key, (example, integer) in _BANDED.items():
        if key in given:
            given[key] = _banded(read, key, given.pop(key), example=example, integer=integer)
    if given:
        from dataclasses import replace

        from facilities.capacity import (
            CapacityRules,  # the rules check themselves (bands cover PK-12, ...)
        )

        try:
            replace(CapacityRules(), **given)
        except (TypeError, ValueError) as err:
            read.bad("capacity", None, str(err), "fix the [capacity] table (see README: capacity)")
    return CapacitySettings(given=MappingProxyType(given))


def _banded(
    read: _Reader, key: str, sizes: object, *, example: str, integer: bool
) -> tuple[tuple[int, int, float], ...]:
    """A table of grade bands to amounts (``"K-5" = 20``), as ``(first grade, last grade, amount)``."""
    if not isinstance(sizes, Mapping):
        read.bad(
            "capacity",
            key,
            f"{sizes!r} is not a table",
            f'[capacity.{key}] then "K-5" = {example} on the next lines',
        )
        return ()
    bands = []
    for grades, amount in sizes.items():
        try:
            span = val.grades(grades, key)
            bands.append(
                (
                    span[0],
                    span[-1],
                    val.number(amount, f'"{grades}"', minimum=1, integer=integer, example=example),
                )
            )
        except val.Bad as err:
            read.bad(f"capacity.{key}", grades, str(err), err.fix)
    return tuple(sorted(bands))


def _enrollment(read: _Reader, value: object) -> EnrollmentSettings:
    given = read.table(value, "enrollment", "enrollment")
    zones = []
    where = "enrollment.shared_zones"
    for row, table in read.array(
        given.get("shared_zones"), where, 'id = "shared-middle", units = ["Bayview"]'
    ):
        got = read.table(table, where, "shared_zone", row)
        if "units" not in got:
            if "units" not in table:
                read.bad(
                    where,
                    "units",
                    "a shared zone without units",
                    'write units = ["Bayview", "Westgate"] (zone ids or names)',
                    row,
                )
            continue
        zones.append(SharedZoneSettings(id=got.pop("id", f"shared{row}"), **got))
    return EnrollmentSettings(shared_zones=tuple(zones))
