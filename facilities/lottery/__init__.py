"""A unified lottery: student-proposing deferred acceptance across every sector's schools.

Families rank schools of any sector; each school orders its applicants by priority tier
(continuing students, siblings, zone residents, proximity, equitable-access categories, staff
children — in the order the city chooses) and then by lottery number; seats are counted by grade.
Student-proposing deferred acceptance (Gale and Shapley 1962; Abdulkadiroğlu and Sönmez 2003) gives
the stable assignment that every student likes at least as much as any other stable assignment.
An optional zone guarantee then places unmatched residents of a zone in the zone's schools that
still have room, closest first.

Typical use::

    data = LotteryData.from_frames(students, choices, schools, priorities=["continuing", "sibling", "zone"])
    result = solve(data, seed=7, guarantee={"east": ["s1", "s4"]})
    result.aggregates(by=["sector"])        # matched, first choice, top three, unassigned
    result.to_csv("private/assignment.csv")  # each student's school: private, written only on request

When a city has no real rankings, :func:`simulate_choices` draws families' lists from a documented
random-utility model; results built on them say so (``LotteryResult.simulated``).

The package holds one concept a module: :mod:`~facilities.lottery.data` (the instance),
:mod:`~facilities.lottery.mechanism` (deferred acceptance and the guarantee),
:mod:`~facilities.lottery.result` (outcomes and aggregates) and :mod:`~facilities.lottery.choices`
(simulated lists).
"""

from __future__ import annotations

from facilities.lottery.choices import SECTOR_TERMS, simulate_choices
from facilities.lottery.data import AGGREGATE_KEYS, PRIORITY_RULES, LotteryData
from facilities.lottery.mechanism import solve
from facilities.lottery.result import LotteryResult

__all__ = [
    "PRIORITY_RULES",
    "LotteryData",
    "LotteryResult",
    "solve",
    "simulate_choices",
    "SECTOR_TERMS",
    "AGGREGATE_KEYS",
]
