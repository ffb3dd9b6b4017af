"""Streets, travel times and buses: from a street network to bus plans and bell times.

Modules, one per step: :mod:`routing.network` (load and prepare streets), :mod:`routing.travel`
(travel-time matrices), :mod:`routing.problem` (immutable bus-plan data and results),
:mod:`routing.runs` (runs for each school), :mod:`routing.buses` (runs chained onto buses),
:mod:`routing.stops` (who rides and where they board), :mod:`routing.bells` (bell-time
optimization), :mod:`routing.scenarios` (scenarios and savings) and :mod:`routing.sbrp` (the
school bus routing benchmark).
"""
