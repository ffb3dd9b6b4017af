"""One scenario: its bell times (the search on the fast evaluator), the runs chosen again at those
bells jointly with the chaining, each bus's type, and every metric."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from facilities import Problem, ValidationError
from facilities.schema import format_time
from routing.bells import (
    BANDS,
    BellPolicy,
    BellTimes,
    RunChains,
    align_bells,
    current_bells,
    district_tiers,
    grade_band,
    optimize_bells,
)
from routing.budget import Deadline, clock_caps, safety_cap
from routing.chaining import chain, min_buses
from routing.data import ProblemData
from routing.mixing import mix_loads
from routing.plan import Bus, BusPlan, Run, Session
from routing.scenarios.prepare import (
    Prepared,
    _single_loads,
)
from routing.scenarios.scenario import (
    _EIGHT,
    EARLY_S,
    MIN_CELL,
    Progress,
    Scenario,
)
from routing.selection import select_runs


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
        Totals: buses (the fleet: ``buses_<type>`` summed, see :func:`fleet_by_type`; a bus keeps
        its type all day, so it may exceed ``session_buses``, the busier session's), miles, deadhead
        miles, driver hours, mean and 95th-percentile ride (minutes), early arrivals, starts
        before 8:00 by band, dollars a year.
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
        """Buses the fleet needs: every type's buses (:func:`fleet_by_type`), summed."""
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


def scenario_bells(
    prepared: Prepared,
    scenario: Scenario,
    *,
    time_limit: float = 30.0,
    seed: int = 0,
    policy: BellPolicy | None = None,
    progress: Progress | None = None,
) -> BellTimes:
    """The bell times of one scenario (no bus plan): what :func:`run_scenario` routes.

    ``time_limit`` is the optimized search's; the aligned search, over far fewer choices, takes a
    quarter of it. The optimized search also descends from the aligned times under the city's policy
    (the default aligned scenario's), so that it never needs more buses than they do where its own
    policy allows them (each school whose aligned times it forbids says so in its reason).
    ``policy``: the scenario's (default :func:`scenario_policy`).
    """
    policy = policy or scenario_policy(prepared.policy, scenario.bells)
    schools = prepared.schools
    if scenario.kind == "status_quo":
        times = current_bells(schools)
    elif scenario.kind == "aligned":
        times = _aligned(prepared, scenario, policy, time_limit=time_limit, seed=seed)
    elif scenario.kind == "fixed":
        unknown = sorted(set(scenario.times) - set(schools["id"]))
        if unknown:
            raise ValidationError(
                [
                    Problem(
                        f"scenario {scenario.name!r}",
                        None,
                        "times",
                        f"unknown schools {unknown[:5]}",
                        "use school ids",
                    )
                ],
                city=prepared.city_name,
            )
        base = current_bells(schools)
        times = BellTimes.from_times(
            schools,
            scenario.times,
            reasons={s: "set by the scenario" for s in scenario.times},
            infeasible=base.infeasible,
        )
    else:
        tiers = district_tiers(schools, sector=scenario.to) if scenario.align == "start_and_end" else ()
        times = optimize_bells(
            prepared.chains,
            schools,
            policy=policy,
            time_limit=time_limit,
            seed=seed,
            tiers=tiers,
            also=_aligned(prepared, scenario, prepared.policy, time_limit=time_limit, seed=seed),
            progress=progress,
        )
    return times


def _aligned(
    prepared: Prepared,
    scenario: Scenario,
    policy: BellPolicy,
    *,
    time_limit: float,
    seed: int,
    start: BellTimes | None = None,
) -> BellTimes:
    """The aligned times of ``scenario``'s sectors under ``policy`` on ``prepared``'s evaluator, with a
    quarter of ``time_limit`` (from ``start``): the aligned scenario's, and where the optimized search
    also descends from (the city's policy), so that it never ends above them when its own policy
    allows them."""
    return align_bells(
        prepared.schools,
        policy=policy,
        sectors=scenario.sectors,
        to=scenario.to,
        chains=prepared.chains,
        align=scenario.align,
        time_limit=time_limit / 4,
        seed=seed,
        start=start,
    )


#: Policy keys of ``[transport.bells]`` and the :class:`~routing.bells.BellPolicy` fields they set.
_POLICY_KEYS = {
    "earliest": "earliest",
    "latest": "latest",
    "step_minutes": "step",
    "shifts_minutes": "shifts",
    "max_change_minutes": "max_change",
    "max_day_change_minutes": "max_day_change",
}


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
    bells, plans, capped = _evaluate(
        prepared, scenario, policy, time_limit=time_limit, seed=seed, progress=progress
    )
    violations = _violations(prepared, policy, bells)
    metrics, by_sector, by_hood = _metrics(prepared, bells, plans)
    if bells.buses is not None:
        # the evaluator's count: the runs it was built from (Prepared.searched, else the fixed runs) moved
        metrics["search_buses"] = int(bells.buses)
    if progress is not None:
        progress(f"{scenario.name}: {metrics['buses']} buses", 1.0)
    capped = (*prepared.clock_cap, *capped)
    return ScenarioResult(
        scenario,
        replace(bells, buses=int(metrics["buses"])),
        plans,
        metrics,
        by_sector,
        by_hood,
        violations,
        time.perf_counter() - t0,
        tuple(dict.fromkeys(capped)),
    )


def _violations(prepared: Prepared, policy: BellPolicy, bells: BellTimes) -> tuple[str, ...]:
    """The rules of ``policy`` that ``bells`` break (schools with current bells only)."""
    ok = prepared.schools["id"].isin(list(bells.starts)) & np.isfinite(
        prepared.schools["bell_start"].astype(float)
    )
    return tuple(policy.violations(prepared.schools[ok], bells.starts, bells.ends))


def no_worse_than(prepared: Prepared, result: ScenarioResult, floor: ScenarioResult) -> ScenarioResult:
    """``result``, or ``floor``'s bells and plans as ``result``'s scenario when they need fewer buses
    and ``result``'s policy allows them: an optimized scenario then never needs more buses than the
    aligned one (after the run selection at each one's bells, not only in the bell search), and
    each school's reason says whose times it took."""
    if _size(floor.plans) >= _size(result.plans) or floor.scenario.mixed_loads != result.scenario.mixed_loads:
        return result
    if _violations(prepared, scenario_policy(prepared.policy, result.scenario.bells), floor.bells):
        return result
    took = f" (the {floor.scenario.name} scenario's times, fewer buses with the runs chosen at them)"
    changes = floor.bells.changes.assign(reason=floor.bells.changes["reason"].astype(str) + took)
    return replace(
        floor,
        scenario=result.scenario,
        bells=replace(floor.bells, changes=changes),
        policy_violations=(),
        seconds=result.seconds,
        clock_cap=tuple(dict.fromkeys((*result.clock_cap, *floor.clock_cap))),
    )


def on_status_quo_runs(
    prepared: Prepared, *, plans: Mapping[str, BusPlan] | None = None, time_limit: float = 60.0
) -> Prepared:
    """``prepared`` whose bell search counts the runs the selection chooses at the current bells.

    The aligned and optimized searches then move the status quo's own runs (the selection's,
    fewer buses than the fixed runs) instead of the fixed runs, and one selection follows at the
    bells found; every plan still needs no more buses than the fixed runs moved, nor than these
    (:attr:`Prepared.searched`). Done once per city: :func:`compare` passes the status quo's plans.

    Parameters
    ----------
    prepared
        From :func:`prepare`; returned unchanged for the ``"fixed"`` engine or when already done.
    plans
        The status quo's plans (its :class:`ScenarioResult`'s); chosen here when not given or when a
        run carries several schools (mixed loads).
    time_limit
        The selection's safety cap (:func:`routing.budget.safety_cap`) when it runs here.
    """
    if prepared.engine != "select" or prepared.searched is not None:
        return prepared
    if plans is None or any(len(r.schools) > 1 for p in plans.values() for r in p.runs):
        plans, _ = _plans_at(
            prepared,
            Scenario("status quo", "status_quo"),
            current_bells(prepared.schools),
            time_limit=time_limit,
        )
    runs = {k: tuple(p.runs) for k, p in plans.items()}
    return replace(prepared, searched=runs, chains=RunChains.from_runs(prepared.data, runs))


def _evaluate(
    prepared: Prepared,
    scenario: Scenario,
    policy: BellPolicy,
    *,
    time_limit: float,
    seed: int,
    progress: Progress | None,
) -> tuple[BellTimes, dict[str, BusPlan], tuple[str, ...]]:
    """The scenario's bells searched on ``prepared``'s evaluator, and the plans at those bells."""
    bells = scenario_bells(
        prepared, scenario, time_limit=time_limit, seed=seed, policy=policy, progress=progress
    )
    plans, capped = _plans_at(prepared, scenario, bells, time_limit=time_limit)
    return bells, plans, (("bell search",) if bells.clock_cap else ()) + capped


def _size(plans: Mapping[str, BusPlan]) -> tuple[int, int, int]:
    """The fleet's buses (:func:`fleet_by_type`), then those of the busier session, then summed over
    the sessions."""
    return (
        sum(fleet_by_type(plans).values()),
        max((p.n_buses for p in plans.values()), default=0),
        sum(p.n_buses for p in plans.values()),
    )


def _plans_at(
    prepared: Prepared, scenario: Scenario, bells: BellTimes, *, time_limit: float
) -> tuple[dict[str, BusPlan], tuple[str, ...]]:
    """Every session's plan at ``bells`` (:func:`_plan`), and the stages the clock cap stopped."""
    ids = prepared.chains.school_ids
    shift, end_shift = _shifts(prepared, bells)
    data = prepared.data.with_bells(
        am={s: bells.starts[s] for s in ids if math.isfinite(bells.starts.get(s, math.nan))},
        pm={s: bells.ends[s] for s in ids if math.isfinite(bells.ends.get(s, math.nan))},
    )
    deadline = Deadline(safety_cap(time_limit))
    sessions = [rs.session for k, rs in prepared.sets.items() if prepared.runs[k]]
    plans: dict[str, BusPlan] = {
        session: _plan(
            prepared,
            data,
            session,
            end_shift if session == "pm" else shift,
            mixed_loads=scenario.mixed_loads,
            deadline=deadline,
        )
        for session in sessions
    }
    if prepared.engine == "select" and not scenario.mixed_loads:
        # a bus keeps its type all day: the whole fleet never larger than the fixed runs' moved, nor
        # than the runs the bell search counted
        moved = {s: _counted(prepared, s, end_shift if s == "pm" else shift) for s in sessions}
        what = ("the fixed runs moved", "the runs the bell search counted, moved")
        for k in range(len(moved[sessions[0]]) if sessions else 0):
            other: dict[str, BusPlan] = {
                s: _chained(data, s, moved[s][k], {"engine": "select"}) for s in sessions
            }
            if _size(other) < _size(plans):
                plans = {
                    s: replace(p, stats={**p.stats, "runs": f"{what[k]} (a smaller fleet)"})
                    for s, p in other.items()
                }
    return plans, tuple(c for p in plans.values() for c in clock_caps(p.stats))


def _shifts(prepared: Prepared, bells: BellTimes) -> tuple[np.ndarray, np.ndarray]:
    """Each school's change of start and of dismissal (seconds, in the evaluator's school order)."""
    ids = prepared.chains.school_ids
    shift = np.nan_to_num(
        bells.shift(ids, dict(zip(prepared.schools["id"], prepared.schools["bell_start"].astype(float))))
    )
    end_shift = np.nan_to_num(
        bells.end_shift(ids, dict(zip(prepared.schools["id"], prepared.schools["bell_end"].astype(float))))
    )
    return shift, end_shift


def _plan(
    prepared: Prepared,
    data: ProblemData,
    session: Session,
    shift: np.ndarray,
    *,
    mixed_loads: bool,
    deadline: Deadline,
) -> BusPlan:
    """One session's plan at new bells: the runs chosen among the run sets moved to those bells
    (engine ``"select"``; never more buses than the fixed runs moved, nor than the runs the bell
    search counted, :func:`_counted`), or the fixed runs moved (``"fixed"``); chained exactly
    (fewest buses, then least deadhead); mixed loads when asked; then each bus takes its type
    (:meth:`~routing.data.ProblemData.bus_type_for`)."""
    info: dict[str, object] = {"engine": prepared.engine}
    mixing = mixed_loads and session == "am"
    if prepared.engine == "select":
        options = prepared.sets[session].shifted(data, shift)
        chosen, more = select_runs(data, options if mixing else _single_loads(options), deadline=deadline)
        info.update(more)
        for runs in _counted(prepared, session, shift):
            if min_buses(data, runs) < min_buses(data, chosen):
                chosen = runs
    else:
        chosen = _moved(prepared.runs[session], shift)
    capped = ("run selection",) if info.pop("clock_cap", False) else ()
    if mixing:
        plan = BusPlan(
            data, session, tuple(chosen), tuple(chain(data, chosen)), stats={**info, "clock_cap": capped}
        )
        return _typed(mix_loads(plan, time_limit=deadline.seconds, progress=None))
    return _chained(data, session, chosen, {**info, "clock_cap": capped})


def _moved(runs: Sequence[Run], shift: np.ndarray) -> list[Run]:
    """``runs`` moved by their schools' ``shift``."""
    return [r.shifted(float(shift[r.schools[0]])) for r in runs]


def _counted(prepared: Prepared, session: str, shift: np.ndarray) -> list[list[Run]]:
    """The runs no plan of ``session`` needs more buses than, moved by ``shift``: the fixed runs, and
    those the bell search counted when others (:attr:`Prepared.searched`)."""
    out = [_moved(prepared.runs[session], shift)]
    if prepared.searched is not None:
        out.append(_moved(prepared.searched[session], shift))
    return out


def _chained(data: ProblemData, session: Session, runs: Sequence[Run], stats: dict[str, object]) -> BusPlan:
    """``runs`` chained exactly (fewest buses, then least deadhead), each bus of its type."""
    return _typed(BusPlan(data, session, tuple(runs), tuple(chain(data, runs)), stats=stats))


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


def _metrics(
    prepared: Prepared, bells: BellTimes, plans: Mapping[str, BusPlan]
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """Totals, by sector and by neighborhood."""
    data = prepared.data
    totals = {s: p.totals() for s, p in plans.items()}
    fleet = fleet_by_type(plans)
    buses = sum(fleet.values())
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
            picked = [v.stop for v in run.visits if v.stop is not None]
            for k, (_, secs) in zip(picked, run.ride_times()):
                ride[data.stops[k].id] = secs / 60
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
        "dollars_per_year": costs.dollars(
            buses=buses,
            miles_per_day=miles,
            driver_hours_per_day=hours,
            bus_dollars=costs.fleet_dollars(data, fleet),
        ),
        "mixed_runs": int(sum(len(r.schools) > 1 for p in plans.values() for r in p.runs)),
        "session_buses": max((int(t["buses"]) for t in totals.values()), default=0),
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
                **{
                    f"before_8_{b}": g.apply(
                        lambda x, b=b: int((x["before_8"] & (x["band"] == b)).sum()), include_groups=False
                    )
                    for b in BANDS
                },
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
    count = {
        s: np.bincount([b.bus_type for b in p.buses], minlength=len(data.bus_types)) for s, p in plans.items()
    }
    fleet: dict[int, int] = {}
    for lift in (False, True):
        kinds = sorted(
            (t for t, b in enumerate(data.bus_types) if b.wheelchair == lift),
            key=lambda t: (-data.bus_types[t].seats, t),
        )
        have = 0
        for k, t in enumerate(kinds):
            need = max(int(c[kinds[: k + 1]].sum()) for c in count.values())
            if need > have:
                fleet[t] = need - have
                have = need
    return fleet


def _bus_share(
    plans: Mapping[str, BusPlan], data: ProblemData, sector: Mapping[str, str]
) -> dict[str, float]:
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
