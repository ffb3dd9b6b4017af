"""Run selection: several run sets per school, and the runs chosen among them jointly with the chaining.

:func:`run_sets` cuts every school's riders into runs several ways (:data:`DEFAULT_ALTERNATIVES`:
fewest long runs, shorter runs under a tighter ride limit, cheaper runs, runs that start where
buses come from, other seeds), each school VRP stopped by an iteration budget
(:func:`routing_budget`). Runs of a school do not depend on its bells: moving a bell moves them
(:meth:`routing.problem.Run.shifted`), so the run sets are cut once per city and
:func:`select_runs` chooses among them for any bell times: an integer program picks runs from all
sets jointly with the chaining (BiRD's scenario selection taken down to single runs, so a school's
runs may come from several sets), solved by price-and-branch over the runs its linear relaxation
uses and stopped by a node budget, or as soon as a plan needs the relaxation's buses rounded up
(then the fewest possible); riders carried twice keep their first run only.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix

from routing.budget import Deadline
from routing.chaining import can_follow, min_buses
from routing.data import ProblemData
from routing.mixing import shared_pairs
from routing.plan import Infeasible, Run, Session, Visit
from routing.runs import (
    RunOptions,
    SchoolVrp,
    VrpInput,
    greedy_routes,
    mixed_run,
    runs_from_routes,
    school_vrp,
    shared_vrp,
    single_run,
    solve_vrp_capped,
)

__all__ = [
    "DEFAULT_ALTERNATIVES",
    "SECONDS_PER_CLIENT_ITERATION",
    "MIP_NODES",
    "FIRST_NODES",
    "RESTRICTED_RUNS",
    "WINDOW_STEPS",
    "routing_budget",
    "Option",
    "RunSets",
    "run_sets",
    "select_runs",
]

#: ``progress(message, fraction_done)``.
Progress = Callable[[str, float], None]
#: A run set: the groups (school and lift need) whose riders it carries, and its runs.
Option = tuple[tuple[int, ...], list[Run]]

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


def _groups(data: ProblemData, session: Session) -> list[tuple[int, int, list[int]]]:
    """``(school, bus_type, stops)`` for every school and lift need that has riders."""
    by: dict[tuple[int, bool], list[int]] = {}
    for k, st in enumerate(data.stops):
        by.setdefault((st.school, st.needs_lift), []).append(k)
    return [(s, data.bus_type_for(lift=lift), stops) for (s, lift), stops in sorted(by.items())]


class _Selector:
    """Choose runs among all run sets' runs, covering every rider, jointly with the chaining, to need
    the fewest buses.

    An integer program (HiGHS), the scenario selection of BiRD taken
    down to single runs, so that runs of several of a school's run sets combine. Runs that end at
    the same place and time (an AM school's runs, all ending at its bell) free their buses into one
    *end pool*; runs that start at the same place and time (a PM school's runs, all leaving at its
    dismissal) take their buses from one *start pool*. A bus may wait in place for the next pool
    at the same place (a *waiting* arc), so an end pool only needs a deadhead arc to the earliest
    start pool of each place it reaches, and only when no later end pool of its own place reaches
    that pool too: the same plans as arcs between every pair of runs, with far fewer arcs (about
    runs × schools instead of runs², in the morning and the afternoon alike).

    ``y[j]`` picks run ``j``; ``z[q]`` brings new buses from the yard to start pool ``q``;
    ``x[p, q]`` sends buses from end pool ``p`` to start pool ``q``; ``u`` and ``v`` keep buses
    waiting from an end pool, or a start pool, to the next at the same place. A start pool gives
    its chosen runs at most the buses that reach it, an end pool sends on at most the buses its
    chosen runs freed and those waiting into it, every stop's riders are carried at least once
    (:func:`_drop_repeats` then drops the extra visits), and the objective is ``sum(z)``, the
    buses, then fewer runs. Only ``y`` needs to be integer: given ``y`` the rest is a network flow.

    :meth:`choose` solves the linear relaxation (interior point: the program has tens of
    thousands of runs when schools have arrival windows) for a lower bound, then the integer
    program (HiGHS through ``highspy``) over the runs the relaxation uses (price-and-branch: a
    restricted program that is always feasible, since those runs cover every rider) for
    :data:`FIRST_NODES` nodes, then, unless that reached the bound, over those plus the whole run
    sets the relaxation leans on most, at most :data:`RESTRICTED_RUNS` runs. Each search stops after
    its node budget (:data:`MIP_NODES` for the wider) or at the first plan that needs the
    relaxation's buses rounded up: no plan needs fewer, so its buses are optimal, while "fewer runs"
    may then be left at a gap (the target counts runs at a thousandth of a bus, so it applies to
    plans of fewer than 1,000 runs).
    """

    def __init__(self, data: ProblemData, options: Sequence[tuple[tuple[int, ...], list[Run]]]) -> None:
        index: dict[tuple[tuple[Visit, ...], int], int] = {}
        self.runs: list[Run] = []
        #: each run set's runs (indices into :attr:`runs`, which holds every distinct run once)
        self.sets: list[np.ndarray] = []
        for _, rs in options:
            for r in rs:
                if index.setdefault((r.visits, r.bus_type), len(self.runs)) == len(self.runs):
                    self.runs.append(r)
            self.sets.append(np.array([index[(r.visits, r.bus_type)] for r in rs], dtype=np.intp))
        ends = _Pools([(r.end_location, round(r.end, 3), r.bus_type) for r in self.runs])
        starts = _Pools([(r.start_location, round(r.start, 3), r.bus_type) for r in self.runs])
        #: end pool and start pool of each run
        self.end_pool, self.start_pool = ends.of_item, starts.of_item
        self.n_ends, self.n_starts = ends.n, starts.n
        #: ``(from, to)`` waiting arcs between end pools, and between start pools
        self.end_waits, self.start_waits = ends.waits, starts.waits
        self.arcs = _deadheads(data, ends, starts)
        visits = [
            (v.stop, j, v.students) for j, r in enumerate(self.runs) for v in r.visits if v.stop is not None
        ]
        stop, col, riders = (np.array(c, dtype=np.intp) for c in zip(*visits))
        self.cover = (stop, col, riders)
        self.need = np.zeros(len(data.stops))
        self.need[stop] = [data.stops[k].students for k in stop]

    def _program(self) -> tuple[np.ndarray, csr_matrix, np.ndarray, np.ndarray]:
        """``c, A, lo, ub``: minimize ``c @ v`` subject to ``A @ v >= lo`` and ``0 <= v <= ub`` over the
        variables ``y (runs) | z (start pools) | x (arcs) | u (end waits) | v (start waits)``; the
        rows: one per end pool (buses freed and waiting in >= sent on), per start pool (buses in >=
        chosen runs and waiting on), per stop (riders)."""
        n, E, S, R = len(self.runs), self.n_ends, self.n_starts, len(self.need)
        ap, aq = self.arcs
        m, ku, kv = len(ap), len(self.end_waits), len(self.start_waits)
        Z = n
        X = Z + S
        U = X + m
        V = U + ku
        uf, ut = self.end_waits.T
        vf, vt = self.start_waits.T
        stop, col, riders = self.cover
        run, arc = np.arange(n), np.arange(m)
        parts = [  # (rows, columns, value)
            (self.end_pool, run, 1.0),
            (ap, X + arc, -1.0),
            (ut, U + np.arange(ku), 1.0),
            (uf, U + np.arange(ku), -1.0),
            (E + np.arange(S), Z + np.arange(S), 1.0),
            (E + aq, X + arc, 1.0),
            (E + vt, V + np.arange(kv), 1.0),
            (E + vf, V + np.arange(kv), -1.0),
            (E + self.start_pool, run, -1.0),
            (E + S + stop, col, riders.astype(float)),
        ]
        rows = np.concatenate([r for r, _, _ in parts])
        cols = np.concatenate([c for _, c, _ in parts])
        vals = np.concatenate([np.broadcast_to(np.asarray(v, dtype=float), len(r)) for r, _, v in parts])
        A = coo_matrix((vals, (rows, cols)), shape=(E + S + R, V + kv)).tocsr()
        lo = np.concatenate([np.zeros(E + S), self.need])
        c = np.zeros(V + kv)
        c[:n] = 1e-3  # among plans with the fewest buses, fewer runs
        c[Z:X] = 1.0
        ub = np.full(V + kv, np.inf)
        ub[:n] = 1.0
        return c, A, lo, ub

    def choose(self, *, deadline: Deadline, nodes: int = 0) -> tuple[list[int], dict[str, object]]:
        """The runs chosen (indices into :attr:`runs`) and solver details; none without a solution.

        Deterministic: the relaxation runs to optimality and each integer program stops after its
        node budget (``nodes`` for the wider, default :data:`MIP_NODES`) or at a plan with the bound's
        buses (``info["bus_bound"]``; ``info["mip_status"]`` then says the target was reached);
        ``deadline`` is only a safety cap (``info["clock_cap"]`` is true when it stopped a solver).
        """
        n = len(self.runs)
        c, A, lo, ub = self._program()
        info: dict[str, object] = {"runs_offered": n, "arcs": len(self.arcs[0])}
        # the relaxation by interior point (the program has tens of thousands of runs when schools
        # have arrival windows), then crossover to a vertex: few runs used
        lp = _solve(c, A, lo, ub, 0, deadline=deadline, options={"solver": "ipm"})
        masks = [np.ones(n, dtype=bool)]  # without a relaxation: the whole program
        capped = lp.clock_cap
        target = -math.inf
        if lp.optimal and lp.x is not None:
            info["lp_bound"] = round(lp.fun, 3)
            used, wider = lp.x[:n] > 1e-6, self._restriction(lp.x[:n])
            masks = [used, wider] if wider.sum() > used.sum() else [wider]
            # the relaxation's buses, rounded up: no plan needs fewer, so a plan that needs that many
            # stops the search (its buses are optimal; fewer runs may be left at a gap)
            fewest = math.ceil(float(lp.x[n : n + self.n_starts].sum()) - 1e-6)
            info["bus_bound"] = fewest
            target = fewest + 1.0 - 1e-6
        best: _Solved | None = None
        size = 0
        for k, mask in enumerate(masks):
            if best is not None and best.fun < target:
                break  # buses at the bound: a wider program cannot need fewer
            restricted = ub.copy()
            restricted[:n] *= mask
            # a node budget or the bound stops the search reproducibly; the clock is a safety cap
            last = k == len(masks) - 1
            budget = (nodes or MIP_NODES) if last else FIRST_NODES
            options = _mip_options(budget, target, wider=last and len(masks) > 1)
            res = _solve(c, A, lo, restricted, n, deadline=deadline, options=options)
            capped = capped or res.clock_cap
            if best is None or res.fun < best.fun - 1e-9:
                best, size = res, int(mask.sum())
        assert best is not None
        info.update(clock_cap=capped, mip_status=best.status, mip_nodes=best.nodes)
        if best.x is None:
            return [], info
        return [j for j in range(n) if best.x[j] > 0.5], {
            **info,
            "mip_buses": round(float(best.x[n : n + self.n_starts].sum())),
            "runs_in_program": size,
        }

    def _restriction(self, y: np.ndarray) -> np.ndarray:
        """The runs the relaxation ``y`` uses, plus the whole run sets it leans on most, up to
        :data:`RESTRICTED_RUNS` runs (those it uses are always in)."""
        wider = y > 1e-6
        mass = np.array([y[s].sum() for s in self.sets])
        for a in np.argsort(-mass, kind="stable"):
            if mass[a] <= 1e-6:
                break
            more = wider.copy()
            more[self.sets[a]] = True
            if more.sum() <= RESTRICTED_RUNS:
                wider = more
        return wider


@dataclass(frozen=True)
class _Solved:
    """A HiGHS solve's end: its best solution (``None`` without one), objective, status, whether it
    is optimal, branch-and-bound nodes and whether the clock cap stopped it."""

    x: np.ndarray | None
    fun: float
    status: str
    optimal: bool
    nodes: int
    clock_cap: bool


def _mip_options(nodes: int, target: float, *, wider: bool) -> dict[str, object]:
    """HiGHS options of the selection's integer programs: stop after ``nodes`` branch-and-bound nodes
    or as soon as a plan's objective is below ``target`` (both reproducible)."""
    return {
        "mip_max_nodes": int(nodes),
        "objective_target": float(target),
        # the root's sub-MIP heuristics cost most of the time here and found no better plans (on BPS
        # 2017 and the Boston-scale Riverton); the wider program's plans come from its first dives
        "mip_heuristic_run_rens": False,
        "mip_heuristic_run_rins": False,
        "mip_heuristic_run_root_reduced_cost": not wider,
    }


def _solve(
    c: np.ndarray,
    A: csr_matrix,
    lo: np.ndarray,
    ub: np.ndarray,
    n: int,
    *,
    deadline: Deadline,
    options: dict[str, object],
) -> _Solved:
    """Minimize ``c @ v`` subject to ``A @ v >= lo``, ``0 <= v <= ub``, the first ``n`` variables
    integer, with HiGHS (``highspy``, one version and one thread: the same search on any machine)
    and its ``options``; the ``deadline`` is a safety cap, said in the result."""
    import highspy

    h = highspy.Highs()
    for key, value in {"output_flag": False, "threads": 1, **options}.items():
        h.setOptionValue(key, value)
    h.setOptionValue("time_limit", max(0.0, deadline.left()))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(c), A.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = c, np.zeros(len(c)), ub
    lp.row_lower_, lp.row_upper_ = lo, np.full(A.shape[0], highspy.kHighsInf)
    csc = A.tocsc()
    csc.sort_indices()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(c), A.shape[0]
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = csc.indptr, csc.indices, csc.data
    if n:
        kinds = [highspy.HighsVarType.kInteger] * n + [highspy.HighsVarType.kContinuous] * (len(c) - n)
        lp.integrality_ = kinds
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    feasible = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    return _Solved(
        np.asarray(h.getSolution().col_value) if feasible else None,
        float(info.objective_function_value) if feasible else math.inf,
        h.modelStatusToString(status),
        status == highspy.HighsModelStatus.kOptimal,
        int(info.mip_node_count) if n else 0,
        status == highspy.HighsModelStatus.kTimeLimit and deadline.passed(),
    )


class _Pools:
    """Items (runs) grouped into pools by ``(place, time, bus type)``, and the waiting arcs from each
    pool to the next one in time at the same place and bus type.

    Attributes
    ----------
    of_item
        Each item's pool.
    n
        Pools.
    location, time, bus_type
        Per pool.
    place, rank
        Per pool: its place (location and bus type) and its rank in time among the place's pools.
    waits
        ``(from, to)`` pool pairs, shape ``(k, 2)``.
    """

    def __init__(self, keys: Sequence[tuple[int, float, int]]) -> None:
        index: dict[tuple[int, float, int], int] = {}
        self.of_item = np.array([index.setdefault(k, len(index)) for k in keys], dtype=np.intp)
        pools = list(index)
        self.n = len(pools)
        self.location = np.array([k[0] for k in pools], dtype=np.intp)
        self.time = np.array([k[1] for k in pools], dtype=float)
        self.bus_type = np.array([k[2] for k in pools], dtype=np.intp)
        order = np.lexsort((self.time, self.bus_type, self.location))
        loc, kind = self.location[order], self.bus_type[order]
        same = (loc[1:] == loc[:-1]) & (kind[1:] == kind[:-1])
        self.waits = np.column_stack([order[:-1][same], order[1:][same]]).reshape(-1, 2)
        group = np.concatenate([[0], np.cumsum(~same)]).astype(np.intp)
        first = np.flatnonzero(np.concatenate([[True], ~same]))
        self.place = np.empty(self.n, dtype=np.intp)
        self.rank = np.empty(self.n, dtype=np.intp)
        self.place[order] = group
        self.rank[order] = np.arange(self.n) - first[group]


#: Pool pairs tested at once when finding the deadhead arcs (bounds the memory of the test).
_BLOCK = 2_000_000


def _deadheads(data: ProblemData, ends: _Pools, starts: _Pools) -> tuple[np.ndarray, np.ndarray]:
    """The deadhead arcs ``(end pool, start pool)`` of the selection (see :class:`_Selector`): a bus
    of the end pool's type reaches the start pool in time (:func:`~routing.chaining.can_follow`);
    the latest end pool of its place that does so, and the earliest start pool of its place it
    reaches. Every other reaching pair is a wait, that arc and a wait: the same plans."""
    uE, placeE = np.unique(ends.location, return_inverse=True)
    uS, placeS = np.unique(starts.location, return_inverse=True)
    drive = data.durations[np.ix_(uE, uS)]
    step = max(1, _BLOCK // max(1, starts.n))
    found = []
    for p0 in range(0, ends.n, step):
        p = np.arange(p0, min(ends.n, p0 + step))
        ok = can_follow(ends.time[p, None], drive[np.ix_(placeE[p], placeS)], starts.time[None, :])
        ok &= ends.bus_type[p, None] == starts.bus_type[None, :]
        a, b = np.nonzero(ok)
        found.append((p[a], b))
    ap = np.concatenate([a for a, _ in found]) if found else np.zeros(0, dtype=np.intp)
    aq = np.concatenate([b for _, b in found]) if found else np.zeros(0, dtype=np.intp)
    # for each start pool, the latest reaching end pool of each place
    order = np.lexsort((-ends.rank[ap], ends.place[ap], aq))
    ap, aq = ap[order], aq[order]
    keep = np.ones(len(ap), dtype=bool)
    keep[1:] = (aq[1:] != aq[:-1]) | (ends.place[ap[1:]] != ends.place[ap[:-1]])
    ap, aq = ap[keep], aq[keep]
    # then for each end pool, the earliest start pool it reaches of each place
    order = np.lexsort((starts.rank[aq], starts.place[aq], ap))
    ap, aq = ap[order], aq[order]
    keep = np.ones(len(ap), dtype=bool)
    keep[1:] = (ap[1:] != ap[:-1]) | (starts.place[aq[1:]] != starts.place[aq[:-1]])
    return ap[keep], aq[keep]


#: The most runs in the restricted integer program of the run selection (besides those the relaxation
#: uses, which are always in).
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


def _within_windows(
    data: ProblemData, options: list[tuple[tuple[int, ...], list[Run]]]
) -> list[tuple[tuple[int, ...], list[Run]]]:
    """The run sets, plus each single school's AM set unloading earlier within the school's
    arrival window (``am_window``), in :data:`WINDOW_STEPS` steps: the integer program then
    also chooses when each run arrives."""
    out = list(options)
    for covers, runs in options:
        schools = {s for r in runs for s in r.schools}
        if (
            len(schools) != 1
            or runs[0].session != "am"
            or (window := data.schools[schools.pop()].am_window) <= 0
        ):
            continue
        out += [
            (covers, [r.shifted(-window * k / WINDOW_STEPS) for r in runs])
            for k in range(1, WINDOW_STEPS + 1)
        ]
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
            out.append(new.shifted(run.end - new.end if run.session == "am" else run.start - new.start))
    return out


#: Branch-and-bound nodes of the run selection (a reproducible stop).
MIP_NODES = 500

#: Branch-and-bound nodes of the first, narrower integer program (the runs the relaxation uses): often
#: enough to reach the bound; when not, the wider program follows.
FIRST_NODES = 20

#: Seconds per client and iteration of PyVRP on a school VRP (measured on the benchmark, 2 cores
#: shared); converts a time limit into an iteration budget.
SECONDS_PER_CLIENT_ITERATION = 3.5e-5


def routing_budget(time_limit: float, clients: int, *, workers: int = 2, share: float = 0.6) -> int:
    """Iterations per school VRP so that ``clients`` clients (summed over all VRPs) fit in
    ``share`` of ``time_limit`` on ``workers`` processes; at least 50, at most 20,000."""
    budget = share * time_limit * max(1, workers) / (SECONDS_PER_CLIENT_ITERATION * max(1, clients))
    return int(min(20_000, max(50, budget)))


def _solve_task(task: tuple[VrpInput, str, int, int, float]) -> tuple[list[list[int]], bool]:
    inp, solver, seed, iterations, cap = task
    return solve_vrp_capped(inp, solver=solver, time_limit=cap, seed=seed, iterations=iterations)


def _solve_all(
    problems: list[VrpInput],
    seeds: list[int],
    *,
    solver: str,
    iterations: Sequence[int],
    deadline: Deadline,
    workers: int,
    progress: Progress | None,
) -> tuple[list[list[list[int]]], bool]:
    """Routes of every school VRP, in ``workers`` processes (the same routes for any ``workers``),
    and whether the clock cap stopped any of them."""

    # the clock is only a safety cap: 4x the expected time plus a minute, and never past the deadline
    def cap(inp: VrpInput, its: int) -> float:
        return min(4 * SECONDS_PER_CLIENT_ITERATION * inp.n * its + 60.0, deadline.left())

    tasks = [(p, solver, sd, its, cap(p, its)) for p, sd, its in zip(problems, seeds, iterations)]
    out: list[tuple[list[list[int]], bool]] = [([], False) for _ in tasks]
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i][0].n)  # largest first: balanced
    if workers > 1 and len(tasks) > 2 * workers:
        ctx = (
            multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
        )
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
    routes = [r for r, _ in out]
    for i, r in enumerate(routes):
        if not r:  # OR-Tools without a first solution: the feasible greedy start
            routes[i] = greedy_routes(tasks[i][0])
    return routes, any(c for _, c in out)


@dataclass(frozen=True)
class RunSets:
    """Every school's alternative run sets for one session, cut once (runs move with the bells).

    Attributes
    ----------
    session
        ``"am"`` or ``"pm"``.
    options
        ``(groups, runs)`` per run set: the groups (school and lift need, see :attr:`groups`) whose
        riders the runs carry, the first set of each group first.
    groups
        ``(school, bus_type, stops)`` per group.
    infeasible
        Stops left out, and why.
    iterations
        The iteration budget of each school VRP.
    clock_cap
        Whether the clock cap, not the budget, stopped a school VRP (the runs may then differ
        between two runs on a loaded machine).
    """

    session: Session
    options: tuple[Option, ...]
    groups: tuple[tuple[int, int, list[int]], ...]
    infeasible: tuple[Infeasible, ...]
    iterations: int
    clock_cap: bool = False

    def first(self) -> list[Run]:
        """The first run set of every group: the fewest long runs (the fixed-run engine's runs)."""
        return [r for a in _first_sets(self.options) for r in self.options[a][1]]

    def shifted(self, data: ProblemData, shift: np.ndarray) -> list[Option]:
        """The run sets moved to other bells: each run by its school's ``shift`` (seconds, by school
        index); a shared run whose schools move apart is timed again (dropped when it no longer fits)."""
        out: list[Option] = []
        for covers, runs in self.options:
            moved = []
            for r in runs:
                d = {float(shift[s]) for s in r.schools}
                if len(d) == 1:
                    moved.append(r.shifted(d.pop()))
                    continue
                pickups = [(v.stop, v.students) for v in r.visits if v.stop is not None]
                new = mixed_run(data, pickups, list(r.schools), r.bus_type)
                if new is not None:
                    moved.append(new)
            if moved:
                out.append((covers, moved))
        return out


def run_sets(
    data: ProblemData,
    *,
    session: Session = "am",
    time_limit: float = 60.0,
    seed: int = 0,
    solver: str = "pyvrp",
    alternatives: int | Sequence[RunOptions] = 5,
    workers: int = 2,
    mixed_loads: bool = False,
    lead_budget: bool = False,
    deadline: Deadline | None = None,
    progress: Progress | None = None,
) -> RunSets:
    """Cut every school's riders into runs several ways (see :func:`routing.buses.solve`'s parameters).

    ``time_limit`` sets the iteration budget of each school VRP (:func:`routing_budget`), so the
    runs do not depend on the machine's speed or load; ``deadline`` is only a safety cap. With
    ``lead_budget`` the first recipe's VRPs get the budget they would have alone, so the first run
    sets are those of ``alternatives=1`` (the bell scenarios' fixed runs: the run selection then
    never needs more buses than them, at any bells).
    """
    deadline = deadline or Deadline(4 * time_limit + 60.0)
    recipes = (
        list(DEFAULT_ALTERNATIVES[: max(1, alternatives)])
        if isinstance(alternatives, int)
        else list(alternatives)
    )
    groups = _groups(data, session)
    problems: list[SchoolVrp] = []
    seeds: list[int] = []
    covers: list[tuple[int, ...]] = []
    first: list[bool] = []
    for g, (school, bus_type, stops) in enumerate(groups):
        for k, rec in enumerate(recipes):
            problems.append(
                school_vrp(
                    data,
                    school,
                    stops,
                    session=session,
                    bus_type=bus_type,
                    ride_factor=rec.ride_factor,
                    run_cost=rec.run_cost,
                    deadhead_weight=rec.deadhead_weight,
                )
            )
            seeds.append(rec.seed + seed)
            covers.append((g,))
            first.append(k == 0)
    infeasible = [bad for p in problems[:: len(recipes)] for bad in p.infeasible]
    if mixed_loads and session == "am":
        for pair in shared_pairs(data, groups):
            shared = shared_vrp(
                data,
                [groups[g][0] for g in pair],
                groups[pair[0]][2] + groups[pair[1]][2],
                bus_type=groups[pair[0]][1],
                run_cost=recipes[0].run_cost,
            )
            if shared is not None:
                problems.append(shared)
                seeds.append(recipes[0].seed + seed)
                covers.append(pair)
                first.append(False)
    vrps = {i: p.vrp for i, p in enumerate(problems) if p.vrp is not None}
    solvable = list(vrps)
    # the budget counts the single-school problems only: their run sets are the same with and without mixed
    # loads
    single = [i for i in solvable if len(covers[i]) == 1]
    iterations = routing_budget(time_limit, sum(vrps[i].n for i in single), workers=workers)
    each = [iterations] * len(solvable)
    if lead_budget:  # the first recipe: the budget it would have alone (the fixed-run engine's runs)
        lead = routing_budget(time_limit, sum(vrps[i].n for i in single if first[i]), workers=workers)
        each = [lead if first[i] else iterations for i in solvable]
    routes, capped = _solve_all(
        [vrps[i] for i in solvable],
        [seeds[i] for i in solvable],
        solver=solver,
        iterations=each,
        deadline=deadline,
        workers=workers,
        progress=progress,
    )
    options: list[Option] = []
    seen: set[tuple] = set()
    for i, r in zip(solvable, routes):
        runs = runs_from_routes(data, problems[i], r)
        key = (covers[i], tuple(sorted(run.stops for run in runs)))
        if runs and key not in seen:
            seen.add(key)
            options.append((covers[i], runs))
    return RunSets(session, tuple(options), tuple(groups), tuple(infeasible), iterations, capped)


def select_runs(
    data: ProblemData, options: Sequence[Option], *, deadline: Deadline, nodes: int = 0
) -> tuple[list[Run], dict[str, object]]:
    """The runs chosen among ``options`` jointly with the chaining (each rider carried once), and
    the solver's details; never more buses than the first run set of each group.

    Parameters
    ----------
    data
        The problem at the bells the runs are timed for.
    options
        Run sets (:attr:`RunSets.options`, or :meth:`RunSets.shifted` to other bells).
    deadline
        The clock's safety cap (``info["clock_cap"]`` says when it stopped a solver).
    nodes
        Branch-and-bound nodes of the wider integer program (default :data:`MIP_NODES`).
    """
    if not options:
        return [], {"clock_cap": False}
    plain = [r for a in _first_sets(options) for r in options[a][1]]
    selector = _Selector(data, _within_windows(data, list(options)))
    cols, info = selector.choose(deadline=deadline, nodes=nodes)
    chosen = _drop_repeats(data, [selector.runs[c] for c in cols])
    if not cols or min_buses(data, plain) < min_buses(data, chosen):  # a search stopped early can do worse
        chosen, info["mip_status"] = (
            plain,
            f"{info.get('mip_status')}; the first run sets chain onto fewer buses",
        )
    return chosen, info
