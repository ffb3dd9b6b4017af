"""Scenarios: one set of bell times to evaluate (status quo, aligned, optimized, fixed), read from
TOML or built from a grid of policy values, and the cost model that prices a plan.

Cost model (:class:`CostModel`) defaults and sources: a contracted or district bus costs about
$100,000 a year with its driver (Boston Public Schools: "each bus costs roughly $100,000 a
year", quoted with the MIT bell-time work, Bertsimas, Delarue & Martin, PNAS 116(13), 2019, and
the Boston Globe, 2017); each mile driven costs $1.50 on top (an assumption: diesel at about
$4 a gallon over 6-7 miles a gallon is $0.60 a mile, plus tires, maintenance and wear about as
much again), over 180 school days a year (Massachusetts' minimum school year). Bus types with
their own ``cost_per_year`` are priced at it.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import Any, Literal

from facilities import Problem, ValidationError
from facilities.schema import parse_time
from facilities.settings import TransportSettings, parse_flag, parse_transport
from routing.bells import (
    Align,
)
from routing.data import ProblemData

Progress = Callable[[str, float], None]
#: A student arriving at school more than this many seconds before the bell arrives "early".
EARLY_S = 20 * 60
#: Smallest number of students shown in a cell of a neighborhood table (privacy).
MIN_CELL = 10
_EIGHT = 8 * 3600.0


@dataclass(frozen=True)
class CostModel:
    """Dollars a year of a bus plan: buses, miles and (optionally) driver hours.

    Parameters
    ----------
    per_bus_year
        Dollars per bus a year, driver included (default $100,000: Boston Public Schools' figure,
        Bertsimas, Delarue & Martin, PNAS 2019).
    per_mile
        Dollars per mile driven (default $1.50: fuel at about $0.60 plus upkeep; an assumption).
    per_driver_hour
        Dollars per driver hour beyond what ``per_bus_year`` pays (default 0: included).
    school_days
        Days a year the buses run (default 180, Massachusetts' minimum).
    source
        Where ``per_bus_year`` comes from, for the report.
    """

    per_bus_year: float = 100_000.0
    per_mile: float = 1.50
    per_driver_hour: float = 0.0
    school_days: int = 180
    source: str = "Boston Public Schools, about $100k per bus-year (Bertsimas, Delarue & Martin, PNAS 2019)"

    @classmethod
    def from_settings(cls, transport: TransportSettings | Mapping[str, Any]) -> CostModel:
        """The cost model of a city's typed ``[transport]`` settings (``city.settings.transport``; or a
        table as written, read by :func:`facilities.settings.parse_transport`): ``cost_per_bus_year``,
        ``cost_per_mile``, ``cost_per_driver_hour``, ``school_days`` and ``cost_per_bus_year_source``."""
        typed = transport if isinstance(transport, TransportSettings) else parse_transport(transport)
        return cls(
            per_bus_year=typed.cost_per_bus_year,
            per_mile=typed.cost_per_mile,
            per_driver_hour=typed.cost_per_driver_hour,
            school_days=typed.school_days,
            source=typed.cost_per_bus_year_source or _source_of(typed.cost_per_bus_year, default=cls),
        )

    def dollars(
        self,
        *,
        buses: int,
        miles_per_day: float,
        driver_hours_per_day: float,
        bus_dollars: float | None = None,
    ) -> float:
        """Dollars a year (``bus_dollars``: the buses priced by type, instead of ``buses * per_bus_year``)."""
        daily = miles_per_day * self.per_mile + driver_hours_per_day * self.per_driver_hour
        return (buses * self.per_bus_year if bus_dollars is None else bus_dollars) + daily * self.school_days

    def fleet_dollars(self, data: ProblemData, fleet: Mapping[int, int]) -> float:
        """Dollars a year of a fleet (bus type index -> buses): each type at its own price, else
        ``per_bus_year``."""
        return sum(
            n
            * (
                data.bus_types[t].cost_per_year
                if math.isfinite(data.bus_types[t].cost_per_year)
                else self.per_bus_year
            )
            for t, n in fleet.items()
        )


def _source_of(per_bus_year: float, *, default: type[CostModel]) -> str:
    """Where a bus-year figure given without ``cost_per_bus_year_source`` comes from: Boston's figure
    when it is the default, else the city's own file (never Boston's source for another number)."""
    if per_bus_year == default.per_bus_year:
        return default.source
    return (
        f"set in city.toml: [transport] cost_per_bus_year = {per_bus_year:,.0f}, no "
        "cost_per_bus_year_source given"
    )


Kind = Literal["status_quo", "aligned", "optimized", "fixed"]


@dataclass(frozen=True)
class Scenario:
    """One set of bell times to evaluate.

    Parameters
    ----------
    name
        Shown in reports.
    kind
        ``"status_quo"`` (current times), ``"aligned"`` (``sectors`` move onto the tiers of the
        ``to`` sector, :func:`routing.bells.align_bells`), ``"optimized"`` (fewest buses under the
        policy) or ``"fixed"`` (``times`` given by school id; others keep theirs).
    description
        One sentence for people.
    sectors, to
        For ``"aligned"``.
    align
        ``"start_and_end"`` (default): an aligned school takes its tier's start and dismissal (its
        day may change, within the policy's ``max_day_change_minutes``), and the optimized search
        may also give any school a tier's start and dismissal; ``"start"``: starts only, every
        school day keeps its length.
    bells
        Policy settings layered over the city's ``[transport.bells]`` (same keys; ``rules`` add).
    times
        For ``"fixed"``: school id -> start (seconds after midnight).
    mixed_loads
        Let a morning run carry students of several schools (shared run sets in the selection,
        then :func:`routing.mixing.mix_loads`); its buses are counted in their own scenario row.
    """

    name: str
    kind: Kind = "status_quo"
    description: str = ""
    sectors: tuple[str, ...] = ("charter", "catholic")
    to: str = "district"
    align: Align = "start_and_end"
    bells: Mapping[str, object] = field(default_factory=dict)
    times: Mapping[str, float] = field(default_factory=dict)
    mixed_loads: bool = False


def with_mixed_loads(scenarios: Sequence[Scenario]) -> list[Scenario]:
    """Each scenario, then its twin with mixed loads (named ``"<name>, mixed loads"``): counted separately."""
    out = []
    for sc in scenarios:
        out.append(sc)
        if not sc.mixed_loads:
            out.append(replace(sc, name=f"{sc.name}, mixed loads", mixed_loads=True))
    return out


DEFAULT_SCENARIOS: tuple[Scenario, ...] = (
    Scenario("status quo", "status_quo", "Every school keeps its current bell times."),
    Scenario(
        "aligned",
        "aligned",
        "Charter and Catholic schools align their start and dismissal to the district's tiers.",
    ),
    Scenario(
        "optimized", "optimized", "Every school may move to any time the policy allows, for the fewest buses."
    ),
)


def read_scenarios(path: str | os.PathLike[str]) -> tuple[list[Scenario], Mapping[str, Sequence[object]]]:
    """Read scenarios, and an optional grid of policy values, from a TOML file.

    Format::

        [[scenario]]
        name = "status quo"
        kind = "status_quo"
        [[scenario]]
        name = "charters align their starts only"
        kind = "aligned"
        sectors = ["charter"]
        align = "start"                     # or "start_and_end" (default)
        bells = { max_day_change_minutes = 30 }
        [[scenario]]
        name = "optimized, 60 min at most"
        kind = "optimized"
        bells = { max_change_minutes = 60 }
        [[scenario]]
        name = "Latin at 8:00"
        kind = "fixed"
        times = { "Latin Academy" = "08:00" }
        [grid]                              # optional: one optimized scenario per combination
        max_change_minutes = [30, 60, 90]
        step_minutes = [15, 30]

    Returns
    -------
    scenarios, grid

    Raises
    ------
    facilities.ValidationError
        Naming the scenario and key that is wrong.
    """
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ValidationError(
            [Problem(str(p), None, None, f"cannot read: {err}", "give a TOML file with [[scenario]] tables")],
            city="scenarios",
        ) from None
    problems: list[Problem] = []
    out = []
    for k, s in enumerate(raw.get("scenario", [])):
        kind = s.get("kind", "status_quo")
        if kind not in ("status_quo", "aligned", "optimized", "fixed"):
            problems.append(
                Problem(
                    str(p),
                    k + 1,
                    "kind",
                    f"unknown kind {kind!r}",
                    "use status_quo, aligned, optimized or fixed",
                )
            )
            continue
        align = s.get("align", "start_and_end")
        if align not in ("start", "start_and_end"):
            problems.append(
                Problem(
                    str(p),
                    k + 1,
                    "align",
                    f"unknown alignment {align!r}",
                    'use align = "start_and_end" or "start"',
                )
            )
            continue
        try:
            mixed = parse_flag(s.get("mixed_loads", False), "mixed_loads")
        except ValueError as err:
            problems.append(Problem(str(p), k + 1, "mixed_loads", str(err), getattr(err, "fix", "")))
            continue
        times = {}
        for sid, t in (s.get("times") or {}).items():
            try:
                times[str(sid)] = parse_time(t)
            except ValueError as err:
                problems.append(Problem(str(p), k + 1, f"times.{sid}", str(err), 'write "HH:MM"'))
        out.append(
            Scenario(
                name=str(s.get("name", f"scenario {k + 1}")),
                kind=kind,
                description=str(s.get("description", "")),
                sectors=tuple(s.get("sectors", ("charter", "catholic"))),
                to=str(s.get("to", "district")),
                align=align,
                bells=dict(s.get("bells", {})),
                times=times,
                mixed_loads=mixed,
            )
        )
    grid = {str(k): list(v) for k, v in (raw.get("grid") or {}).items()}
    if not raw.get("scenario") and not grid:
        problems.append(
            Problem(str(p), None, None, "no [[scenario]] and no [grid]", "add at least one scenario")
        )
    if problems:
        raise ValidationError(problems, city="scenarios")
    return out, grid


def grid_scenarios(grid: Mapping[str, Sequence[object]]) -> list[Scenario]:
    """One optimized scenario per combination of the grid's policy values."""
    keys = sorted(grid)
    return [
        Scenario(
            ", ".join(f"{k}={v}" for k, v in zip(keys, values)),
            "optimized",
            "grid point",
            bells=dict(zip(keys, values)),
        )
        for values in product(*(grid[k] for k in keys))
    ]
