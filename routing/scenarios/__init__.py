"""Bell-time scenarios and what they save: status quo, aligned sectors, optimized, or any list.

The work is split so that the expensive part is done once per city:

1. :func:`prepare` — who rides, their stops, the travel matrices, and every school's run sets
   (:func:`routing.selection.run_sets`, AM and PM) at the current bells, plus the
   :class:`~routing.bells.RunChains` evaluator of each school's first run set. Runs do not
   depend on bells: moving a bell moves them.
2. :func:`run_scenario` — bell times for one :class:`Scenario` (searched on the evaluator; with
   ``engine="select"``, of the runs chosen at the current bells, :func:`on_status_quo_runs`), the
   runs chosen among the run sets moved to those bells jointly with the chaining
   (:func:`routing.selection.select_runs`; ``engine="fixed"``: the first sets only), chained onto
   the fewest buses, each bus its type, and every metric (buses by type, miles, driver hours, ride
   times, early arrivals, starts before 8:00 by grade band, by sector and by neighborhood) and
   dollars a year from the :class:`CostModel`.
3. :func:`compare` — the default three scenarios (or a TOML list) and the savings against the
   first; :func:`sweep` — many scenarios through an :class:`Executor` (local processes, or a Dask
   cluster for sweeps that outgrow one machine).

>>> from facilities import read_city
>>> from routing.scenarios import compare
>>> result = compare(read_city("data/demo"), time_limit=30, seed=1)  # doctest: +SKIP
>>> result.summary()  # doctest: +SKIP
>>> from app.outputs_bells import write_comparison  # the app layer writes the files
>>> write_comparison(result, "out/bells")  # doctest: +SKIP

Modules: :mod:`.scenario` (scenarios, cost model), :mod:`.prepare`, :mod:`.evaluate`,
:mod:`.comparison`, :mod:`.sweep`.
"""

from routing.scenarios.comparison import Comparison, compare
from routing.scenarios.evaluate import (
    ScenarioResult,
    fleet_by_type,
    on_status_quo_runs,
    run_scenario,
    scenario_bells,
    scenario_policy,
)
from routing.scenarios.prepare import ALTERNATIVES, Engine, Prepared, prepare
from routing.scenarios.scenario import (
    DEFAULT_SCENARIOS,
    EARLY_S,
    MIN_CELL,
    CostModel,
    Scenario,
    grid_scenarios,
    read_scenarios,
    with_mixed_loads,
)
from routing.scenarios.sweep import DaskExecutor, Executor, ProcessExecutor, sweep

__all__ = [
    "CostModel",
    "Scenario",
    "DEFAULT_SCENARIOS",
    "read_scenarios",
    "grid_scenarios",
    "scenario_policy",
    "scenario_bells",
    "Prepared",
    "prepare",
    "ScenarioResult",
    "run_scenario",
    "on_status_quo_runs",
    "Comparison",
    "compare",
    "Executor",
    "ProcessExecutor",
    "DaskExecutor",
    "sweep",
    "EARLY_S",
    "MIN_CELL",
    "with_mixed_loads",
    "fleet_by_type",
    "Engine",
    "ALTERNATIVES",
]
