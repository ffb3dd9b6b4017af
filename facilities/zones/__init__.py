"""Shared enrollment zones: who lives in a zone, the seats its schools offer, the guarantee, zone design.

A *zone* is a polygon with a set of schools (of any sector). Every resident of the zone is
guaranteed a seat at one of its schools when the zone has enough seats in the resident's grade.
The package holds one concept a module:

- :mod:`~facilities.zones.define`: zones read from files (:func:`read_zones`), shared zones built
  from units such as neighborhoods (:func:`shared_zone`) and the city's configured zones;
- :mod:`~facilities.zones.residents`: residents by grade and where they come from;
- :mod:`~facilities.zones.measure`: seats by grade, the guarantee, compactness;
- :mod:`~facilities.zones.coverage`: zones measured (:func:`coverage`) and what would close a
  zone's gap (:func:`gap_closers`);
- :mod:`~facilities.zones.plan` and :mod:`~facilities.zones.design`: whole plans of contiguous
  shared zones from units (:func:`design`, :func:`greedy_zones`, :func:`compare_plans`).

Conventions and models (documented assumptions)
-----------------------------------------------
- **Residents by grade.** From students' homes (each student counts in its ``grade``), or from the
  zones' population by age band: a child of age *a* is in grade ``a - 5`` (PK = age 4, K = 5,
  grade 12 = 17); a band ``population_<lo>_<hi>`` is spread evenly over its ages (the narrowest
  band holding an age is used), times ``participation`` (the share of children who would enrol).
  A zone that cuts a population unit receives the unit's residents in proportion to the area shared
  (areal interpolation).
- **Seats by grade.** A school's ``capacity`` (or ``enrollment`` when capacity is unknown, or
  always with ``basis="enrollment"``) spread evenly over the grades it serves, the remainder going
  to the lowest grades. Spare seats are capacity minus enrollment, spread the same way.
- **Guarantee.** In a zone and grade with ``residents`` and ``seats``, ``min(residents, seats)``
  residents are guaranteed a seat; the shortfall is ``max(residents - seats, 0)``.
- **Travel.** Functions take ``travel``: a callable ``travel(origins_xy, destinations_xy)`` giving
  seconds as an ``(n, m)`` array (e.g. ``routing.travel.travel_model(...).matrix``), or, for
  :class:`ZoneData`, a precomputed ``(units, schools)`` matrix. Homes are students' points, or a
  representative point of each piece of a population unit. Without travel, travel metrics are NaN
  and zone design weighs straight-line metres instead of seconds.
- **Compactness** is Polsby–Popper, ``4 pi area / perimeter**2`` (1 for a disc).

Examples
--------
>>> from facilities import read_city
>>> from facilities.zones import shared_zone, coverage
>>> city = read_city("data/demo")  # doctest: +SKIP
>>> zone = shared_zone(city, units=["Eastside", "Harbor"], id="east")  # doctest: +SKIP
>>> cov = coverage(city, zone, travel=model.matrix)  # doctest: +SKIP
>>> cov.grades  # residents, seats, guaranteed, share, shortfall by zone and grade  # doctest: +SKIP
"""

from __future__ import annotations

from facilities.travel import Travel
from facilities.zones.coverage import Coverage, coverage, gap_closers
from facilities.zones.define import (
    configured_grades,
    configured_zones,
    read_zones,
    schools_in_units,
    shared_zone,
)
from facilities.zones.design import compare_plans, design, design_cpsat, greedy_zones
from facilities.zones.measure import (
    GRADES,
    WALK_LIMIT_M,
    Basis,
    polsby_popper,
    seats_by_grade,
    spare_seats_by_grade,
)
from facilities.zones.plan import ZoneData, ZonePlan
from facilities.zones.residents import (
    Residents,
    Source,
    population_units,
    residents,
    residents_by_grade,
)

__all__ = [
    "GRADES",
    "WALK_LIMIT_M",
    "Basis",
    "Source",
    "Travel",
    "Coverage",
    "Residents",
    "ZoneData",
    "ZonePlan",
    "polsby_popper",
    "population_units",
    "residents",
    "residents_by_grade",
    "seats_by_grade",
    "spare_seats_by_grade",
    "read_zones",
    "shared_zone",
    "schools_in_units",
    "configured_zones",
    "configured_grades",
    "coverage",
    "gap_closers",
    "design",
    "design_cpsat",
    "greedy_zones",
    "compare_plans",
]
