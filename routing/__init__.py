"""Streets, travel times and buses: from a street network to bus plans and bell times.

Modules, one per step: :mod:`routing.network` (load and prepare streets), :mod:`routing.travel`
(travel-time matrices), :mod:`routing.data` (the immutable problem) and :mod:`routing.plan` (runs,
buses, plans; both also under :mod:`routing.problem`), :mod:`routing.runs` (runs for each school),
:mod:`routing.selection` (alternative run sets, and the runs chosen among them with the chaining),
:mod:`routing.chaining` (the one "can follow" test and fewest-buses count; runs onto buses),
:mod:`routing.mixing` (mixed loads), :mod:`routing.buses` (the whole engine for one session),
:mod:`routing.budget` (work budgets, the clock as a safety cap), :mod:`routing.stops` (who rides
and where they board), :mod:`routing.bells` (bell-time policy, evaluator, search),
:mod:`routing.scenarios` (scenarios and savings), :mod:`routing.sbrp` and :mod:`routing.check`
(the school bus routing benchmark and its independent checker).
"""
