"""Buses, not runs: chain runs onto as few buses as possible, and choose each school's run set.

:func:`chain` is exact: a bus drives a chain of runs, a run may follow another when the bus can
deadhead from the end of one to the start of the next in time, so the fewest buses is the number
of runs minus a maximum matching of "run i then run j" pairs; a min-cost flow (OR-Tools) finds,
among all plans with that many buses, the one with the least deadhead (yards included).

:func:`solve` is the whole engine: several run sets per school (:class:`~routing.runs.RunOptions`:
fewest long runs, shorter runs under a tighter ride limit, cheaper runs, other seeds), one per
school chosen jointly with the chaining by an exact integer program (as BiRD's scenario
selection does), then the exact min-cost chaining of the chosen runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from routing.problem import Bus, BusPlan, Infeasible, ProblemData, Run, Session
from routing.runs import RunOptions, school_runs

__all__ = ["chain", "min_buses", "solve", "DEFAULT_ALTERNATIVES", "Progress"]

log = logging.getLogger(__name__)

#: ``progress(message, fraction_done)``.
Progress = Callable[[str, float], None]

#: Run-set recipes, in the order :func:`solve` uses them (``alternatives=k`` takes the first k).
DEFAULT_ALTERNATIVES: tuple[RunOptions, ...] = (
    RunOptions(ride_factor=1.0, run_cost=7200.0, seed=0),
    RunOptions(ride_factor=0.7, run_cost=7200.0, seed=0),
    RunOptions(ride_factor=0.85, run_cost=7200.0, seed=0),
    RunOptions(ride_factor=0.5, run_cost=7200.0, seed=0),
    RunOptions(ride_factor=1.0, run_cost=900.0, seed=1),
    RunOptions(ride_factor=0.6, run_cost=7200.0, seed=2),
    RunOptions(ride_factor=0.4, run_cost=7200.0, seed=3),
    RunOptions(ride_factor=1.0, run_cost=7200.0, seed=4),
)


def _compatible(data: ProblemData, runs: Sequence[Run]) -> np.ndarray:
    """``ok[i, j]``: a bus can drive run ``j`` after run ``i``."""
    start = np.array([r.start for r in runs])
    end = np.array([r.end for r in runs])
    s_loc = np.array([r.start_location for r in runs], dtype=int)
    e_loc = np.array([r.end_location for r in runs], dtype=int)
    arrive = end[:, None] + data.durations[np.ix_(e_loc, s_loc)]
    ok = arrive <= start[None, :] + 1e-6
    np.fill_diagonal(ok, False)
    return ok


def min_buses(data: ProblemData, runs: Sequence[Run]) -> int:
    """The fewest buses that can drive ``runs`` (of one bus type), by maximum bipartite matching."""
    if not runs:
        return 0
    ok = csr_matrix(_compatible(data, runs))
    matched = maximum_bipartite_matching(ok, perm_type="column")
    return len(runs) - int((matched >= 0).sum())


def chain(data: ProblemData, runs: Sequence[Run]) -> list[Bus]:
    """Chain runs onto the fewest buses, then the least deadhead distance; one bus type at a time.

    Each bus leaves the yard nearest its first run and returns to the yard nearest its last.

    Parameters
    ----------
    data
        The problem (travel times and distances, yards).
    runs
        The runs; each keeps its own bus type.

    Returns
    -------
    list of Bus
        Run indices refer to ``runs``.
    """
    buses: list[Bus] = []
    for t in sorted({r.bus_type for r in runs}):
        idx = [i for i, r in enumerate(runs) if r.bus_type == t]
        for path, y0, y1 in _chain_one_type(data, [runs[i] for i in idx]):
            buses.append(Bus(t, y0, y1, tuple(idx[k] for k in path)))
    buses.sort(key=lambda b: runs[b.runs[0]].start)
    return buses


def _chain_one_type(data: ProblemData, runs: Sequence[Run]) -> list[tuple[list[int], int, int]]:
    from ortools.graph.python import min_cost_flow

    n = len(runs)
    if n == 0:
        return []
    D = data.distances
    yard_locs = np.array([y.location for y in data.yards], dtype=int)
    s_loc = np.array([r.start_location for r in runs], dtype=int)
    e_loc = np.array([r.end_location for r in runs], dtype=int)
    pull = D[np.ix_(yard_locs, s_loc)]
    back = D[np.ix_(e_loc, yard_locs)]
    pull_yard, back_yard = pull.argmin(axis=0), back.argmin(axis=1)
    pull_cost = np.rint(pull.min(axis=0)).astype(np.int64)
    back_cost = np.rint(back.min(axis=1)).astype(np.int64)
    ok = _compatible(data, runs)
    ii, jj = np.nonzero(ok)
    dead = np.rint(D[e_loc[ii], s_loc[jj]]).astype(np.int64)
    big = int(dead.max(initial=0) + pull_cost.max() + back_cost.max() + 1) * (n + 1)
    S, T = 2 * n, 2 * n + 1
    tails = np.concatenate([ii, np.arange(n), [T], np.full(n, S)])
    heads = np.concatenate([n + jj, np.full(n, T), [S], n + np.arange(n)])
    caps = np.concatenate([np.ones(len(ii) + n, dtype=np.int64), [n], np.ones(n, dtype=np.int64)])
    costs = np.concatenate([dead, back_cost, [0], big + pull_cost])
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails.astype(np.int32), heads.astype(np.int32), caps, costs)
    flow.set_nodes_supplies(np.arange(2 * n + 2, dtype=np.int32), np.concatenate([np.ones(n, dtype=np.int64), -np.ones(n, dtype=np.int64), [0, 0]]))
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    used = flow.flows(arcs[: len(ii)]) > 0
    nxt = dict(zip(ii[used].tolist(), jj[used].tolist()))
    has_prev = set(nxt.values())
    out = []
    for first in sorted(set(range(n)) - has_prev, key=lambda k: runs[k].start):
        path = [first]
        while path[-1] in nxt:
            path.append(nxt[path[-1]])
        out.append((path, int(pull_yard[first]), int(back_yard[path[-1]])))
    return out


def _bus_type_for(data: ProblemData, lift: bool) -> int:
    """The largest bus type (with a lift when ``lift``)."""
    cands = [i for i, b in enumerate(data.bus_types) if b.wheelchair or not lift]
    return max(cands, key=lambda i: (data.bus_types[i].seats, -i))


def _groups(data: ProblemData, session: Session) -> list[tuple[int, int, list[int]]]:
    """``(school, bus_type, stops)`` for every school and lift need that has riders."""
    by: dict[tuple[int, bool], list[int]] = {}
    for k, st in enumerate(data.stops):
        by.setdefault((st.school, st.needs_lift), []).append(k)
    return [(s, _bus_type_for(data, lift), stops) for (s, lift), stops in sorted(by.items())]


class _Selector:
    """Choose one run set per group, jointly with the chaining, to need the fewest buses.

    An exact integer program (HiGHS through :func:`scipy.optimize.milp`). Runs that end at the
    same place and time (an AM school's runs, all ending at its bell) free their buses into one
    *pool*; ``y[g, a]`` picks run set ``a`` of group ``g``; ``x[p, j]`` sends a bus from pool
    ``p`` to run ``j`` when it can get there in time; ``z[j]`` sends a new bus from the yard.
    Every chosen run gets exactly one bus, a pool gives at most the buses its chosen runs freed,
    and the objective is ``sum(z)``, the buses. Only ``y`` needs to be integer: given ``y`` the
    rest is a transportation problem.
    """

    def __init__(self, data: ProblemData, options: list[list[list[Run]]]) -> None:
        self.options = options
        flat = [(g, a, r) for g, alts in enumerate(options) for a, runs in enumerate(alts) for r in runs]
        runs = [r for _, _, r in flat]
        alt_base = np.concatenate([[0], np.cumsum([len(a) for a in options])])
        self.alt_base = alt_base
        self.alt_of_run = np.array([alt_base[g] + a for g, a, _ in flat], dtype=int)
        keys = [(r.end_location, round(r.end, 3), r.bus_type) for r in runs]
        pool_of: dict[tuple, int] = {}
        self.pool_of_run = np.array([pool_of.setdefault(k, len(pool_of)) for k in keys], dtype=int)
        pools = list(pool_of)
        p_loc = np.array([k[0] for k in pools], dtype=int)
        p_end = np.array([k[1] for k in pools])
        p_type = np.array([k[2] for k in pools], dtype=int)
        start = np.array([r.start for r in runs])
        s_loc = np.array([r.start_location for r in runs], dtype=int)
        types = np.array([r.bus_type for r in runs], dtype=int)
        ok = (p_end[:, None] + data.durations[np.ix_(p_loc, s_loc)] <= start[None, :] + 1e-6) & (p_type[:, None] == types[None, :])
        self.arcs = np.nonzero(ok)
        self.n_runs, self.n_pools = len(runs), len(pools)

    def choose(self, *, time_limit: float) -> tuple[np.ndarray, dict[str, object]]:
        """The run set chosen per group (index into its alternatives), and solver details."""
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_matrix

        n, P = self.n_runs, self.n_pools
        ap, aj = self.arcs
        m, ny, ng = len(ap), int(self.alt_base[-1]), len(self.options)
        # variables: y (ny) | x (m) | z (n)
        X, Z = ny, ny + m
        # each run: buses in (pools + yard) == chosen ; each pool: buses out <= runs ending there
        rows = [aj, np.arange(n), np.arange(n), n + ap, n + self.pool_of_run]
        cols = [X + np.arange(m), Z + np.arange(n), self.alt_of_run, X + np.arange(m), self.alt_of_run]
        vals = [np.ones(m), np.ones(n), -np.ones(n), np.ones(m), -np.ones(n)]
        groups = np.repeat(np.arange(ng), np.diff(self.alt_base))
        rows.append(n + P + groups)
        cols.append(np.arange(ny))
        vals.append(np.ones(ny))
        A = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n + P + ng, ny + m + n)).tocsr()
        lo = np.concatenate([np.zeros(n), np.full(P, -np.inf), np.ones(ng)])
        hi = np.concatenate([np.zeros(n), np.zeros(P), np.ones(ng)])
        c = np.zeros(ny + m + n)
        c[Z:] = 1.0
        integrality = np.concatenate([np.ones(ny), np.zeros(m + n)])
        res = milp(c, constraints=LinearConstraint(A, lo, hi), integrality=integrality, bounds=Bounds(0, 1), options={"time_limit": max(1.0, time_limit), "disp": False})
        if res.x is None:
            return np.zeros(ng, dtype=int), {"mip_status": res.message}
        y = res.x[:ny]
        choice = np.array([int(np.argmax(y[self.alt_base[g] : self.alt_base[g + 1]])) for g in range(ng)])
        return choice, {"mip_status": res.message, "mip_buses": round(float(res.fun)), "mip_bound": float(getattr(res, "mip_dual_bound", np.nan)), "arcs": m}


def solve(
    data: ProblemData,
    *,
    session: Session = "am",
    time_limit: float = 60.0,
    seed: int = 0,
    solver: str = "pyvrp",
    alternatives: int | Sequence[RunOptions] = 5,
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
        Seconds for the whole solve (about 70 % routing, the rest choosing and chaining).
    seed
        Random seed; the same seed gives the same plan (when iteration budgets, not the clock, stop).
    solver
        ``"pyvrp"`` (default) or ``"ortools"``, for the runs of each school.
    alternatives
        How many run sets per school (the first of :data:`DEFAULT_ALTERNATIVES`), or the recipes.
        With 1, each school gets its fewest-runs set and only the chaining is optimized.
    progress
        Called as ``progress(message, fraction_done)``.

    Returns
    -------
    BusPlan
        With the stops left out (and why) in :attr:`~routing.problem.BusPlan.infeasible`.
    """
    t0 = time.perf_counter()
    recipes = list(DEFAULT_ALTERNATIVES[: max(1, alternatives)]) if isinstance(alternatives, int) else list(alternatives)
    groups = _groups(data, session)
    per_vrp = 0.7 * time_limit / max(1, len(groups) * len(recipes))
    options: list[list[list[Run]]] = []
    infeasible: list[Infeasible] = []
    for gi, (school, bus_type, stops) in enumerate(groups):
        alts: list[list[Run]] = []
        seen: set[tuple] = set()
        for rec in recipes:
            rec = RunOptions(rec.ride_factor, rec.run_cost, rec.seed + seed)
            runs, bad = school_runs(data, school, stops, session=session, bus_type=bus_type, options=rec, solver=solver, time_limit=per_vrp)
            if not alts:
                infeasible += bad
            key = tuple(sorted(r.stops for r in runs))
            if runs and key not in seen:
                seen.add(key)
                alts.append(runs)
        if alts:
            options.append(alts)
        if progress:
            progress(f"runs for school {data.schools[school].id}", 0.7 * (gi + 1) / len(groups))
    routing_s = time.perf_counter() - t0
    info: dict[str, object] = {}
    if options:
        remaining = max(1.0, t0 + 0.95 * time_limit - time.perf_counter())
        if progress:
            progress("choosing run sets jointly with the chaining", 0.75)
        choice, info = _Selector(data, options).choose(time_limit=remaining)
        chosen = [r for g, alts in enumerate(options) for r in alts[choice[g]]]
    else:
        chosen = []
    buses = chain(data, chosen)
    if progress:
        progress(f"{len(buses)} buses", 1.0)
    stats = {
        "seconds": time.perf_counter() - t0,
        "routing_seconds": routing_s,
        "alternatives": sum(len(a) for a in options),
        "groups": len(options),
        **info,
        "solver": solver,
    }
    log.info("%s: %d buses, %d runs in %.1f s", data.name, len(buses), len(chosen), stats["seconds"])
    return BusPlan(data, session, tuple(chosen), tuple(buses), tuple(infeasible), stats)
