"""Optimization: allowed bell times that need the fewest buses, with an explanation per school."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from routing.bells.counter import RunChains
from routing.bells.policy import (
    Allowed,
    BellPolicy,
    Progress,
    _tier_options,
    allowed_times,
)
from routing.bells.search import (
    _alone,
    _Search,
    search_budget,
)
from routing.bells.times import BellTimes, _span, _was
from routing.budget import Deadline, safety_cap

#: Share of an optimized search's budget spent on a second descent from ``also``'s times (e.g. the
#: aligned scenario's), so that the optimized times never need more buses than those when allowed.
ALSO_SHARE = 0.2


def optimize_bells(
    chains: RunChains,
    schools: pd.DataFrame,
    *,
    policy: BellPolicy,
    time_limit: float = 30.0,
    seed: int = 0,
    tiers: Sequence[tuple[float, float]] = (),
    start: BellTimes | None = None,
    also: BellTimes | None = None,
    progress: Progress | None = None,
) -> BellTimes:
    """Choose allowed bell times that need the fewest buses, and explain each change.

    Seeded iterated local search. A descent tries moving whole groups of schools that share their
    times (tiers), then each school alone, to each of its allowed times, keeping a move when it
    needs fewer buses (ties: fewer buses summed over the sessions, fewer schools changed, less
    total change), pass after pass until
    a pass improves nothing. The first descent starts from the current times (moved to the nearest
    allowed time where the policy forbids them); each further one from the best times found, with a
    few schools (seeded) moved to random allowed times. The search ends after
    :func:`search_budget` bus counts or twice as many restarts as schools that can move (plus five)
    -- deterministic, so the same seed gives the same times; the clock only stops a search far past
    its time limit (:func:`routing.budget.safety_cap`), and ``clock_cap`` then says so. With
    ``also`` (allowed), a second such search starts from its times with :data:`ALSO_SHARE` of the
    bus counts (the first keeps the rest) and the better of the two is kept. Every kept time
    satisfies the policy.

    Parameters
    ----------
    chains
        The evaluator built from the runs (:meth:`RunChains.from_runs`).
    schools
        ``id``, ``sector``, ``grades``, ``bell_start``, ``bell_end``.
    policy
        Allowed times and rules.
    time_limit
        Seconds of search (sets the budget; the clock is a safety cap).
    seed
        Order of the moves and the restarts; the same seed gives the same times.
    tiers
        (start, dismissal) pairs any school may also take when the policy allows it (e.g. the
        district's, :func:`district_tiers`): these change the length of a school's day.
    start
        Times to start from (e.g. those found on other runs; each school's must be among its
        options, else it starts from its current times, or the nearest allowed).
    also
        The aligned scenario's times (:func:`align_bells`): a second descent starts from them, with
        :data:`ALSO_SHARE` of the budget; the better of the two searches is kept, so the times never
        need more buses than ``also``'s. Only when the policy allows every school's ``also`` times;
        otherwise the search is unchanged and each school whose ``also`` times are not allowed says
        so in its reason.
    progress
        Called with ``(message, fraction of the budget used)``.

    Returns
    -------
    BellTimes
        ``reason`` per school: the rule that forced a move, or the buses a change saves (the buses
        needed if that school alone went back to its current times).
    """
    allowed = allowed_times(schools, policy)
    ids = list(chains.school_ids)
    rows = {str(r["id"]): r for _, r in schools.iterrows()}
    current = {sid: (float(r["bell_start"]), float(r["bell_end"])) for sid, r in rows.items()}
    now = np.array([current[s] for s in ids])
    options: dict[int, np.ndarray] = {}
    for i, s in enumerate(ids):
        if s in allowed.times:
            pairs = {(t, t + now[i, 1] - now[i, 0]) for t in allowed.times[s]} | set(
                _tier_options(rows[s], tiers, policy, "start_and_end") if tiers else ()
            )
            options[i] = np.array(sorted(pairs)) - now[i]

    def begin(times: BellTimes | None) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Shifts to start from (``times`` where allowed), and the schools whose ``times`` are not."""
        x, y = np.zeros(len(ids)), np.zeros(len(ids))
        off = []
        for i, opts in options.items():  # the policy may forbid the current times
            if not np.any((opts == 0).all(axis=1)):
                x[i], y[i] = opts[np.argmin(np.abs(opts).sum(axis=1))]
            if times is not None:
                at = np.array([times.starts[ids[i]], times.ends[ids[i]]]) - now[i]
                if np.any((opts == at).all(axis=1)):
                    x[i], y[i] = at
                else:
                    off.append(i)
        return x, y, off

    def ties(x: np.ndarray, y: np.ndarray, total: int) -> tuple[float, ...]:
        return (total, int(np.count_nonzero((x != 0) | (y != 0))), float(np.abs(x).sum() + np.abs(y).sum()))

    budget = search_budget(chains, time_limit=time_limit)
    ax, ay, off = begin(also)
    second = 0 if also is None or off else max(int(budget * ALSO_SHARE), 1)
    deadline = Deadline(safety_cap(time_limit))

    def search(x: np.ndarray, y: np.ndarray, counts: int) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
        return _Search(
            chains, options, now, ties, counts, deadline, np.random.default_rng(seed), progress
        ).run(x, y)

    x, y, best = search(*begin(start)[:2], max(budget - second, 1))
    if second:
        tx, ty, value = search(ax, ay, second)
        if value < best:
            x, y, best = tx, ty, value
    reasons = _explain(chains, x, y, ids, current, allowed)
    for s in (ids[i] for i in off):  # not searched from: say why, by rule
        pair = (also.starts[s], also.ends[s]) if also is not None else current[s]
        why = "; ".join(policy.broken(rows[s], *pair)) or "not among its allowed times"
        reasons[s] = f"{reasons.get(s, 'unchanged')}; the aligned times {_span(*pair)} are not allowed: {why}"
    starts = {s: current[s][0] + x[i] for i, s in enumerate(ids)}
    ends = {s: current[s][1] + y[i] for i, s in enumerate(ids)}
    times = BellTimes.from_times(
        schools, starts, ends=ends, reasons=reasons, infeasible=allowed.infeasible, buses=int(best[0])
    )
    return replace(times, clock_cap=deadline.fired)


def _explain(
    chains: RunChains,
    x: np.ndarray,
    y: np.ndarray,
    ids: list[str],
    current: Mapping[str, tuple[float, float]],
    allowed: Allowed,
) -> dict[str, str]:
    """Why each school has its times: the rule that forced them, or the buses they save."""
    buses = chains.buses(x, end_shift=y)
    bad = dict(zip(allowed.infeasible["school"], allowed.infeasible["reason"]))
    reasons = {}
    for i, s in enumerate(ids):
        old = current[s]
        new = (old[0] + x[i], old[1] + y[i])
        if s in bad:
            reasons[s] = f"kept: {bad[s]}"
        elif s not in allowed.times:
            continue
        elif new == old:
            reasons[s] = (
                "kept: fixed by policy"
                if len(allowed.times[s]) == 1
                else "kept: no allowed change saves a bus"
            )
        elif allowed.binding.get(s):
            reasons[s] = f"moved by policy ({_was(old, new)}): {'; '.join(allowed.binding[s])}"
        else:
            more = _alone(chains, x, y, i, 0.0, 0.0) - buses
            if more > 0:
                reasons[s] = (
                    f"{_was(old, new)}: keeping {_span(*old)} would need {more} more "
                    f"bus{'es' if more > 1 else ''}"
                )
            else:
                reasons[s] = f"{_was(old, new)}: part of a joint move with other schools that saves buses"
    return reasons
