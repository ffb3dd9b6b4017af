"""Budgets that make solvers reproducible, and the clock as a safety cap that says when it fired.

Every search in :mod:`routing` stops on a budget counted in work (PyVRP iterations, bus counts of
the bell search, branch-and-bound nodes, passes of the load mixing), derived from the time limit
and the problem's size, never from the clock: the same inputs and seed give the same plan on any
machine and under any load. The clock only stops a search that runs far past its time limit
(:func:`safety_cap` seconds); when it does, the search records it in a :class:`Deadline`, and the
results name the stage (``clock_cap`` in plans, scenarios, the summary and the report), because
the plan may then differ from one run to the next.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CAP_FACTOR", "CAP_SLACK", "safety_cap", "clock_caps", "Deadline"]

#: The clock cap is this many times the time limit ...
CAP_FACTOR = 4.0
#: ... plus this many seconds (so a loaded machine reaches it only when something is badly wrong).
CAP_SLACK = 60.0


def safety_cap(time_limit: float) -> float:
    """Seconds after which the clock stops a search budgeted for ``time_limit`` seconds."""
    return CAP_FACTOR * max(float(time_limit), 0.0) + CAP_SLACK


def clock_caps(stats: Mapping[str, object]) -> tuple[str, ...]:
    """The stages the clock cap stopped, as a plan's ``stats["clock_cap"]`` records them."""
    caps = stats.get("clock_cap", ())
    return tuple(str(c) for c in caps) if isinstance(caps, (tuple, list)) else ()


@dataclass
class Deadline:
    """The clock as a safety cap: :meth:`passed` after ``seconds``; :attr:`fired` records that it
    ended a search.

    Parameters
    ----------
    seconds
        Seconds from creation (usually :func:`safety_cap` of the time limit).
    """

    seconds: float
    t0: float = field(default_factory=time.perf_counter)
    fired: bool = False

    def left(self) -> float:
        """Seconds left before the cap (never below 0.05: a solver needs a positive limit)."""
        return max(0.05, self.seconds - (time.perf_counter() - self.t0))

    def passed(self) -> bool:
        """Whether the cap is reached (then :attr:`fired` is set: the caller stops early)."""
        if time.perf_counter() - self.t0 >= self.seconds:
            self.fired = True
        return self.fired
