"""Buses, not runs: chain runs onto as few buses as possible, and choose each school's runs.

:func:`chain` is exact: a bus drives a chain of runs, a run may follow another when the bus can
deadhead from the end of one to the start of the next in time, so the fewest buses is the number
of runs minus a maximum matching of "run i then run j" pairs; a min-cost flow (OR-Tools) finds,
among all plans with that many buses, the one with the least deadhead (yards included).

:func:`solve` is the whole engine: several run sets per school (:class:`~routing.runs.RunOptions`:
fewest long runs, shorter runs under a tighter ride limit, cheaper runs, runs that start where
buses come from, other seeds); an integer program then picks runs from all of them, jointly
with the chaining (BiRD's scenario selection taken down to single runs, so a school's runs may
come from several sets), solved by price-and-branch over the runs its linear relaxation uses;
riders carried twice keep their first run only; then the exact min-cost chaining of the chosen
runs."""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from routing.problem import Bus, BusPlan, Infeasible, ProblemData, Run, Session
from routing.runs import RunOptions, SchoolVrp, VrpInput, greedy_routes, mixed_run, runs_from_routes, school_vrp, shared_vrp, single_run, solve_vrp

__all__ = ["chain", "min_buses", "solve", "mix_loads", "routing_budget", "DEFAULT_ALTERNATIVES", "SECONDS_PER_CLIENT_ITERATION", "Progress"]

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
    RunOptions(ride_factor=0.9, run_cost=7200.0, seed=5),
    RunOptions(ride_factor=0.75, run_cost=7200.0, seed=6),
    RunOptions(ride_factor=1.0, run_cost=7200.0, seed=7, deadhead_weight=1.0),
    RunOptions(ride_factor=0.8, run_cost=7200.0, seed=8, deadhead_weight=1.0),
    RunOptions(ride_factor=0.95, run_cost=7200.0, seed=9),
    RunOptions(ride_factor=0.65, run_cost=7200.0, seed=10),
    RunOptions(ride_factor=0.55, run_cost=7200.0, seed=11),
    RunOptions(ride_factor=0.3, run_cost=7200.0, seed=12),
    RunOptions(ride_factor=1.0, run_cost=1800.0, seed=13),
    RunOptions(ride_factor=0.7, run_cost=7200.0, seed=14, deadhead_weight=1.0),
    RunOptions(ride_factor=0.9, run_cost=7200.0, seed=15, deadhead_weight=1.0),
    RunOptions(ride_factor=0.45, run_cost=7200.0, seed=16),
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
    """Choose runs among all run sets' runs, covering every rider, jointly with the chaining, to need
    the fewest buses.

    An integer program (HiGHS through :mod:`scipy.optimize`), the scenario selection of BiRD taken
    down to single runs, so that runs of several of a school's run sets combine. Runs that end at
    the same place and time (an AM school's runs, all ending at its bell) free their buses into one
    *pool*; a bus may wait in place for the next pool at the same place (a *waiting* arc), so a run
    only needs an arc from the latest pool of each place that reaches it in time — the same plans
    as arcs from every such pool, with far fewer arcs. ``y[j]`` picks run ``j``; ``x[p, j]`` sends
    a bus from pool ``p`` to run ``j``; ``w[p]`` keeps buses waiting from ``p`` to the next pool;
    ``z[j]`` sends a new bus from the yard. Every chosen run gets exactly one bus, a pool gives at
    most the buses its chosen runs freed plus those waiting into it, every stop's riders are carried
    at least once (:func:`_drop_repeats` then drops the extra visits), and the objective is
    ``sum(z)``, the buses, then fewer runs. Only ``y`` needs to be integer: given ``y`` the rest is
    a transportation problem.

    :meth:`choose` solves the linear relaxation (interior point: the program has tens of
    thousands of runs when schools have arrival windows) for a lower bound, then the integer
    program over the runs the relaxation uses (price-and-branch: a restricted program that is
    always feasible, since those runs cover every rider, and solves in seconds), and over those
    plus the whole run sets the relaxation leans on most (at most :data:`RESTRICTED_RUNS` runs);
    the better plan wins.
    """

    def __init__(self, data: ProblemData, options: Sequence[tuple[tuple[int, ...], list[Run]]]) -> None:
        index: dict[tuple, int] = {}
        self.runs: list[Run] = []
        #: each run set's runs (indices into :attr:`runs`, which holds every distinct run once)
        self.sets: list[np.ndarray] = []
        for _, rs in options:
            for r in rs:
                if index.setdefault((r.visits, r.bus_type), len(self.runs)) == len(self.runs):
                    self.runs.append(r)
            self.sets.append(np.array([index[(r.visits, r.bus_type)] for r in rs], dtype=int))
        keys = [(r.end_location, round(r.end, 3), r.bus_type) for r in self.runs]
        pool_of: dict[tuple, int] = {}
        self.pool_of_run = np.array([pool_of.setdefault(k, len(pool_of)) for k in keys], dtype=int)
        pools = list(pool_of)
        self.n_pools = len(pools)
        # pools at one place (and bus type) in time order; a bus waits from each to the next
        places: dict[tuple[int, int], list[int]] = {}
        for p in sorted(range(self.n_pools), key=lambda p: pools[p][1]):
            places.setdefault((pools[p][0], pools[p][2]), []).append(p)
        place = np.zeros(self.n_pools, dtype=int)
        rank = np.zeros(self.n_pools, dtype=int)
        waits = []
        for g, ps in enumerate(places.values()):
            place[ps], rank[ps] = g, np.arange(len(ps))
            waits += zip(ps[:-1], ps[1:])
        self.waits = np.array(waits, dtype=int).reshape(-1, 2)
        p_loc = np.array([k[0] for k in pools], dtype=int)
        p_end = np.array([k[1] for k in pools])
        p_type = np.array([k[2] for k in pools], dtype=int)
        start = np.array([r.start for r in self.runs])
        s_loc = np.array([r.start_location for r in self.runs], dtype=int)
        types = np.array([r.bus_type for r in self.runs], dtype=int)
        ok = (p_end[:, None] + data.durations[np.ix_(p_loc, s_loc)] <= start[None, :] + 1e-6) & (p_type[:, None] == types[None, :])
        ap, aj = np.nonzero(ok)
        # for each run, the latest reaching pool of each place
        order = np.lexsort((-rank[ap], place[ap], aj))
        ap, aj = ap[order], aj[order]
        latest = np.ones(len(ap), dtype=bool)
        latest[1:] = (aj[1:] != aj[:-1]) | (place[ap[1:]] != place[ap[:-1]])
        self.arcs = (ap[latest], aj[latest])
        visits = [(v.stop, j, v.students) for j, r in enumerate(self.runs) for v in r.visits if v.stop is not None]
        self.cover = tuple(np.array(col) for col in zip(*visits))
        self.need = np.zeros(len(data.stops))
        self.need[self.cover[0]] = [data.stops[k].students for k in self.cover[0]]

    def _program(self) -> tuple[np.ndarray, csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """``c, A, lo, hi, ub`` over the variables ``y (n) | x (arcs) | z (n) | w (waits)``; the
        rows: one per run (buses in == chosen), per pool (buses out <= freed), per stop (riders)."""
        from scipy.sparse import coo_matrix

        n, P, S = len(self.runs), self.n_pools, len(self.need)
        ap, aj = self.arcs
        m, k = len(ap), len(self.waits)
        X, Z, W = n, n + m, 2 * n + m
        stop, col, riders = self.cover
        wf, wt = self.waits.T
        rows = [aj, np.arange(n), np.arange(n), n + ap, n + self.pool_of_run, n + wf, n + wt, n + P + stop]
        cols = [X + np.arange(m), Z + np.arange(n), np.arange(n), X + np.arange(m), np.arange(n), W + np.arange(k), W + np.arange(k), col]
        vals = [np.ones(m), np.ones(n), -np.ones(n), np.ones(m), -np.ones(n), np.ones(k), -np.ones(k), riders.astype(float)]
        A = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n + P + S, W + k)).tocsr()
        lo = np.concatenate([np.zeros(n), np.full(P, -np.inf), self.need])
        hi = np.concatenate([np.zeros(n), np.zeros(P), np.full(S, np.inf)])
        c = np.zeros(W + k)
        c[:n] = 1e-3  # among plans with the fewest buses, fewer runs
        c[Z:W] = 1.0
        ub = np.ones(W + k)
        ub[W:] = np.inf
        return c, A, lo, hi, ub

    def choose(self, *, time_limit: float) -> tuple[list[int], dict[str, object]]:
        """The runs chosen (indices into :attr:`runs`) and solver details; none without a solution in time."""
        from scipy.optimize import Bounds, LinearConstraint, linprog, milp
        from scipy.sparse import vstack

        t0 = time.perf_counter()
        n, P = len(self.runs), self.n_pools
        c, A, lo, hi, ub = self._program()
        info: dict[str, object] = {"runs_offered": n, "arcs": len(self.arcs[0])}
        # the relaxation: run and pool rows as they are, riders as -A y <= -need
        lp = linprog(c, A_ub=vstack([A[n : n + P], -A[n + P :]]), b_ub=np.concatenate([hi[n : n + P], -lo[n + P :]]), A_eq=A[:n], b_eq=lo[:n], bounds=np.column_stack([np.zeros_like(ub), ub]), method="highs-ipm", options={"time_limit": max(1.0, 0.7 * time_limit)})
        masks = [np.ones(n, dtype=bool)]  # without a relaxation in time: the whole program
        if lp.status == 0:
            info["lp_bound"] = round(float(lp.fun), 3)
            masks = self._restrictions(lp.x[:n])
        best = None
        for mask in masks:
            left = time_limit - (time.perf_counter() - t0)
            if best is not None and left < 1.0:
                break
            restricted = ub.copy()
            restricted[:n] *= mask
            # a node budget stops the search reproducibly; the clock is a safety net
            res = milp(c, constraints=LinearConstraint(A, lo, hi), integrality=np.concatenate([np.ones(n), np.zeros(len(c) - n)]), bounds=Bounds(0, restricted), options={"time_limit": max(1.0, left), "node_limit": MIP_NODES, "disp": False})
            if res.x is not None and (best is None or res.fun < best[0].fun - 1e-9):
                best = (res, int(mask.sum()))
        if best is None:
            return [], {**info, "mip_status": res.message}
        res, size = best
        info["mip_status"] = res.message
        Z = n + len(self.arcs[0])
        return [j for j in range(n) if res.x[j] > 0.5], {**info, "mip_buses": round(float(res.x[Z : Z + n].sum())), "runs_in_program": size}

    def _restrictions(self, y: np.ndarray) -> list[np.ndarray]:
        """The runs the relaxation ``y`` uses; then those plus the whole run sets it leans on
        most, up to :data:`RESTRICTED_RUNS` runs (when that adds any)."""
        used = y > 1e-6
        wider = used.copy()
        mass = np.array([y[s].sum() for s in self.sets])
        for a in np.argsort(-mass, kind="stable"):
            if mass[a] <= 1e-6:
                break
            more = wider.copy()
            more[self.sets[a]] = True
            if more.sum() <= RESTRICTED_RUNS:
                wider = more
        return [used, wider] if wider.sum() > used.sum() else [used]


#: The most runs in the second restricted integer program of the run selection.
RESTRICTED_RUNS = 2000


def _first_sets(options: Sequence[tuple[tuple[int, ...], list[Run]]]) -> list[int]:
    """The first run set of each group (single loads): a fallback choice."""
    first: dict[int, int] = {}
    for a, (groups, _) in enumerate(options):
        if len(groups) == 1:
            first.setdefault(groups[0], a)
    return sorted(first.values())


#: Earlier times offered for each run of a school with an arrival window (besides its bell).
WINDOW_STEPS = 2


def _shifted(run: Run, delta: float) -> Run:
    return Run(run.session, tuple(replace(v, start=v.start + delta, end=v.end + delta) for v in run.visits), run.bus_type)


def _within_windows(data: ProblemData, options: list[tuple[tuple[int, ...], list[Run]]]) -> list[tuple[tuple[int, ...], list[Run]]]:
    """The run sets, plus each single school's AM set unloading earlier within the school's
    arrival window (``am_window``), in :data:`WINDOW_STEPS` steps: the integer program then
    also chooses when each run arrives."""
    out = list(options)
    for covers, runs in options:
        schools = {s for r in runs for s in r.schools}
        if len(schools) != 1 or runs[0].session != "am" or (window := data.schools[schools.pop()].am_window) <= 0:
            continue
        out += [(covers, [_shifted(r, -window * k / WINDOW_STEPS) for r in runs]) for k in range(1, WINDOW_STEPS + 1)]
    return out


def _drop_repeats(data: ProblemData, runs: Sequence[Run]) -> list[Run]:
    """Runs covering some riders twice, made to carry each rider once: a visit keeps only the
    riders no earlier run (longest first) carries; a run left empty is dropped. Dropping riders
    never breaks a run (its other riders ride no longer) nor a chain (the run starts no earlier,
    ends no later, and the triangle inequality covers the new first or last stop)."""
    left = {k: st.students for k, st in enumerate(data.stops)}
    out = []
    for run in sorted(runs, key=lambda r: (-(r.end - r.start), r.start, r.stops)):
        pieces = []
        for v in run.visits:
            if v.stop is not None and left[v.stop] > 0:
                n = min(v.students, left[v.stop])
                left[v.stop] -= n
                pieces.append((v.stop, n))
        if pieces == [(v.stop, v.students) for v in run.visits if v.stop is not None]:
            out.append(run)
        elif pieces:
            if run.session == "am" and len(run.schools) > 1:
                on = {data.stops[k].school for k, _ in pieces}
                new = mixed_run(data, pieces, [s for s in run.schools if s in on], run.bus_type)
            else:
                new = single_run(data, run.schools[0], pieces, run.session, run.bus_type)
            assert new is not None, "fewer riders keep a run feasible"
            # keep the run's place in time (it may unload early in an arrival window)
            out.append(_shifted(new, run.end - new.end if run.session == "am" else run.start - new.start))
    return out


#: Branch-and-bound nodes of the run selection (a reproducible stop).
MIP_NODES = 500

#: Seconds per client and iteration of PyVRP on a school VRP (measured on the benchmark, 2 cores
#: shared); converts a time limit into an iteration budget.
SECONDS_PER_CLIENT_ITERATION = 3.5e-5


def routing_budget(time_limit: float, clients: int, *, workers: int = 2, share: float = 0.6) -> int:
    """Iterations per school VRP so that ``clients`` clients (summed over all VRPs) fit in
    ``share`` of ``time_limit`` on ``workers`` processes; at least 50, at most 20,000."""
    budget = share * time_limit * max(1, workers) / (SECONDS_PER_CLIENT_ITERATION * max(1, clients))
    return int(min(20_000, max(50, budget)))


def _solve_task(task: tuple[VrpInput, str, int, int, float]) -> list[list[int]]:
    inp, solver, seed, iterations, deadline = task
    # the clock is only a safety net: 4x the expected time, and never past the deadline
    expected = 4 * SECONDS_PER_CLIENT_ITERATION * inp.n * iterations
    limit = max(0.05, min(expected + 0.5, deadline - time.time()))
    return solve_vrp(inp, solver=solver, time_limit=limit, seed=seed, iterations=iterations)


def _solve_all(problems: list[SchoolVrp], seeds: list[int], *, solver: str, iterations: int, deadline: float, workers: int, progress: Progress | None) -> list[list[list[int]]]:
    """Routes of every school VRP, in ``workers`` processes (the same routes for any ``workers``)."""
    tasks = [(p.vrp, solver, sd, iterations, deadline) for p, sd in zip(problems, seeds)]
    out: list[list[list[int]]] = [[] for _ in tasks]
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i][0].n)  # largest first: balanced
    if workers > 1 and len(tasks) > 2 * workers:
        ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_solve_task, tasks[i]): i for i in order}
            for done, fut in enumerate(as_completed(futures), 1):
                out[futures[fut]] = fut.result()
                if progress and done % max(1, len(tasks) // 20) == 0:
                    progress(f"school runs: {done} of {len(tasks)} routing problems", 0.6 * done / len(tasks))
    else:
        for done, i in enumerate(order, 1):
            out[i] = _solve_task(tasks[i])
            if progress and done % max(1, len(tasks) // 20) == 0:
                progress(f"school runs: {done} of {len(tasks)} routing problems", 0.6 * done / len(tasks))
    for i, routes in enumerate(out):
        if not routes:  # OR-Tools without a first solution: the feasible greedy start
            out[i] = greedy_routes(tasks[i][0])
    return out


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
        stops, :func:`routing_budget`), so the plan does not depend on the machine's speed; the
        clock only stops a search that runs far over its expected time.
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
    recipes = list(DEFAULT_ALTERNATIVES[: max(1, alternatives)]) if isinstance(alternatives, int) else list(alternatives)
    groups = _groups(data, session)
    problems: list[SchoolVrp] = []
    seeds: list[int] = []
    covers: list[tuple[int, ...]] = []
    for g, (school, bus_type, stops) in enumerate(groups):
        for rec in recipes:
            problems.append(school_vrp(data, school, stops, session=session, bus_type=bus_type, ride_factor=rec.ride_factor, run_cost=rec.run_cost, deadhead_weight=rec.deadhead_weight))
            seeds.append(rec.seed + seed)
            covers.append((g,))
    infeasible: list[Infeasible] = [bad for p in problems[:: len(recipes)] for bad in p.infeasible]
    if mixed_loads:
        for pair in _shared_pairs(data, groups):
            shared = shared_vrp(data, [groups[g][0] for g in pair], groups[pair[0]][2] + groups[pair[1]][2], bus_type=groups[pair[0]][1], run_cost=recipes[0].run_cost)
            if shared is not None:
                problems.append(shared)
                seeds.append(recipes[0].seed + seed)
                covers.append(pair)
    solvable = [i for i, p in enumerate(problems) if p.vrp is not None]
    # the budget counts the single-school problems only: their run sets are the same with and without mixed loads
    iterations = routing_budget(time_limit, sum(problems[i].vrp.n for i in solvable if len(covers[i]) == 1), workers=workers)  # type: ignore[union-attr]
    routes = _solve_all([problems[i] for i in solvable], [seeds[i] for i in solvable], solver=solver, iterations=iterations, deadline=time.time() + 0.8 * time_limit, workers=workers, progress=progress)
    options: list[tuple[tuple[int, ...], list[Run]]] = []
    seen: set[tuple] = set()
    for i, r in zip(solvable, routes):
        runs = runs_from_routes(data, problems[i], r)
        key = (covers[i], tuple(sorted(run.stops for run in runs)))
        if runs and key not in seen:
            seen.add(key)
            options.append((covers[i], runs))
    routing_s = time.perf_counter() - t0
    info: dict[str, object] = {}
    if options:
        if progress:
            progress("choosing run sets jointly with the chaining", 0.75)
        plain = [r for a in _first_sets(options) for r in options[a][1]]
        selector = _Selector(data, _within_windows(data, options))
        cols, info = selector.choose(time_limit=t0 + 0.85 * time_limit - time.perf_counter())
        chosen = _drop_repeats(data, [selector.runs[c] for c in cols])
        if not cols or min_buses(data, plain) < min_buses(data, chosen):  # a search stopped early can do worse
            chosen, info["mip_status"] = plain, f"{info['mip_status']}; the first run sets chain onto fewer buses"
    else:
        chosen = []
    buses = chain(data, chosen)
    if progress:
        progress(f"{len(buses)} buses", 1.0)
    stats = {
        "seconds": time.perf_counter() - t0,
        "routing_seconds": routing_s,
        "iterations": iterations,
        "alternatives": len(options),
        "groups": len(groups),
        **info,
        "solver": solver,
    }
    plan = BusPlan(data, session, tuple(chosen), tuple(buses), tuple(infeasible), stats)
    if mixed_loads:
        plan = mix_loads(plan, time_limit=max(1.0, t0 + time_limit - time.perf_counter()), progress=progress)
    log.info("%s: %d buses, %d runs in %.1f s", data.name, plan.n_buses, len(plan.runs), time.perf_counter() - t0)
    return plan


#: Nearby schools whose riders may share runs: at most this many seconds apart ...
SHARED_TRAVEL = 300.0
#: ... and bells at most this many seconds apart (riders of the later school wait no longer).
SHARED_BELLS = 1800.0


def _shared_pairs(data: ProblemData, groups: Sequence[tuple[int, int, list[int]]]) -> list[tuple[int, int]]:
    """Pairs of groups (same bus type) at schools close enough, with near enough bells, to share
    runs; the earlier bell first."""
    out = []
    for g, (s, t, _) in enumerate(groups):
        for h, (u, w, _) in enumerate(groups):
            a, b = data.schools[s], data.schools[u]
            if g != h and t == w and s != u and (a.am_bell, s) < (b.am_bell, u) and b.am_bell - a.am_bell <= SHARED_BELLS and data.durations[a.location, b.location] <= SHARED_TRAVEL:
                out.append((g, h))
    return out


# ====================================================================== mixed loads
def _parts(run: Run) -> tuple[list[tuple[int, int]], list[int]]:
    return [(v.stop, v.students) for v in run.visits if v.stop is not None], [v.school for v in run.visits if v.stop is None]


class _Mixer:
    """Empties buses by moving their pickups into runs of other buses (any school), keeping every
    bus's chain of runs feasible: the local search of Park, Tae & Kim's mixed-load improvement."""

    def __init__(self, data: ProblemData, runs: Sequence[Run], buses: Sequence[Bus], candidates: int) -> None:
        self.data = data
        self.runs: list[Run | None] = list(runs)
        self.paths: list[list[int]] = [list(b.runs) for b in buses]
        self.bus_of = {r: b for b, p in enumerate(self.paths) for r in p}
        self.candidates = candidates

    def _fits_chain(self, r: int, run: Run) -> bool:
        T = self.data.durations
        path = self.paths[self.bus_of[r]]
        i = path.index(r)
        if i and (prev := self.runs[path[i - 1]]) is not None and prev.end + T[prev.end_location, run.start_location] > run.start + 1e-6:
            return False
        if i + 1 < len(path) and (nxt := self.runs[path[i + 1]]) is not None and run.end + T[run.end_location, nxt.start_location] > nxt.start + 1e-6:
            return False
        return True

    def _best_insertion(self, piece: tuple[int, int], bus: int, bus_type: int, limit_bell: float) -> tuple[int, Run] | None:
        data, T = self.data, self.data.durations
        k, n = piece
        st = data.stops[k]
        seats = data.bus_types[bus_type].seats
        cands = []
        for q, run in enumerate(self.runs):
            if run is None or self.bus_of[q] == bus or run.bus_type != bus_type or run.students + n > seats:
                continue
            if abs(run.visits[-1].end - limit_bell) > data.max_ride:
                continue
            near = min(T[st.location, v.location] for v in run.visits if v.stop is not None)
            cands.append((near, q))
        cands.sort()
        best: tuple[float, int, Run] | None = None
        for _, q in cands[: self.candidates]:
            run = self.runs[q]
            assert run is not None
            pickups, schools = _parts(run)
            orders = [schools] if st.school in schools else [schools[:j] + [st.school] + schools[j:] for j in range(len(schools) + 1)]
            for sch in orders:
                for i in range(len(pickups) + 1):
                    new = mixed_run(data, pickups[:i] + [piece] + pickups[i:], sch, bus_type)
                    if new is None or not self._fits_chain(q, new):
                        continue
                    cost = (new.end - new.start) - (run.end - run.start)
                    if best is None or cost < best[0]:
                        best = (cost, q, new)
        return None if best is None else (best[1], best[2])

    def empty_bus(self, bus: int) -> bool:
        """Move every pickup of ``bus`` elsewhere, or change nothing; whether it worked."""
        saved = {}
        for r in self.paths[bus]:
            run = self.runs[r]
            assert run is not None
            pickups, _ = _parts(run)
            for piece in sorted(pickups, key=lambda p: -p[1]):
                got = self._best_insertion(piece, bus, run.bus_type, run.end)
                if got is None:
                    for q, old in saved.items():
                        self.runs[q] = old
                    return False
                q, new = got
                saved.setdefault(q, self.runs[q])
                self.runs[q] = new
        for r in self.paths[bus]:
            self.runs[r] = None
        self.paths[bus] = []
        return True


def mix_loads(plan: BusPlan, *, time_limit: float = 60.0, candidates: int = 8, progress: Progress | None = None) -> BusPlan:
    """Mixed loads: a run may carry students of several schools when bells and places allow.

    Starting from a single-load AM plan, buses with the fewest runs are emptied one at a time by
    moving each pickup into a run of another bus (of any school: the run then also unloads at
    that school, in the order that meets every bell) wherever the ride limit, the seats and that
    bus's chain allow; then the runs are chained again exactly. The result never needs more buses
    than ``plan``. Deterministic: passes end when a pass empties no bus (the clock is a safety net).

    Parameters
    ----------
    plan
        A single-load AM plan (e.g. from :func:`solve`).
    time_limit
        Seconds at most.
    candidates
        Runs tried for each pickup (the nearest ones).
    progress
        Called as ``progress(message, fraction_done)``.

    Returns
    -------
    BusPlan
        The mixed-load plan, with ``stats["buses_before_mixing"]``.
    """
    if plan.session != "am":
        raise ValueError("mixed loads are implemented for AM plans; solve the PM session with single loads")
    return _empty_buses(plan, time_limit=time_limit, candidates=candidates, progress=progress)


def _empty_buses(plan: BusPlan, *, time_limit: float, candidates: int, progress: Progress | None) -> BusPlan:
    t0 = time.perf_counter()
    data = plan.data
    runs, buses = list(plan.runs), list(plan.buses)
    passes = 0
    while time.perf_counter() - t0 < time_limit:
        passes += 1
        mixer = _Mixer(data, runs, buses, candidates)
        order = sorted(range(len(buses)), key=lambda b: (len(buses[b].runs), sum(runs[r].students for r in buses[b].runs), b))
        for b in order:
            if time.perf_counter() - t0 > time_limit:
                break
            mixer.empty_bus(b)
        new_runs = [r for r in mixer.runs if r is not None]
        new_buses = chain(data, new_runs)
        if len(new_buses) >= len(buses):
            break
        runs, buses = new_runs, new_buses
        if progress:
            progress(f"mixed loads: {len(buses)} buses after pass {passes}", min(1.0, (time.perf_counter() - t0) / time_limit))
    stats = {**plan.stats, "buses_before_mixing": plan.n_buses, "mixing_seconds": time.perf_counter() - t0, "mixed_runs": sum(len(r.schools) > 1 for r in runs)}
    return BusPlan(data, plan.session, tuple(runs), tuple(buses), plan.infeasible, stats)
