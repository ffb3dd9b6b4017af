"""The seeded iterated local search over bell times, and its deterministic budget of bus counts."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from routing.bells.counter import RunChains
from routing.bells.policy import (
    Progress,
)
from routing.budget import Deadline

log = logging.getLogger(__name__)

#: Pair tests a second the searches' budgets count on: about half of what one core of a 2020s
#: laptop does, so that the budget, not the clock, ends a search (reproducibility).
_PAIR_TESTS_PER_SECOND = 3e7
#: What one bus count costs beyond its pair tests (building the graph, the matching), in pair tests.
_COUNT_OVERHEAD = 4000

Score = tuple[float, ...]


def search_budget(chains: RunChains, *, time_limit: float) -> int:
    """Bus counts a bell-time search may evaluate in ``time_limit`` seconds on ``chains``.

    Deterministic (from the time limit and the problem's size: its runs and candidate pairs),
    so the same seed gives the same times whatever the machine's load, as long as the clock
    (a safety cap) is not reached first.
    """
    work = sum(len(v[0]) + len(v[3]) + _COUNT_OVERHEAD for v in chains.sessions.values())
    return max(int(time_limit * _PAIR_TESTS_PER_SECOND / max(work, 1)), 1)


@dataclass
class _Search:
    """Seeded iterated local search over each school's (start shift, dismissal shift) options.

    A descent tries moving whole groups of schools that share their times to each option they
    all have, then each school alone to each of its options (in a seeded order), keeping a move
    when the score -- (buses, *ties(x, y, buses summed over the sessions)) -- is lower, pass after
    pass until a pass improves nothing. Each further descent starts from the best times found with
    a few schools (seeded) moved to random options. It ends after ``budget`` bus counts or
    ``2 * schools + 5`` restarts (both deterministic: the same seed gives the same times), or at
    the clock's safety cap (:func:`routing.budget.safety_cap`; the result's ``clock_cap`` then says
    so).
    """

    chains: RunChains
    options: Mapping[int, np.ndarray]
    current: np.ndarray
    ties: Callable[[np.ndarray, np.ndarray, int], tuple[float, ...]]
    budget: int
    deadline: Deadline
    rng: np.random.Generator
    progress: Progress | None = None
    used: int = 0
    restarts: int = 0
    t0: float = field(default_factory=time.perf_counter)
    movable: list[int] = field(init=False)
    first: str = ""  # the busiest session, counted first

    def __post_init__(self) -> None:
        self.movable = [i for i, o in self.options.items() if len(o) > 1]

    def score(
        self,
        x: np.ndarray,
        y: np.ndarray,
        limit: float = math.inf,
        base: Mapping[str, np.ndarray] | None = None,
        moved: Sequence[int] = (),
    ) -> Score:
        """(buses, *ties); a count above ``limit`` is returned as soon as a session exceeds it
        (``base``, ``moved``: see :meth:`RunChains._at_most`)."""
        self.used += 1
        buses, total = self.chains._at_most(
            int(min(limit, 1e9)), x, y, first=self.first, base=base, moved=moved
        )
        return (buses, *self.ties(x, y, total))

    def follows(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        return {k: self.chains._follows(k, shift) for k, shift in self.chains._shifts(x, y).items()}

    def done(self, label: str) -> bool:
        if self.progress is not None:
            self.progress(label, min(self.used / self.budget, 1.0))
        return self.used >= self.budget or self.deadline.passed()

    def descend(self, x: np.ndarray, y: np.ndarray, now: Score) -> tuple[np.ndarray, np.ndarray, Score]:
        improved = True
        base = self.follows(x, y)
        while improved and not self.done(f"bell times: {now[0]:.0f} buses"):
            improved = False
            groups: dict[tuple[float, float], list[int]] = {}
            for i in self.movable:
                groups.setdefault((self.current[i, 0] + x[i], self.current[i, 1] + y[i]), []).append(i)
            moves: list[list[tuple[int, np.ndarray]]] = []
            for at, members in sorted(groups.items()):
                common = set.intersection(
                    *({tuple(p) for p in (self.options[i] + self.current[i]).tolist()} for i in members)
                ) - {at}
                moves += [[(i, np.array(t) - self.current[i]) for i in members] for t in sorted(common)]
            for i in self.rng.permutation(self.movable).tolist():
                moves += [
                    [(i, o)] for o in self.rng.permutation(self.options[i]) if (o[0], o[1]) != (x[i], y[i])
                ]
            for move in moves:
                tx, ty = x.copy(), y.copy()
                for i, (d, e) in move:
                    tx[i], ty[i] = d, e
                value = self.score(tx, ty, limit=now[0], base=base, moved=[i for i, _ in move])
                if value < now:
                    x, y, now, improved = tx, ty, value, True
                    base = self.follows(x, y)
                if self.done(f"bell times: {now[0]:.0f} buses"):
                    break
        return x, y, now

    def run(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, Score]:
        """The best times found from ``x``, ``y`` (never worse than them)."""
        self.first = max(
            self.chains.session_buses(x, end_shift=y).items(), key=lambda kv: kv[1], default=("", 0)
        )[0]
        bx, by, best = self.descend(x, y, self.score(x, y))
        ax, ay, at = bx, by, best  # where the next perturbation starts: the last descent as good in buses
        while (
            self.movable
            and self.restarts < 2 * len(self.movable) + 5
            and not self.done(f"bell times: {best[0]:.0f} buses")
        ):
            tx, ty = ax.copy(), ay.copy()
            k = int(self.rng.integers(2, max(3, len(self.movable) // 8) + 1))
            for i in self.rng.choice(self.movable, size=min(len(self.movable), k), replace=False).tolist():
                tx[i], ty[i] = self.options[i][self.rng.integers(len(self.options[i]))]
            tx, ty, value = self.descend(tx, ty, self.score(tx, ty))
            self.restarts += 1
            if value[0] <= at[0]:
                ax, ay, at = tx, ty, value
            if value < best:
                bx, by, best = tx, ty, value
        log.info(
            "bell times: %d buses, %d restarts, %d of %d counts in %.1f s",
            best[0],
            self.restarts,
            self.used,
            self.budget,
            time.perf_counter() - self.t0,
        )
        return bx, by, best


def _alone(chains: RunChains, x: np.ndarray, y: np.ndarray, i: int, d: float, e: float) -> int:
    """Buses with school ``i`` alone shifted by ``d`` (start) and ``e`` (dismissal), the rest as in ``x``,
    ``y``."""
    tx, ty = x.copy(), y.copy()
    tx[i], ty[i] = d, e
    return chains.buses(tx, end_shift=ty)
