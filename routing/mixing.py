"""Mixed loads: a run may carry students of several schools when their places and bells allow.

Two ways in: :func:`shared_pairs` names the nearby schools with near bells whose riders may share
a run set (the run selection may then choose shared runs, :mod:`routing.selection`), and
:func:`mix_loads` empties buses of a single-load AM plan by moving their pickups into runs of other
buses (Park, Tae & Kim's mixed-load improvement), passes until a pass empties no bus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from routing.budget import Deadline, clock_caps, safety_cap
from routing.chaining import can_follow, chain
from routing.data import ProblemData
from routing.plan import Bus, BusPlan, Run
from routing.runs import mixed_run

__all__ = ["SHARED_TRAVEL", "SHARED_BELLS", "shared_pairs", "mix_loads"]

Progress = Callable[[str, float], None]

#: Nearby schools whose riders may share runs: at most this many seconds apart ...
SHARED_TRAVEL = 300.0
#: ... and bells at most this many seconds apart (riders of the later school wait no longer).
SHARED_BELLS = 1800.0


def shared_pairs(data: ProblemData, groups: Sequence[tuple[int, int, list[int]]]) -> list[tuple[int, int]]:
    """Pairs of groups (same bus type) at schools close enough, with near enough bells, to share
    runs; the earlier bell first."""
    out = []
    for g, (s, t, _) in enumerate(groups):
        for h, (u, w, _) in enumerate(groups):
            a, b = data.schools[s], data.schools[u]
            if (
                g != h
                and t == w
                and s != u
                and (a.am_bell, s) < (b.am_bell, u)
                and b.am_bell - a.am_bell <= SHARED_BELLS
                and data.durations[a.location, b.location] <= SHARED_TRAVEL
            ):
                out.append((g, h))
    return out


def _parts(run: Run) -> tuple[list[tuple[int, int]], list[int]]:
    return [(v.stop, v.students) for v in run.visits if v.stop is not None], [
        v.school for v in run.visits if v.stop is None
    ]


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
        if (
            i
            and (prev := self.runs[path[i - 1]]) is not None
            and not can_follow(prev.end, T[prev.end_location, run.start_location], run.start)
        ):
            return False
        if (
            i + 1 < len(path)
            and (nxt := self.runs[path[i + 1]]) is not None
            and not can_follow(run.end, T[run.end_location, nxt.start_location], nxt.start)
        ):
            return False
        return True

    def _best_insertion(
        self, piece: tuple[int, int], bus: int, bus_type: int, limit_bell: float
    ) -> tuple[int, Run] | None:
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
            orders = (
                [schools]
                if st.school in schools
                else [schools[:j] + [st.school] + schools[j:] for j in range(len(schools) + 1)]
            )
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
        saved: dict[int, Run | None] = {}
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


def mix_loads(
    plan: BusPlan, *, time_limit: float = 60.0, candidates: int = 8, progress: Progress | None = None
) -> BusPlan:
    """Mixed loads: a run may carry students of several schools when bells and places allow.

    Starting from a single-load AM plan, buses with the fewest runs are emptied one at a time by
    moving each pickup into a run of another bus (of any school: the run then also unloads at
    that school, in the order that meets every bell) wherever the ride limit, the seats and that
    bus's chain allow; then the runs are chained again exactly. The result never needs more buses
    than ``plan``. Deterministic: passes end when a pass empties no bus; the clock is only a safety
    cap (:func:`routing.budget.safety_cap` of ``time_limit``; ``stats["clock_cap"]`` says when it fired).

    Parameters
    ----------
    plan
        A single-load AM plan (e.g. from :func:`solve`).
    time_limit
        Seconds expected (the safety cap is set from it).
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
    deadline = Deadline(safety_cap(time_limit))
    data = plan.data
    runs, buses = list(plan.runs), list(plan.buses)
    passes = 0
    while not deadline.passed():
        passes += 1
        mixer = _Mixer(data, runs, buses, candidates)
        order = sorted(
            range(len(buses)),
            key=lambda b: (len(buses[b].runs), sum(runs[r].students for r in buses[b].runs), b),
        )
        for b in order:
            if deadline.passed():
                break
            mixer.empty_bus(b)
        new_runs = [r for r in mixer.runs if r is not None]
        new_buses = chain(data, new_runs)
        if len(new_buses) >= len(buses):
            break
        runs, buses = new_runs, new_buses
        if progress:
            progress(f"mixed loads: {len(buses)} buses after pass {passes}", 1.0 - 0.5**passes)
    capped = [*clock_caps(plan.stats), *(["mixed loads"] if deadline.fired else [])]
    stats = {
        **plan.stats,
        "buses_before_mixing": plan.n_buses,
        "mixed_runs": sum(len(r.schools) > 1 for r in runs),
        "clock_cap": tuple(capped),
    }
    return BusPlan(data, plan.session, tuple(runs), tuple(buses), plan.infeasible, stats)
