"""Bell-time scenarios and what they save: status quo, aligned sectors, optimized, or any list.

The work is split so that the expensive part is done once per city:

1. :func:`prepare` — who rides, their stops, the travel matrices, and every school's runs (the
   engine's :func:`routing.runs.school_runs`, AM and PM) at the current bells, plus the
   :class:`~routing.bells.RunChains` evaluator. Runs do not depend on bells (fixed-run model).
2. :func:`run_scenario` — bell times for one :class:`Scenario`, runs shifted to them and chained
   onto the fewest buses, and every metric (buses, miles, driver hours, ride times, early
   arrivals, starts before 8:00 by grade band, by sector and by neighborhood) and dollars a year
   from the :class:`CostModel`.
3. :func:`compare` — the default three scenarios (or a TOML list) and the savings against the
   first; :func:`sweep` — many scenarios through an :class:`Executor` (local processes, or a Dask
   cluster for sweeps that outgrow one machine).

>>> from facilities import read_city
>>> from routing.scenarios import compare
>>> result = compare(read_city("data/demo"), time_limit=30, seed=1)  # doctest: +SKIP
>>> result.summary()  # doctest: +SKIP
>>> from app.outputs_bells import write_comparison  # the app layer writes the files
>>> write_comparison(result, "out/bells")  # doctest: +SKIP

Cost model (:class:`CostModel`) defaults and sources: a contracted or district bus costs about
$100,000 a year with its driver (Boston Public Schools: "each bus costs roughly $100,000 a
year", quoted with the MIT bell-time work, Bertsimas, Delarue & Martin, PNAS 116(13), 2019, and
the Boston Globe, 2017); each mile driven costs $1.50 on top (an assumption: diesel at about
$4 a gallon over 6-7 miles a gallon is $0.60 a mile, plus tires, maintenance and wear about as
much again), over 180 school days a year (Massachusetts' minimum school year).
"""

from __future__ import annotations

import logging
import math
import os
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import product
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely import LineString

from facilities import City, Problem, ValidationError
from facilities._validate import parse_time
from facilities.schema import format_time
from routing.bells import (
    BANDS,
    Align,
    BellPolicy,
    BellTimes,
    RunChains,
    align_bells,
    current_bells,
    district_tiers,
    grade_band,
    optimize_bells,
)
from routing.budget import Deadline, safety_cap
from routing.chaining import chain, min_buses
from routing.mixing import mix_loads
from routing.network import point_coordinates
from routing.problem import Bus, BusPlan, ProblemData, Run
from routing.selection import RunSets, run_sets, select_runs
from routing.stops import StopPlan, eligibility_rules, eligible_riders, place_stops
from routing.travel import (
    CompiledNetwork,
    StraightLineModel,
    TravelModel,
    route_geometry,
    travel_model,
)

__all__ = [
    "CostModel",
    "Scenario",
    "DEFAULT_SCENARIOS",
    "read_scenarios",
    "grid_scenarios",
    "scenario_policy",
    "scenario_bells",
    "Prepared",
    "prepare",
    "ScenarioResult",
    "run_scenario",
    "Comparison",
    "compare",
    "Executor",
    "ProcessExecutor",
    "DaskExecutor",
    "sweep",
    "EARLY_S",
    "MIN_CELL",
]

log = logging.getLogger(__name__)

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
    def from_settings(cls, transport: Mapping[str, object]) -> CostModel:
        """Read ``cost_per_bus_year``, ``cost_per_mile``, ``cost_per_driver_hour``, ``school_days``
        and ``cost_per_bus_year_source`` from a city's ``[transport]`` table (defaults otherwise)."""
        d = cls()
        return cls(
            per_bus_year=float(transport.get("cost_per_bus_year", d.per_bus_year)),
            per_mile=float(transport.get("cost_per_mile", d.per_mile)),
            per_driver_hour=float(transport.get("cost_per_driver_hour", d.per_driver_hour)),
            school_days=int(transport.get("school_days", d.school_days)),
            source=str(transport.get("cost_per_bus_year_source", d.source)),
        )

    def dollars(self, *, buses: int, miles_per_day: float, driver_hours_per_day: float, bus_dollars: float | None = None) -> float:
        """Dollars a year (``bus_dollars``: the buses priced by type, instead of ``buses * per_bus_year``)."""
        daily = miles_per_day * self.per_mile + driver_hours_per_day * self.per_driver_hour
        return (buses * self.per_bus_year if bus_dollars is None else bus_dollars) + daily * self.school_days

    def fleet_dollars(self, data: ProblemData, fleet: Mapping[int, int]) -> float:
        """Dollars a year of a fleet (bus type index -> buses): each type at its own price, else ``per_bus_year``."""
        return sum(n * (data.bus_types[t].cost_per_year if math.isfinite(data.bus_types[t].cost_per_year) else self.per_bus_year) for t, n in fleet.items())


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
    Scenario("aligned", "aligned", "Charter and Catholic schools align their start and dismissal to the district's tiers."),
    Scenario("optimized", "optimized", "Every school may move to any time the policy allows, for the fewest buses."),
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
        raise ValidationError([Problem(str(p), None, None, f"cannot read: {err}", "give a TOML file with [[scenario]] tables")], city="scenarios") from None
    problems: list[Problem] = []
    out = []
    for k, s in enumerate(raw.get("scenario", [])):
        kind = s.get("kind", "status_quo")
        if kind not in ("status_quo", "aligned", "optimized", "fixed"):
            problems.append(Problem(str(p), k + 1, "kind", f"unknown kind {kind!r}", "use status_quo, aligned, optimized or fixed"))
            continue
        align = s.get("align", "start_and_end")
        if align not in ("start", "start_and_end"):
            problems.append(Problem(str(p), k + 1, "align", f"unknown alignment {align!r}", 'use align = "start_and_end" or "start"'))
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
                mixed_loads=bool(s.get("mixed_loads", False)),
            )
        )
    grid = {str(k): list(v) for k, v in (raw.get("grid") or {}).items()}
    if not out and not grid:
        problems.append(Problem(str(p), None, None, "no [[scenario]] and no [grid]", "add at least one scenario"))
    if problems:
        raise ValidationError(problems, city="scenarios")
    return out, grid


def grid_scenarios(grid: Mapping[str, Sequence[object]]) -> list[Scenario]:
    """One optimized scenario per combination of the grid's policy values."""
    keys = sorted(grid)
    return [
        Scenario(", ".join(f"{k}={v}" for k, v in zip(keys, values)), "optimized", "grid point", bells=dict(zip(keys, values)))
        for values in product(*(grid[k] for k in keys))
    ]


# ====================================================================== preparation
#: ``"select"``: runs chosen among several run sets jointly with the chaining (the engine of
#: ``compact sbrp solve``); ``"fixed"``: one run set per school, chained (the reference).
Engine = Literal["select", "fixed"]
#: Run sets per school of the ``"select"`` engine (the first of
#: :data:`routing.selection.DEFAULT_ALTERNATIVES`).
ALTERNATIVES = 5

@dataclass(frozen=True, eq=False)
class Prepared:
    """Everything computed once per city: riders, stops, matrices, runs and the chain evaluator.

    Attributes
    ----------
    city_name
        For reports.
    schools
        ``id``, ``name``, ``sector``, ``grades``, ``neighborhood``, ``bell_start``, ``bell_end``.
    riders
        Per rider: ``id``, ``grade``, ``school``, ``neighborhood``, ``stop`` (private; only
        aggregated in outputs).
    stops
        The :class:`~routing.stops.StopPlan`.
    data
        The engine's problem at the current bells.
    runs
        ``{"am": [...], "pm": [...]}`` every school's first run set (its fewest long runs) at the
        current bells: the runs the bell search's evaluator counts (``chains``).
    sets
        Session -> every school's alternative run sets (:class:`~routing.selection.RunSets`), from
        which each scenario's runs are chosen again at its bells.
    engine
        ``"select"`` (runs chosen among the run sets jointly with the chaining, per scenario) or
        ``"fixed"`` (one run set per school, the same runs in every scenario: the reference).
    chains
        The bell-time evaluator.
    infeasible
        Everything left out, by name: ``kind`` (student, stop, school), ``id``, ``school``, ``reason``.
    policy, costs
        The city's bell policy and cost model.
    network
        The compiled street network when routing on streets (for street-following lines).
    clock_cap
        The stages the clock's safety cap stopped (empty: every search ended on its budget, and
        the same inputs and seed give the same result).
    seconds
        Time spent preparing.
    """

    city_name: str
    crs: Any
    schools: pd.DataFrame
    riders: pd.DataFrame
    stops: StopPlan
    data: ProblemData
    runs: Mapping[str, tuple[Run, ...]]
    sets: Mapping[str, RunSets]
    chains: RunChains
    infeasible: pd.DataFrame
    policy: BellPolicy
    costs: CostModel
    network: CompiledNetwork | None = None
    engine: Engine = "select"
    clock_cap: tuple[str, ...] = ()
    seconds: float = 0.0


def prepare(
    city: City,
    *,
    network: CompiledNetwork | None | Literal["city"] = "city",
    sessions: Sequence[str] = ("am", "pm"),
    time_limit: float = 60.0,
    seed: int = 0,
    engine: Engine = "select",
    mixed_loads: bool = False,
    workers: int = 2,
    progress: Progress | None = None,
) -> Prepared:
    """Riders, stops, travel matrices and every school's run sets, once per city.

    Parameters
    ----------
    city
        The city (schools need ``bell_start``/``bell_end``; ``[transport]`` settings are read).
    network
        ``"city"`` uses the city's street network when it has one, else the network-free model
        (Manhattan distance at 20 mph); or pass a compiled network, or ``None`` for network-free.
    sessions
        ``("am", "pm")`` or just ``("am",)``.
    time_limit
        Seconds for the runs: it sets the school VRPs' iteration budget (the same runs on any
        machine and under any load; the clock is only a safety cap, see :mod:`routing.budget`).
    seed
        Seeds the stop tie-breaks and the run solver.
    engine
        ``"select"`` (default) or ``"fixed"`` (see :class:`Prepared`).
    mixed_loads
        Also cut shared run sets for nearby schools with near bells (for scenarios with
        ``mixed_loads``).
    workers
        Processes for the school VRPs (the same runs for any number).
    progress
        Called with ``(message, fraction done)``.

    Returns
    -------
    Prepared
    """
    if engine not in ("select", "fixed"):
        raise ValidationError([Problem("engine", None, "engine", f"unknown engine {engine!r}", 'use "select" or "fixed"')], city=city.name)
    t0 = time.perf_counter()
    say = progress or (lambda message, fraction: None)
    transport = dict(city.settings.get("transport", {}) or {})
    if network == "city":
        say("loading the street network", 0.0)
        network = travel_model(city.network, crs=city.crs) if city.network is not None else None
    model: TravelModel = network if network is not None else StraightLineModel(kind="manhattan", circuity=1.0, crs=city.crs)
    schools = city.schools[["id", "name", "sector", "grades", "neighborhood", "bell_start", "bell_end", "geometry"]].copy()
    students = city.students
    say("who rides", 0.02)
    riders = eligible_riders(students, city.schools, rules=eligibility_rules(transport), network=network)
    riders = riders[riders["eligible"]]
    say("placing stops", 0.05)
    seats = _seats(city)
    plan = place_stops(riders, network=network, stop_capacity=seats, seed=seed)
    say("travel matrices", 0.15)
    yards = city.yards if len(city.yards) else gpd.GeoDataFrame({"id": ["yard"]}, geometry=[schools.union_all().centroid], crs=schools.crs)
    points = pd.concat([yards.geometry, schools.geometry, plan.stops.geometry], ignore_index=True)
    xy, _ = point_coordinates(gpd.GeoSeries(points, crs=schools.crs))
    if network is not None:
        node = np.concatenate([network.kdtree.query(xy[: len(yards) + len(schools)])[1], network.positions(plan.stops["node"].to_numpy())])
        where = network.node_ids[node]
        uniq, loc = np.unique(where, return_inverse=True)
        durations, distances = model.matrix(uniq, uniq), model.distance_matrix(uniq, uniq)
    else:
        uniq_xy, loc = np.unique(np.round(xy, 1), axis=0, return_inverse=True)
        durations, distances = model.matrix(uniq_xy, uniq_xy), model.distance_matrix(uniq_xy, uniq_xy)
    ny, ns = len(yards), len(schools)
    bells_ok = (np.isfinite(schools["bell_start"].astype(float)) & np.isfinite(schools["bell_end"].astype(float))).to_numpy()
    routed = plan.stops["school"].isin(schools.loc[bells_ok, "id"]).to_numpy()  # a school without bells cannot be routed
    dwell = float(transport.get("school_dwell", 300.0))
    data = ProblemData.from_matrices(
        durations=durations,
        distances=distances,
        schools=pd.DataFrame({"id": schools["id"], "location": loc[ny : ny + ns], "am_bell": schools["bell_start"].astype(float), "pm_dismissal": schools["bell_end"].astype(float), "dwell": dwell})[bells_ok],
        stops=pd.DataFrame({"id": plan.stops["id"], "location": loc[ny + ns :], "school": plan.stops["school"], "students": plan.stops["students"], "service": plan.stops["service"]})[routed],
        yards=pd.DataFrame({"id": yards["id"], "location": loc[:ny]}),
        bus_types=_bus_types(city, seats),
        max_ride=float(transport.get("max_ride", 3600.0)),
        stop_time_fixed=float(transport.get("stop_time_fixed", 19.0)),
        stop_time_per_student=float(transport.get("stop_time_per_student", 2.6)),
        name=city.name,
    )
    del durations, distances
    deadline = Deadline(safety_cap(time_limit))
    sets: dict[str, RunSets] = {}
    for k, session in enumerate(sessions):
        sets[session] = run_sets(
            data, session=session, time_limit=time_limit / len(sessions), seed=seed, alternatives=1 if engine == "fixed" else ALTERNATIVES,
            workers=workers, mixed_loads=mixed_loads and engine == "select", deadline=deadline,
            progress=lambda m, f, k=k, s=session: say(f"{s.upper()} runs", 0.2 + 0.75 * (k + f) / len(sessions)),
        )  # fmt: skip
    runs = {session: tuple(v.first()) for session, v in sets.items()}
    left_out = list(sets[sessions[0]].infeasible)
    say("chaining", 0.97)
    chains = RunChains.from_runs(data, runs)
    capped = ("school runs",) if any(v.clock_cap for v in sets.values()) else ()
    infeasible = pd.concat(
        [
            pd.DataFrame({"kind": "student", "id": plan.infeasible["student"], "school": plan.infeasible["school"], "reason": plan.infeasible["reason"]}),
            pd.DataFrame([("stop", i.stop, i.school, i.reason) for i in left_out], columns=["kind", "id", "school", "reason"]),
            pd.DataFrame({"kind": "school", "id": schools.loc[~bells_ok, "id"], "school": schools.loc[~bells_ok, "id"], "reason": "no current bell times: its riders are not routed"}),
        ],
        ignore_index=True,
    )
    stop_of = dict(zip(plan.assignment["student"], plan.assignment["stop"]))
    rider_table = pd.DataFrame(
        {"id": riders["id"].astype(str), "grade": riders["grade"].astype(int), "school": riders["school"].astype(str), "neighborhood": riders["neighborhood"].astype(str)}
    )
    rider_table["stop"] = rider_table["id"].map(stop_of)
    say("ready", 1.0)
    return Prepared(
        city_name=city.name,
        crs=city.crs,
        schools=pd.DataFrame(schools.drop(columns="geometry")).assign(x=schools.geometry.x, y=schools.geometry.y),
        riders=rider_table,
        stops=plan,
        data=data,
        runs=runs,
        sets=sets,
        chains=chains,
        infeasible=infeasible,
        policy=_policy(transport),
        costs=CostModel.from_settings(transport),
        network=network,
        engine=engine,
        clock_cap=capped,
        seconds=time.perf_counter() - t0,
    )


def _policy(transport: Mapping[str, object]) -> BellPolicy:
    """The city's policy; ``bell_tiers`` (when no ``[transport.bells]`` grid is given) become the candidates."""
    policy = BellPolicy.from_settings(transport)
    tiers = [parse_time(t) for t in transport.get("bell_tiers", []) or []]
    if tiers and "step_minutes" not in (transport.get("bells") or {}):
        step = min(np.diff(sorted(tiers)), default=policy.step)
        policy = replace(policy, earliest=min(tiers), latest=max(tiers), step=float(step))
    return policy


def _seats(city: City) -> int:
    plain = city.bus_types[~city.bus_types["wheelchair"].astype(bool)] if len(city.bus_types) else city.bus_types
    return int(plain["seats"].max()) if len(plain) else 66


def _bus_types(city: City, seats: int) -> pd.DataFrame:
    """The fleet's types, or a 66-seat bus and a lift bus when the city gives none."""
    if len(city.bus_types):
        t = city.bus_types
        price = t["cost_per_year"].astype(float) if "cost_per_year" in t.columns else np.nan
        return pd.DataFrame({"id": t["id"], "seats": t["seats"], "wheelchair": t["wheelchair"].astype(bool), "cost_per_year": price})
    return pd.DataFrame({"id": ["bus", "lift"], "seats": [seats, 20], "wheelchair": [False, True]})


def _single_loads(options: Sequence[tuple[tuple[int, ...], list[Run]]]) -> list[tuple[tuple[int, ...], list[Run]]]:
    """The run sets that carry one school's riders each."""
    return [o for o in options if len(o[0]) == 1]


# ====================================================================== one scenario
@dataclass(frozen=True, eq=False)
class ScenarioResult:
    """One scenario's bell times, bus plans and metrics.

    Attributes
    ----------
    scenario
        What was evaluated.
    bells
        The bell times and the reason for each.
    plans
        Session -> the :class:`~routing.problem.BusPlan` (runs shifted to the new bells, chained).
    metrics
        Totals: buses, miles, deadhead miles, driver hours, mean and 95th-percentile ride
        (minutes), early arrivals, starts before 8:00 by band, dollars a year.
    by_sector, by_neighborhood
        The same per sector of the schools and per home neighborhood of the riders
        (neighborhoods with fewer than :data:`MIN_CELL` riders are blanked).
    policy_violations
        Rules the bells break: the status quo may; optimized never does; aligned keeps a school's
        forbidden current time only when every allowed tier would need more buses (its reason
        says so), and does not move the ``to`` sector's schools.
    seconds
        Time taken (not in the written outputs, which are byte-identical for the same inputs and seed).
    clock_cap
        The stages the clock's safety cap stopped, the preparation's included (empty: every
        search ended on its budget).
    """

    scenario: Scenario
    bells: BellTimes
    plans: Mapping[str, BusPlan]
    metrics: Mapping[str, float]
    by_sector: pd.DataFrame
    by_neighborhood: pd.DataFrame
    policy_violations: tuple[str, ...]
    seconds: float
    clock_cap: tuple[str, ...] = ()

    @property
    def buses(self) -> int:
        """Buses needed (the busier session)."""
        return int(self.metrics["buses"])

    def schedules(self) -> pd.DataFrame:
        """Every bus's day, both sessions: ``scenario``, ``session``, ``bus_id`` and BiRD's columns."""
        frames = []
        for session, plan in self.plans.items():
            f = plan.to_frame()
            for c in ("start_time", "end_time"):
                f[c] = [format_time(t) + f":{int(t) % 60:02d}" for t in f[c]]
            f.insert(0, "session", session)
            frames.append(f)
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        out.insert(0, "scenario", self.scenario.name)
        return out


def scenario_bells(prepared: Prepared, scenario: Scenario, *, time_limit: float = 30.0, seed: int = 0, policy: BellPolicy | None = None, progress: Progress | None = None) -> BellTimes:
    """The bell times of one scenario (no bus plan): what :func:`run_scenario` routes.

    ``time_limit`` is the optimized search's; the aligned search, over far fewer choices, takes a
    quarter of it. ``policy``: the scenario's (default :func:`scenario_policy`).
    """
    policy = policy or scenario_policy(prepared.policy, scenario.bells)
    schools = prepared.schools
    if scenario.kind == "status_quo":
        times = current_bells(schools)
    elif scenario.kind == "aligned":
        times = align_bells(schools, policy=policy, sectors=scenario.sectors, to=scenario.to, chains=prepared.chains, align=scenario.align, time_limit=time_limit / 4, seed=seed)
    elif scenario.kind == "fixed":
        unknown = sorted(set(scenario.times) - set(schools["id"]))
        if unknown:
            raise ValidationError([Problem(f"scenario {scenario.name!r}", None, "times", f"unknown schools {unknown[:5]}", "use school ids")], city=prepared.city_name)
        base = current_bells(schools)
        times = BellTimes.from_times(schools, scenario.times, reasons={s: "set by the scenario" for s in scenario.times}, infeasible=base.infeasible)
    else:
        tiers = district_tiers(schools, sector=scenario.to) if scenario.align == "start_and_end" else ()
        times = optimize_bells(prepared.chains, schools, policy=policy, time_limit=time_limit, seed=seed, tiers=tiers, progress=progress)
    return times


#: Policy keys of ``[transport.bells]`` and the :class:`~routing.bells.BellPolicy` fields they set.
_POLICY_KEYS = {"earliest": "earliest", "latest": "latest", "step_minutes": "step", "shifts_minutes": "shifts", "max_change_minutes": "max_change", "max_day_change_minutes": "max_day_change"}


def scenario_policy(policy: BellPolicy, extra: Mapping[str, object]) -> BellPolicy:
    """``policy`` with a scenario's ``[transport.bells]`` keys layered over it (its rules are added)."""
    if not extra:
        return policy
    parsed = BellPolicy.from_settings({"bells": dict(extra)})
    changes = {f: getattr(parsed, f) for k, f in _POLICY_KEYS.items() if k in extra}
    return replace(policy, **changes, rules=policy.rules + parsed.rules)


def run_scenario(
    prepared: Prepared,
    scenario: Scenario,
    *,
    time_limit: float = 30.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> ScenarioResult:
    """Bell times for ``scenario``, its bus plans and every metric.

    Parameters
    ----------
    prepared
        From :func:`prepare`.
    scenario
        What to evaluate.
    time_limit
        Seconds for the bell-time search (optimized scenarios).
    seed
        Seeds the search; the same seed gives the same result.
    progress
        Called with ``(message, fraction done)``.

    Returns
    -------
    ScenarioResult
    """
    t0 = time.perf_counter()
    policy = scenario_policy(prepared.policy, scenario.bells)
    bells, plans, capped = _evaluate(prepared, scenario, policy, time_limit=time_limit, seed=seed, progress=progress)
    ok = prepared.schools["id"].isin(list(bells.starts)) & np.isfinite(prepared.schools["bell_start"].astype(float))
    violations = tuple(policy.violations(prepared.schools[ok], bells.starts, bells.ends))
    metrics, by_sector, by_hood = _metrics(prepared, bells, plans)
    if bells.buses is not None:
        metrics["search_buses"] = int(bells.buses)  # the evaluator's count: the fixed runs moved to these bells
    if progress is not None:
        progress(f"{scenario.name}: {metrics['buses']} buses", 1.0)
    capped = (*prepared.clock_cap, *capped)
    return ScenarioResult(scenario, replace(bells, buses=int(metrics["buses"])), plans, metrics, by_sector, by_hood, violations, time.perf_counter() - t0, tuple(dict.fromkeys(capped)))


def _evaluate(prepared: Prepared, scenario: Scenario, policy: BellPolicy, *, time_limit: float, seed: int, progress: Progress | None) -> tuple[BellTimes, dict[str, BusPlan], tuple[str, ...]]:
    """The scenario's bells searched on ``prepared``'s evaluator, and the plans at those bells."""
    bells = scenario_bells(prepared, scenario, time_limit=time_limit, seed=seed, policy=policy, progress=progress)
    ids = prepared.chains.school_ids
    shift = np.nan_to_num(bells.shift(ids, dict(zip(prepared.schools["id"], prepared.schools["bell_start"].astype(float)))))
    end_shift = np.nan_to_num(bells.end_shift(ids, dict(zip(prepared.schools["id"], prepared.schools["bell_end"].astype(float)))))
    data = prepared.data.with_bells(
        am={s: bells.starts[s] for s in ids if math.isfinite(bells.starts.get(s, math.nan))},
        pm={s: bells.ends[s] for s in ids if math.isfinite(bells.ends.get(s, math.nan))},
    )
    deadline = Deadline(safety_cap(time_limit))
    plans = {session: _plan(prepared, data, session, end_shift if session == "pm" else shift, mixed_loads=scenario.mixed_loads, deadline=deadline) for session in prepared.runs if prepared.runs[session]}
    capped = (("bell search",) if bells.clock_cap else ()) + tuple(c for p in plans.values() for c in p.stats.get("clock_cap", ()))  # type: ignore[attr-defined]
    return bells, plans, capped


def _plan(prepared: Prepared, data: ProblemData, session: str, shift: np.ndarray, *, mixed_loads: bool, deadline: Deadline) -> BusPlan:
    """One session's plan at new bells: the runs chosen among the run sets moved to those bells
    (engine ``"select"``; never more buses than the prepared runs moved, which the bell search
    counted), or the prepared runs moved (``"fixed"``); chained exactly (fewest buses, then least deadhead); mixed loads when asked;
    then each bus takes its type (:meth:`~routing.problem.ProblemData.bus_type_for`)."""
    moved = [r.shifted(float(shift[r.schools[0]])) for r in prepared.runs[session]]
    info: dict[str, object] = {"engine": prepared.engine}
    mixing = mixed_loads and session == "am"
    if prepared.engine == "select":
        options = prepared.sets[session].shifted(data, shift)
        chosen, more = select_runs(data, options if mixing else _single_loads(options), deadline=deadline)
        info.update(more)
        if min_buses(data, moved) < min_buses(data, chosen):
            chosen = moved
    else:
        chosen = moved
    capped = ("run selection",) if info.pop("clock_cap", False) else ()
    plan = BusPlan(data, session, tuple(chosen), tuple(chain(data, chosen)), stats={**info, "clock_cap": capped})  # type: ignore[arg-type]
    if mixing:
        plan = mix_loads(plan, time_limit=deadline.seconds, progress=None)
    return _typed(plan)


def _typed(plan: BusPlan) -> BusPlan:
    """Each bus takes the cheapest type its runs fit (a lift only for lift runs): small buses where
    the fleet has them. Runs stay chained by the type they were cut for, so lift and plain runs
    never share a bus."""
    data = plan.data
    buses = []
    for bus in plan.buses:
        lift = data.bus_types[bus.bus_type].wheelchair
        load = max(plan.runs[r].students for r in bus.runs)
        buses.append(Bus(data.bus_type_for(lift=lift, students=load), bus.start_yard, bus.end_yard, bus.runs))
    return replace(plan, buses=tuple(buses))


def _metrics(prepared: Prepared, bells: BellTimes, plans: Mapping[str, BusPlan]) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """Totals, by sector and by neighborhood."""
    data = prepared.data
    totals = {s: p.totals() for s, p in plans.items()}
    buses = max((t["buses"] for t in totals.values()), default=0)
    fleet = fleet_by_type(plans)
    miles = sum(t["deadhead_miles"] + t["loaded_miles"] for t in totals.values())
    dead = sum(t["deadhead_miles"] for t in totals.values())
    hours = sum(t["driver_hours"] for t in totals.values())
    # ride and arrival per stop id, AM first (the morning ride is the one families feel)
    ride: dict[str, float] = {}
    early: dict[str, float] = {}
    for session in ("pm", "am"):
        if session not in plans:
            continue
        for run in plans[session].runs:
            for v, (_, secs) in zip((v for v in run.visits if v.stop is not None), run.ride_times()):
                ride[data.stops[v.stop].id] = secs / 60
            if session == "am":
                arrive = next(v.start for v in run.visits if v.stop is None)
                school = plans[session].data.schools[run.schools[0]]
                for v in run.visits:
                    if v.stop is not None:
                        early[data.stops[v.stop].id] = school.am_bell - school.dwell - arrive
    r = prepared.riders.copy()
    r["ride_min"] = r["stop"].map(ride)
    r["early"] = r["stop"].map(early).fillna(0.0) > EARLY_S
    r["start"] = r["school"].map(bells.starts)
    r["before_8"] = r["start"] < _EIGHT
    r["band"] = [grade_band(g) for g in r["grade"]]
    sector = dict(zip(prepared.schools["id"], prepared.schools["sector"]))
    r["sector"] = r["school"].map(sector)
    share = _bus_share(plans, data, sector)
    costs = prepared.costs
    metrics: dict[str, float] = {
        "buses": buses,
        "riders": int(r["ride_min"].notna().sum()),
        "miles_per_day": miles,
        "deadhead_miles_per_day": dead,
        "driver_hours_per_day": hours,
        "mean_ride_min": float(r["ride_min"].mean()) if r["ride_min"].notna().any() else 0.0,
        "p95_ride_min": float(r["ride_min"].quantile(0.95)) if r["ride_min"].notna().any() else 0.0,
        "early_arrivals": int(r["early"].sum()),
        "dollars_per_year": costs.dollars(buses=buses, miles_per_day=miles, driver_hours_per_day=hours, bus_dollars=costs.fleet_dollars(data, fleet)),
        "mixed_runs": int(sum(len(r.schools) > 1 for p in plans.values() for r in p.runs)),
        "fleet_buses": int(sum(fleet.values())),
    }
    for t, bt in enumerate(data.bus_types):
        metrics[f"buses_{bt.id}"] = int(fleet.get(t, 0))
    for band in BANDS:
        metrics[f"before_8_{band}"] = int((r["before_8"] & (r["band"] == band)).sum())
    metrics["schools_before_8"] = int(sum(1 for s in bells.starts.values() if s < _EIGHT))

    def table(key: str) -> pd.DataFrame:
        g = r.groupby(key, dropna=False)
        out = pd.DataFrame(
            {
                "riders": g.size(),
                "mean_ride_min": g["ride_min"].mean(),
                "p95_ride_min": g["ride_min"].quantile(0.95),
                "early_arrivals": g["early"].sum(),
                **{f"before_8_{b}": g.apply(lambda x, b=b: int((x["before_8"] & (x["band"] == b)).sum()), include_groups=False) for b in BANDS},
            }
        )
        return out.reset_index().rename(columns={key: key})

    by_sector = table("sector")
    by_sector["bus_share"] = by_sector["sector"].map(share).fillna(0.0)
    by_sector["dollars_per_year"] = by_sector["bus_share"] * costs.per_bus_year
    by_hood = table("neighborhood")
    small = by_hood["riders"] < MIN_CELL
    by_hood.loc[small, by_hood.columns.drop(["neighborhood", "riders"])] = np.nan
    by_hood.loc[small, "riders"] = np.nan  # fewer than MIN_CELL: not shown
    return metrics, by_sector, by_hood


def fleet_by_type(plans: Mapping[str, BusPlan]) -> dict[int, int]:
    """Buses of each type a fleet needs for every session's plan (bus type index -> buses).

    A bus keeps its type all day, and a larger bus of the same kind (with or without a lift) can
    drive a smaller one's runs: taking types from the largest down, each type needs the most
    buses any session uses of it and of the larger types, less the larger types' buses.
    """
    if not plans:
        return {}
    data = next(iter(plans.values())).data
    count = {s: np.bincount([b.bus_type for b in p.buses], minlength=len(data.bus_types)) for s, p in plans.items()}
    fleet: dict[int, int] = {}
    for lift in (False, True):
        kinds = sorted((t for t, b in enumerate(data.bus_types) if b.wheelchair == lift), key=lambda t: (-data.bus_types[t].seats, t))
        have = 0
        for k, t in enumerate(kinds):
            need = max(int(c[kinds[: k + 1]].sum()) for c in count.values())
            if need > have:
                fleet[t] = need - have
                have = need
    return fleet


def _bus_share(plans: Mapping[str, BusPlan], data: ProblemData, sector: Mapping[str, str]) -> dict[str, float]:
    """Buses attributed to each sector: each bus of the busier session split by its runs' schools."""
    if not plans:
        return {}
    plan = max(plans.values(), key=lambda p: p.n_buses)
    share: dict[str, float] = {}
    for bus in plan.buses:
        for r in bus.runs:
            s = sector[data.schools[plan.runs[r].schools[0]].id]
            share[s] = share.get(s, 0.0) + 1.0 / len(bus.runs)
    return share


# ====================================================================== several scenarios
@dataclass(frozen=True, eq=False)
class Comparison:
    """Scenarios side by side, with savings against the first (the reference).

    Attributes
    ----------
    prepared
        The shared preparation.
    results
        One :class:`ScenarioResult` per scenario, the reference first.
    """

    prepared: Prepared
    results: tuple[ScenarioResult, ...]

    def summary(self) -> pd.DataFrame:
        """One row per scenario: the totals and the savings against the reference."""
        rows = [{"scenario": r.scenario.name, **r.metrics, "policy_violations": len(r.policy_violations), "clock_cap": ", ".join(r.clock_cap)} for r in self.results]
        out = pd.DataFrame(rows)
        ref = out.iloc[0]
        out["buses_saved"] = ref["buses"] - out["buses"]
        out["dollars_saved_per_year"] = ref["dollars_per_year"] - out["dollars_per_year"]
        return out

    def by_sector(self) -> pd.DataFrame:
        """The sector tables of every scenario, stacked."""
        return pd.concat([r.by_sector.assign(scenario=r.scenario.name) for r in self.results], ignore_index=True)

    def by_neighborhood(self) -> pd.DataFrame:
        """The neighborhood tables of every scenario, stacked (small cells blanked)."""
        return pd.concat([r.by_neighborhood.assign(scenario=r.scenario.name) for r in self.results], ignore_index=True)

    def changes(self) -> pd.DataFrame:
        """Every school's old and new times and the reason, per scenario."""
        return pd.concat([r.bells.changes.assign(scenario=r.scenario.name) for r in self.results], ignore_index=True)

    def text(self) -> str:
        """A few lines for people: buses and dollars per scenario, savings against the reference."""
        s = self.summary()
        engine = "runs chosen among run sets with the chaining" if self.prepared.engine == "select" else "fixed runs (reference engine)"
        lines = [f"{self.prepared.city_name}: {int(s['riders'].iloc[0]):,} riders, {len(self.prepared.stops.stops):,} stops; {engine}"]
        types = [b.id for b in self.prepared.data.bus_types]
        for _, row in s.iterrows():
            by_type = ", ".join(f"{int(row[f'buses_{t}'])} {t}" for t in types if row.get(f"buses_{t}", 0))
            lines.append(
                f"  {row['scenario']:<24} {int(row['buses']):>5} buses ({by_type})  ${row['dollars_per_year'] / 1e6:,.2f}M/yr  "
                f"saves {int(row['buses_saved'])} buses, ${row['dollars_saved_per_year'] / 1e6:,.2f}M/yr; "
                f"ride {row['mean_ride_min']:.1f} min (p95 {row['p95_ride_min']:.1f}); before 8:00 (elem/mid/high) "
                f"{int(row['before_8_elementary'])}/{int(row['before_8_middle'])}/{int(row['before_8_high'])}"
            )
            if row["mixed_runs"]:
                lines.append(f"  {'':<24} {int(row['mixed_runs'])} runs carry students of several schools (mixed loads)")
        if len(self.prepared.infeasible):
            lines.append(f"  left out: {len(self.prepared.infeasible)} (see infeasible.csv)")
        capped = self.clock_cap()
        if capped:
            lines.append(f"  WARNING: the clock's safety cap stopped {', '.join(capped)}: this result may differ from the next run with the same seed")
        return "\n".join(lines)

    def clock_cap(self) -> tuple[str, ...]:
        """The stages the clock's safety cap stopped in any scenario (empty: reproducible)."""
        return tuple(dict.fromkeys(c for r in self.results for c in r.clock_cap)) or self.prepared.clock_cap

    def runs_frame(self) -> gpd.GeoDataFrame:
        """Runs as street-following lines (straight legs without a network), per scenario and session."""
        data, net = self.prepared.data, self.prepared.network
        geoms: dict[tuple[str, int], LineString] = {}
        rows = []
        xy = _location_xy(self.prepared)
        for r in self.results:
            for session, plan in r.plans.items():
                for b, bus in enumerate(plan.buses):
                    for k in bus.runs:
                        run = plan.runs[k]
                        key = (session, k)
                        if key not in geoms:
                            geoms[key] = _run_line(run, xy, net, self.prepared)
                        rows.append((r.scenario.name, session, b + 1, k + 1, data.schools[run.schools[0]].id, run.students, format_time(run.start), format_time(run.end), geoms[key]))
        cols = ["scenario", "session", "bus", "run", "school", "students", "start", "end", "geometry"]
        return gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs=self.prepared.crs)

    def stops_frame(self) -> gpd.GeoDataFrame:
        """Stops with their school, service and number of riders."""
        return self.prepared.stops.stops.drop(columns=["node"])

    def to_json(self) -> dict[str, object]:
        """Everything in :meth:`summary`, by sector, by neighborhood and the changes, as plain data."""
        return {
            "city": self.prepared.city_name,
            "engine": self.prepared.engine,
            "clock_cap": list(self.clock_cap()),
            "cost_model": self.prepared.costs.__dict__,
            "scenarios": _records(self.summary()),
            "by_sector": _records(self.by_sector()),
            "by_neighborhood": _records(self.by_neighborhood()),
            "changes": _records(self.changes()),
            "policy_violations": {r.scenario.name: list(r.policy_violations) for r in self.results},
            "infeasible": _records(self.prepared.infeasible.groupby(["kind", "reason"]).size().rename("count").reset_index()),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _location_xy(prepared: Prepared) -> np.ndarray:
    """x/y of each matrix location (its first yard, school or stop)."""
    data = prepared.data
    xy = np.zeros((data.durations.shape[0], 2))
    stops = prepared.stops.stops
    school_xy = dict(zip(prepared.schools["id"], zip(prepared.schools["x"], prepared.schools["y"])))
    for s in data.schools:
        xy[s.location] = school_xy[s.id]
    stop_xy = dict(zip(stops["id"], zip(stops.geometry.x, stops.geometry.y)))
    for st in data.stops:
        xy[st.location] = stop_xy[st.id]
    return xy


def _run_line(run: Run, xy: np.ndarray, net: CompiledNetwork | None, prepared: Prepared) -> LineString:
    pts = xy[[v.location for v in run.visits]]
    if net is None:
        return LineString(pts if len(pts) > 1 else np.vstack([pts, pts]))
    nodes = net.node_ids[net.kdtree.query(pts)[1]]
    return route_geometry(net, list(nodes))


def compare(
    city: City | Prepared,
    *,
    scenarios: Sequence[Scenario] = DEFAULT_SCENARIOS,
    time_limit: float = 60.0,
    seed: int = 0,
    progress: Progress | None = None,
    **prepare_options: Any,
) -> Comparison:
    """Run scenarios on a city (the first is the reference for savings): one call for CLI and app.

    Parameters
    ----------
    city
        A city, or a :class:`Prepared` to reuse.
    scenarios
        Default: status quo, charter and Catholic schools aligned to the district's tiers, optimized.
    time_limit
        Seconds in all: half for the runs (when preparing), the rest for the bell-time search.
    seed
        Seeds everything; the same seed gives the same result.
    progress
        Called with ``(message, fraction done)``.
    **prepare_options
        Passed to :func:`prepare` (``network``, ``sessions``).

    Returns
    -------
    Comparison
    """
    say = progress or (lambda message, fraction: None)
    if isinstance(city, Prepared):
        prepared = city
        search = time_limit
    else:
        prepared = prepare(city, time_limit=time_limit / 2, seed=seed, progress=lambda m, f: say(m, 0.5 * f), **prepare_options)
        search = time_limit / 2
    n_opt = max(sum(s.kind == "optimized" for s in scenarios), 1)
    results = []
    for k, scenario in enumerate(scenarios):
        base = 0.5 + 0.5 * k / len(scenarios)
        results.append(run_scenario(prepared, scenario, time_limit=search / n_opt, seed=seed, progress=lambda m, f, base=base: say(m, base + 0.5 * f / len(scenarios))))
    return Comparison(prepared, tuple(results))


# ====================================================================== sweeps
class Executor(Protocol):
    """Runs one function over many items with a shared argument; returns results in order."""

    def map(self, fn: Callable[..., Any], shared: Any, items: Sequence[Any]) -> list[Any]:
        """``[fn(shared, item) for item in items]``, in parallel."""
        ...


_SHARED: Any = None


def _init(shared: Any) -> None:
    global _SHARED
    _SHARED = shared


def _call(fn: Callable[..., Any], item: Any) -> Any:
    return fn(_SHARED, item)


@dataclass(frozen=True)
class ProcessExecutor:
    """Local processes (the default): the shared argument reaches each worker once, by fork.

    Parameters
    ----------
    workers
        Processes (default: the machine's cores).
    """

    workers: int | None = None

    def map(self, fn: Callable[..., Any], shared: Any, items: Sequence[Any]) -> list[Any]:
        """``[fn(shared, item) for item in items]`` in worker processes."""
        workers = min(self.workers or os.cpu_count() or 1, max(len(items), 1))
        if workers == 1:
            return [fn(shared, item) for item in items]
        with ProcessPoolExecutor(workers, mp_context=get_context("fork"), initializer=_init, initargs=(shared,)) as pool:
            return list(pool.map(_call, [fn] * len(items), items))


@dataclass(frozen=True)
class DaskExecutor:
    """A Dask cluster (``pip install compact-planner[dask]``): the shared argument is scattered once.

    Parameters
    ----------
    address
        The scheduler's address (``tcp://host:8786``), or ``None`` for a local cluster.
    """

    address: str | None = None

    def map(self, fn: Callable[..., Any], shared: Any, items: Sequence[Any]) -> list[Any]:
        """``[fn(shared, item) for item in items]`` on the cluster's workers."""
        try:
            from distributed import Client
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("Dask sweeps need the dask extra: pip install 'compact-planner[dask]'") from err
        with Client(self.address, processes=True) if self.address is None else Client(self.address) as client:
            future = client.scatter(shared, broadcast=True)
            return client.gather(client.map(fn, [future] * len(items), items, pure=False))


@dataclass(frozen=True)
class _Evaluate:
    time_limit: float
    seed: int

    def __call__(self, prepared: Prepared, scenario: Scenario) -> dict[str, object]:
        r = run_scenario(prepared, scenario, time_limit=self.time_limit, seed=self.seed)
        return {"scenario": scenario.name, "kind": scenario.kind, **r.metrics, "policy_violations": len(r.policy_violations), "clock_cap": ", ".join(r.clock_cap)}


def sweep(
    prepared: Prepared,
    scenarios: Iterable[Scenario],
    *,
    executor: Executor | None = None,
    time_limit: float = 30.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Evaluate many scenarios in parallel: one row of totals per scenario, in order.

    Parameters
    ----------
    prepared
        From :func:`prepare` (sent to each worker once).
    scenarios
        Any list (e.g. from :func:`read_scenarios` and :func:`grid_scenarios`).
    executor
        :class:`ProcessExecutor` (default) or :class:`DaskExecutor`.
    time_limit
        Seconds of bell-time search per optimized scenario.
    seed
        Same seed, same results, whatever the executor.

    Returns
    -------
    pandas.DataFrame
        The metrics per scenario, with savings against the first.
    """
    rows = (executor or ProcessExecutor()).map(_Evaluate(time_limit, seed), prepared, list(scenarios))
    out = pd.DataFrame(rows)
    if len(out):
        out["buses_saved"] = out["buses"].iloc[0] - out["buses"]
        out["dollars_saved_per_year"] = out["dollars_per_year"].iloc[0] - out["dollars_per_year"]
    return out
