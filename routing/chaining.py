"""Chaining runs onto buses: the one "can run j follow run i" test and the one fewest-buses count.

A bus drives a chain of runs of its bus type; run ``j`` may follow run ``i`` when the bus reaches
the start of ``j`` in time after the end of ``i`` (:func:`can_follow`). The fewest buses for a set
of runs is a minimum path cover of that "can follow" graph: the number of runs minus a maximum
bipartite matching (Hopcroft–Karp, :func:`fewest_buses`), exact in milliseconds. The bell-time
search (:class:`routing.bells.RunChains`) counts with the same two functions, so its count is the
count of the final plan of the same runs. :func:`chain` then finds, among all plans with that many
buses, the one with the least deadhead (min-cost flow, yards included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_bipartite_matching

from routing.data import ProblemData
from routing.plan import Bus, Run

__all__ = ["TOLERANCE", "can_follow", "fewest_buses", "follow_matrix", "min_buses", "chain"]

#: Seconds of slack in the "can follow" test (rounding of travel times).
TOLERANCE = 1e-6


@overload
def can_follow(end: float, drive: float, start: float) -> bool: ...
@overload
def can_follow(end: np.ndarray, drive: np.ndarray | float, start: np.ndarray | float) -> np.ndarray: ...
@overload
def can_follow(end: np.ndarray | float, drive: np.ndarray, start: np.ndarray | float) -> np.ndarray: ...
@overload
def can_follow(end: np.ndarray | float, drive: np.ndarray | float, start: np.ndarray) -> np.ndarray: ...
def can_follow(
    end: np.ndarray | float, drive: np.ndarray | float, start: np.ndarray | float
) -> np.ndarray | bool:
    """Whether a bus free at ``end`` and driving ``drive`` seconds reaches a run starting at ``start``
    (elementwise): ``end + drive <= start`` within :data:`TOLERANCE`."""
    return (end + drive) <= (start + TOLERANCE)


def fewest_buses(n: int, rows: np.ndarray, cols: np.ndarray) -> int:
    """The fewest buses for ``n`` runs where run ``cols[k]`` can follow run ``rows[k]``: ``n`` minus
    a maximum bipartite matching (a minimum path cover)."""
    if n == 0:
        return 0
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    graph = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int8), np.asarray(cols, dtype=np.int32)[order], indptr), shape=(n, n)
    )
    return int((maximum_bipartite_matching(graph, perm_type="column") < 0).sum())


def follow_matrix(data: ProblemData, runs: Sequence[Run]) -> np.ndarray:
    """``ok[i, j]``: a bus can drive run ``j`` after run ``i`` (same bus type, :func:`can_follow`)."""
    start = np.array([r.start for r in runs])
    end = np.array([r.end for r in runs])
    s_loc = np.array([r.start_location for r in runs], dtype=int)
    e_loc = np.array([r.end_location for r in runs], dtype=int)
    kind = np.array([r.bus_type for r in runs])
    ok = can_follow(end[:, None], data.durations[np.ix_(e_loc, s_loc)], start[None, :]) & (
        kind[:, None] == kind[None, :]
    )
    np.fill_diagonal(ok, False)
    return ok


def min_buses(data: ProblemData, runs: Sequence[Run]) -> int:
    """The fewest buses that can drive ``runs`` (each bus drives runs of one bus type)."""
    if not runs:
        return 0
    rows, cols = np.nonzero(follow_matrix(data, runs))
    return fewest_buses(len(runs), rows, cols)


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
    buses.sort(key=lambda b: (runs[b.runs[0]].start, b.runs))
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
    ii, jj = np.nonzero(follow_matrix(data, runs))
    dead = np.rint(D[e_loc[ii], s_loc[jj]]).astype(np.int64)
    big = int(dead.max(initial=0) + pull_cost.max() + back_cost.max() + 1) * (n + 1)
    S, T = 2 * n, 2 * n + 1
    tails = np.concatenate([ii, np.arange(n), [T], np.full(n, S)])
    heads = np.concatenate([n + jj, np.full(n, T), [S], n + np.arange(n)])
    caps = np.concatenate([np.ones(len(ii) + n, dtype=np.int64), [n], np.ones(n, dtype=np.int64)])
    costs = np.concatenate([dead, back_cost, [0], big + pull_cost])
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps, costs
    )
    flow.set_nodes_supplies(
        np.arange(2 * n + 2, dtype=np.int32),
        np.concatenate([np.ones(n, dtype=np.int64), -np.ones(n, dtype=np.int64), [0, 0]]),
    )
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    used = flow.flows(arcs[: len(ii)]) > 0
    nxt = dict(zip(ii[used].tolist(), jj[used].tolist()))
    has_prev = set(nxt.values())
    out = []
    for first in sorted(set(range(n)) - has_prev, key=lambda k: (runs[k].start, k)):
        path = [first]
        while path[-1] in nxt:
            path.append(nxt[path[-1]])
        out.append((path, int(pull_yard[first]), int(back_yard[path[-1]])))
    return out
