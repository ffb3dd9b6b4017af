"""Runs for each school: capacitated routing with a ride limit for every student.

A school's runs are solved as a vehicle routing problem *seen from the school*: the vehicle
leaves the school at time 0 and visits the stops, travelling AM legs backwards (the transposed
matrix) or PM legs forwards; returning to the school is free. The arrival at a stop in this
view is exactly the ride of its students (AM: from leaving their stop to reaching school; PM:
from leaving school to reaching their stop), so the ride limit is a time window ``[0, max_ride]``
on every stop, and the route's own order reversed (AM) or kept (PM) is the run.

Two solvers sit behind :func:`solve_vrp`: PyVRP (``"pyvrp"``, the default: better in
``bench/bench_vrp.py`` and on the school benchmark) and OR-Tools routing (``"ortools"``).
Both stop after an iteration budget (reproducible) or at the time limit, whichever comes first.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from routing.data import ProblemData
from routing.plan import Infeasible, Run, Session, Visit

__all__ = [
    "SCALE",
    "VrpInput",
    "solve_vrp",
    "solve_vrp_capped",
    "greedy_routes",
    "RunOptions",
    "school_runs",
    "SchoolVrp",
    "school_vrp",
    "shared_vrp",
    "runs_from_routes",
    "mixed_run",
    "SOLVERS",
]

#: Integer time units per second used inside the solvers (travel times are rounded up).
SCALE = 100
SOLVERS = ("pyvrp", "ortools")


@dataclass(frozen=True)
class VrpInput:
    """A vehicle routing problem in integers; node 0 is the depot, 1..n the clients.

    Attributes
    ----------
    durations, distances
        ``(n+1, n+1)`` integer travel times and costs.
    demand, service, tw_early, tw_late
        Per node (depot included): load, service time, window for the start of service.
    capacity
        Vehicle capacity.
    fixed_cost
        Cost of each vehicle used.
    max_vehicles
        Vehicles available.
    horizon
        Latest return to the depot.
    """

    durations: np.ndarray
    distances: np.ndarray
    demand: np.ndarray
    service: np.ndarray
    tw_early: np.ndarray
    tw_late: np.ndarray
    capacity: int
    fixed_cost: int
    max_vehicles: int
    horizon: int

    @property
    def n(self) -> int:
        """Number of clients."""
        return len(self.demand) - 1


def _iterations(n: int) -> int:
    return 100 + 10 * n


def _solve_pyvrp(
    inp: VrpInput, *, time_limit: float, seed: int, iterations: int
) -> tuple[list[list[int]], bool]:
    import pyvrp
    from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

    locations = [pyvrp.Location(x=0, y=0) for _ in range(inp.n + 1)]
    clients = [
        pyvrp.Client(
            location=i,
            delivery=[int(inp.demand[i])],
            service_duration=int(inp.service[i]),
            tw_early=int(inp.tw_early[i]),
            tw_late=int(inp.tw_late[i]),
        )
        for i in range(1, inp.n + 1)
    ]
    data = pyvrp.ProblemData(
        locations=locations,
        clients=clients,
        depots=[pyvrp.Depot(location=0, tw_early=int(inp.tw_early[0]), tw_late=int(inp.horizon))],
        vehicle_types=[
            pyvrp.VehicleType(
                num_available=inp.max_vehicles,
                capacity=[inp.capacity],
                fixed_cost=inp.fixed_cost,
                tw_late=int(inp.horizon),
            )
        ],
        # pyvrp's stub types a matrix as ``np.ndarray[int]`` (an int shape), which no array matches
        distance_matrices=[np.ascontiguousarray(inp.distances, dtype=np.int64)],  # type: ignore[list-item]
        duration_matrices=[np.ascontiguousarray(inp.durations, dtype=np.int64)],  # type: ignore[list-item]
    )
    stop = MultipleCriteria([MaxIterations(iterations), MaxRuntime(max(time_limit, 0.01))])
    greedy = greedy_routes(inp)
    start = (
        pyvrp.Solution(data, [[c - 1 for c in r] for r in greedy])
        if len(greedy) <= inp.max_vehicles
        else None
    )
    if start is not None and not start.is_feasible():
        start = None
    with warnings.catch_warnings():  # with a feasible warm start, penalty warnings are noise
        warnings.simplefilter("ignore")
        result = pyvrp.solve(
            data, stop=stop, seed=seed, display=False, collect_stats=False, initial_solution=start
        )
    best = result.best if result.is_feasible() else start
    capped = result.num_iterations < iterations  # the clock, not the budget, stopped it
    if best is None:
        return [], capped
    return [[act.idx + 1 for act in route.schedule() if act.is_client()] for route in best.routes()], capped


def greedy_routes(inp: VrpInput) -> list[list[int]]:
    """A start: nearest feasible client next, a new route when none fits.

    Feasible when every client alone on a route is (as for the school runs, whose windows always
    admit the direct ride) and the fleet suffices.
    """
    M = inp.durations
    left = np.ones(inp.n + 1, dtype=bool)
    left[0] = False
    routes: list[list[int]] = []
    while left.any():
        here, clock, load, route = 0, int(inp.tw_early[0]), 0, []
        while True:
            arrive = np.maximum(clock + M[here], inp.tw_early)
            fits = left & (arrive <= inp.tw_late) & (load + inp.demand <= inp.capacity)
            if not fits.any():
                break
            nxt = int(np.flatnonzero(fits)[np.argmin(M[here][fits])])
            route.append(nxt)
            left[nxt] = False
            here, clock, load = nxt, int(arrive[nxt] + inp.service[nxt]), load + int(inp.demand[nxt])
        if not route:  # an infeasible client: alone on its own route
            route = [int(np.flatnonzero(left)[0])]
            left[route[0]] = False
        routes.append(route)
    return routes


def _solve_ortools(
    inp: VrpInput, *, time_limit: float, seed: int, iterations: int
) -> tuple[list[list[int]], bool]:
    import time

    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    del seed  # OR-Tools' local search is deterministic under a solution limit
    n = inp.n + 1
    manager = pywrapcp.RoutingIndexManager(n, inp.max_vehicles, 0)
    model = pywrapcp.RoutingModel(manager)
    dur = inp.durations.tolist()
    dist = inp.distances.tolist()
    service = inp.service.tolist()
    demand = inp.demand.tolist()

    def cost(i: int, j: int) -> int:
        return dist[manager.IndexToNode(i)][manager.IndexToNode(j)]

    def transit(i: int, j: int) -> int:
        a = manager.IndexToNode(i)
        return service[a] + dur[a][manager.IndexToNode(j)]

    cost_cb = model.RegisterTransitCallback(cost)
    time_cb = model.RegisterTransitCallback(transit)
    load_cb = model.RegisterUnaryTransitCallback(lambda i: demand[manager.IndexToNode(i)])
    model.SetArcCostEvaluatorOfAllVehicles(cost_cb)
    model.SetFixedCostOfAllVehicles(inp.fixed_cost)
    model.AddDimension(time_cb, int(inp.horizon), int(inp.horizon), False, "time")
    model.AddDimensionWithVehicleCapacity(load_cb, 0, [inp.capacity] * inp.max_vehicles, True, "load")
    time_dim = model.GetDimensionOrDie("time")
    for node in range(1, n):
        time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(int(inp.tw_early[node]), int(inp.tw_late[node]))
    for v in range(inp.max_vehicles):
        time_dim.CumulVar(model.Start(v)).SetRange(int(inp.tw_early[0]), int(inp.horizon))
        time_dim.CumulVar(model.End(v)).SetRange(0, int(inp.horizon))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.solution_limit = iterations
    params.time_limit.FromMilliseconds(max(10, int(time_limit * 1000)))
    t0 = time.perf_counter()
    solution = model.SolveWithParameters(params)
    capped = time.perf_counter() - t0 >= 0.95 * time_limit  # the clock, not the solution limit, stopped it
    if solution is None:
        return [], capped
    routes = []
    for v in range(inp.max_vehicles):
        i = solution.Value(model.NextVar(model.Start(v)))
        route = []
        while not model.IsEnd(i):
            route.append(manager.IndexToNode(i))
            i = solution.Value(model.NextVar(i))
        if route:
            routes.append(route)
    return routes, capped


def solve_vrp(
    inp: VrpInput,
    *,
    solver: str = "pyvrp",
    time_limit: float = 1.0,
    seed: int = 0,
    iterations: int | None = None,
) -> list[list[int]]:
    """Solve a :class:`VrpInput`; return the routes as lists of client nodes (``[]`` if none found).

    Parameters
    ----------
    inp
        The problem.
    solver
        ``"pyvrp"`` or ``"ortools"``.
    time_limit
        Seconds at most (an iteration budget usually stops the search first).
    seed
        Random seed (PyVRP); the same seed gives the same routes when the budget, not the clock, stops.
    iterations
        Search budget: PyVRP iterations or OR-Tools solutions (default ``100 + 10 n``).
    """
    return solve_vrp_capped(inp, solver=solver, time_limit=time_limit, seed=seed, iterations=iterations)[0]


def solve_vrp_capped(
    inp: VrpInput,
    *,
    solver: str = "pyvrp",
    time_limit: float = 1.0,
    seed: int = 0,
    iterations: int | None = None,
) -> tuple[list[list[int]], bool]:
    """:func:`solve_vrp`, and whether the clock (``time_limit``) rather than the budget stopped it."""
    budget = _iterations(inp.n) if iterations is None else iterations
    if solver == "pyvrp":
        return _solve_pyvrp(inp, time_limit=time_limit, seed=seed, iterations=budget)
    if solver == "ortools":
        return _solve_ortools(inp, time_limit=time_limit, seed=seed, iterations=budget)
    raise ValueError(f"unknown solver {solver!r}; choose one of {SOLVERS}")


@dataclass(frozen=True)
class RunOptions:
    """How to cut a school's riders into runs; one set of options gives one run set.

    Attributes
    ----------
    ride_factor
        Fraction of the ride limit used (below 1 gives shorter runs).
    run_cost
        Cost of a run, in seconds of travel (large: fewest runs; small: shorter runs).
    seed
        Solver seed.
    deadhead_weight
        Weight of the deadhead that links a run to the bus's previous (AM) or next (PM) run: the
        drive between the run's first (AM) or last (PM) stop and the nearest school whose bell
        lets a bus do both. Above 0, runs start (AM) or end (PM) where buses come from (go to).
    """

    ride_factor: float = 1.0
    run_cost: float = 7200.0
    seed: int = 0
    deadhead_weight: float = 0.0


def _bell(data: ProblemData, school: int, session: Session) -> float:
    s = data.schools[school]
    return s.am_bell if session == "am" else s.pm_dismissal


@dataclass(frozen=True)
class SchoolVrp:
    """One school's riders as a :class:`VrpInput`: client ``i`` is ``pieces[i - 1]``.

    Attributes
    ----------
    school, session, bus_type
        Whose runs, when, on which bus type.
    pieces
        ``(stop, students)`` per client: a stop with more riders than seats is several pieces.
    vrp
        The routing problem seen from the school (``None`` when no stop is reachable).
    infeasible
        Stops left out, with the reason.
    shared
        Further schools whose riders share the runs (mixed loads), unloaded after ``school`` in
        this order; the VRP is seen from ``school``.
    """

    school: int
    session: Session
    bus_type: int
    pieces: tuple[tuple[int, int], ...]
    vrp: VrpInput | None
    infeasible: tuple[Infeasible, ...]
    shared: tuple[int, ...] = ()

    @property
    def schools(self) -> tuple[int, ...]:
        """Every school whose riders the runs carry."""
        return (self.school, *self.shared)


def school_vrp(
    data: ProblemData,
    school: int,
    stops: Sequence[int],
    *,
    session: Session = "am",
    bus_type: int = 0,
    ride_factor: float = 1.0,
    run_cost: float = 7200.0,
    deadhead_weight: float = 0.0,
) -> SchoolVrp:
    """The routing problem of one school's riders at ``stops`` (see :func:`school_runs` and
    :class:`RunOptions` for the options).

    Solve ``out.vrp`` with :func:`solve_vrp` (possibly in another process) and turn the routes
    into runs with :func:`runs_from_routes`.
    """
    sch = data.schools[school]
    bell = _bell(data, school, session)
    seats = data.bus_types[bus_type].seats
    T = data.durations if session == "pm" else data.durations.T
    bad: list[Infeasible] = []
    pieces: list[tuple[int, int]] = []
    for k in stops:
        st = data.stops[k]
        direct = T[sch.location, st.location]
        if not math.isfinite(bell):
            bad.append(Infeasible(st.id, sch.id, f"school has no {session.upper()} bell time"))
        elif direct > data.max_ride:
            bad.append(
                Infeasible(
                    st.id,
                    sch.id,
                    f"the direct ride takes {direct:.0f} s, over the {data.max_ride:.0f} s limit",
                )
            )
        else:  # a stop with more riders than seats is served by several visits
            n = st.students
            while n > 0:
                pieces.append((k, min(n, seats)))
                n -= seats
    vrp = (
        _vrp_input(data, sch.location, pieces, T, data.max_ride * ride_factor, seats, run_cost)
        if pieces
        else None
    )
    if vrp is not None and deadhead_weight > 0:
        link = _linking_deadhead(data, school, [data.stops[k].location for k, _ in pieces], session)
        costs = vrp.distances.copy()
        costs[1:, 0] = np.ceil(deadhead_weight * link * SCALE).astype(np.int64)
        vrp = replace(vrp, distances=costs)
    return SchoolVrp(school, session, bus_type, tuple(pieces), vrp, tuple(bad))


def _linking_deadhead(data: ProblemData, school: int, locs: Sequence[int], session: Session) -> np.ndarray:
    """Per location, the drive from the nearest school a bus can come from before (AM), or go
    to after (PM), a run of ``school`` through it; 0 where there is none."""
    T = data.durations
    sch = data.schools[school]
    loc = np.asarray(locs, dtype=int)
    others = [u for u in data.schools if u.location != sch.location]
    if session == "am":
        others = [u for u in others if math.isfinite(u.am_bell)]
        if not others:
            return np.zeros(len(loc))
        u_loc = np.array([u.location for u in others])
        dh = T[np.ix_(u_loc, loc)]  # from the school to the stop
        ok = (
            np.array([u.am_bell for u in others])[:, None] + dh + T[loc, sch.location][None, :] + sch.dwell
            <= sch.am_bell
        )
    else:
        others = [u for u in others if math.isfinite(u.pm_dismissal)]
        if not others:
            return np.zeros(len(loc))
        u_loc = np.array([u.location for u in others])
        dh = T[np.ix_(loc, u_loc)].T  # from the stop to the school
        ok = (
            sch.pm_dismissal + sch.dwell + T[sch.location, loc][None, :] + dh
            <= np.array([u.pm_dismissal for u in others])[:, None]
        )
    best = np.where(ok, dh, np.inf).min(axis=0)
    return np.where(np.isfinite(best), best, 0.0)


def shared_vrp(
    data: ProblemData,
    schools: Sequence[int],
    stops: Sequence[int],
    *,
    bus_type: int = 0,
    run_cost: float = 7200.0,
) -> SchoolVrp | None:
    """The AM routing problem of several nearby schools whose riders may share runs.

    The runs unload at the schools in the given order (earliest bell first); the VRP is seen from
    the first school, and the riders of a later school have that much less ride in their window
    (the time to unload at the schools before theirs and drive on). ``None`` when a rider could
    not make the ride even alone.
    """
    T = data.durations
    sch = [data.schools[s] for s in schools]
    offset = {schools[0]: 0.0}
    for k in range(1, len(sch)):
        offset[schools[k]] = (
            offset[schools[k - 1]] + sch[k - 1].dwell + T[sch[k - 1].location, sch[k].location]
        )
    seats = data.bus_types[bus_type].seats
    pieces: list[tuple[int, int]] = []
    for k in stops:
        st = data.stops[k]
        if T[st.location, sch[0].location] + offset[st.school] > data.max_ride:
            return None
        n = st.students
        while n > 0:
            pieces.append((k, min(n, seats)))
            n -= seats
    if not pieces:
        return None
    inp = _vrp_input(data, sch[0].location, pieces, T.T, data.max_ride, seats, run_cost)
    late = inp.tw_late.copy()
    late[1:] = [int((data.max_ride - offset[data.stops[k].school]) * SCALE) for k, _ in pieces]
    if (inp.durations[0, 1:] > late[1:]).any():
        return None
    inp = replace(inp, tw_late=late, horizon=int(late.max() + inp.service.max() + 1))
    return SchoolVrp(schools[0], "am", bus_type, tuple(pieces), inp, (), tuple(schools[1:]))


def runs_from_routes(data: ProblemData, problem: SchoolVrp, routes: Sequence[Sequence[int]]) -> list[Run]:
    """The timed runs of a :class:`SchoolVrp` solved into ``routes`` (lists of clients)."""
    if problem.shared:
        out = []
        for r in routes:
            pickups = [problem.pieces[i - 1] for i in reversed(r)]
            on = {data.stops[k].school for k, _ in pickups}
            run = mixed_run(data, pickups, [s for s in problem.schools if s in on], problem.bus_type)
            assert run is not None, "the windows of shared_vrp make every route feasible"
            out.append(run)
        return out
    bell = _bell(data, problem.school, problem.session)
    return [
        _timed_run(
            data, problem.school, bell, [problem.pieces[i - 1] for i in r], problem.session, problem.bus_type
        )
        for r in routes
    ]


def mixed_run(
    data: ProblemData, pickups: Sequence[tuple[int, int]], schools: Sequence[int], bus_type: int
) -> Run | None:
    """An AM run picking up ``(stop, students)`` in order, then unloading at ``schools`` in order,
    as late as the bells allow; ``None`` when seats, a bell or the ride limit make it infeasible."""
    T = data.durations
    if sum(n for _, n in pickups) > data.bus_types[bus_type].seats:
        return None
    sch = [data.schools[s] for s in schools]
    # the first school's unloading starts at X; each next school follows as soon as possible
    offset, offsets = 0.0, []
    for k, s in enumerate(sch):
        if k:
            offset += sch[k - 1].dwell + T[sch[k - 1].location, s.location]
        offsets.append(offset)
    x = min(s.am_bell - s.dwell - o for s, o in zip(sch, offsets))
    if any(
        s.am_window > 0 and x + o < s.am_bell - s.dwell - s.am_window - 1e-6 for s, o in zip(sch, offsets)
    ):
        return None  # a school's arrival window would not be open yet
    drop_start = {schools[k]: x + offsets[k] for k in range(len(sch))}
    visits: list[Visit] = []
    nxt_loc, nxt_start = sch[0].location, x
    for k, n in reversed(pickups):
        st = data.stops[k]
        end = nxt_start - T[st.location, nxt_loc]
        if drop_start[st.school] - end > data.max_ride + 1e-6:
            return None
        visits.append(Visit("pickup", st.location, st.school, k, n, end - data.stop_time(n), end))
        nxt_loc, nxt_start = st.location, end - data.stop_time(n)
    visits.reverse()
    on_board = {s: 0 for s in schools}
    for k, n in pickups:
        on_board[data.stops[k].school] += n
    if any(v == 0 for v in on_board.values()):
        return None
    visits += [
        Visit(
            "dropoff",
            data.schools[s].location,
            s,
            None,
            on_board[s],
            drop_start[s],
            drop_start[s] + data.schools[s].dwell,
        )
        for s in schools
    ]
    return Run("am", tuple(visits), bus_type)


def single_run(
    data: ProblemData, school: int, pieces: Sequence[tuple[int, int]], session: Session, bus_type: int
) -> Run | None:
    """A run of one school's riders at ``(stop, students)`` in the order the bus visits them (AM:
    pickups, then the school as late as the bell allows; PM: the school at dismissal, then the
    drop-offs); ``None`` when the seats or the ride limit make it infeasible."""
    if sum(n for _, n in pieces) > data.bus_types[bus_type].seats:
        return None
    run = _timed_run(
        data,
        school,
        _bell(data, school, session),
        list(reversed(pieces)) if session == "am" else list(pieces),
        session,
        bus_type,
    )
    return run if max(ride for _, ride in run.ride_times()) <= data.max_ride + 1e-6 else None


def school_runs(
    data: ProblemData,
    school: int,
    stops: Sequence[int],
    *,
    session: Session = "am",
    bus_type: int = 0,
    options: RunOptions = RunOptions(),
    solver: str = "pyvrp",
    time_limit: float = 1.0,
    iterations: int | None = None,
) -> tuple[list[Run], list[Infeasible]]:
    """Cut the riders of one school at ``stops`` into runs of bus type ``bus_type``.

    Parameters
    ----------
    data
        The problem.
    school
        School index.
    stops
        Stop indices (all of this school).
    session
        ``"am"`` (to school, before the bell) or ``"pm"`` (home, after dismissal).
    bus_type
        Bus type index: its seats bound each run's load.
    options
        Ride-limit fraction, run cost and seed.
    solver, time_limit, iterations
        See :func:`solve_vrp`.

    Returns
    -------
    runs, infeasible
        The runs, and the stops left out with the reason.
    """
    problem = school_vrp(
        data,
        school,
        stops,
        session=session,
        bus_type=bus_type,
        ride_factor=options.ride_factor,
        run_cost=options.run_cost,
        deadhead_weight=options.deadhead_weight,
    )
    if problem.vrp is None:
        return [], list(problem.infeasible)
    routes = solve_vrp(
        problem.vrp, solver=solver, time_limit=time_limit, seed=options.seed, iterations=iterations
    )
    if not routes:  # OR-Tools without a first solution: the feasible greedy start
        routes = greedy_routes(problem.vrp)
    return runs_from_routes(data, problem, routes), list(problem.infeasible)


def _vrp_input(
    data: ProblemData,
    school_loc: int,
    pieces: list[tuple[int, int]],
    T: np.ndarray,
    limit: float,
    seats: int,
    run_cost: float,
) -> VrpInput:
    locs = np.array([school_loc] + [data.stops[k].location for k, _ in pieces])
    M = np.ceil(T[np.ix_(locs, locs)] * SCALE).astype(np.int64)
    M[:, 0] = 0
    np.fill_diagonal(M, 0)
    demand = np.array([0] + [n for _, n in pieces])
    service = np.array([0] + [math.ceil(data.stop_time(n) * SCALE) for _, n in pieces])
    # a stop whose own direct ride fits the full limit always stays feasible on its own
    direct = M[0, 1:]
    tw_late = np.concatenate([[0], np.maximum(direct, int(limit * SCALE))])
    tw_late = np.minimum(tw_late, int(data.max_ride * SCALE))
    return VrpInput(
        durations=M,
        distances=M,
        demand=demand,
        service=service,
        tw_early=np.zeros(len(locs), dtype=np.int64),
        tw_late=tw_late,
        capacity=seats,
        fixed_cost=int(run_cost * SCALE),
        max_vehicles=len(pieces),
        horizon=int(tw_late.max() + service.max() + 1),
    )


def _timed_run(
    data: ProblemData,
    school: int,
    bell: float,
    pieces: list[tuple[int, int]],
    session: Session,
    bus_type: int,
) -> Run:
    """Times of a run given its pieces in the school-first order of the solver."""
    T = data.durations
    sch = data.schools[school]
    total = sum(n for _, n in pieces)
    visits: list[Visit] = []
    if session == "am":
        arrive = bell - sch.dwell
        school_visit = Visit("dropoff", sch.location, school, None, total, arrive, bell)
        nxt = school_visit
        for k, n in pieces:  # backwards from the school
            loc = data.stops[k].location
            end = nxt.start - T[loc, nxt.location]
            v = Visit("pickup", loc, school, k, n, end - data.stop_time(n), end)
            visits.append(v)
            nxt = v
        visits = visits[::-1] + [school_visit]
    else:
        prev = Visit("pickup", sch.location, school, None, total, bell, bell + sch.dwell)
        visits.append(prev)
        for k, n in pieces:
            loc = data.stops[k].location
            start = prev.end + T[prev.location, loc]
            prev = Visit("dropoff", loc, school, k, n, start, start + data.stop_time(n))
            visits.append(prev)
    return Run(session, tuple(visits), bus_type)
