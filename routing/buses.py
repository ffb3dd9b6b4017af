"""The whole engine for one session: stops, schools and bells in, a bus plan with the fewest buses out.

:func:`solve` cuts several run sets per school (:func:`routing.selection.run_sets`), picks runs
among them jointly with the chaining (:func:`routing.selection.select_runs`), chains the chosen
runs exactly (:func:`routing.chaining.chain`) and, with mixed loads, lets runs carry several
schools' riders (:func:`routing.mixing.mix_loads`). Chaining, selection and mixing each live in
their module; their public names are importable from here too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from routing.budget import Deadline, safety_cap
from routing.chaining import chain, min_buses
from routing.data import ProblemData
from routing.mixing import SHARED_BELLS, SHARED_TRAVEL, mix_loads
from routing.plan import BusPlan, Session
from routing.runs import RunOptions
from routing.selection import (
    DEFAULT_ALTERNATIVES,
    SECONDS_PER_CLIENT_ITERATION,
    routing_budget,
    run_sets,
    select_runs,
)

__all__ = [
    "chain",
    "min_buses",
    "solve",
    "mix_loads",
    "routing_budget",
    "DEFAULT_ALTERNATIVES",
    "SECONDS_PER_CLIENT_ITERATION",
    "SHARED_TRAVEL",
    "SHARED_BELLS",
    "Progress",
]

log = logging.getLogger(__name__)

#: ``progress(message, fraction_done)``.
Progress = Callable[[str, float], None]


def solve(
    data: ProblemData,
    *,
    session: Session = "am",
    time_limit: float = 60.0,
    seed: int = 0,
    solver: str = "pyvrp",
    alternatives: int | Sequence[RunOptions] = 5,
    workers: int = 2,
    mixed_loads: bool = False,
    progress: Progress | None = None,
) -> BusPlan:
    """Turn stops, schools and bell times into a bus plan with as few buses as possible.

    Parameters
    ----------
    data
        The problem.
    session
        ``"am"`` (runs reach school before the bell) or ``"pm"`` (runs leave after dismissal).
    time_limit
        Seconds for the whole solve: it sets each school VRP's iteration budget (by the number of
        stops, :func:`routing_budget`), so the plan does not depend on the machine's speed or
        load; the clock only stops a search that runs far over its expected time
        (:func:`routing.budget.safety_cap`), and then ``stats["clock_cap"]`` names the stages.
    seed
        Random seed; the same seed (and arguments) gives the same plan.
    solver
        ``"pyvrp"`` (default) or ``"ortools"``, for the runs of each school.
    alternatives
        How many run sets per school (the first of :data:`DEFAULT_ALTERNATIVES`, 20 in all), or
        the recipes. Their runs are pooled and combined jointly with the chaining. With 1, each
        school gets its fewest-runs set and only the chaining is optimized.
    workers
        Processes solving the school VRPs (part of the budget: the same ``workers`` give the
        same plan, whatever the machine).
    mixed_loads
        Let a run carry students of several schools (AM only): schools close together with near
        bells (:data:`SHARED_TRAVEL`, :data:`SHARED_BELLS`) also get a shared run set, whose runs the
        integer program may choose instead of their own, then :func:`mix_loads` moves pickups
        between runs of any schools. Never more buses than without (the single-load sets stay
        candidates).
    progress
        Called as ``progress(message, fraction_done)``.

    Returns
    -------
    BusPlan
        With the stops left out (and why) in :attr:`~routing.problem.BusPlan.infeasible`.
    """
    if mixed_loads and session != "am":
        raise ValueError("mixed loads are implemented for AM plans; solve the PM session with single loads")
    t0 = time.perf_counter()
    deadline = Deadline(safety_cap(time_limit))
    sets = run_sets(
        data,
        session=session,
        time_limit=time_limit,
        seed=seed,
        solver=solver,
        alternatives=alternatives,
        workers=workers,
        mixed_loads=mixed_loads,
        deadline=deadline,
        progress=progress,
    )
    routing_s = time.perf_counter() - t0
    if progress and sets.options:
        progress("choosing run sets jointly with the chaining", 0.75)
    chosen, info = select_runs(data, sets.options, deadline=deadline)
    buses = chain(data, chosen)
    if progress:
        progress(f"{len(buses)} buses", 1.0)
    capped = [
        name
        for name, fired in (("school runs", sets.clock_cap), ("run selection", info.pop("clock_cap", False)))
        if fired
    ]
    stats = {
        "seconds": time.perf_counter() - t0,
        "routing_seconds": routing_s,
        "iterations": sets.iterations,
        "alternatives": len(sets.options),
        "groups": len(sets.groups),
        **info,
        "solver": solver,
        "clock_cap": tuple(capped),
    }
    plan = BusPlan(data, session, tuple(chosen), tuple(buses), sets.infeasible, stats)
    if mixed_loads:
        plan = mix_loads(plan, time_limit=time_limit, progress=progress)
    log.info(
        "%s: %d buses, %d runs in %.1f s", data.name, plan.n_buses, len(plan.runs), time.perf_counter() - t0
    )
    return plan
