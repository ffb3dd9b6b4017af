"""Preparation, once per city: who rides, their stops, the travel matrices, every school's run sets
(AM and PM) and the bell search's evaluator of the fixed runs."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from facilities import City, Problem, ValidationError
from facilities.settings import TransportSettings
from routing.bells import (
    BellPolicy,
    RunChains,
)
from routing.budget import Deadline, safety_cap
from routing.data import ProblemData
from routing.network import point_coordinates
from routing.plan import Run, Session
from routing.scenarios.scenario import (
    CostModel,
    Progress,
)
from routing.selection import RunSets, run_sets
from routing.stops import (
    StopPlan,
    eligible_riders,
    hazard_riders,
    place_stops,
    read_hazards,
)
from routing.travel import (
    CompiledNetwork,
    StraightLineModel,
    TravelModel,
    load_compiled,
)

#: ``"select"``: runs chosen among several run sets jointly with the chaining (the engine of
#: ``compact sbrp solve``); ``"fixed"``: one run set per school, chained (the reference).
Engine = Literal["select", "fixed"]
#: Run sets per school of the ``"select"`` engine (the first of
#: :data:`routing.selection.DEFAULT_ALTERNATIVES`: fewest long runs, shorter runs under 70 %, 85 % and
#: 50 % of the ride limit, cheaper runs). Measured at 60 s, AM and PM, seed 1, with the integer
#: program stopped at the relaxation's buses: on the Boston-scale Riverton five give 411 / 365 / 363
#: buses (status quo / aligned / optimized) in 161 s and 2.1 GB, three 429 / 364 / 364 in 148 s
#: (the status quo's relaxation bound 419.9 in the morning with three, 399.5 with five); on BPS 2017
#: both give 179 / 173 / 153.
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
        current bells: the fixed runs (no scenario's plan needs more buses than them moved).
    sets
        Session -> every school's alternative run sets (:class:`~routing.selection.RunSets`), from
        which each scenario's runs are chosen again at its bells.
    engine
        ``"select"`` (runs chosen among the run sets jointly with the chaining, per scenario) or
        ``"fixed"`` (one run set per school, the same runs in every scenario: the reference).
    chains
        The bell-time evaluator: of ``searched`` when set, else of ``runs``.
    searched
        The runs the bell search counts when they are not ``runs``: those the selection chose at
        the current bells (:func:`~routing.scenarios.on_status_quo_runs`), at the current bells.
    infeasible
        Everything left out, by name: ``kind`` (student, stop, school), ``id``, ``school``, ``reason``.
    policy, costs
        The city's bell policy and cost model.
    network
        The compiled street network when routing on streets (for street-following lines).
    hazard_riders
        Per school: its riders and those who ride only because their walk crosses a hazard
        (:func:`routing.stops.hazard_riders`; empty when the city has no ``[transport.hazards]``).
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
    hazard_riders: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["school", "riders", "hazard_riders"])
    )
    clock_cap: tuple[str, ...] = ()
    seconds: float = 0.0
    searched: Mapping[str, tuple[Run, ...]] | None = None


def prepare(
    city: City,
    *,
    network: CompiledNetwork | None | Literal["city"] = "city",
    sessions: Sequence[Session] = ("am", "pm"),
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
        raise ValidationError(
            [Problem("engine", None, "engine", f"unknown engine {engine!r}", 'use "select" or "fixed"')],
            city=city.name,
        )
    t0 = time.perf_counter()
    say = progress or (lambda message, fraction: None)
    transport = city.settings.transport
    streets: CompiledNetwork | None = None
    if network == "city" and city.network is not None:
        say("loading the street network", 0.0)
        streets = load_compiled(city.network, crs=city.crs)  # h-prep: the graph's memory given back
    elif network != "city":
        streets = network
    model: TravelModel = (
        streets if streets is not None else StraightLineModel(kind="manhattan", circuity=1.0, crs=city.crs)
    )
    schools = city.schools[
        ["id", "name", "sector", "grades", "neighborhood", "bell_start", "bell_end", "geometry"]
    ].copy()
    rules = transport.eligibility
    # ungraded and adult students ride too, under their school's strictest walk rule
    students = city.transport_students(
        walk_beyond={g: r.walk_beyond for r in rules if not r.transit_pass for g in r.grades}
    )
    hazards = read_hazards(city)
    say("who rides", 0.02)
    riders_all = eligible_riders(students, city.schools, rules=rules, network=streets, hazards=hazards)
    riders = riders_all[riders_all["eligible"]]
    say("placing stops", 0.05)
    seats = _seats(city)
    plan = place_stops(riders, network=streets, stop_capacity=seats, seed=seed, hazards=hazards)
    say("travel matrices", 0.15)
    yards = (
        city.yards
        if len(city.yards)
        else gpd.GeoDataFrame({"id": ["yard"]}, geometry=[schools.union_all().centroid], crs=schools.crs)
    )
    points = pd.concat([yards.geometry, schools.geometry, plan.stops.geometry], ignore_index=True)
    xy, _ = point_coordinates(gpd.GeoSeries(points, crs=schools.crs))
    if streets is not None:
        node = np.concatenate(
            [
                streets.kdtree.query(xy[: len(yards) + len(schools)])[1],
                streets.positions(plan.stops["node"].to_numpy()),
            ]
        )
        where = streets.node_ids[node]
        uniq, loc = np.unique(where, return_inverse=True)
        # h-prep: the searches run in the VRPs' worker processes (the same values for any number)
        durations = _frozen(streets.matrix(uniq, uniq, workers=workers))
        distances = _frozen(streets.distance_matrix(uniq, uniq, workers=workers))
    else:
        uniq_xy, loc = np.unique(np.round(xy, 1), axis=0, return_inverse=True)
        durations, distances = (
            _frozen(model.matrix(uniq_xy, uniq_xy)),
            _frozen(model.distance_matrix(uniq_xy, uniq_xy)),
        )
    ny, ns = len(yards), len(schools)
    bells_ok = (
        np.isfinite(schools["bell_start"].astype(float)) & np.isfinite(schools["bell_end"].astype(float))
    ).to_numpy()
    routed = (
        plan.stops["school"].isin(schools.loc[bells_ok, "id"]).to_numpy()
    )  # a school without bells cannot be routed
    dwell = transport.school_dwell
    data = ProblemData.from_matrices(
        durations=durations,
        distances=distances,
        schools=pd.DataFrame(
            {
                "id": schools["id"],
                "location": loc[ny : ny + ns],
                "am_bell": schools["bell_start"].astype(float),
                "pm_dismissal": schools["bell_end"].astype(float),
                "dwell": dwell,
            }
        )[bells_ok],
        stops=pd.DataFrame(
            {
                "id": plan.stops["id"],
                "location": loc[ny + ns :],
                "school": plan.stops["school"],
                "students": plan.stops["students"],
                "service": plan.stops["service"],
            }
        )[routed],
        yards=pd.DataFrame({"id": yards["id"], "location": loc[:ny]}),
        bus_types=_bus_types(city, seats),
        max_ride=transport.max_ride,
        stop_time_fixed=transport.stop_time_fixed,
        stop_time_per_student=transport.stop_time_per_student,
        name=city.name,
    )
    del durations, distances
    deadline = Deadline(safety_cap(time_limit))
    sets: dict[str, RunSets] = {}
    for k, session in enumerate(sessions):
        sets[session] = run_sets(
            data,
            session=session,
            time_limit=time_limit / len(sessions),
            seed=seed,
            alternatives=1 if engine == "fixed" else ALTERNATIVES,
            workers=workers,
            mixed_loads=mixed_loads and engine == "select",
            lead_budget=True,
            deadline=deadline,
            progress=_session_progress(say, session, k, len(sessions)),
        )
    runs = {session: tuple(v.first()) for session, v in sets.items()}
    left_out = list(sets[sessions[0]].infeasible)
    say("chaining", 0.97)
    chains = RunChains.from_runs(data, runs)
    capped = ("school runs",) if any(v.clock_cap for v in sets.values()) else ()
    infeasible = pd.concat(
        [
            pd.DataFrame(
                {
                    "kind": "student",
                    "id": plan.infeasible["student"],
                    "school": plan.infeasible["school"],
                    "reason": plan.infeasible["reason"],
                }
            ),
            pd.DataFrame(
                [("stop", i.stop, i.school, i.reason) for i in left_out],
                columns=["kind", "id", "school", "reason"],
            ),
            pd.DataFrame(
                {
                    "kind": "school",
                    "id": schools.loc[~bells_ok, "id"],
                    "school": schools.loc[~bells_ok, "id"],
                    "reason": "no current bell times: its riders are not routed",
                }
            ),
            city.geocoding.left_out()
            if city.geocoding is not None
            else None,  # students whose address matched nothing
        ],
        ignore_index=True,
    )
    stop_of = dict(zip(plan.assignment["student"], plan.assignment["stop"]))
    rider_table = pd.DataFrame(
        {
            "id": riders["id"].astype(str),
            "grade": riders["grade"].astype(int),
            "school": riders["school"].astype(str),
            "neighborhood": riders["neighborhood"].astype(str),
        }
    )
    rider_table["stop"] = rider_table["id"].map(stop_of)
    say("ready", 1.0)
    return Prepared(
        city_name=city.name,
        crs=city.crs,
        schools=pd.DataFrame(schools.drop(columns="geometry")).assign(
            x=schools.geometry.x, y=schools.geometry.y
        ),
        riders=rider_table,
        stops=plan,
        data=data,
        runs=runs,
        sets=sets,
        chains=chains,
        infeasible=infeasible,
        policy=_policy(transport),
        costs=CostModel.from_settings(transport),
        network=streets,
        engine=engine,
        hazard_riders=hazard_riders(riders_all)
        if hazards is not None
        else pd.DataFrame(columns=["school", "riders", "hazard_riders"]),
        clock_cap=capped,
        seconds=time.perf_counter() - t0,
    )


def _session_progress(say: Progress, session: str, k: int, n: int) -> Progress:
    """The progress of session ``k`` of ``n``'s runs, as a share of the preparation."""
    return lambda message, fraction: say(f"{session.upper()} runs", 0.2 + 0.75 * (k + fraction) / n)


def _frozen(matrix: np.ndarray) -> np.ndarray:
    """The matrix as a read-only float array that owns its memory, which :class:`ProblemData` then
    shares instead of copying (a city's matrices are gigabytes)."""
    out = np.asarray(matrix, dtype=float)
    if out.base is not None or not out.flags.c_contiguous:
        out = np.array(out, order="C")
    out.setflags(write=False)
    return out


def _policy(transport: TransportSettings) -> BellPolicy:
    """The city's policy; ``bell_tiers`` (when no ``[transport.bells]`` grid is given) become the
    candidates."""
    policy = BellPolicy.from_typed(transport.bells)
    tiers = list(transport.bell_tiers)
    if tiers and transport.bells.step is None:
        step = min(np.diff(sorted(tiers)), default=policy.step)
        policy = replace(policy, earliest=min(tiers), latest=max(tiers), step=float(step))
    return policy


def _seats(city: City) -> int:
    plain = (
        city.bus_types[~city.bus_types["wheelchair"].astype(bool)] if len(city.bus_types) else city.bus_types
    )
    return int(plain["seats"].max()) if len(plain) else 66


def _bus_types(city: City, seats: int) -> pd.DataFrame:
    """The fleet's types, or a 66-seat bus and a lift bus when the city gives none."""
    if len(city.bus_types):
        t = city.bus_types
        price = t["cost_per_year"].astype(float) if "cost_per_year" in t.columns else np.nan
        return pd.DataFrame(
            {
                "id": t["id"],
                "seats": t["seats"],
                "wheelchair": t["wheelchair"].astype(bool),
                "cost_per_year": price,
            }
        )
    return pd.DataFrame({"id": ["bus", "lift"], "seats": [seats, 20], "wheelchair": [False, True]})


def _single_loads(
    options: Sequence[tuple[tuple[int, ...], list[Run]]],
) -> list[tuple[tuple[int, ...], list[Run]]]:
    """The run sets that carry one school's riders each."""
    return [o for o in options if len(o[0]) == 1]
