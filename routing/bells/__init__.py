"""Bell times: policy rules, allowed times, alignment and optimization, with an explanation per school.

Modules: :mod:`.policy`, :mod:`.counter` (:class:`RunChains`), :mod:`.times` (:class:`BellTimes`),
:mod:`.search`, :mod:`.align`, :mod:`.optimize`. The policy's settings (``[transport.bells]``) are
documented in :mod:`routing.bells.policy`.

A school's runs do not depend on its bell (the *fixed-run* model): moving a start by ``d`` moves
all its morning runs by ``d``, and moving a dismissal by ``e`` all its afternoon runs by ``e``
(``e == d`` when the school day keeps its length). Which runs one bus can drive in a row then
depends only on the bells, and the fewest buses for given bells is a
minimum path cover of the runs' "can follow" graph, i.e. the number of runs minus a maximum
bipartite matching (Hopcroft–Karp, :func:`scipy.sparse.csgraph.maximum_bipartite_matching`): an
exact count in milliseconds. :class:`RunChains` holds that evaluator; :func:`optimize_bells` runs
a seeded iterated local search over the allowed times of every school (whole tiers first, then
school by school; then restarts from perturbed best times, within a deterministic budget of
counts, :func:`search_budget`) with it, in the spirit of the bell-time step of BiRD (Bertsimas,
Delarue & Martin, PNAS 2019), which selects bells against the run schedule in the same way.
:func:`align_bells` moves charter and Catholic schools onto the district's tiers, each a start and
its dismissal (:func:`district_tiers`), as Boston's charters did with their drop-off and pick-up
times; the same search keeps only moves that cost no bus.

>>> from routing.bells import BellPolicy, allowed_times, optimize_bells
>>> policy = BellPolicy.from_settings(city.settings.transport)  # doctest: +SKIP
>>> result = optimize_bells(chains, schools, policy=policy, time_limit=30, seed=1)  # doctest: +SKIP
>>> result.changes[["school", "old_start", "new_start", "reason"]]  # doctest: +SKIP
"""

from routing.bells.align import align_bells
from routing.bells.counter import RunChains
from routing.bells.optimize import optimize_bells
from routing.bells.policy import (
    BANDS,
    Align,
    Allowed,
    BellPolicy,
    BellRule,
    allowed_times,
    district_tiers,
    grade_band,
)
from routing.bells.search import search_budget
from routing.bells.times import BellTimes, current_bells

__all__ = [
    "BANDS",
    "grade_band",
    "BellRule",
    "BellPolicy",
    "Allowed",
    "allowed_times",
    "RunChains",
    "BellTimes",
    "current_bells",
    "Align",
    "district_tiers",
    "align_bells",
    "search_budget",
    "optimize_bells",
]
